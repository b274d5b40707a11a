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
#include "netdev-vhost-async-private.h"

#include <string.h>

#include "netdev.h"
#include "netdev-provider.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "ovs-atomic.h"
#include "ovs-thread.h"
#include "util.h"

/* Counters of async ports (Interface statistics) and of the threads that
 * copy for them (dpif-netdev/pmd-stats-show and pmd-perf-show). */

/* Interface statistics. */

static const char *const port_stat_names[VA_PORT_N_STATS] = {
    [VA_PORT_TX_DMA] = "tx_async_packets",
    [VA_PORT_RX_DMA] = "rx_async_packets",
    [VA_PORT_TX_INFLIGHT] = "tx_async_inflight",
    [VA_PORT_RX_INFLIGHT] = "rx_async_inflight",
    [VA_PORT_CPU_COPIES] = "async_cpu_copies",
    [VA_PORT_TX_DRAINED] = "tx_async_drained",
    [VA_PORT_RX_DRAINED] = "rx_async_drained",
};

/* Adds the counters of 'vdev' to 'counts'. */
void
vhost_async_vdev_count(struct vhost_async_dev *vdev,
                       uint64_t counts[VA_PORT_N_STATS])
{
    int n_vrings = vhost_async_vdev_n_vrings(vdev);

    for (int q = 0; q < n_vrings; q++) {
        struct vhost_async_vring *vr = &vdev->vrings[q];
        uint64_t completed, drained, cpu;
        bool tx = is_guest_rx(q);
        int inflight;

        atomic_read_relaxed(&vr->completed, &completed);
        atomic_read_relaxed(&vr->drained, &drained);
        atomic_read_relaxed(&vr->cpu_copies, &cpu);
        atomic_read_relaxed(&vr->inflight, &inflight);
        counts[tx ? VA_PORT_TX_DMA : VA_PORT_RX_DMA] += completed - drained;
        counts[tx ? VA_PORT_TX_INFLIGHT : VA_PORT_RX_INFLIGHT]
            += MAX(inflight, 0);
        counts[VA_PORT_CPU_COPIES] += cpu;
        counts[tx ? VA_PORT_TX_DRAINED : VA_PORT_RX_DRAINED] += drained;
    }
}

void
netdev_vhost_async_get_custom_stats(const char *socket, int vid,
                                    struct netdev_custom_stats *stats)
{
    uint64_t counts[VA_PORT_N_STATS];
    const struct vhost_async_socket *sock;
    struct vhost_async_dev *vdev;
    bool async;

    /* The socket may go once the mutex is released. */
    ovs_mutex_lock(&vhost_async_socket_mutex);
    sock = vhost_async_socket_find(socket);
    async = sock && sock->async;
    if (async) {
        memcpy(counts, sock->totals, sizeof counts);
    }
    ovs_mutex_unlock(&vhost_async_socket_mutex);
    if (!async) {
        return;
    }
    vdev = vhost_async_vdev_get(vid);
    if (vdev) {
        vhost_async_vdev_count(vdev, counts);
    }

    stats->counters = xrealloc(stats->counters,
                               (stats->size + VA_PORT_N_STATS)
                               * sizeof *stats->counters);
    for (int i = 0; i < VA_PORT_N_STATS; i++) {
        struct netdev_custom_counter *c = &stats->counters[stats->size++];

        ovs_strlcpy(c->name, port_stat_names[i], sizeof c->name);
        c->value = counts[i];
    }
}

void
netdev_vhost_async_fix_stats(int vid, struct netdev_stats *stats)
{
    struct vhost_async_dev *vdev = vhost_async_vdev_get(vid);

    if (!vdev) {
        return;
    }
    /* vhost counts a packet as good when its copy completes, also in a
     * drain that dropped it.  Such drains with the device live (a vring
     * disabled) are ours to take back out. */
    int n_vrings = vhost_async_vdev_n_vrings(vdev);
    for (int q = 0; q < n_vrings; q++) {
        struct vhost_async_vring *vr = &vdev->vrings[q];
        uint64_t *packets, *bytes;
        uint64_t n, n_bytes;

        atomic_read_relaxed(&vr->drained, &n);
        atomic_read_relaxed(&vr->drained_bytes, &n_bytes);
        if (is_guest_rx(q)) {
            packets = &stats->tx_packets;
            bytes = &stats->tx_bytes;
        } else {
            packets = &stats->rx_packets;
            bytes = &stats->rx_bytes;
        }
        *packets -= MIN(*packets, n);
        *bytes -= MIN(*bytes, n_bytes);
    }
}

/* dpif-netdev/pmd-stats-show and pmd-stats-clear. */

static struct ovs_mutex stats_mutex = OVS_MUTEX_INITIALIZER;
static struct ovs_list stats_lists OVS_GUARDED_BY(stats_mutex)
    = OVS_LIST_INITIALIZER(&stats_lists);

/* Makes the counters of 'list' seen by pmd-stats-show, until
 * vhost_async_stats_unregister(). */
void
vhost_async_stats_register(struct vhost_async_pending_list *list)
{
    ovs_mutex_lock(&stats_mutex);
    ovs_list_push_back(&stats_lists, &list->stats_node);
    ovs_mutex_unlock(&stats_mutex);
}

void
vhost_async_stats_unregister(struct vhost_async_pending_list *list)
{
    ovs_mutex_lock(&stats_mutex);
    ovs_list_remove(&list->stats_node);
    ovs_mutex_unlock(&stats_mutex);
}

static struct vhost_async_pending_list *
stats_find(unsigned int core_id)
    OVS_REQUIRES(stats_mutex)
{
    struct vhost_async_pending_list *list;

    LIST_FOR_EACH (list, stats_node, &stats_lists) {
        if (list->core_id == core_id) {
            return list;
        }
    }
    return NULL;
}

/* Reads the counters of thread 'core_id' since they were last cleared.
 * Returns false if async is off or the thread has none. */
static bool
stats_read(unsigned int core_id, uint64_t v[VA_N_STATS])
{
    struct vhost_async_pending_list *list;

    if (!netdev_vhost_async_enabled()) {
        return false;
    }
    ovs_mutex_lock(&stats_mutex);
    list = stats_find(core_id);
    if (list) {
        /* Backwards, in order: a thread counts a vring added before it
         * counts it done, and a copy submitted before it counts its
         * completion, so that neither count is shown above the other. */
        for (int i = VA_N_STATS - 1; i >= 0; i--) {
            atomic_read(&list->stats[i], &v[i]);
            v[i] -= list->stats_base[i];
        }
    }
    ovs_mutex_unlock(&stats_mutex);
    return list != NULL;
}

void
netdev_vhost_async_format_pmd_stats(unsigned int core_id, struct ds *reply)
{
    uint64_t v[VA_N_STATS];

    if (!stats_read(core_id, v)) {
        return;
    }
    ds_put_format(reply,
                  "  vhost async packets to guests via DMA: %"PRIu64"\n"
                  "  vhost async packets from guests via DMA: %"PRIu64"\n"
                  "  vhost async packets copied by the CPU: %"PRIu64"\n"
                  "  vhost async completions polled: %"PRIu64"\n"
                  "  vhost async deferred work: added %"PRIu64", "
                  "done %"PRIu64", overflowed %"PRIu64"\n",
                  v[VA_STAT_DMA_TO_GUEST], v[VA_STAT_DMA_FROM_GUEST],
                  v[VA_STAT_CPU_COPIES], v[VA_STAT_COMPLETIONS],
                  v[VA_STAT_DEFERRED_ADDED], v[VA_STAT_DEFERRED_DONE],
                  v[VA_STAT_DEFERRED_FULL]);
}

void
netdev_vhost_async_format_pmd_perf(unsigned int core_id, uint64_t used_cycles,
                                   double duration, struct ds *reply)
{
    uint64_t v[VA_N_STATS];

    if (!stats_read(core_id, v) || duration <= 0) {
        return;
    }
    uint64_t done = v[VA_STAT_COMPLETIONS];
    uint64_t cycles = v[VA_STAT_POLL_CYCLES];

    ds_put_format(reply,
        "  Vhost async:\n"
        "  - to guests via DMA:%12"PRIu64"  (%.0f Kpps)\n"
        "  - from guests via DMA:%10"PRIu64"  (%.0f Kpps)\n"
        "  - copied by the CPU:%12"PRIu64"  (%.0f Kpps)\n"
        "  - completions:      %12"PRIu64"  (%.0f Kpps)\n"
        "  - polling cycles:   %12"PRIu64"  (%5.1f %% of used cycles, "
        "%.0f cycles/completion)\n",
        v[VA_STAT_DMA_TO_GUEST], v[VA_STAT_DMA_TO_GUEST] / duration / 1000,
        v[VA_STAT_DMA_FROM_GUEST],
        v[VA_STAT_DMA_FROM_GUEST] / duration / 1000,
        v[VA_STAT_CPU_COPIES], v[VA_STAT_CPU_COPIES] / duration / 1000,
        done, done / duration / 1000,
        cycles, used_cycles ? 100.0 * cycles / used_cycles : 0,
        done ? 1.0 * cycles / done : 0);
}

void
netdev_vhost_async_clear_pmd_stats(unsigned int core_id)
{
    struct vhost_async_pending_list *list;

    ovs_mutex_lock(&stats_mutex);
    list = stats_find(core_id);
    if (list) {
        for (int i = 0; i < VA_N_STATS; i++) {
            atomic_read_relaxed(&list->stats[i], &list->stats_base[i]);
        }
    }
    ovs_mutex_unlock(&stats_mutex);
}
