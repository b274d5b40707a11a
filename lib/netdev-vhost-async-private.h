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

#ifndef NETDEV_VHOST_ASYNC_PRIVATE_H
#define NETDEV_VHOST_ASYNC_PRIVATE_H 1

/* Internal to the netdev-vhost-async*.c files: the state they share and
 * what they call in each other.  The rest of OVS uses
 * netdev-vhost-async.h only.
 *
 *   netdev-vhost-async.c        registration, vhost callbacks, data path
 *   netdev-vhost-async-watch.c  main thread: failed DMA devices, stalls
 *   netdev-vhost-async-stats.c  Interface statistics, pmd-stats-show */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_vhost.h>

#include "openvswitch/list.h"
#include "openvswitch/thread.h"
#include "ovs-atomic.h"

struct dma_pool_channel;
struct smap;

/* The threading rules of all these files are stated at the top of
 * netdev-vhost-async.c. */

/* vhost's limits (VHOST_MAX_VRING and RTE_DMADEV_DEFAULT_MAX). */
#define VHOST_ASYNC_MAX_VRINGS 256
#define VHOST_ASYNC_MAX_DMA    64

/* Devices and vrings. */

struct vhost_async_vring {
    atomic_bool wanted;         /* Enabled Rx vring of an async socket. */
    atomic_bool registered;     /* Async channel registered... */
    atomic_bool async;          /* ...and the vring enabled: submit. */
    atomic_bool error;          /* Copies stuck on a failed DMA device. */
    atomic_int inflight;        /* Copies submitted, not yet returned. */
    atomic_int cost;            /* Their DMA descriptors, estimated
                                 * (guest Rx only). */
    const struct dma_pool_channel *dq_channel;  /* Guest Tx: the channel of
                                 * the copies in flight; only the thread
                                 * that polls the rx queue uses it. */
    atomic_uint64_t dma_mask;   /* DMA devices it has submitted to. */
    atomic_uint64_t completed;  /* Copies that came back, ever... */
    atomic_uint64_t drained;    /* ...of which dropped in a drain... */
    atomic_uint64_t drained_bytes;  /* ...with these bytes. */
    atomic_uint64_t cpu_copies; /* Packets the CPU copied instead. */

    /* Stall watch, main thread only. */
    uint64_t watch_completed;
    long long int watch_since;
    bool stalled;

    atomic_bool retry_logged;   /* Registration failure said. */
};

/* What the vhost events thread alone knows of a device's vrings: whether
 * the guest enabled each, and where a sweep of vring_state_changed()
 * calls that vhost makes around a memory table change stands. */
struct vhost_async_sweep {
    bool guest_enabled[VHOST_ASYNC_MAX_VRINGS];
    bool was_enabled[VHOST_ASYNC_MAX_VRINGS];   /* Before the sweep. */
    enum {
        VHOST_ASYNC_SWEEP_NONE,
        VHOST_ASYNC_SWEEP_DISABLING,    /* Disables of 0, 1, ... so far. */
        VHOST_ASYNC_SWEEP_ENABLING,     /* Every vring disabled in a row:
                                         * enables of 0, 1, ... follow. */
    } state;
    int next;                   /* The vring the sweep names next. */
};

/* One vhost device (guest connection), found by its vid. */
struct vhost_async_dev {
    int vid;
    struct vhost_async_sweep sweep;
    atomic_int n_vrings;        /* Highest vring id seen, plus one. */
    bool reconnecting;          /* Main thread only: reconnect forced. */
    atomic_bool paused;         /* Test only: completions not polled. */
    struct ovs_list dead_node;  /* In 'dead_devs' once destroyed. */
    struct vhost_async_vring vrings[VHOST_ASYNC_MAX_VRINGS];
};

struct vhost_async_dev *vhost_async_vdev_get(int vid);
struct vhost_async_dev *vhost_async_vdev_next(int *vid);

/* For each device that exists, in the order of their vids: declares 'VID'
 * and sets it and 'VDEV'.  A thread that does not quiesce in the loop
 * keeps 'VDEV' valid. */
#define VHOST_ASYNC_FOR_EACH_VDEV(VDEV, VID)                            \
    for (int VID = 0; ((VDEV) = vhost_async_vdev_next(&VID)) != NULL;   \
         VID++)

/* The vrings of 'vdev' that were ever enabled are below this. */
static inline int
vhost_async_vdev_n_vrings(const struct vhost_async_dev *vdev)
{
    int n_vrings;

    atomic_read_relaxed(&vdev->n_vrings, &n_vrings);
    return n_vrings;
}

static inline bool
is_guest_rx(uint16_t queue_id)
{
    /* Even vrings carry packets to the guest (VIRTIO_RXQ). */
    return queue_id < VHOST_ASYNC_MAX_VRINGS && !(queue_id & 1);
}

static inline bool
vring_is_async(const struct vhost_async_vring *vr)
{
    bool async;

    atomic_read_relaxed(&vr->async, &async);
    return async;
}

/* Sockets. */

/* Interface statistics of an async port.  "tx" is to the guest, as OVS
 * counts it. */
enum vhost_async_port_stat {
    VA_PORT_TX_DMA,             /* Packets to the guest through DMA. */
    VA_PORT_RX_DMA,             /* Packets from the guest through DMA. */
    VA_PORT_TX_INFLIGHT,        /* Copies in flight now, to the guest... */
    VA_PORT_RX_INFLIGHT,        /* ...and from it. */
    VA_PORT_CPU_COPIES,         /* Packets of async vrings the CPU copied. */
    VA_PORT_TX_DRAINED,         /* Copies completed in a drain, their */
    VA_PORT_RX_DRAINED,         /* packets dropped. */
    VA_PORT_N_STATS
};

/* A vhost-user client socket, by path. */
struct vhost_async_socket {
    char *port;                 /* Interface name. */
    bool async;                 /* Registered with
                                 * RTE_VHOST_USER_ASYNC_COPY. */
    const char *sync_reason;    /* If !async, why. */
    bool flags_block;           /* Other flags rule async out. */
    bool reregister;            /* We unregistered it to change its flags:
                                 * the port registers it again. */
    char *error;                /* Async stopped until the guest reconnects. */
    unsigned int n_dma_failures;
    unsigned int n_stalled;     /* Vrings stalled now. */
    long long int recovered;    /* When the watchdog last reset it. */
    int guest_numa;             /* Its guest's node, as last logged... */
    bool numa_log_pending;      /* ...or as the main thread will log it. */
    bool status_stale;          /* The main thread is to refresh the
                                 * port's Interface status. */
    uint64_t totals[VA_PORT_N_STATS];   /* Of its past connections. */
};

/* Guards every struct vhost_async_socket. */
extern struct ovs_mutex vhost_async_socket_mutex;

struct vhost_async_socket *vhost_async_socket_find(const char *path)
    OVS_REQUIRES(vhost_async_socket_mutex);
struct vhost_async_socket *vhost_async_socket_of_vid(int vid)
    OVS_REQUIRES(vhost_async_socket_mutex);

/* Pending lists. */

/* A vring a thread has copies in flight on, with the channel it used. */
struct vhost_async_pending {
    struct vhost_async_dev *vdev;
    int vid;
    uint16_t queue_id;
    const struct dma_pool_channel *channel;
};

#define VHOST_ASYNC_MAX_PENDING 128

/* Per-thread counters, shown by dpif-netdev/pmd-stats-show. */
enum vhost_async_stat {
    VA_STAT_DMA_TO_GUEST,       /* Packets to guests through DMA. */
    VA_STAT_DMA_FROM_GUEST,     /* Packets from guests through DMA. */
    VA_STAT_CPU_COPIES,         /* Packets of async vrings the CPU copied. */
    VA_STAT_COMPLETIONS,        /* Copies to guests this thread collected. */
    VA_STAT_DEFERRED_ADDED,     /* Vrings added to the pending list... */
    VA_STAT_DEFERRED_DONE,      /* ...and done with... */
    VA_STAT_DEFERRED_FULL,      /* ...or not added: the list was full. */
    VA_STAT_POLL_CYCLES,        /* TSC cycles spent polling completions. */
    VA_N_STATS
};

/* What a thread (or the non-PMD context) has copies in flight on. */
struct vhost_async_pending_list {
    struct vhost_async_pending entries[VHOST_ASYNC_MAX_PENDING];
    size_t n;

    unsigned int core_id;       /* NON_PMD_CORE_ID: the non-PMD context. */
    atomic_uint64_t read_seq;   /* Odd during a pass over the list. */
    struct ovs_list reader_node;    /* In 'readers' (PMD threads). */
    struct ovs_list stats_node; /* In 'stats_lists'. */
    atomic_uint64_t stats[VA_N_STATS];
    uint64_t stats_base[VA_N_STATS];    /* pmd-stats-clear, 'stats_mutex'. */
};

/* netdev-vhost-async-watch.c. */

void vhost_async_set_stall_recovery(const struct smap *ovs_other_config);
void vhost_async_report_vring_error(void);
void vhost_async_handle_dma_failures(void);
void vhost_async_watch_vrings(void);
void vhost_async_port_status_changed(const char *port);

/* netdev-vhost-async-stats.c. */

void vhost_async_vdev_count(struct vhost_async_dev *,
                            uint64_t counts[VA_PORT_N_STATS]);
void vhost_async_stats_register(struct vhost_async_pending_list *);
void vhost_async_stats_unregister(struct vhost_async_pending_list *);

#endif /* netdev-vhost-async-private.h */
