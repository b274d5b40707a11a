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

#include <rte_mbuf.h>
#include <rte_vhost.h>
#include <rte_vhost_async.h>
#include <rte_version.h>

#include "coverage.h"
#include "dma-pool.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "smap.h"
#include "sset.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(netdev_vhost_async);

/* Rules of ownership.
 *
 * - A (DMA device, vchan) belongs to the thread dma-pool gave it to; vhost
 *   serializes each vchan with its own lock when threads share one.
 * - A guest Rx vring in async mode ("async vring") has copies in flight
 *   between rte_vhost_submit_enqueue_burst() and the poll that returns
 *   their mbufs.  Every thread that submitted to it keeps an entry in its
 *   pending list and polls the vring every iteration until the vring has
 *   nothing in flight.  Entries of the non-PMD context, and those a PMD
 *   thread leaves behind when it exits, live in one shared list that the
 *   main thread polls.
 * - The vhost callbacks drain a vring (collect or drop every copy in
 *   flight) before the guest's memory can go away, and unregister its
 *   async channel: later submits then fail inside vhost and later sends
 *   copy with the CPU.  They take no OVS lock and wait for no PMD thread:
 *   the state here is found by vid in a lock-free table. */

COVERAGE_DEFINE(vhost_async_submit);
COVERAGE_DEFINE(vhost_async_cpu_copy);
COVERAGE_DEFINE(vhost_async_drain_drop);
COVERAGE_DEFINE(vhost_async_pending_full);

/* vhost's limits (VHOST_MAX_VRING and RTE_DMADEV_DEFAULT_MAX). */
#define VHOST_ASYNC_MAX_VRINGS 256
#define VHOST_ASYNC_MAX_DMA    64

/* How long a callback waits for a DMA device to finish copies before it
 * gives up on them (one vhost events thread serves every socket). */
#define VHOST_ASYNC_DRAIN_MSEC 1000

#define VHOST_ASYNC_BURST 32

struct vhost_async_vring {
    atomic_bool wanted;         /* Enabled Rx vring of an async socket. */
    atomic_bool async;          /* Async channel registered. */
    atomic_int inflight;        /* Copies submitted, not yet returned. */
    atomic_uint64_t dma_mask;   /* DMA devices it has submitted to. */
};

/* One vhost device (guest connection), found by its vid. */
struct vhost_async_dev {
    int vid;
    struct vhost_async_vring vrings[VHOST_ASYNC_MAX_VRINGS];
};

static OVSRCU_TYPE(struct vhost_async_dev *) vhost_devs[RTE_MAX_VHOST_DEVICE];

/* A vring a thread has copies in flight on, with the channel it used. */
struct vhost_async_pending {
    struct vhost_async_dev *vdev;
    int vid;
    uint16_t queue_id;
    const struct dma_pool_channel *channel;
};

#define VHOST_ASYNC_MAX_PENDING 128

struct vhost_async_pending_list {
    struct vhost_async_pending entries[VHOST_ASYNC_MAX_PENDING];
    size_t n;
};

DEFINE_STATIC_PER_THREAD_DATA(struct vhost_async_pending_list *,
                              pmd_pending, NULL);

static struct ovs_mutex shared_mutex = OVS_MUTEX_INITIALIZER;
static struct vhost_async_pending_list shared_pending
    OVS_GUARDED_BY(shared_mutex);

/* Test only: while set, nobody polls for completions, so that tests can
 * hold copies in flight (ovs-appctl netdev-vhost-async/pause-completions).
 * The callbacks still drain. */
static atomic_bool completions_paused = false;

/* Set when a channel could not be registered: vhost allocates it from
 * the DPDK heap, which OVS's mempool sizing may fill for a moment (it
 * tries ever smaller pools until one fits) right when a guest connects.
 * The main thread tries again. */
static atomic_bool registration_retry = false;

/* Sockets registered with RTE_VHOST_USER_ASYNC_COPY. */
static struct ovs_mutex socket_mutex = OVS_MUTEX_INITIALIZER;
static struct sset async_sockets OVS_GUARDED_BY(socket_mutex)
    = SSET_INITIALIZER(&async_sockets);

static void retry_registrations(void);

/* Written by the main thread as other_config changes, read by any. */
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

static void
netdev_vhost_async_unixctl_pause(struct unixctl_conn *conn,
                                 int argc OVS_UNUSED, const char *argv[],
                                 void *aux OVS_UNUSED)
{
    bool pause = !strcmp(argv[1], "on");

    if (!pause && strcmp(argv[1], "off")) {
        unixctl_command_reply_error(conn, "usage: on|off");
        return;
    }
    atomic_store_relaxed(&completions_paused, pause);
    VLOG_WARN("completion polling %s (test only)",
              pause ? "paused" : "resumed");
    unixctl_command_reply(conn, NULL);
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
        unixctl_command_register("netdev-vhost-async/pause-completions",
                                 "on|off", 1, 1,
                                 netdev_vhost_async_unixctl_pause, NULL);
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
    retry_registrations();
}

bool
netdev_vhost_async_enabled(void)
{
    bool enabled;

    atomic_read_relaxed(&vhost_async_enabled, &enabled);
    return enabled;
}

/* Registration. */

uint64_t
netdev_vhost_async_register_flags(const char *port, const char *socket,
                                  uint64_t flags)
{
    const char *why = NULL;

    if (!netdev_vhost_async_enabled()) {
        return flags;
    }
    if (flags & RTE_VHOST_USER_IOMMU_SUPPORT) {
        why = "vhost-iommu-support is on";
    } else if (flags & RTE_VHOST_USER_POSTCOPY_SUPPORT) {
        why = "vhost-postcopy-support is on";
    }
    if (why) {
        VLOG_INFO("%s: copies with the CPU: %s, which vhost async cannot "
                  "be combined with", port, why);
        return flags;
    }

    ovs_mutex_lock(&socket_mutex);
    sset_add(&async_sockets, socket);
    ovs_mutex_unlock(&socket_mutex);
    VLOG_INFO("%s: vhost async copies; its guest cannot be live-migrated "
              "(no dirty page logging)", port);
    return flags | RTE_VHOST_USER_ASYNC_COPY;
}

void
netdev_vhost_async_unregister(const char *socket)
{
    ovs_mutex_lock(&socket_mutex);
    sset_find_and_delete(&async_sockets, socket);
    ovs_mutex_unlock(&socket_mutex);
}

static bool
vid_is_async(int vid)
{
    char ifname[PATH_MAX];
    bool async;

    if (rte_vhost_get_ifname(vid, ifname, sizeof ifname)) {
        return false;
    }
    ovs_mutex_lock(&socket_mutex);
    async = sset_contains(&async_sockets, ifname);
    ovs_mutex_unlock(&socket_mutex);
    return async;
}

static struct vhost_async_dev *
vdev_get(int vid)
{
    if (OVS_UNLIKELY(vid < 0 || vid >= RTE_MAX_VHOST_DEVICE)) {
        return NULL;
    }
    return ovsrcu_get(struct vhost_async_dev *, &vhost_devs[vid]);
}

/* Only the vhost events thread creates and destroys these. */
static struct vhost_async_dev *
vdev_create(int vid)
{
    struct vhost_async_dev *vdev = vdev_get(vid);

    if (!vdev && vid >= 0 && vid < RTE_MAX_VHOST_DEVICE && vid_is_async(vid)) {
        vdev = xzalloc(sizeof *vdev);
        vdev->vid = vid;
        for (size_t i = 0; i < ARRAY_SIZE(vdev->vrings); i++) {
            atomic_init(&vdev->vrings[i].wanted, false);
            atomic_init(&vdev->vrings[i].async, false);
            atomic_init(&vdev->vrings[i].inflight, 0);
            atomic_init(&vdev->vrings[i].dma_mask, 0);
        }
        ovsrcu_set(&vhost_devs[vid], vdev);
    }
    return vdev;
}

static bool
is_guest_rx(uint16_t queue_id)
{
    /* Even vrings carry packets to the guest (VIRTIO_RXQ). */
    return queue_id < VHOST_ASYNC_MAX_VRINGS && !(queue_id & 1);
}

static bool
vring_is_async(const struct vhost_async_vring *vr)
{
    bool async;

    atomic_read_relaxed(&vr->async, &async);
    return async;
}

static void
vring_register(struct vhost_async_dev *vdev, uint16_t queue_id, bool locked)
{
    struct vhost_async_vring *vr = &vdev->vrings[queue_id];
    int err;

    atomic_store_relaxed(&vr->wanted, true);
    if (vring_is_async(vr)) {
        return;
    }
    err = (locked
           ? rte_vhost_async_channel_register_thread_unsafe(vdev->vid,
                                                            queue_id)
           : rte_vhost_async_channel_register(vdev->vid, queue_id));
    if (err) {
        VLOG_INFO("vhost device %d: cannot register async channel of vring "
                  "%"PRIu16" yet: it copies with the CPU until a retry "
                  "succeeds", vdev->vid, queue_id);
        atomic_store_relaxed(&registration_retry, true);
        return;
    }
    atomic_store_relaxed(&vr->async, true);
}

/* Main thread: registers the channels that failed before. */
static void
retry_registrations(void)
{
    bool retry;

    atomic_read_relaxed(&registration_retry, &retry);
    if (!retry) {
        return;
    }
    atomic_store_relaxed(&registration_retry, false);
    for (int vid = 0; vid < RTE_MAX_VHOST_DEVICE; vid++) {
        /* Not quiescent here: 'vdev' stays valid during the loop. */
        struct vhost_async_dev *vdev = vdev_get(vid);

        for (uint16_t q = 0; vdev && q < VHOST_ASYNC_MAX_VRINGS; q++) {
            struct vhost_async_vring *vr = &vdev->vrings[q];
            bool wanted;

            atomic_read_relaxed(&vr->wanted, &wanted);
            if (wanted && !vring_is_async(vr)) {
                vring_register(vdev, q, false);
                if (vring_is_async(vr)) {
                    VLOG_INFO("vhost device %d: async channel of vring "
                              "%"PRIu16" registered", vid, q);
                }
            }
        }
    }
}

/* Collects or drops every copy in flight on a vring, then unregisters its
 * async channel.  'locked': the caller holds the vring's lock. */
static void
vring_drain(struct vhost_async_dev *vdev, uint16_t queue_id, bool locked)
{
    struct vhost_async_vring *vr = &vdev->vrings[queue_id];
    long long int deadline = time_msec() + VHOST_ASYNC_DRAIN_MSEC;
    int vid = vdev->vid;
    unsigned int dropped = 0;

    atomic_store_relaxed(&vr->wanted, false);
    if (!vring_is_async(vr)) {
        return;
    }
    /* From now on, senders copy with the CPU or not at all. */
    atomic_store_relaxed(&vr->async, false);

    for (;;) {
        int inflight = (locked
                        ? rte_vhost_async_get_inflight_thread_unsafe(vid,
                                                                   queue_id)
                        : rte_vhost_async_get_inflight(vid, queue_id));
        if (inflight == 0) {
            int err = (locked
                       ? rte_vhost_async_channel_unregister_thread_unsafe(
                             vid, queue_id)
                       : rte_vhost_async_channel_unregister(vid, queue_id));
            if (!err) {
                break;
            }
        }

        uint64_t mask;
        atomic_read_relaxed(&vr->dma_mask, &mask);
        for (int dma_id = 0; mask; dma_id++, mask >>= 1) {
            struct rte_mbuf *pkts[VHOST_ASYNC_BURST];
            uint16_t n;

            if (!(mask & 1)) {
                continue;
            }
            n = (locked
                 ? rte_vhost_clear_queue_thread_unsafe(vid, queue_id, pkts,
                                                       ARRAY_SIZE(pkts),
                                                       dma_id, 0)
                 : rte_vhost_clear_queue(vid, queue_id, pkts,
                                         ARRAY_SIZE(pkts), dma_id, 0));
            if (n) {
                int orig;

                rte_pktmbuf_free_bulk(pkts, n);
                atomic_sub_relaxed(&vr->inflight, n, &orig);
                dropped += n;
            }
        }
        if (time_msec() > deadline) {
            VLOG_WARN("vhost device %d vring %"PRIu16": %d copies still in "
                      "flight after %d ms: giving up on them", vid, queue_id,
                      inflight, VHOST_ASYNC_DRAIN_MSEC);
            break;
        }
    }
    if (dropped) {
        COVERAGE_ADD(vhost_async_drain_drop, dropped);
        VLOG_INFO("vhost device %d vring %"PRIu16": dropped %u packets "
                  "in flight", vid, queue_id, dropped);
    }
}

void
netdev_vhost_async_new_device(int vid)
{
    struct vhost_async_dev *vdev = vdev_create(vid);

    if (vdev) {
        uint16_t n = rte_vhost_get_vring_num(vid);

        for (uint16_t q = 0; q < n && q < VHOST_ASYNC_MAX_VRINGS; q++) {
            if (is_guest_rx(q)) {
                vring_register(vdev, q, false);
            }
        }
    }
}

void
netdev_vhost_async_vring_state_changed(int vid, uint16_t queue_id,
                                       int enable)
{
    struct vhost_async_dev *vdev;

    if (!is_guest_rx(queue_id)) {
        return;
    }
    vdev = enable ? vdev_create(vid) : vdev_get(vid);
    if (!vdev) {
        return;
    }
    if (enable) {
        vring_register(vdev, queue_id, true);
    } else {
        /* Also before the guest's memory table changes: drain now, the
         * memory is unmapped as soon as we return. */
        vring_drain(vdev, queue_id, true);
    }
}

void
netdev_vhost_async_destroy_device(int vid)
{
    struct vhost_async_dev *vdev = vdev_get(vid);

    if (!vdev) {
        return;
    }
    for (uint16_t q = 0; q < VHOST_ASYNC_MAX_VRINGS; q++) {
        vring_drain(vdev, q, false);
    }
    /* Pending entries see the table change and let go. */
    ovsrcu_set(&vhost_devs[vid], NULL);
    ovsrcu_postpone(free, vdev);
}

/* Pending lists. */

/* The calling thread's pending list: its own for a PMD thread, else the
 * shared one, locked until pending_list_put(). */
static struct vhost_async_pending_list *
pending_list_get(void)
    OVS_NO_THREAD_SAFETY_ANALYSIS
{
    struct vhost_async_pending_list *list = *pmd_pending_get();

    if (list) {
        return list;
    }
    ovs_mutex_lock(&shared_mutex);
    return &shared_pending;
}

static void
pending_list_put(struct vhost_async_pending_list *list)
    OVS_NO_THREAD_SAFETY_ANALYSIS
{
    if (list == &shared_pending) {
        ovs_mutex_unlock(&shared_mutex);
    }
}

static void
pending_add(struct vhost_async_pending_list *list,
            struct vhost_async_dev *vdev, uint16_t queue_id,
            const struct dma_pool_channel *channel)
{
    for (size_t i = 0; i < list->n; i++) {
        const struct vhost_async_pending *p = &list->entries[i];

        if (p->vdev == vdev && p->queue_id == queue_id
            && p->channel == channel) {
            return;
        }
    }
    ovs_assert(list->n < VHOST_ASYNC_MAX_PENDING);
    list->entries[list->n++] = (struct vhost_async_pending) {
        .vdev = vdev,
        .vid = vdev->vid,
        .queue_id = queue_id,
        .channel = channel,
    };
    /* The device stays in the pool while this entry exists. */
    dma_pool_busy_vrings_add(channel, 1);
}

/* Polls one pending vring.  Returns true when it needs no more polling. */
static bool
pending_poll(const struct vhost_async_pending *p)
{
    struct vhost_async_dev *vdev = vdev_get(p->vid);
    struct vhost_async_vring *vr;
    struct rte_mbuf *pkts[VHOST_ASYNC_BURST];
    uint16_t n;
    int inflight;

    if (vdev != p->vdev) {
        /* Destroyed: destroy_device() drained it. */
        return true;
    }
    vr = &vdev->vrings[p->queue_id];
    n = rte_vhost_poll_enqueue_completed(p->vid, p->queue_id, pkts,
                                         ARRAY_SIZE(pkts),
                                         p->channel->dev_id,
                                         p->channel->vchan);
    if (n) {
        rte_pktmbuf_free_bulk(pkts, n);
        atomic_sub_relaxed(&vr->inflight, n, &inflight);
        inflight -= n;
    } else {
        atomic_read_relaxed(&vr->inflight, &inflight);
    }
    return inflight <= 0;
}

static void
pending_list_poll(struct vhost_async_pending_list *list)
{
    bool paused;

    atomic_read_relaxed(&completions_paused, &paused);
    if (OVS_UNLIKELY(paused)) {
        return;
    }
    for (size_t i = 0; i < list->n; ) {
        if (pending_poll(&list->entries[i])) {
            dma_pool_busy_vrings_add(list->entries[i].channel, -1);
            list->entries[i] = list->entries[--list->n];
        } else {
            i++;
        }
    }
}

/* Data path. */

uint16_t
netdev_vhost_async_enqueue_burst(int vid, uint16_t queue_id,
                                 struct rte_mbuf **pkts, uint16_t count)
{
    struct vhost_async_dev *vdev = vdev_get(vid);
    struct vhost_async_pending_list *list;
    const struct dma_pool_channel *channel;
    struct vhost_async_vring *vr;
    uint16_t n;
    int inflight;

    if (!vdev || queue_id >= VHOST_ASYNC_MAX_VRINGS
        || !vring_is_async(&vdev->vrings[queue_id])) {
        return rte_vhost_enqueue_burst(vid, queue_id, pkts, count);
    }
    vr = &vdev->vrings[queue_id];

    channel = dma_pool_get_channel();
    list = pending_list_get();
    if (!channel || list->n >= VHOST_ASYNC_MAX_PENDING) {
        pending_list_put(list);
        if (channel) {
            COVERAGE_INC(vhost_async_pending_full);
        }
        /* A CPU copy must not overtake copies in flight. */
        atomic_read_relaxed(&vr->inflight, &inflight);
        if (inflight) {
            return 0;
        }
        COVERAGE_ADD(vhost_async_cpu_copy, count);
        return rte_vhost_enqueue_burst(vid, queue_id, pkts, count);
    }

    /* Make room first: completions free descriptors and mbufs. */
    pending_list_poll(list);

    n = rte_vhost_submit_enqueue_burst(vid, queue_id, pkts, count,
                                       channel->dev_id, channel->vchan);
    if (n) {
        uint64_t bit = UINT64_C(1) << (channel->dev_id % VHOST_ASYNC_MAX_DMA);
        uint64_t mask;

        atomic_add_relaxed(&vr->inflight, n, &inflight);
        atomic_read_relaxed(&vr->dma_mask, &mask);
        if (!(mask & bit)) {
            atomic_or_relaxed(&vr->dma_mask, bit, &mask);
        }
        pending_add(list, vdev, queue_id, channel);
        /* vhost owns them until their copy completes. */
        memset(pkts, 0, n * sizeof *pkts);
        COVERAGE_ADD(vhost_async_submit, n);
    }
    pending_list_put(list);
    return n;
}

/* Threads. */

void
netdev_vhost_async_attach_thread(unsigned int core_id)
{
    *pmd_pending_get() = xzalloc(sizeof(struct vhost_async_pending_list));
    dma_pool_attach_thread(core_id);
}

void
netdev_vhost_async_detach_thread(void)
{
    struct vhost_async_pending_list *list = *pmd_pending_get();

    if (!list) {
        return;
    }
    /* What is still in flight, the main thread polls from now on. */
    ovs_mutex_lock(&shared_mutex);
    for (size_t i = 0; i < list->n; i++) {
        const struct vhost_async_pending *p = &list->entries[i];

        if (shared_pending.n < VHOST_ASYNC_MAX_PENDING) {
            pending_add(&shared_pending, p->vdev, p->queue_id, p->channel);
        } else {
            VLOG_WARN("vhost device %d vring %"PRIu16": nobody polls its "
                      "copies in flight any more", p->vid, p->queue_id);
        }
        dma_pool_busy_vrings_add(p->channel, -1);
    }
    *pmd_pending_get() = NULL;
    ovs_mutex_unlock(&shared_mutex);
    free(list);
    dma_pool_detach_thread();
}

void
netdev_vhost_async_poll(void)
{
    struct vhost_async_pending_list *list = pending_list_get();

    if (list->n) {
        pending_list_poll(list);
    }
    pending_list_put(list);
}

void
netdev_vhost_async_wait(void)
{
    bool retry;

    ovs_mutex_lock(&shared_mutex);
    if (shared_pending.n) {
        /* Copies in flight complete without telling anyone. */
        poll_timer_wait(1);
    }
    ovs_mutex_unlock(&shared_mutex);

    atomic_read_relaxed(&registration_retry, &retry);
    if (retry) {
        poll_timer_wait(100);
    }
}
