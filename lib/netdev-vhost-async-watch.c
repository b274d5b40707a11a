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

#include "netdev-vhost-async-private.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <rte_vhost.h>

#include "coverage.h"
#include "dma-pool.h"
#include "netdev.h"
#include "netdev-provider.h"
#include "openvswitch/vlog.h"
#include "ovs-atomic.h"
#include "ovs-thread.h"
#include "smap.h"
#include "timeval.h"
#include "util.h"

/* The main thread's watch over async vrings: it puts in error those stuck
 * on a failed DMA device, reports those whose copies stop completing, and
 * makes their guests reconnect, which resets the vrings. */

/* The netdev-vhost-async*.c files log as one module, which
 * netdev-vhost-async.c defines, so that their log lines read alike and one
 * "vlog/set netdev_vhost_async" covers them all. */
extern struct vlog_module *VLM_netdev_vhost_async;
#define this_module (*VLM_netdev_vhost_async)

COVERAGE_DEFINE(vhost_async_dma_failure);
COVERAGE_DEFINE(vhost_async_stalled);
COVERAGE_DEFINE(vhost_async_stall_recovery);

/* A vring with copies in flight none of which completes for this long is
 * reported: a hung or failed DMA reports failed copies only by
 * stalling. */
#define VHOST_ASYNC_STALL_MSEC 3000

/* A guest with a vring stalled this long is made to reconnect, which
 * resets its vrings (other_config:vhost-async-stall-recovery), at most
 * once a minute. */
#define VHOST_ASYNC_RECOVER_MSEC 10000
#define VHOST_ASYNC_RECOVER_INTERVAL_MSEC 60000

/* A vring went into error: the main thread forces its guest to
 * reconnect. */
static atomic_bool vring_errors = false;

/* Tells the main thread that a vring went into error.  Any thread. */
void
vhost_async_report_vring_error(void)
{
    atomic_store_relaxed(&vring_errors, true);
}

/* other_config:vhost-async-stall-recovery; main thread only. */
static bool stall_recovery = true;

/* Main thread: follows other_config:vhost-async-stall-recovery. */
void
vhost_async_set_stall_recovery(const struct smap *ovs_other_config)
{
    static char *last_bad;
    const char *value = smap_get_def(ovs_other_config,
                                     "vhost-async-stall-recovery", "true");
    bool new;

    if (!strcmp(value, "true") || !strcmp(value, "false")) {
        new = !strcmp(value, "true");
    } else {
        if (!last_bad || strcmp(last_bad, value)) {
            VLOG_WARN("vhost-async-stall-recovery=%s is not valid (true or "
                      "false); keeping %s", value,
                      stall_recovery ? "true" : "false");
            free(last_bad);
            last_bad = xstrdup(value);
        }
        return;
    }
    free(last_bad);
    last_bad = NULL;
    if (new != stall_recovery) {
        VLOG_INFO("vhost async: guests with stalled vrings are %s",
                  new ? "made to reconnect" : "only reported");
        stall_recovery = new;
    }
}

/* Makes the vhost library drop its connection on 'path' by shutting
 * down the socket under it: it destroys the device, which drains every
 * vring, and reconnects to the guest, which starts afresh. */
static bool
socket_force_reconnect(const char *path)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;
    bool found = false;

    if (!dir) {
        return false;
    }
    while ((de = readdir(dir)) != NULL) {
        struct sockaddr_un sun;
        socklen_t len = sizeof sun;
        int fd = atoi(de->d_name);

        if (!isdigit((unsigned char) de->d_name[0]) || fd == dirfd(dir)
            || getpeername(fd, (struct sockaddr *) &sun, &len)
            || sun.sun_family != AF_UNIX
            || len <= offsetof(struct sockaddr_un, sun_path)) {
            continue;
        }
        sun.sun_path[MIN(len - offsetof(struct sockaddr_un, sun_path),
                         sizeof sun.sun_path - 1)] = '\0';
        if (!strcmp(sun.sun_path, path)) {
            found = !shutdown(fd, SHUT_RDWR) || found;
        }
    }
    closedir(dir);
    return found;
}

/* Main thread: puts 'error' (which it takes) in the status of 'sock' and
 * makes the guest of 'vdev', connected at 'path', reconnect. */
static void
vdev_force_reconnect(struct vhost_async_dev *vdev,
                     struct vhost_async_socket *sock, const char *path,
                     char *error)
    OVS_REQUIRES(vhost_async_socket_mutex)
{
    free(sock->error);
    sock->error = error;
    vdev->reconnecting = true;
    if (!socket_force_reconnect(path)) {
        VLOG_WARN("%s: cannot find the connection to %s: the guest must "
                  "reconnect by itself", sock->port, path);
    }
}

/* Main thread: puts in error every vring with copies in flight on a
 * failed DMA device, and makes its guest reconnect. */
void
vhost_async_handle_dma_failures(void)
{
    static long long int next_scan;
    uint64_t failed = dma_pool_failed_mask();

    bool errors;

    /* Threads may still submit to a failed device until they quiesce:
     * look again now and then. */
    atomic_read_relaxed(&vring_errors, &errors);
    if ((!failed && !errors) || time_msec() < next_scan) {
        return;
    }
    next_scan = time_msec() + 1000;
    atomic_store_relaxed(&vring_errors, false);

    struct vhost_async_dev *vdev;

    VHOST_ASYNC_FOR_EACH_VDEV (vdev, vid) {
        bool stuck = false;
        int n_stuck = 0;

        if (vdev->reconnecting) {
            continue;
        }
        int n_vrings = vhost_async_vdev_n_vrings(vdev);
        for (int q = 0; q < n_vrings; q++) {
            struct vhost_async_vring *vr = &vdev->vrings[q];
            uint64_t mask;
            int inflight;
            bool error;
            bool wanted;

            atomic_read_relaxed(&vr->inflight, &inflight);
            atomic_read_relaxed(&vr->dma_mask, &mask);
            atomic_read_relaxed(&vr->error, &error);
            atomic_read_relaxed(&vr->wanted, &wanted);
            if (error && !wanted && !(inflight > 0 && mask & failed)) {
                /* Disabled by the guest: reset it once the guest is done
                 * with what it is doing (e.g. changing its memory table)
                 * and enables it again, or closes it. */
                continue;
            }
            if (inflight > 0 && mask & failed) {
                atomic_store_relaxed(&vr->error, true);
                n_stuck += inflight;
                stuck = true;
            } else if (error) {
                /* Drained while disabled; copies a sender submitted
                 * since, if any, are on a healthy device. */
                stuck = true;
            }
        }
        if (!stuck) {
            continue;
        }
        vdev->reconnecting = true;

        struct vhost_async_socket *sock;
        char path[PATH_MAX];

        ovs_mutex_lock(&vhost_async_socket_mutex);
        sock = vhost_async_socket_of_vid(vid);
        if (sock && !rte_vhost_get_ifname(vid, path, sizeof path)) {
            char *error;

            if (n_stuck) {
                VLOG_WARN("%s: %d copies to the guest are stuck on a failed "
                          "DMA device: dropping its traffic until the guest "
                          "reconnects, which is forced now", sock->port,
                          n_stuck);
                error = xasprintf("%d copies stuck on a failed DMA device; "
                                  "reconnecting", n_stuck);
                sock->n_dma_failures++;
                COVERAGE_INC(vhost_async_dma_failure);
            } else {
                VLOG_WARN("%s: the guest disabled a vring with copies in "
                          "flight, which vhost could not hand back to it: "
                          "forcing a reconnect to reset its vrings",
                          sock->port);
                error = xstrdup("vring disabled with copies in flight; "
                                "reconnecting");
            }
            vdev_force_reconnect(vdev, sock, path, error);
        }
        ovs_mutex_unlock(&vhost_async_socket_mutex);
    }
}

/* Main thread: makes OVS refresh the Interface status of 'port'. */
void
vhost_async_port_status_changed(const char *port)
{
    struct netdev *netdev = netdev_from_name(port);

    if (netdev) {
        netdev_change_seq_changed(netdev);
        netdev_close(netdev);
    }
}

/* Main thread: makes the guest of 'vdev', whose vrings stopped
 * completing copies, reconnect: its device is destroyed, which drains
 * every vring (failing the DMA devices that hold copies for good), and
 * comes back with fresh vrings. */
static void
stall_recover(struct vhost_async_dev *vdev, struct vhost_async_socket *sock,
              int n_stalled, long long int msec)
    OVS_REQUIRES(vhost_async_socket_mutex)
{
    char path[PATH_MAX];

    if (rte_vhost_get_ifname(vdev->vid, path, sizeof path)) {
        return;
    }
    VLOG_WARN("%s: %d vrings completed no copy for %lld ms: forcing the "
              "guest to reconnect", sock->port, n_stalled, msec);
    COVERAGE_INC(vhost_async_stall_recovery);
    vdev_force_reconnect(vdev, sock, path,
                         xstrdup("vrings stalled; reconnecting"));
}

/* Main thread, once a second: reports vrings whose copies in flight stop
 * completing, and when they complete again, and tells the DMA pool. */
void
vhost_async_watch_vrings(void)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
    static long long int next;
    long long int now = time_msec();

    if (now < next) {
        return;
    }
    next = now + 1000;

    unsigned int dev_stalled[VHOST_ASYNC_MAX_DMA] = { 0 };
    struct vhost_async_dev *vdev;

    VHOST_ASYNC_FOR_EACH_VDEV (vdev, vid) {
        int n_vrings = vhost_async_vdev_n_vrings(vdev);
        long long int stalled_since = LLONG_MAX;
        int n_stalled = 0;

        for (int q = 0; q < n_vrings; q++) {
            struct vhost_async_vring *vr = &vdev->vrings[q];
            uint64_t completed, mask;
            int inflight;

            atomic_read_relaxed(&vr->inflight, &inflight);
            atomic_read_relaxed(&vr->completed, &completed);
            if (inflight <= 0 || completed != vr->watch_completed
                || !vr->watch_since) {
                if (vr->stalled) {
                    VLOG_INFO("vhost device %d vring %d: copies complete "
                              "again", vid, q);
                }
                vr->stalled = false;
                vr->watch_completed = completed;
                vr->watch_since = now;
            } else if (now - vr->watch_since >= VHOST_ASYNC_STALL_MSEC
                       && !vr->stalled) {
                vr->stalled = true;
                COVERAGE_INC(vhost_async_stalled);
                VLOG_WARN_RL(&rl, "vhost device %d vring %d: %d copies in "
                             "flight, none completed for %lld ms", vid, q,
                             inflight, now - vr->watch_since);
            }
            if (vr->stalled) {
                n_stalled++;
                stalled_since = MIN(stalled_since, vr->watch_since);
                atomic_read_relaxed(&vr->dma_mask, &mask);
                for (int i = 0; mask; i++, mask >>= 1) {
                    dev_stalled[i] += mask & 1;
                }
            }
        }

        struct vhost_async_socket *sock;
        char *port = NULL;

        ovs_mutex_lock(&vhost_async_socket_mutex);
        sock = vhost_async_socket_of_vid(vid);
        if (sock && sock->n_stalled != n_stalled) {
            sock->n_stalled = n_stalled;
            port = xstrdup(sock->port);
        }
        if (sock && n_stalled && stall_recovery && !vdev->reconnecting
            && now - stalled_since >= VHOST_ASYNC_RECOVER_MSEC
            && (!sock->recovered
                || now - sock->recovered
                   >= VHOST_ASYNC_RECOVER_INTERVAL_MSEC)) {
            stall_recover(vdev, sock, n_stalled, now - stalled_since);
            sock->recovered = now;
        }
        ovs_mutex_unlock(&vhost_async_socket_mutex);
        if (port) {
            vhost_async_port_status_changed(port);
            free(port);
        }
    }
    dma_pool_set_stalled_vrings(dev_stalled, ARRAY_SIZE(dev_stalled));
}
