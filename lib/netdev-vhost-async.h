/*
 * Copyright (c) 2026 The ovs-vhost-async authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at:
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

#ifndef NETDEV_VHOST_ASYNC_H
#define NETDEV_VHOST_ASYNC_H 1

/* Asynchronous, DMA-offloaded copies for dpdkvhostuserclient ports.
 *
 * Every call into DPDK's experimental vhost async and dmadev APIs lives
 * behind this interface, so that netdev-dpdk.c needs only small hooks. */

#include <stdbool.h>

struct smap;

/* The oldest DPDK whose vhost async path we accept: async fixes landed in
 * 22.11.2 and 22.11.4. */
#define VHOST_ASYNC_MIN_DPDK_YEAR  22
#define VHOST_ASYNC_MIN_DPDK_MONTH 11
#define VHOST_ASYNC_MIN_DPDK_MINOR 4

/* Called from the main thread right after the EAL is up, then on every
 * run of the main loop: follows the vhost-async-* knobs of
 * Open_vSwitch other_config. */
void netdev_vhost_async_set_config(const struct smap *ovs_other_config);

/* True if async was requested and the loaded DPDK can do it. */
bool netdev_vhost_async_enabled(void);

/* Checks a version string as rte_version() returns it ("DPDK 22.11.4").
 * Returns NULL if async may be used with it, otherwise a malloc'd message
 * saying why not, which the caller must free. */
char *netdev_vhost_async_check_dpdk_version(const char *version);

#endif /* netdev-vhost-async.h */
