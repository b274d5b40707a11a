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
#include <stdint.h>

struct smap;

/* The oldest DPDK whose vhost async path we accept: async fixes landed in
 * 22.11.2 and 22.11.4. */
#define VHOST_ASYNC_MIN_DPDK_YEAR  22
#define VHOST_ASYNC_MIN_DPDK_MONTH 11
#define VHOST_ASYNC_MIN_DPDK_MINOR 4

/* The first DPDK we refuse: 26.07 adds the vhost-user REM_MEM_REG message,
 * which unmaps guest memory without a vring_state_changed() call, and so
 * without a drain of the copies still writing into it. */
#define VHOST_ASYNC_MAX_DPDK_YEAR  26
#define VHOST_ASYNC_MAX_DPDK_MONTH 7

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

/* Follows options:vhost-async=true|false of dpdkvhostuserclient port
 * 'port' (none: follow other_config:vhost-async-support).  It takes
 * effect when the port's socket is next registered.  Main thread. */
void netdev_vhost_async_set_port_config(const char *port,
                                        const struct smap *args);
void netdev_vhost_async_forget_port(const char *port);

/* Registration of a vhost-user client socket: returns 'flags' with
 * RTE_VHOST_USER_ASYNC_COPY added when async is on and compatible with
 * the other flags; logs why not otherwise. */
uint64_t netdev_vhost_async_register_flags(const char *port,
                                           const char *socket,
                                           uint64_t flags);
/* Why a socket registered with vhost 'flags' cannot copy asynchronously
 * ("vhost-iommu-support is on"), or NULL if it can.  A VDUSE port
 * ('socket' under /dev/vduse/) cannot: DPDK forces IOMMU support on it,
 * and then refuses to register it with async copy at all. */
const char *netdev_vhost_async_conflict(const char *socket, uint64_t flags);

/* True, once, if the async layer unregistered 'socket' to change its
 * async flag: the port must register it again (its reconfigure). */
bool netdev_vhost_async_take_reregistration(const char *socket);

/* The socket is unregistered: forget it. */
void netdev_vhost_async_unregister(const char *socket);

/* Adds to 'args', the Interface status of the port on 'socket', whether
 * it copies through DMA and why not, and its async errors. */
void netdev_vhost_async_get_status(const char *socket, struct smap *args);

struct netdev_custom_stats;
struct netdev_stats;
void netdev_vhost_async_get_custom_stats(const char *socket, int vid,
                                         struct netdev_custom_stats *);
void netdev_vhost_async_fix_stats(int vid, struct netdev_stats *);

/* Mbufs to add to a per-port mempool for a port with 'n_txq' tx queues:
 * packets it holds in flight on its guest Rx vrings. */
uint32_t netdev_vhost_async_mempool_extra(int n_txq);

/* Called first thing by netdev-dpdk's vhost callbacks, from the vhost
 * events thread.  vring_state_changed() runs with the vring's lock held;
 * new_device() and destroy_device() without it.  They drain copies in
 * flight before the guest's memory can go away, without taking any OVS
 * lock and without waiting for PMD threads. */
void netdev_vhost_async_new_device(int vid);
void netdev_vhost_async_destroy_device(int vid);
/* Returns false for a change the caller must not act on: an enable that
 * vhost forces on a vring the guest has disabled, after the guest's memory
 * table changed. */
bool netdev_vhost_async_vring_state_changed(int vid, uint16_t queue_id,
                                            int enable);

/* Enqueues to guest vring 'queue_id' as rte_vhost_enqueue_burst() does.
 * Packets submitted to DMA belong to vhost until their copy completes:
 * their slots in 'pkts' are set to NULL.  The caller holds the txq lock. */
struct rte_mbuf;
uint16_t netdev_vhost_async_enqueue_burst(int vid, uint16_t queue_id,
                                          struct rte_mbuf **pkts,
                                          uint16_t count);

/* Dequeues from guest vring 'queue_id' as rte_vhost_dequeue_burst() does:
 * on an async vring, returns the packets whose copies completed and
 * hands new copies to DMA.  The caller polls the rx queue. */
struct rte_mempool;
uint16_t netdev_vhost_async_dequeue_burst(int vid, uint16_t queue_id,
                                          struct rte_mempool *mp,
                                          struct rte_mbuf **pkts,
                                          uint16_t count);

/* Threads.  A PMD thread attaches at start and detaches at exit; it polls
 * completions of the copies it submitted every iteration with
 * netdev_vhost_async_poll().  The main thread polls those of the non-PMD
 * context with the same call, and wakes itself up while some are in
 * flight with netdev_vhost_async_wait(). */
void netdev_vhost_async_attach_thread(unsigned int core_id);
void netdev_vhost_async_detach_thread(void);
unsigned int netdev_vhost_async_poll(void);

/* A PMD thread that is left with nothing to poll, and so sleeps until its
 * next reload, hands its copies in flight over to the threads that poll:
 * they must be collected whatever becomes of the thread that submitted
 * them. */
void netdev_vhost_async_hand_over(void);
void netdev_vhost_async_wait(void);

/* Appends the async counters of the thread on 'core_id' (NON_PMD_CORE_ID:
 * the main thread) to a dpif-netdev/pmd-stats-show reply, and resets them
 * for pmd-stats-clear. */
struct ds;
void netdev_vhost_async_format_pmd_stats(unsigned int core_id,
                                         struct ds *reply);
void netdev_vhost_async_format_pmd_perf(unsigned int core_id,
                                        uint64_t used_cycles, double duration,
                                        struct ds *reply);
void netdev_vhost_async_clear_pmd_stats(unsigned int core_id);

#endif /* netdev-vhost-async.h */
