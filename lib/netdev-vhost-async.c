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

#include <config.h>

#include "netdev-vhost-async.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <rte_version.h>

#include "dma-pool.h"
#include "openvswitch/vlog.h"
#include "ovs-thread.h"
#include "ovs-atomic.h"
#include "smap.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(netdev_vhost_async);

/* Written once by the main thread at DPDK initialization, read by any. */
static atomic_bool vhost_async_enabled = false;

char *
netdev_vhost_async_check_dpdk_version(const char *version)
{
    unsigned int year, month, minor;
    const char *p = version;
    int n = 0;

    /* Skip the "DPDK " prefix, whatever it is. */
    while (*p && !isdigit((unsigned char) *p)) {
        p++;
    }
    if (sscanf(p, "%u.%u.%u%n", &year, &month, &minor, &n) != 3) {
        return xasprintf("cannot parse DPDK version \"%s\"", version);
    }

    /* "22.11.4-rc1" comes before "22.11.4". */
    bool prerelease = !strncmp(p + n, "-rc", 3);
    unsigned int have[] = { year, month, minor };
    unsigned int need[] = { VHOST_ASYNC_MIN_DPDK_YEAR,
                            VHOST_ASYNC_MIN_DPDK_MONTH,
                            VHOST_ASYNC_MIN_DPDK_MINOR };
    int cmp = 0;
    for (size_t i = 0; i < ARRAY_SIZE(have) && !cmp; i++) {
        cmp = have[i] < need[i] ? -1 : have[i] > need[i];
    }
    if (cmp < 0 || (cmp == 0 && prerelease)) {
        return xasprintf("%s is too old for vhost async: it needs DPDK "
                         "%d.%d.%d or later", version,
                         VHOST_ASYNC_MIN_DPDK_YEAR,
                         VHOST_ASYNC_MIN_DPDK_MONTH,
                         VHOST_ASYNC_MIN_DPDK_MINOR);
    }
    return NULL;
}

void
netdev_vhost_async_set_config(const struct smap *ovs_other_config)
{
    static struct ovsthread_once check_once = OVSTHREAD_ONCE_INITIALIZER;
    static char *version_error;
    bool requested = smap_get_bool(ovs_other_config, "vhost-async-support",
                                   false);

    if (ovsthread_once_start(&check_once)) {
        /* The library is shared: check the DPDK actually loaded, not the
         * one we were compiled against. */
        version_error = netdev_vhost_async_check_dpdk_version(rte_version());
        if (!requested) {
            VLOG_INFO("vhost async support disabled: vhost-user ports copy "
                      "packets with the CPU");
        }
        ovsthread_once_done(&check_once);
    }

    bool was_enabled = netdev_vhost_async_enabled();
    bool enabled = requested && !version_error;
    if (requested && version_error) {
        VLOG_ERR_ONCE("vhost async support refused: %s; vhost-user ports "
                      "stay synchronous", version_error);
    } else if (enabled != was_enabled) {
        if (enabled) {
            VLOG_INFO("vhost async support enabled (%s)", rte_version());
        } else {
            VLOG_INFO("vhost async support disabled");
        }
    }
    atomic_store_relaxed(&vhost_async_enabled, enabled);

    dma_pool_set_config(enabled ? ovs_other_config : NULL);
    dma_pool_run();
}

bool
netdev_vhost_async_enabled(void)
{
    bool enabled;

    atomic_read_relaxed(&vhost_async_enabled, &enabled);
    return enabled;
}
