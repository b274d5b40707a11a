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

/* The async vhost data path: submits copies to and from guests to DMA,
 * collects their completions, and drains them in the vhost callbacks.
 *
 * Threading rules
 * ===============
 *
 * The threads: PMD threads; the main thread, which also sends and receives
 * for the non-PMD context (under dp->non_pmd_mutex) and runs
 * netdev_vhost_async_set_config(); and the vhost events thread, which
 * runs the vhost callbacks.
 *
 * DMA channels.  dma-pool gives each PMD thread, and the non-PMD context,
 * one (device, vchan) to submit on.  Only vhost calls touch a channel's
 * ring, and vhost serializes each vchan with a lock of its own, so any
 * thread may collect completions on any channel; we never wrap a vhost
 * call in a lock of ours around a channel (callbacks hold a vring's lock
 * while a submit waits for the channel's).  Every vhost call that names a
 * device, and rte_dma_burst_capacity(), sits between dma_pool_use_begin()
 * and dma_pool_use_end(), which never block: the pool stops, unconfigures
 * and closes a device only once no thread is inside such a call on it
 * and none can start one (dmadev's rule for control operations), and a
 * thread whose device is refused copies with the CPU or tries later.
 *
 * Submitting.  A guest Rx vring (even id) gets copies from whichever
 * thread holds the OVS tx queue that maps to it: OVS's tx queue lock makes
 * it one at a time.  A guest Tx vring (odd id) gets them from the one
 * thread that polls its rx queue.  A submitter counts its copies in the
 * vring ('inflight', 'cost', 'dma_mask') before its vhost call and takes
 * back what vhost refused, so that a drain that starts as soon as the
 * call releases the vring never misses them.
 *
 * Collecting.  A thread that submitted to a vring on a channel lists the
 * (vring, channel) in its pending list and polls it every iteration until
 * the vring has nothing in flight: vhost retires a vring's copies in the
 * order they were submitted, whatever the device, so every device that
 * has copies for a vring must keep being polled.  The shared list holds
 * the non-PMD context's entries and those of PMD threads that exit or are
 * left with no rx queue (netdev_vhost_async_hand_over()); the main thread
 * and every PMD thread poll it, PMD threads when nobody else is
 * (trylock).  A guest Tx vring's completions are received packets: only
 * the poller of its rx queue collects them; other entries for it only
 * keep its device in the pool.
 *
 * Counters.  A guest Rx vring's 'inflight' and 'cost' only ever go up by
 * what is submitted and down by what comes back.  A guest Tx vring's
 * 'inflight' is written only by the poller of its rx queue, with vhost's
 * own count.
 *
 * Draining.  Before a guest's memory can go away, the vhost callbacks
 * collect or drop every copy in flight on its vrings:
 * vring_state_changed(q, 0) with the vring's lock held (the
 * _thread_unsafe calls), destroy_device() without it.  Vhost also refuses
 * to enable a vring with copies in flight, and drops the connection: a
 * handler that vhost calls before each guest message, with every vring's
 * lock held, collects them first (vhost_async_pre_msg()).  The callbacks take
 * only this layer's own mutexes, for short times, and never dpdk_mutex, a
 * netdev's mutex or a netdev reference, nor wait for an OVS RCU grace
 * period.
 *
 * Devices.  'vhost_devs[vid]' is set by the vhost events thread and
 * cleared by destroy_device(), which then waits, bounded, until no pass
 * over a pending list that may have seen the device is still going
 * (readers_wait()): vhost frees the device, and may reuse its vid, as soon
 * as the callback returns.  A device OVS refuses in new_device() gets no
 * destroy_device() from vhost: OVS's new_device() calls ours instead.
 * The main thread frees our state of it after an OVS RCU grace period.
 *
 * Main thread.  Retries registrations, watches for stalls and logs in
 * netdev_vhost_async_set_config(), in the middle of bridge_run(), where
 * nothing may make it quiescent (coverage counter
 * vhost_async_main_quiesced counts the times it did).  It switches
 * sockets (unregisters them, which destroys a connected device) in
 * netdev_vhost_async_wait(), where it holds nothing another thread may
 * free once OVS's destroy_device() waits for an RCU grace period. */

#include <config.h>

#include "netdev-vhost-async.h"
#include "netdev-vhost-async-private.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_dmadev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>
#include <rte_vhost_async.h>
#include <rte_version.h>

#include "coverage.h"
#include "dma-pool.h"
#include "dpdk.h"
#include "netdev.h"
#include "netdev-provider.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "ovs-atomic.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "smap.h"
#include "sset.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"
#include "vhost-async-numa.h"

VLOG_DEFINE_THIS_MODULE(netdev_vhost_async);

COVERAGE_DEFINE(vhost_async_submit);
COVERAGE_DEFINE(vhost_async_dequeue);
COVERAGE_DEFINE(vhost_async_small_refused);
COVERAGE_DEFINE(vhost_async_cpu_dequeue);
COVERAGE_DEFINE(vhost_async_cpu_copy);
COVERAGE_DEFINE(vhost_async_drained);
COVERAGE_DEFINE(vhost_async_pending_full);
COVERAGE_DEFINE(vhost_async_nonpmd_submit);
COVERAGE_DEFINE(vhost_async_dma_full);
COVERAGE_DEFINE(vhost_async_vring_full);
COVERAGE_DEFINE(vhost_async_vring_cap);
COVERAGE_DEFINE(vhost_async_error_drop);
COVERAGE_DEFINE(vhost_async_lost);
COVERAGE_DEFINE(vhost_async_main_quiesced);
COVERAGE_DEFINE(vhost_async_forced_enable);

#ifndef VHOST_F_LOG_ALL
#define VHOST_F_LOG_ALL 26
#endif

/* How long a callback waits for a DMA device to finish copies before it
 * gives up on them (one vhost events thread serves every socket). */
#define VHOST_ASYNC_DRAIN_MSEC 1000

#define VHOST_ASYNC_BURST 32

/* How many more times a vring at its share of the DMA ring polls for its
 * completions before it gives up on a burst. */
#define VHOST_ASYNC_BUDGET_RETRIES 8

/* Fairness on a shared DMA ring: one vring may hold at most this share of
 * the descriptors of the ring it submits to, so that a port sending jumbo
 * frames to a slow guest cannot starve the others. */
#define VHOST_ASYNC_VRING_SHARE 4   /* 1/4 of the ring. */

/* The mbufs a vring may hold in flight: every packet takes at least one
 * descriptor. */
#define VHOST_ASYNC_VRING_MAX_MBUFS \
    (DMA_POOL_RING_MAX / VHOST_ASYNC_VRING_SHARE)

/* Guest buffers are 2 kB or more: a packet takes about one DMA descriptor
 * per 2 kB. */
#define VHOST_ASYNC_COPY_UNIT 2048

static OVSRCU_TYPE(struct vhost_async_dev *) vhost_devs[RTE_MAX_VHOST_DEVICE];

/* Destroyed devices, for the main thread to free. */
static struct ovs_mutex dead_mutex = OVS_MUTEX_INITIALIZER;
static struct ovs_list dead_devs OVS_GUARDED_BY(dead_mutex)
    = OVS_LIST_INITIALIZER(&dead_devs);

DEFINE_STATIC_PER_THREAD_DATA(struct vhost_async_pending_list *,
                              pmd_pending, NULL);

static struct ovs_mutex shared_mutex = OVS_MUTEX_INITIALIZER;
static struct vhost_async_pending_list shared_pending
    OVS_GUARDED_BY(shared_mutex) = { .core_id = NON_PMD_CORE_ID };
/* shared_pending.n, for PMD threads to look at without the mutex. */
static atomic_uint shared_pending_n = 0;

/* Devices in 'vhost_devs'. */
static atomic_uint n_vdevs = 0;

/* Grace periods.
 *
 * A thread that polls its pending list looks devices up in 'vhost_devs'
 * and calls vhost with their vids, outside OVS's RCU protection of the
 * ports: on port deletion nothing else keeps vhost from freeing a device,
 * and its vid from being reused, under a poll.  So destroy_device(),
 * once it has taken the device out of the table, waits until no thread
 * is still in a pass over its list that began before.  It cannot wait for
 * an OVS RCU grace period instead: on the main thread (port deletion)
 * that would leave the main thread quiescent.
 *
 * A PMD thread's pass makes its list's 'read_seq' odd while it lasts; the
 * shared list is polled under 'shared_mutex'; the main thread's own walks
 * of the table make 'main_read_seq' odd. */
static struct ovs_mutex readers_mutex = OVS_MUTEX_INITIALIZER;
static struct ovs_list readers OVS_GUARDED_BY(readers_mutex)
    = OVS_LIST_INITIALIZER(&readers);
static atomic_uint64_t main_read_seq = 0;

/* How long destroy_device() waits for a pass to end; a pass polls at
 * most VHOST_ASYNC_MAX_PENDING vrings. */
#define VHOST_ASYNC_GRACE_MSEC 1000

static void
read_seq_enter(atomic_uint64_t *seq)
{
    uint64_t orig;

    /* A full barrier: the table is read after the odd value is seen. */
    atomic_add(seq, 1, &orig);
}

static void
read_seq_exit(atomic_uint64_t *seq)
{
    uint64_t orig;

    atomic_add_explicit(seq, 1, &orig, memory_order_release);
}

static void
reader_enter(struct vhost_async_pending_list *list)
{
    if (list != &shared_pending) {
        read_seq_enter(&list->read_seq);
    }
}

static void
reader_exit(struct vhost_async_pending_list *list)
{
    if (list != &shared_pending) {
        read_seq_exit(&list->read_seq);
    }
}

/* Waits, bounded, until a pass that '*seq' shows going on is over. */
static void
read_seq_wait(atomic_uint64_t *seq, const char *whose)
{
    long long int deadline = time_msec() + VHOST_ASYNC_GRACE_MSEC;
    uint64_t seen, now;

    atomic_read_explicit(seq, &seen, memory_order_acquire);
    if (!(seen & 1)) {
        return;
    }
    do {
        if (time_msec() > deadline) {
            VLOG_WARN("%s still polls after %d ms: going on", whose,
                      VHOST_ASYNC_GRACE_MSEC);
            return;
        }
        sched_yield();
        atomic_read_explicit(seq, &now, memory_order_acquire);
    } while (now == seen);
}

/* Returns once no thread can still use a device it found in 'vhost_devs'
 * before the caller removed it. */
static void
readers_wait(void)
    OVS_EXCLUDED(shared_mutex, readers_mutex)
{
    struct vhost_async_pending_list *list;

    atomic_thread_fence(memory_order_seq_cst);
    ovs_mutex_lock(&shared_mutex);
    ovs_mutex_unlock(&shared_mutex);
    read_seq_wait(&main_read_seq, "the main thread");
    ovs_mutex_lock(&readers_mutex);
    LIST_FOR_EACH (list, reader_node, &readers) {
        char whose[32];

        snprintf(whose, sizeof whose, "the PMD thread on core %u",
                 list->core_id);
        read_seq_wait(&list->read_seq, whose);
    }
    ovs_mutex_unlock(&readers_mutex);
}

/* Counters of 'list', which only need atomicity, not 'shared_mutex'. */
static void
list_stat_add(struct vhost_async_pending_list *list,
              enum vhost_async_stat stat, uint64_t n)
{
    uint64_t orig;

    atomic_add_relaxed(&list->stats[stat], n, &orig);
}

/* The calling thread's counters: its pending list's, else the non-PMD
 * context's. */
static void
stat_add(enum vhost_async_stat stat, uint64_t n)
    OVS_NO_THREAD_SAFETY_ANALYSIS
{
    struct vhost_async_pending_list *list = *pmd_pending_get();

    list_stat_add(list ? list : &shared_pending, stat, n);
}

/* Test only: while set, nobody polls for completions, so that tests can
 * hold copies in flight (ovs-appctl netdev-vhost-async/pause-completions).
 * The callbacks still drain. */
static atomic_bool completions_paused = false;

/* Test-only delay points (ovs-appctl netdev-vhost-async/delay-*): a
 * thread sleeps there, as if preempted, so that tests can make a race
 * happen every time. */
struct test_delay {
    const char *command;        /* After "netdev-vhost-async/". */
    const char *what;           /* For the log. */
    atomic_uint msec;
};

/* A thread that submitted copies to a guest, right after the vhost call. */
static struct test_delay submit_delay = {
    "delay-after-submit", "after each submit to a guest", 0 };

/* The main thread, after a send to a guest that went to DMA, once it is
 * out of the datapath and its locks: in netdev_vhost_async_wait(). */
static struct test_delay main_delay = {
    "delay-main-thread", "of the main thread after each send to a guest",
    0 };
static atomic_bool main_delay_armed = false;

/* A drain, once it knows which devices it will ask for the vring's
 * copies and before it asks them. */
static struct test_delay drain_delay = {
    "delay-drain", "of each drain before it asks DMA devices for copies",
    0 };

/* The vhost events thread, in new_device, once it knows the guest's port
 * and before it is done with it. */
static struct test_delay new_device_delay = {
    "delay-new-device", "of the vhost events thread in new_device", 0 };

static unsigned int
test_delay_msec(struct test_delay *delay)
{
    unsigned int msec;

    atomic_read_relaxed(&delay->msec, &msec);
    return msec;
}

static void
test_delay_main_thread(void)
{
    unsigned int msec;
    bool armed;

    atomic_read_relaxed(&main_delay_armed, &armed);
    msec = test_delay_msec(&main_delay);
    if (OVS_UNLIKELY(armed && msec)) {
        atomic_store_relaxed(&main_delay_armed, false);
        VLOG_INFO("main thread sleeping %u ms after a send to a guest (test "
                  "only)", msec);
        xnanosleep_no_quiesce(msec * 1000000LL);
    }
}

static void
test_delay_new_device(const char *port)
{
    unsigned int msec = test_delay_msec(&new_device_delay);

    if (OVS_UNLIKELY(msec)) {
        VLOG_INFO("%s: vhost events thread sleeping %u ms in new_device "
                  "(test only)", port, msec);
        xnanosleep_no_quiesce(msec * 1000000LL);
    }
}

static void
test_delay_after_submit(void)
{
    unsigned int msec = test_delay_msec(&submit_delay);

    if (OVS_UNLIKELY(msec)) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 10);

        VLOG_INFO_RL(&rl, "sleeping %u ms after a submit to a guest (test "
                     "only)", msec);
        xnanosleep_no_quiesce(msec * 1000000LL);
    }
}

/* Set when a channel could not be registered: vhost allocates it from
 * the DPDK heap, which OVS's mempool sizing may fill for a moment (it
 * tries ever smaller pools until one fits) right when a guest connects.
 * The main thread tries again. */
static atomic_bool registration_retry = false;

struct ovs_mutex vhost_async_socket_mutex = OVS_MUTEX_INITIALIZER;
static struct shash sockets OVS_GUARDED_BY(vhost_async_socket_mutex)
    = SHASH_INITIALIZER(&sockets);

/* options:vhost-async of each port that has it: "true" or "false"... */
static struct shash port_options OVS_GUARDED_BY(vhost_async_socket_mutex)
    = SHASH_INITIALIZER(&port_options);
/* ...and the bad value it was last given instead, if any. */
static struct shash port_bad_options OVS_GUARDED_BY(vhost_async_socket_mutex)
    = SHASH_INITIALIZER(&port_bad_options);

static void set_config__(const struct smap *ovs_other_config);
static void retry_registrations(void);
static void set_copy_threshold(const struct smap *ovs_other_config);
static void switch_sockets(void);
static void free_dead_devs(void);
static void run_socket_requests(void);

/* Written by the main thread as other_config changes, read by any. */
static atomic_bool vhost_async_enabled = false;

/* A burst to the guest whose packets are all shorter than this many bytes
 * is copied by the CPU while its vring has no copies in flight: DMA does
 * not pay for small copies (other_config:vhost-async-copy-threshold). */
#define VHOST_ASYNC_COPY_THRESHOLD_DEFAULT 256
#define VHOST_ASYNC_COPY_THRESHOLD_MAX 65536
static atomic_uint copy_threshold = VHOST_ASYNC_COPY_THRESHOLD_DEFAULT;

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
    /* A release candidate of the first refused release is refused too. */
    if (year > VHOST_ASYNC_MAX_DPDK_YEAR
        || (year == VHOST_ASYNC_MAX_DPDK_YEAR
            && month >= VHOST_ASYNC_MAX_DPDK_MONTH)) {
        return xasprintf("%s is too new for vhost async: from DPDK %d.%02d "
                         "on, guests can unmap memory that copies in flight "
                         "still write (REM_MEM_REG)", version,
                         VHOST_ASYNC_MAX_DPDK_YEAR,
                         VHOST_ASYNC_MAX_DPDK_MONTH);
    }
    return NULL;
}

static bool pause_port(const char *port, bool pause);
static void netdev_vhost_async_unixctl_show(struct unixctl_conn *, int argc,
                                            const char *argv[], void *aux);

static void
netdev_vhost_async_unixctl_pause(struct unixctl_conn *conn, int argc,
                                 const char *argv[], void *aux OVS_UNUSED)
{
    bool pause = !strcmp(argv[1], "on");

    if (!pause && strcmp(argv[1], "off")) {
        unixctl_command_reply_error(conn, "usage: on|off [PORT]");
        return;
    }
    if (argc > 2) {
        if (!pause_port(argv[2], pause)) {
            unixctl_command_reply_error(conn, "no connected async port "
                                        "of that name");
            return;
        }
    } else {
        atomic_store_relaxed(&completions_paused, pause);
    }
    VLOG_WARN("completion polling %s%s%s (test only)",
              pause ? "paused" : "resumed", argc > 2 ? " for " : "",
              argc > 2 ? argv[2] : "");
    unixctl_command_reply(conn, NULL);
}

/* netdev-vhost-async/delay-*. */
static void
netdev_vhost_async_unixctl_delay(struct unixctl_conn *conn,
                                 int argc OVS_UNUSED, const char *argv[],
                                 void *delay_)
{
    struct test_delay *delay = delay_;
    int msec;

    if (!str_to_int(argv[1], 10, &msec) || msec < 0 || msec > 10000) {
        unixctl_command_reply_error(conn, "usage: MSEC (0 to 10000)");
        return;
    }
    atomic_store_relaxed(&delay->msec, msec);
    VLOG_WARN("%d ms delay %s (test only)", msec, delay->what);
    unixctl_command_reply(conn, NULL);
}

void
netdev_vhost_async_set_config(const struct smap *ovs_other_config)
{
    /* The main thread is in the middle of bridge_run(): nothing here may
     * make it quiescent (e.g. by waiting for an RCU grace period), or
     * other threads may free what it is still reading. */
    bool was_quiescent = ovsrcu_is_quiescent();

    set_config__(ovs_other_config);
    if (!was_quiescent && ovsrcu_is_quiescent()) {
        COVERAGE_INC(vhost_async_main_quiesced);
    }
}

static void
set_config__(const struct smap *ovs_other_config)
{
    static struct ovsthread_once check_once = OVSTHREAD_ONCE_INITIALIZER;
    static char *version_error;
    static bool requested = false;
    static char *last_bad;
    const char *value = smap_get_def(ovs_other_config, "vhost-async-support",
                                     "false");

    if (!strcmp(value, "true") || !strcmp(value, "false")) {
        requested = !strcmp(value, "true");
        free(last_bad);
        last_bad = NULL;
    } else if (!last_bad || strcmp(last_bad, value)) {
        VLOG_WARN("vhost-async-support=%s is not valid (true or false); "
                  "keeping %s", value, requested ? "true" : "false");
        free(last_bad);
        last_bad = xstrdup(value);
    }

    if (ovsthread_once_start(&check_once)) {
        /* The library is shared: check the DPDK actually loaded, not the
         * one we were compiled against. */
        version_error = netdev_vhost_async_check_dpdk_version(rte_version());
        if (!requested) {
            VLOG_INFO("vhost async support disabled: vhost-user ports copy "
                      "packets with the CPU");
        }
        unixctl_command_register("netdev-vhost-async/pause-completions",
                                 "on|off [PORT]", 1, 2,
                                 netdev_vhost_async_unixctl_pause, NULL);
        struct test_delay *delays[] = {
            &submit_delay, &main_delay, &drain_delay, &new_device_delay,
        };
        for (size_t i = 0; i < ARRAY_SIZE(delays); i++) {
            char *name = xasprintf("netdev-vhost-async/%s",
                                   delays[i]->command);

            unixctl_command_register(name, "MSEC", 1, 1,
                                     netdev_vhost_async_unixctl_delay,
                                     delays[i]);
            free(name);
        }
        unixctl_command_register("netdev-vhost-async/show", "", 0, 0,
                                 netdev_vhost_async_unixctl_show, NULL);
        vhost_async_stats_register(&shared_pending);
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
    if (enabled) {
        set_copy_threshold(ovs_other_config);
        vhost_async_set_stall_recovery(ovs_other_config);
    }

    bool paused;
    atomic_read_relaxed(&completions_paused, &paused);

    dma_pool_set_config(enabled ? ovs_other_config : NULL);
    dma_pool_run(!paused);
    read_seq_enter(&main_read_seq);
    vhost_async_handle_dma_failures();
    retry_registrations();
    vhost_async_watch_vrings();
    read_seq_exit(&main_read_seq);
    /* Sockets are switched in netdev_vhost_async_wait(). */
    run_socket_requests();
    free_dead_devs();
}

static void
set_copy_threshold(const struct smap *ovs_other_config)
{
    static char *last_bad;
    static bool said;
    const char *value = smap_get(ovs_other_config,
                                 "vhost-async-copy-threshold");
    unsigned int old, new = VHOST_ASYNC_COPY_THRESHOLD_DEFAULT;

    atomic_read_relaxed(&copy_threshold, &old);
    if (value) {
        int n;

        if (!str_to_int(value, 10, &n) || n < 0
            || n > VHOST_ASYNC_COPY_THRESHOLD_MAX) {
            if (!last_bad || strcmp(last_bad, value)) {
                VLOG_WARN("vhost-async-copy-threshold=%s is not valid (bytes "
                          "from 0 to %d); keeping %u", value,
                          VHOST_ASYNC_COPY_THRESHOLD_MAX, old);
                free(last_bad);
                last_bad = xstrdup(value);
            }
            return;
        }
        new = n;
    }
    free(last_bad);
    last_bad = NULL;
    if (new != old || !said) {
        said = true;
        if (new) {
            VLOG_INFO("vhost async: bursts of packets under %u bytes are "
                      "copied by the CPU when nothing is in flight", new);
        } else {
            VLOG_INFO("vhost async: every burst goes to DMA");
        }
        atomic_store_relaxed(&copy_threshold, new);
    }
}

/* True if every packet of the burst is shorter than the copy threshold. */
static bool
burst_is_small(struct rte_mbuf **pkts, uint16_t count)
{
    unsigned int threshold;

    atomic_read_relaxed(&copy_threshold, &threshold);
    for (uint16_t i = 0; i < count; i++) {
        if (rte_pktmbuf_pkt_len(pkts[i]) >= threshold) {
            return false;
        }
    }
    return true;
}

bool
netdev_vhost_async_enabled(void)
{
    bool enabled;

    atomic_read_relaxed(&vhost_async_enabled, &enabled);
    return enabled;
}

/* Registration. */

/* Records how 'socket' of 'port' is registered. */
static void
socket_record(const char *port, const char *socket, const char *sync_reason,
              bool flags_block)
{
    struct vhost_async_socket *sock;

    ovs_mutex_lock(&vhost_async_socket_mutex);
    sock = shash_find_data(&sockets, socket);
    if (!sock) {
        sock = xzalloc(sizeof *sock);
        sock->guest_numa = INT_MIN;
        shash_add(&sockets, socket, sock);
    }
    free(sock->port);
    sock->port = xstrdup(port);
    sock->async = !sync_reason;
    sock->sync_reason = sync_reason;
    sock->flags_block = flags_block;
    /* A socket registered again after a switch, with no guest yet, may
     * have nothing else that tells OVS its status changed. */
    sock->status_stale = true;
    ovs_mutex_unlock(&vhost_async_socket_mutex);
    poll_immediate_wake();
}

void
netdev_vhost_async_set_port_config(const char *port, const struct smap *args)
{
    const char *value = smap_get(args, "vhost-async");
    bool valid = !value || !strcmp(value, "true") || !strcmp(value, "false");

    ovs_mutex_lock(&vhost_async_socket_mutex);
    const char *old = shash_find_data(&port_options, port);
    const char *bad = shash_find_data(&port_bad_options, port);

    if (!valid) {
        /* Warned once per bad value; the port keeps what it had. */
        if (!bad || strcmp(bad, value)) {
            VLOG_WARN("%s: options:vhost-async=%s is not valid (true or "
                      "false): keeping %s", port, value,
                      old ? old : "what vhost-async-support says");
            free(shash_replace(&port_bad_options, port, xstrdup(value)));
        }
    } else {
        free(shash_find_and_delete(&port_bad_options, port));
        if (!nullable_string_is_equal(old, value)) {
            if (value && !strcmp(value, "true")
                && !netdev_vhost_async_enabled()) {
                VLOG_WARN("%s: options:vhost-async=true, but "
                          "other_config:vhost-async-support is off: copies "
                          "with the CPU", port);
            }
            free(shash_find_and_delete(&port_options, port));
            if (value) {
                shash_add(&port_options, port, xstrdup(value));
            }
            /* switch_sockets() registers the port's socket again if need
             * be. */
        }
    }
    ovs_mutex_unlock(&vhost_async_socket_mutex);
}

void
netdev_vhost_async_forget_port(const char *port)
{
    ovs_mutex_lock(&vhost_async_socket_mutex);
    free(shash_find_and_delete(&port_options, port));
    free(shash_find_and_delete(&port_bad_options, port));
    ovs_mutex_unlock(&vhost_async_socket_mutex);
}

const char *
netdev_vhost_async_conflict(const char *socket, uint64_t flags)
{
    if (!strncmp(socket, "/dev/vduse/", strlen("/dev/vduse/"))) {
        return "it is a VDUSE device (DPDK gives those IOMMU support)";
    }
    if (flags & RTE_VHOST_USER_IOMMU_SUPPORT) {
        return "vhost-iommu-support is on";
    }
    if (flags & RTE_VHOST_USER_POSTCOPY_SUPPORT) {
        return "vhost-postcopy-support is on";
    }
    /* userspace-tso-enable (RTE_VHOST_USER_EXTBUF_SUPPORT) is fine: the
     * async paths take the same offloads as the sync ones, a guest's large
     * segment lands in an external buffer on async dequeue as on sync, and
     * copy_cost() counts a segment by its size. */
    return NULL;
}

uint64_t
netdev_vhost_async_register_flags(const char *port, const char *socket,
                                  uint64_t flags)
{
    const char *why = NULL;
    const char *option;

    ovs_mutex_lock(&vhost_async_socket_mutex);
    option = shash_find_data(&port_options, port);
    option = option && !strcmp(option, "true") ? "true"
             : option ? "false" : NULL;
    ovs_mutex_unlock(&vhost_async_socket_mutex);

    if (option && !strcmp(option, "false")) {
        socket_record(port, socket, "options:vhost-async=false", false);
        VLOG_INFO("%s: copies with the CPU (options:vhost-async=false); its "
                  "guest can be live-migrated", port);
        return flags;
    }
    if (!netdev_vhost_async_enabled()) {
        socket_record(port, socket, "vhost-async-support is off", false);
        return flags;
    }
    why = netdev_vhost_async_conflict(socket, flags);
    socket_record(port, socket, why, why != NULL);
    if (why) {
        /* Two settings conflict: the operator has to choose. */
        VLOG_WARN("%s: vhost-async-support is on, but %s, which vhost async "
                  "does not support here: copies with the CPU", port, why);
        return flags;
    }
    VLOG_INFO("%s: vhost async copies; its guest cannot be live-migrated "
              "(no dirty page logging)", port);
    return flags | RTE_VHOST_USER_ASYNC_COPY;
}

void
netdev_vhost_async_unregister(const char *socket)
{
    struct vhost_async_socket *sock;

    ovs_mutex_lock(&vhost_async_socket_mutex);
    sock = shash_find_and_delete(&sockets, socket);
    ovs_mutex_unlock(&vhost_async_socket_mutex);
    if (sock) {
        free(sock->port);
        free(sock->error);
        free(sock);
    }
}

void
netdev_vhost_async_get_status(const char *socket, struct smap *args)
{
    const struct vhost_async_socket *sock;

    ovs_mutex_lock(&vhost_async_socket_mutex);
    sock = shash_find_data(&sockets, socket);
    if (sock) {
        if (sock->async && netdev_vhost_async_enabled()) {
            smap_add(args, "vhost_async", "on");
        } else {
            smap_add_format(args, "vhost_async", "off (%s)",
                            sock->async ? "vhost-async-support is off"
                            : sock->sync_reason);
        }
        if (sock->error) {
            smap_add(args, "vhost_async_error", sock->error);
        }
        if (sock->n_dma_failures) {
            smap_add_format(args, "vhost_async_dma_failures", "%u",
                            sock->n_dma_failures);
        }
        if (sock->n_stalled) {
            smap_add_format(args, "vhost_async_stalled_vrings", "%u",
                            sock->n_stalled);
        }
    }
    ovs_mutex_unlock(&vhost_async_socket_mutex);

    /* Dirty page logging, which live migration needs, is offered only by
     * sockets registered without async. */
    uint64_t features;
    if (sock && !rte_vhost_driver_get_features(socket, &features)) {
        smap_add(args, "vhost_log_all",
                 features & (UINT64_C(1) << VHOST_F_LOG_ALL)
                 ? "offered" : "not offered");
    }
}

/* Whether 'sock' should be registered with async copies now. */
static bool
socket_wants_async(const struct vhost_async_socket *sock)
    OVS_REQUIRES(vhost_async_socket_mutex)
{
    const char *option = shash_find_data(&port_options, sock->port);

    if (option && !strcmp(option, "false")) {
        return false;
    }
    return netdev_vhost_async_enabled() && !sock->flags_block;
}

/* Main thread: unregisters the sockets whose async flag must change, for
 * their ports to register them again.  Turning async off globally needs
 * none of this: threads without DMA copy with the CPU once their vrings
 * have nothing in flight. */
static void
switch_sockets(void)
{
    struct shash todo = SHASH_INITIALIZER(&todo);
    struct shash_node *node;

    ovs_mutex_lock(&vhost_async_socket_mutex);
    SHASH_FOR_EACH (node, &sockets) {
        struct vhost_async_socket *sock = node->data;
        const char *option = shash_find_data(&port_options, sock->port);
        bool want = socket_wants_async(sock);

        if (!sock->reregister
            && ((want && !sock->async)
                || (!want && sock->async && option
                    && !strcmp(option, "false")))) {
            sock->reregister = true;
            shash_add(&todo, node->name, xasprintf("%s %s", sock->port,
                                                   want ? "with" : "without"));
        }
    }
    ovs_mutex_unlock(&vhost_async_socket_mutex);

    SHASH_FOR_EACH (node, &todo) {
        char *what = node->data;
        char *space = strchr(what, ' ');
        struct netdev *netdev;

        *space = '\0';
        VLOG_INFO("%s: registering its socket again %s vhost async; the "
                  "guest reconnects", what, space + 1);
        /* Destroys the device, whose vrings the callback drains. */
        if (rte_vhost_driver_unregister(node->name)) {
            VLOG_WARN("%s: cannot unregister socket %s", what, node->name);
        }
        netdev = netdev_from_name(what);
        if (netdev) {
            netdev_request_reconfigure(netdev);
            netdev_close(netdev);
        }
    }
    shash_destroy_free_data(&todo);
}

bool
netdev_vhost_async_take_reregistration(const char *socket)
{
    struct vhost_async_socket *sock;
    bool reregister = false;

    ovs_mutex_lock(&vhost_async_socket_mutex);
    sock = shash_find_data(&sockets, socket);
    if (sock) {
        reregister = sock->reregister;
        sock->reregister = false;
    }
    ovs_mutex_unlock(&vhost_async_socket_mutex);
    return reregister;
}

uint32_t
netdev_vhost_async_mempool_extra(int n_txq)
{
    /* Mbufs other ports' packets may hold in flight on this port's guest
     * Rx vrings, as OVS counts those waiting in tx queues. */
    return netdev_vhost_async_enabled()
           ? n_txq * VHOST_ASYNC_VRING_MAX_MBUFS : 0;
}

/* The socket registered at 'path', or NULL. */
struct vhost_async_socket *
vhost_async_socket_find(const char *path)
    OVS_REQUIRES(vhost_async_socket_mutex)
{
    return shash_find_data(&sockets, path);
}

/* The socket of device 'vid', or NULL. */
struct vhost_async_socket *
vhost_async_socket_of_vid(int vid)
    OVS_REQUIRES(vhost_async_socket_mutex)
{
    char ifname[PATH_MAX];

    if (rte_vhost_get_ifname(vid, ifname, sizeof ifname)) {
        return NULL;
    }
    return vhost_async_socket_find(ifname);
}

static bool
vid_is_async(int vid)
{
    const struct vhost_async_socket *sock;
    bool async;

    ovs_mutex_lock(&vhost_async_socket_mutex);
    sock = vhost_async_socket_of_vid(vid);
    async = sock && sock->async;
    ovs_mutex_unlock(&vhost_async_socket_mutex);
    return async;
}

struct vhost_async_dev *
vhost_async_vdev_get(int vid)
{
    if (OVS_UNLIKELY(vid < 0 || vid >= RTE_MAX_VHOST_DEVICE)) {
        return NULL;
    }
    return ovsrcu_get(struct vhost_async_dev *, &vhost_devs[vid]);
}

/* The device of the lowest vid from '*vid' on, with '*vid' set to that
 * vid, or NULL if there is none (VHOST_ASYNC_FOR_EACH_VDEV). */
struct vhost_async_dev *
vhost_async_vdev_next(int *vid)
{
    for (; *vid < RTE_MAX_VHOST_DEVICE; (*vid)++) {
        struct vhost_async_dev *vdev = vhost_async_vdev_get(*vid);

        if (vdev) {
            return vdev;
        }
    }
    return NULL;
}

static enum rte_vhost_msg_result vhost_async_pre_msg(int vid, void *msg);

static const struct rte_vhost_user_extern_ops vhost_async_msg_ops = {
    .pre_msg_handle = vhost_async_pre_msg,
};

/* Only the vhost events thread creates and destroys these. */
static struct vhost_async_dev *
vdev_create(int vid)
{
    struct vhost_async_dev *vdev = vhost_async_vdev_get(vid);
    unsigned int orig;

    if (!vdev && vid >= 0 && vid < RTE_MAX_VHOST_DEVICE && vid_is_async(vid)) {
        vdev = xzalloc(sizeof *vdev);
        vdev->vid = vid;
        atomic_init(&vdev->n_vrings, 0);
        atomic_init(&vdev->paused, false);
        for (size_t i = 0; i < ARRAY_SIZE(vdev->vrings); i++) {
            struct vhost_async_vring *vr = &vdev->vrings[i];

            atomic_init(&vr->wanted, false);
            atomic_init(&vr->registered, false);
            atomic_init(&vr->async, false);
            atomic_init(&vr->error, false);
            atomic_init(&vr->inflight, 0);
            atomic_init(&vr->cost, 0);
            atomic_init(&vr->dma_mask, 0);
            atomic_init(&vr->completed, 0);
            atomic_init(&vr->drained, 0);
            atomic_init(&vr->drained_bytes, 0);
            atomic_init(&vr->cpu_copies, 0);
            atomic_init(&vr->retry_logged, false);
        }
        ovsrcu_set(&vhost_devs[vid], vdev);
        atomic_add_relaxed(&n_vdevs, 1, &orig);
    }
    return vdev;
}

static void
vring_register(struct vhost_async_dev *vdev, uint16_t queue_id, bool locked)
{
    struct vhost_async_vring *vr = &vdev->vrings[queue_id];
    int n_vrings;
    bool error;
    int err;

    atomic_store_relaxed(&vr->wanted, true);
    atomic_read_relaxed(&vdev->n_vrings, &n_vrings);
    if (queue_id >= n_vrings) {
        atomic_store_relaxed(&vdev->n_vrings, queue_id + 1);
    }
    atomic_read_relaxed(&vr->error, &error);
    if (error) {
        /* A vring in error waits for its device to be destroyed, which
         * the main thread forces. */
        vhost_async_report_vring_error();
        return;
    }
    if (vring_is_async(vr)) {
        return;
    }
    bool registered;
    atomic_read_relaxed(&vr->registered, &registered);
    if (registered) {
        /* Enabled again after a drain, e.g. of a memory table change. */
        atomic_store_relaxed(&vr->async, true);
        return;
    }
    err = (locked
           ? rte_vhost_async_channel_register_thread_unsafe(vdev->vid,
                                                            queue_id)
           : rte_vhost_async_channel_register(vdev->vid, queue_id));
    if (err) {
        /* Said once per vring and connection: the main thread retries
         * ten times a second. */
        bool logged;

        atomic_read_relaxed(&vr->retry_logged, &logged);
        if (!logged) {
            atomic_store_relaxed(&vr->retry_logged, true);
            VLOG_INFO("vhost device %d: cannot register async channel of "
                      "vring %"PRIu16" yet: it copies with the CPU until a "
                      "retry succeeds", vdev->vid, queue_id);
        }
        atomic_store_relaxed(&registration_retry, true);
        return;
    }
    atomic_store_relaxed(&vr->registered, true);
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

    struct vhost_async_dev *vdev;

    /* Not quiescent here: 'vdev' stays valid during the loop. */
    VHOST_ASYNC_FOR_EACH_VDEV (vdev, vid) {
        for (uint16_t q = 0; q < VHOST_ASYNC_MAX_VRINGS; q++) {
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

/* Test only: stops or resumes polling the completions of 'port'. */
static bool
pause_port(const char *port, bool pause)
{
    struct vhost_async_dev *vdev;
    bool found = false;

    VHOST_ASYNC_FOR_EACH_VDEV (vdev, vid) {
        const struct vhost_async_socket *sock;

        ovs_mutex_lock(&vhost_async_socket_mutex);
        sock = vhost_async_socket_of_vid(vid);
        if (sock && !strcmp(sock->port, port)) {
            atomic_store_relaxed(&vdev->paused, pause);
            found = true;
        }
        ovs_mutex_unlock(&vhost_async_socket_mutex);
    }
    return found;
}

static int
copy_cost(const struct rte_mbuf *m)
{
    return 1 + (rte_pktmbuf_pkt_len(m) ? rte_pktmbuf_pkt_len(m) - 1 : 0)
               / VHOST_ASYNC_COPY_UNIT;
}

static void
vring_count_completed(struct vhost_async_vring *vr, uint16_t n)
{
    uint64_t orig;

    atomic_add_relaxed(&vr->completed, n, &orig);
}

static void
vring_count_cpu_copies(struct vhost_async_vring *vr, uint16_t n)
{
    uint64_t orig;

    atomic_add_relaxed(&vr->cpu_copies, n, &orig);
}

/* Forgets 'n' packets whose copies vhost gave back to 'queue_id' of
 * 'vdev'.  A guest Tx vring's count of copies in flight is not touched:
 * only its rx queue's poller writes it, with what vhost last said. */
static void
vring_forget(struct vhost_async_dev *vdev, uint16_t queue_id,
             struct rte_mbuf **pkts, uint16_t n)
{
    struct vhost_async_vring *vr = &vdev->vrings[queue_id];
    int orig;

    if (is_guest_rx(queue_id)) {
        int cost = 0;

        for (uint16_t i = 0; i < n; i++) {
            cost += copy_cost(pkts[i]);
        }
        atomic_sub_relaxed(&vr->cost, cost, &orig);
        atomic_sub_relaxed(&vr->inflight, n, &orig);
    }
    vring_count_completed(vr, n);
}

/* Frees 'n' mbufs whose copies vhost gave back and forgets them. */
static void
vring_put(struct vhost_async_dev *vdev, uint16_t queue_id,
          struct rte_mbuf **pkts, uint16_t n)
{
    vring_forget(vdev, queue_id, pkts, n);
    rte_pktmbuf_free_bulk(pkts, n);
}

/* Collects every copy in flight on a vring and, if 'unregister', then
 * unregisters its async channel.  'locked': the caller holds the vring's
 * lock.  A vring disabled with its device live (e.g. for a memory table
 * change) keeps its channel: registering one anew there loses the vring's
 * place in the used ring.
 *
 * Copies that a DMA device will not complete cannot be waited for: the
 * vring stays in error, with their mbufs lost, and the device is failed
 * so that it never writes into the guest memory about to go away. */
static void
vring_drain(struct vhost_async_dev *vdev, uint16_t queue_id, bool locked,
            bool unregister)
{
    struct vhost_async_vring *vr = &vdev->vrings[queue_id];
    long long int deadline = time_msec() + VHOST_ASYNC_DRAIN_MSEC;
    int vid = vdev->vid;
    unsigned int dropped = 0;
    bool delayed = false;

    bool registered;

    atomic_store_relaxed(&vr->wanted, false);
    atomic_read_relaxed(&vr->registered, &registered);
    if (!registered) {
        return;
    }
    /* From now on, senders copy with the CPU or not at all. */
    atomic_store_relaxed(&vr->async, false);

    for (;;) {
        int inflight = (locked
                        ? rte_vhost_async_get_inflight_thread_unsafe(vid,
                                                                   queue_id)
                        : rte_vhost_async_get_inflight(vid, queue_id));
        /* The counts of 'vr' are left alone: every copy cleared here goes
         * through vring_put(), and a sender may have counted copies it has
         * yet to submit (they will fail: the vring is no longer async). */
        if (inflight < 0) {
            if (locked) {
                /* No async channel after all. */
                atomic_store_relaxed(&vr->registered, false);
                break;
            }
            if (time_msec() <= deadline) {
                /* The vring's lock is busy: a thread is still sending to
                 * it or polling it.  Try again. */
                continue;
            }
        }
        if (inflight <= 0) {
            if (!unregister) {
                break;
            }
            int err = (locked
                       ? rte_vhost_async_channel_unregister_thread_unsafe(
                             vid, queue_id)
                       : rte_vhost_async_channel_unregister(vid, queue_id));
            if (!err) {
                atomic_store_relaxed(&vr->registered, false);
                break;
            }
            if (time_msec() <= deadline) {
                continue;
            }
        }

        uint64_t mask;
        atomic_read_relaxed(&vr->dma_mask, &mask);
        /* The vring's mask keeps devices released since: vhost no longer
         * knows them, and their copies all completed before release. */
        mask &= dma_pool_vhost_mask() & ~dma_pool_failed_mask();
        if (OVS_UNLIKELY(!delayed) && mask) {
            unsigned int msec = test_delay_msec(&drain_delay);

            delayed = true;
            if (msec) {
                VLOG_INFO("vhost device %d vring %"PRIu16": drain sleeping "
                          "%u ms (test only)", vid, queue_id, msec);
                xnanosleep_no_quiesce(msec * 1000000LL);
                deadline += msec;
            }
        }
        if (!mask || time_msec() > deadline) {
            atomic_store_relaxed(&vr->error, true);
            COVERAGE_ADD(vhost_async_lost, MAX(inflight, 0));
            if (mask) {
                /* Healthy devices would have completed by now. */
                dma_pool_fail_stuck(mask, "copies would not complete "
                                    "while a guest's vring was drained");
            }
            VLOG_WARN("vhost device %d vring %"PRIu16": %d copies in flight "
                      "on a failed DMA device: their mbufs are lost", vid,
                      queue_id, inflight);
            break;
        }
        for (int dma_id = 0; mask; dma_id++, mask >>= 1) {
            struct rte_mbuf *pkts[VHOST_ASYNC_BURST];
            uint16_t n;

            if (!(mask & 1)) {
                continue;
            }
            if (!dma_pool_use_begin(dma_id)) {
                /* Released since we read the masks, or failing. */
                continue;
            }
            uint16_t avail0, used0, avail1, used1;
            bool base = !rte_vhost_get_vring_base(vid, queue_id, &avail0,
                                                  &used0);
            n = (locked
                 ? rte_vhost_clear_queue_thread_unsafe(vid, queue_id, pkts,
                                                       ARRAY_SIZE(pkts),
                                                       dma_id, 0)
                 : rte_vhost_clear_queue(vid, queue_id, pkts,
                                         ARRAY_SIZE(pkts), dma_id, 0));
            dma_pool_use_end(dma_id);
            if (n && n <= ARRAY_SIZE(pkts)) {
                /* Packets from the guest, completed but never received,
                 * are dropped here. */
                uint64_t bytes = 0, orig;

                for (uint16_t i = 0; i < n; i++) {
                    bytes += rte_pktmbuf_pkt_len(pkts[i]);
                }
                atomic_add_relaxed(&vr->drained, n, &orig);
                atomic_add_relaxed(&vr->drained_bytes, bytes, &orig);
                vring_put(vdev, queue_id, pkts, n);
                dropped += n;
                /* On a vring the guest already disabled, vhost forgets
                 * completed copies instead of handing their descriptors
                 * back: the guest's vring is then short of them for
                 * good, until it is reset. */
                if (!unregister && base
                    && !rte_vhost_get_vring_base(vid, queue_id, &avail1,
                                                 &used1)
                    && used1 == used0) {
                    atomic_store_relaxed(&vr->error, true);
                    vhost_async_report_vring_error();
                }
            }
        }
    }
    if (dropped) {
        COVERAGE_ADD(vhost_async_drained, dropped);
        VLOG_INFO("vhost device %d vring %"PRIu16": completed %u copies "
                  "in flight", vid, queue_id, dropped);
    }
}

#define VHOST_ASYNC_MAX_NUMA 8

/* Logs, once for each node a port's guest connects from, where its
 * traffic is handled: OVS moves the mempool and the rx queues to the
 * guest's node, and the PMD threads there copy with DMA devices of their
 * own node when they can. */
static void
log_numa_plan(const char *port, int guest)
{
    struct vhost_async_numa_node nodes[VHOST_ASYNC_MAX_NUMA];
    struct vhost_async_numa_plan plan;
    int current = -1;

    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < VHOST_ASYNC_MAX_NUMA; i++) {
        struct rte_malloc_socket_stats stats;

        nodes[i].hugepages = (!rte_malloc_get_socket_stats(i, &stats)
                              && stats.heap_totalsz_bytes > 0);
    }
    dma_pool_numa_nodes(nodes, VHOST_ASYNC_MAX_NUMA);

    struct netdev *netdev = netdev_from_name(port);
    if (netdev) {
        current = netdev_get_numa_id(netdev);
        netdev_close(netdev);
    }
    vhost_async_numa_plan(nodes, VHOST_ASYNC_MAX_NUMA, guest, current,
                          &plan);

    struct ds s = DS_EMPTY_INITIALIZER;
    vhost_async_numa_plan_format(&plan, &s);
    VLOG_INFO("%s: guest memory on NUMA node %d: %s", port, guest,
              ds_cstr(&s));
    ds_destroy(&s);
}

/* Main thread: does what sockets asked of it since last time: logs the
 * plans of guests that connected from a new node, and refreshes the
 * Interface status of ports whose sockets were registered. */
static void
run_socket_requests(void)
{
    struct shash numa_plans = SHASH_INITIALIZER(&numa_plans);
    struct sset stale_ports = SSET_INITIALIZER(&stale_ports);
    struct shash_node *node;
    const char *port;

    ovs_mutex_lock(&vhost_async_socket_mutex);
    SHASH_FOR_EACH (node, &sockets) {
        struct vhost_async_socket *sock = node->data;

        if (sock->numa_log_pending) {
            sock->numa_log_pending = false;
            shash_add_nocopy(&numa_plans, xstrdup(sock->port),
                             xmemdup(&sock->guest_numa,
                                     sizeof sock->guest_numa));
        }
        if (sock->status_stale) {
            sock->status_stale = false;
            sset_add(&stale_ports, sock->port);
        }
    }
    ovs_mutex_unlock(&vhost_async_socket_mutex);

    SHASH_FOR_EACH (node, &numa_plans) {
        log_numa_plan(node->name, *(int *) node->data);
    }
    shash_destroy_free_data(&numa_plans);
    SSET_FOR_EACH (port, &stale_ports) {
        vhost_async_port_status_changed(port);
    }
    sset_destroy(&stale_ports);
}

void
netdev_vhost_async_new_device(int vid)
{
    struct vhost_async_dev *vdev = vdev_create(vid);

    if (vdev) {
        /* For each connection: a connection that closes before it runs
         * gets no destroy_device(), so 'vdev' may be older than this one,
         * whose vhost device starts with no handler. */
        if (rte_vhost_extern_callback_register(vid, &vhost_async_msg_ops,
                                               NULL)) {
            VLOG_WARN("vhost device %d: cannot see its guest's messages: "
                      "a guest that changes its queue count with copies in "
                      "flight will reconnect", vid);
        }
        struct vhost_async_socket *sock;
        int guest_numa = rte_vhost_get_numa_node(vid);

        /* A new connection starts with fresh vrings. */
        ovs_mutex_lock(&vhost_async_socket_mutex);
        sock = vhost_async_socket_of_vid(vid);
        if (sock && sock->error) {
            VLOG_INFO("%s: guest reconnected: vhost async copies again",
                      sock->port);
            free(sock->error);
            sock->error = NULL;
        }
        if (sock) {
            sock->n_stalled = 0;
            if (sock->guest_numa != guest_numa) {
                /* Logged by the main thread: the plan needs the port's
                 * netdev, whose last reference this thread must never
                 * hold. */
                sock->guest_numa = guest_numa;
                sock->numa_log_pending = true;
            }
        }
        char *delayed_port = (sock && test_delay_msec(&new_device_delay)
                              ? xstrdup(sock->port) : NULL);
        ovs_mutex_unlock(&vhost_async_socket_mutex);
        if (delayed_port) {
            test_delay_new_device(delayed_port);
            free(delayed_port);
        }

        uint16_t n = rte_vhost_get_vring_num(vid);

        for (uint16_t q = 0; q < n && q < VHOST_ASYNC_MAX_VRINGS; q++) {
            vring_register(vdev, q, false);
        }
    }
}

/* Vhost events thread: follows a vring_state_changed() call of 'vdev' and
 * returns false if it is one that vhost forces on a vring the guest has
 * disabled.
 *
 * With async copies, vhost calls vring_state_changed(q, 0) for every vring
 * in a row before it remaps the guest's memory, and (q, 1) for every
 * vring in a row right after, whatever the guest had enabled, and no
 * public call says what the guest enabled.  So the guest's own enables
 * and disables are tracked here, and an enable that completes such a
 * sweep for a vring that was disabled before it began is not the
 * guest's. */
static bool
sweep_follow(struct vhost_async_dev *vdev, uint16_t queue_id, bool enable)
{
    struct vhost_async_sweep *sw = &vdev->sweep;
    int n_vrings = rte_vhost_get_vring_num(vdev->vid);
    bool guest_enabled = sw->guest_enabled[queue_id];

    if (!enable) {
        if (queue_id == 0) {
            sw->state = VHOST_ASYNC_SWEEP_DISABLING;
            sw->next = 0;
        }
        if (sw->state == VHOST_ASYNC_SWEEP_DISABLING
            && queue_id == sw->next) {
            sw->was_enabled[queue_id] = guest_enabled;
            sw->next++;
        } else {
            sw->state = VHOST_ASYNC_SWEEP_NONE;
        }
        sw->guest_enabled[queue_id] = false;
        return true;
    }

    if (sw->state == VHOST_ASYNC_SWEEP_DISABLING && queue_id == 0
        && sw->next == n_vrings) {
        sw->state = VHOST_ASYNC_SWEEP_ENABLING;
        sw->next = 0;
    }
    if (sw->state == VHOST_ASYNC_SWEEP_ENABLING && queue_id == sw->next) {
        if (++sw->next >= n_vrings) {
            sw->state = VHOST_ASYNC_SWEEP_NONE;
        }
        if (!sw->was_enabled[queue_id]) {
            VLOG_DBG("vhost device %d: vring %"PRIu16" stays disabled after "
                     "the memory table change", vdev->vid, queue_id);
            return false;
        }
    } else {
        sw->state = VHOST_ASYNC_SWEEP_NONE;
    }
    sw->guest_enabled[queue_id] = true;
    return true;
}

/* A vhost-user message that enables or disables a vring, as the protocol
 * puts it on the wire, which is how vhost hands it to vhost_async_pre_msg()
 * (a header of three 32-bit words, then struct vhost_vring_state). */
#define VA_VHOST_USER_SET_VRING_ENABLE 18
struct va_vring_enable_msg {
    uint32_t request;
    uint32_t flags;
    uint32_t size;              /* Of what follows. */
    uint32_t index;             /* Vring. */
    uint32_t num;               /* 1 to enable, 0 to disable. */
};

/* Vhost events thread, before vhost handles each message from the guest,
 * with every vring's lock held.  Vhost refuses to enable a vring that has
 * copies in flight, and then closes the connection; QEMU enables every
 * queue pair again, those already enabled too, each time the guest changes
 * its queue count (ethtool -L), and vhost tells the application nothing
 * when an enabled vring is enabled again.  So collect those copies here;
 * the vring stays async. */
static enum rte_vhost_msg_result
vhost_async_pre_msg(int vid, void *msg_)
{
    const struct va_vring_enable_msg *msg = msg_;
    struct vhost_async_dev *vdev;
    uint16_t queue_id;

    if (msg->request != VA_VHOST_USER_SET_VRING_ENABLE
        || msg->size < 2 * sizeof(uint32_t) || !msg->num
        || msg->index >= VHOST_ASYNC_MAX_VRINGS) {
        return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
    }
    queue_id = msg->index;
    vdev = vhost_async_vdev_get(vid);
    if (vdev
        && rte_vhost_async_get_inflight_thread_unsafe(vid, queue_id) > 0) {
        bool was_async = vring_is_async(&vdev->vrings[queue_id]);

        vring_drain(vdev, queue_id, true, false);
        if (was_async) {
            vring_register(vdev, queue_id, true);
        }
    }
    return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

bool
netdev_vhost_async_vring_state_changed(int vid, uint16_t queue_id,
                                       int enable)
{
    struct vhost_async_dev *vdev;

    if (queue_id >= VHOST_ASYNC_MAX_VRINGS) {
        return true;
    }
    vdev = enable ? vdev_create(vid) : vhost_async_vdev_get(vid);
    if (!vdev) {
        return true;
    }
    if (!sweep_follow(vdev, queue_id, enable)) {
        /* Turning async on must not change which queues carry traffic. */
        COVERAGE_INC(vhost_async_forced_enable);
        return false;
    }
    if (enable) {
        vring_register(vdev, queue_id, true);
    } else {
        /* Also before the guest's memory table changes: drain now, the
         * memory is unmapped as soon as we return. */
        vring_drain(vdev, queue_id, true, false);
    }
    return true;
}

void
netdev_vhost_async_destroy_device(int vid)
{
    struct vhost_async_dev *vdev = vhost_async_vdev_get(vid);

    if (!vdev) {
        return;
    }
    for (uint16_t q = 0; q < VHOST_ASYNC_MAX_VRINGS; q++) {
        vring_drain(vdev, q, false, true);
    }

    /* The port's statistics outlive the connection. */
    uint64_t counts[VA_PORT_N_STATS] = { 0 };
    struct vhost_async_socket *sock;

    vhost_async_vdev_count(vdev, counts);
    ovs_mutex_lock(&vhost_async_socket_mutex);
    sock = vhost_async_socket_of_vid(vid);
    if (sock) {
        for (int i = 0; i < VA_PORT_N_STATS; i++) {
            if (i != VA_PORT_TX_INFLIGHT && i != VA_PORT_RX_INFLIGHT) {
                sock->totals[i] += counts[i];
            }
        }
    }
    ovs_mutex_unlock(&vhost_async_socket_mutex);

    /* Pending entries see the table change and let go; vhost frees the
     * device once we return. */
    ovsrcu_set(&vhost_devs[vid], NULL);
    unsigned int orig;
    atomic_sub_relaxed(&n_vdevs, 1, &orig);
    readers_wait();

    /* The vhost events thread is no OVS thread: an ovsrcu_postpone() there
     * would leave it non-quiescent for good.  The main thread frees. */
    ovs_mutex_lock(&dead_mutex);
    ovs_list_push_back(&dead_devs, &vdev->dead_node);
    ovs_mutex_unlock(&dead_mutex);
}

/* Main thread: frees destroyed devices once no thread can see them. */
static void
free_dead_devs(void)
{
    struct vhost_async_dev *vdev;

    ovs_mutex_lock(&dead_mutex);
    LIST_FOR_EACH_POP (vdev, dead_node, &dead_devs) {
        ovsrcu_postpone(free, vdev);
    }
    ovs_mutex_unlock(&dead_mutex);
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
        atomic_store_relaxed(&shared_pending_n, shared_pending.n);
        ovs_mutex_unlock(&shared_mutex);
    }
}

/* pending_list_get(), or NULL if the list has no room for another vring
 * (then the caller copies with the CPU, once nothing is in flight). */
static struct vhost_async_pending_list *
pending_list_get_room(void)
{
    struct vhost_async_pending_list *list = pending_list_get();

    if (list->n >= VHOST_ASYNC_MAX_PENDING) {
        pending_list_put(list);
        COVERAGE_INC(vhost_async_pending_full);
        stat_add(VA_STAT_DEFERRED_FULL, 1);
        return NULL;
    }
    return list;
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
    list_stat_add(list, VA_STAT_DEFERRED_ADDED, 1);
}

/* Polls one pending vring, adding the copies to the guest it collects to
 * '*n_done'.  Returns true when it needs no more polling. */
static bool
pending_poll(const struct vhost_async_pending *p, unsigned int *n_done)
{
    struct vhost_async_dev *vdev = vhost_async_vdev_get(p->vid);
    struct rte_mbuf *pkts[VHOST_ASYNC_BURST];
    struct vhost_async_vring *vr;
    int inflight;
    uint16_t n;

    if (vdev != p->vdev) {
        /* Destroyed: destroy_device() drained it. */
        return true;
    }
    bool paused;
    atomic_read_relaxed(&vdev->paused, &paused);
    if (OVS_UNLIKELY(paused)) {
        return false;
    }
    if (dma_pool_channel_failed(p->channel)) {
        /* Its copies will never complete: the main thread puts the vring
         * in error (see handle_dma_failures()). */
        return true;
    }
    vr = &vdev->vrings[p->queue_id];
    bool error;
    atomic_read_relaxed(&vr->error, &error);
    if (error) {
        /* Its copies are lost; the main thread resets the guest. */
        return true;
    }
    if (!vring_is_async(vr) || !is_guest_rx(p->queue_id)) {
        /* Guest Tx completions are received packets: only the rx queue's
         * poller may collect them.  The entry just keeps the device. */
        /* Disabled or being destroyed, the callback drains it, and a
         * poll now would only contend for the vring's lock. */
        atomic_read_relaxed(&vr->inflight, &inflight);
        return inflight <= 0;
    }
    if (!dma_pool_use_begin(p->channel->dev_id)) {
        /* Failing (we will know next time) or stopped (test only). */
        return false;
    }
    n = rte_vhost_poll_enqueue_completed(p->vid, p->queue_id, pkts,
                                         ARRAY_SIZE(pkts),
                                         p->channel->dev_id,
                                         p->channel->vchan);
    dma_pool_use_end(p->channel->dev_id);
    if (n) {
        vring_put(vdev, p->queue_id, pkts, n);
        stat_add(VA_STAT_COMPLETIONS, n);
        *n_done += n;
    }
    atomic_read_relaxed(&vr->inflight, &inflight);
    return inflight <= 0;
}

/* Returns the number of copies to guests collected. */
static unsigned int
pending_list_poll(struct vhost_async_pending_list *list)
{
    unsigned int n_done = 0;
    uint64_t start;
    bool paused;

    atomic_read_relaxed(&completions_paused, &paused);
    if (OVS_UNLIKELY(paused) || !list->n) {
        return 0;
    }
    start = rte_get_tsc_cycles();
    reader_enter(list);
    for (size_t i = 0; i < list->n; ) {
        if (pending_poll(&list->entries[i], &n_done)) {
            dma_pool_busy_vrings_add(list->entries[i].channel, -1);
            list->entries[i] = list->entries[--list->n];
            list_stat_add(list, VA_STAT_DEFERRED_DONE, 1);
        } else {
            i++;
        }
    }
    reader_exit(list);
    stat_add(VA_STAT_POLL_CYCLES, rte_get_tsc_cycles() - start);
    return n_done;
}

/* Data path. */

/* How many of 'pkts' may be submitted to 'channel' for 'vr' without
 * taking more than its share of the DMA ring or more descriptors than the
 * ring has free.  Stores their cost in '*cost'. */
static uint16_t
submit_budget(const struct vhost_async_vring *vr,
              const struct dma_pool_channel *channel,
              struct rte_mbuf **pkts, uint16_t count, int *cost)
{
    int share = channel->ring_size / VHOST_ASYNC_VRING_SHARE;
    int capacity = rte_dma_burst_capacity(channel->dev_id, channel->vchan);
    int held;
    uint16_t n;

    atomic_read_relaxed(&vr->cost, &held);
    *cost = 0;
    for (n = 0; n < count; n++) {
        int c = copy_cost(pkts[n]);

        if (*cost + c > capacity) {
            COVERAGE_INC(vhost_async_dma_full);
            break;
        }
        if (held + *cost + c > share) {
            COVERAGE_INC(vhost_async_vring_cap);
            break;
        }
        *cost += c;
    }
    return n;
}

/* Counts 'n' copies of 'cost' descriptors to guest Rx vring 'vr' as in
 * flight, before they are submitted.  Guest Rx counts only ever go up and
 * down by what is submitted and what comes back. */
static void
vring_publish(struct vhost_async_vring *vr, int n, int cost)
{
    int orig;

    atomic_add_relaxed(&vr->cost, cost, &orig);
    atomic_add_relaxed(&vr->inflight, n, &orig);
}

/* Adds the device of 'channel' to those 'vr' has copies on, before the
 * copies exist.  Returns its bit if it was not there, for
 * vring_mask_undo() if no copy was made after all: a device in the mask
 * of a vring with copies in flight takes the blame if it fails. */
static uint64_t
vring_mask_add(struct vhost_async_vring *vr,
               const struct dma_pool_channel *channel)
{
    uint64_t bit = UINT64_C(1) << (channel->dev_id % VHOST_ASYNC_MAX_DMA);
    uint64_t mask;

    atomic_read_relaxed(&vr->dma_mask, &mask);
    if (mask & bit) {
        return 0;
    }
    atomic_or_relaxed(&vr->dma_mask, bit, &mask);
    return bit;
}

static void
vring_mask_undo(struct vhost_async_vring *vr, uint64_t bit)
{
    uint64_t mask;

    if (bit) {
        atomic_and_relaxed(&vr->dma_mask, ~bit, &mask);
    }
}

/* Copies with the CPU, which must not overtake copies in flight: with
 * none, the async path's state stays consistent. */
static uint16_t
enqueue_sync(int vid, uint16_t queue_id, struct vhost_async_vring *vr,
             struct rte_mbuf **pkts, uint16_t count)
{
    int inflight;
    uint16_t n;

    atomic_read_relaxed(&vr->inflight, &inflight);
    if (inflight > 0) {
        return 0;
    }
    n = rte_vhost_enqueue_burst(vid, queue_id, pkts, count);
    COVERAGE_ADD(vhost_async_cpu_copy, n);
    stat_add(VA_STAT_CPU_COPIES, n);
    vring_count_cpu_copies(vr, n);
    return n;
}

uint16_t
netdev_vhost_async_enqueue_burst(int vid, uint16_t queue_id,
                                 struct rte_mbuf **pkts, uint16_t count)
{
    struct vhost_async_dev *vdev = vhost_async_vdev_get(vid);
    struct vhost_async_pending_list *list;
    const struct dma_pool_channel *channel;
    struct vhost_async_vring *vr;
    uint16_t n, budget;
    int cost, orig;
    bool error;

    if (!vdev || queue_id >= VHOST_ASYNC_MAX_VRINGS
        || !vring_is_async(&vdev->vrings[queue_id])) {
        return rte_vhost_enqueue_burst(vid, queue_id, pkts, count);
    }
    vr = &vdev->vrings[queue_id];
    atomic_read_relaxed(&vr->error, &error);
    if (OVS_UNLIKELY(error)) {
        /* Stuck behind copies that will never complete. */
        COVERAGE_ADD(vhost_async_error_drop, count);
        return 0;
    }
    if (burst_is_small(pkts, count)) {
        int inflight;

        /* Submits happen under the caller's tx queue lock, which we hold:
         * with nothing in flight now, a CPU copy cannot overtake one. */
        atomic_read_relaxed(&vr->inflight, &inflight);
        if (inflight <= 0) {
            return enqueue_sync(vid, queue_id, vr, pkts, count);
        }
        COVERAGE_INC(vhost_async_small_refused);
    }

    channel = dma_pool_get_channel();
    if (!channel || dma_pool_channel_failed(channel)) {
        return enqueue_sync(vid, queue_id, vr, pkts, count);
    }
    list = pending_list_get_room();
    if (!list) {
        return enqueue_sync(vid, queue_id, vr, pkts, count);
    }
    if (!dma_pool_use_begin(channel->dev_id)) {
        pending_list_put(list);
        return enqueue_sync(vid, queue_id, vr, pkts, count);
    }

    /* Make room first: completions free descriptors and mbufs.  A vring
     * at its share of the ring waits a little for its own copies, as
     * OVS's tx-retries-max loop would for a slow guest. */
    budget = 0;
    for (int try = 0; !budget && try <= VHOST_ASYNC_BUDGET_RETRIES; try++) {
        pending_list_poll(list);
        budget = submit_budget(vr, channel, pkts, count, &cost);
    }
    if (!budget) {
        dma_pool_use_end(channel->dev_id);
        pending_list_put(list);
        /* Still full of other vrings' copies: this one, if it has none in
         * flight, may as well copy with the CPU. */
        return enqueue_sync(vid, queue_id, vr, pkts, count);
    }

    /* Published before the copies exist, so that a drain, which may run
     * as soon as the vhost call releases the vring, never finds copies
     * these counts miss or a device missing from the mask. */
    uint64_t new_bit = vring_mask_add(vr, channel);
    vring_publish(vr, budget, cost);
    n = rte_vhost_submit_enqueue_burst(vid, queue_id, pkts, budget,
                                       channel->dev_id, channel->vchan);
    dma_pool_use_end(channel->dev_id);
    test_delay_after_submit();
    if (!n) {
        vring_mask_undo(vr, new_bit);
    }
    if (n < budget) {
        int unused = 0;

        COVERAGE_INC(vhost_async_vring_full);
        for (uint16_t i = n; i < budget; i++) {
            unused += copy_cost(pkts[i]);
        }
        atomic_sub_relaxed(&vr->cost, unused, &orig);
        atomic_sub_relaxed(&vr->inflight, budget - n, &orig);
    }
    if (n) {
        pending_add(list, vdev, queue_id, channel);
        /* vhost owns them until their copy completes. */
        memset(pkts, 0, n * sizeof *pkts);
        COVERAGE_ADD(vhost_async_submit, n);
        stat_add(VA_STAT_DMA_TO_GUEST, n);
        if (list == &shared_pending) {
            COVERAGE_ADD(vhost_async_nonpmd_submit, n);
        }
    }
    pending_list_put(list);
    if (n && list == &shared_pending) {
        atomic_store_relaxed(&main_delay_armed, true);
    }
    return n;
}

/* Copies from the guest with the CPU, which must not overtake copies in
 * flight ('inflight' of them). */
static uint16_t
dequeue_sync(int vid, uint16_t queue_id, struct vhost_async_vring *vr,
             int inflight, struct rte_mempool *mp, struct rte_mbuf **pkts,
             uint16_t count)
{
    uint16_t n;

    if (inflight > 0) {
        return 0;
    }
    n = rte_vhost_dequeue_burst(vid, queue_id, mp, pkts, count);
    COVERAGE_ADD(vhost_async_cpu_dequeue, n);
    stat_add(VA_STAT_CPU_COPIES, n);
    vring_count_cpu_copies(vr, n);
    return n;
}

uint16_t
netdev_vhost_async_dequeue_burst(int vid, uint16_t queue_id,
                                 struct rte_mempool *mp,
                                 struct rte_mbuf **pkts, uint16_t count)
{
    struct vhost_async_dev *vdev = vhost_async_vdev_get(vid);
    struct vhost_async_pending_list *list;
    const struct dma_pool_channel *channel;
    struct vhost_async_vring *vr;
    int nr_inflight = -1;
    int inflight;
    bool error;
    uint16_t n;

    if (!vdev || queue_id >= VHOST_ASYNC_MAX_VRINGS
        || !vring_is_async(&vdev->vrings[queue_id])) {
        return rte_vhost_dequeue_burst(vid, queue_id, mp, pkts, count);
    }
    vr = &vdev->vrings[queue_id];
    atomic_read_relaxed(&vr->error, &error);
    if (OVS_UNLIKELY(error)) {
        return 0;
    }

    channel = dma_pool_get_channel();
    if (channel && dma_pool_channel_failed(channel)) {
        channel = NULL;
    }
    atomic_read_relaxed(&vr->inflight, &inflight);
    if (inflight > 0 && vr->dq_channel != channel) {
        /* The rx queue moved to this thread, or this thread changed
         * device: copies in flight complete only on the channel they
         * were submitted to.  Receive them first, in order. */
        const struct dma_pool_channel *old = vr->dq_channel;

        if (!old || dma_pool_channel_failed(old)
            || !dma_pool_use_begin(old->dev_id)) {
            return 0;
        }
        n = rte_vhost_clear_queue(vid, queue_id, pkts, count, old->dev_id,
                                  old->vchan);
        dma_pool_use_end(old->dev_id);
        if (n > count) {
            n = 0;
        }
        vring_forget(vdev, queue_id, pkts, n);
        int left = rte_vhost_async_get_inflight(vid, queue_id);
        if (left >= 0) {
            atomic_store_relaxed(&vr->inflight, left);
        }
        COVERAGE_ADD(vhost_async_dequeue, n);
        stat_add(VA_STAT_DMA_FROM_GUEST, n);
        return n;
    }
    list = channel ? pending_list_get_room() : NULL;
    if (list && !dma_pool_use_begin(channel->dev_id)) {
        pending_list_put(list);
        list = NULL;
    }
    if (!list) {
        return dequeue_sync(vid, queue_id, vr, inflight, mp, pkts, count);
    }
    /* Before the copies exist, as for guest Rx.  A device new to the
     * vring had nothing in flight on it before this call (or the rx queue
     * would have changed threads, above). */
    uint64_t new_bit = vring_mask_add(vr, channel);
    n = rte_vhost_async_try_dequeue_burst(vid, queue_id, mp, pkts, count,
                                          &nr_inflight, channel->dev_id,
                                          channel->vchan);
    dma_pool_use_end(channel->dev_id);
    if (nr_inflight <= 0) {
        vring_mask_undo(vr, new_bit);
    }
    vr->dq_channel = channel;
    vring_count_completed(vr, n);
    if (nr_inflight >= 0) {
        atomic_store_relaxed(&vr->inflight, nr_inflight);
    }
    if (nr_inflight > 0) {
        pending_add(list, vdev, queue_id, channel);
    }
    pending_list_put(list);
    COVERAGE_ADD(vhost_async_dequeue, n);
    stat_add(VA_STAT_DMA_FROM_GUEST, n);
    return n;
}

/* Threads. */

void
netdev_vhost_async_attach_thread(unsigned int core_id)
{
    struct vhost_async_pending_list *list = xzalloc(sizeof *list);

    list->core_id = core_id;
    atomic_init(&list->read_seq, 0);
    ovs_mutex_lock(&readers_mutex);
    ovs_list_push_back(&readers, &list->reader_node);
    ovs_mutex_unlock(&readers_mutex);
    vhost_async_stats_register(list);
    *pmd_pending_get() = list;
    dma_pool_attach_thread(core_id);
}

/* Moves what 'list' has in flight to the shared list, which every thread
 * polls. */
static void
pending_list_hand_over(struct vhost_async_pending_list *list)
{
    struct vhost_async_pending_list *shared;

    if (!list->n) {
        return;
    }
    ovs_mutex_lock(&shared_mutex);
    shared = &shared_pending;
    for (size_t i = 0; i < list->n; i++) {
        const struct vhost_async_pending *p = &list->entries[i];

        if (shared->n < VHOST_ASYNC_MAX_PENDING) {
            pending_add(shared, p->vdev, p->queue_id, p->channel);
        } else {
            VLOG_WARN("vhost device %d vring %"PRIu16": nobody polls its "
                      "copies in flight any more", p->vid, p->queue_id);
        }
        dma_pool_busy_vrings_add(p->channel, -1);
        list_stat_add(list, VA_STAT_DEFERRED_DONE, 1);
    }
    list->n = 0;
    pending_list_put(shared);
}

void
netdev_vhost_async_detach_thread(void)
{
    struct vhost_async_pending_list *list = *pmd_pending_get();

    if (!list) {
        return;
    }
    pending_list_hand_over(list);
    *pmd_pending_get() = NULL;
    ovs_mutex_lock(&readers_mutex);
    ovs_list_remove(&list->reader_node);
    ovs_mutex_unlock(&readers_mutex);

    vhost_async_stats_unregister(list);
    free(list);
    dma_pool_detach_thread();
}

void
netdev_vhost_async_hand_over(void)
{
    struct vhost_async_pending_list *list = *pmd_pending_get();

    if (list) {
        pending_list_hand_over(list);
    }
}

/* A PMD thread also polls the shared list, if nobody else is: that is
 * where copies of the main thread, and of PMD threads that have nothing
 * left to poll, wait for their completions, and the main thread may be
 * busy.  In-order retirement makes every other copy to their vrings wait
 * for them. */
static unsigned int
shared_list_try_poll(void)
    OVS_NO_THREAD_SAFETY_ANALYSIS
{
    unsigned int n_shared, n_done = 0;

    atomic_read_relaxed(&shared_pending_n, &n_shared);
    if (n_shared && !ovs_mutex_trylock(&shared_mutex)) {
        n_done = pending_list_poll(&shared_pending);
        pending_list_put(&shared_pending);
    }
    return n_done;
}

unsigned int
netdev_vhost_async_poll(void)
{
    struct vhost_async_pending_list *list = pending_list_get();
    unsigned int n_done = pending_list_poll(list);

    pending_list_put(list);
    if (list != &shared_pending) {
        n_done += shared_list_try_poll();
    }
    return n_done;
}

void
netdev_vhost_async_wait(void)
{
    test_delay_main_thread();

    /* Out of bridge_run(), with no lock held and no RCU-protected object
     * in use: here OVS's destroy_device() may wait for a grace period on
     * this thread.  It leaves the thread quiescent, for the rest of the
     * wait phase to find. */
    bool was_quiescent = ovsrcu_is_quiescent();
    switch_sockets();
    if (!was_quiescent && ovsrcu_is_quiescent()) {
        ovsrcu_quiesce_end();
    }

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
    dma_pool_wait();

    unsigned int n;
    atomic_read_relaxed(&n_vdevs, &n);
    if (n) {
        /* vhost_async_watch_vrings(). */
        poll_timer_wait(1000);
    }
}

/* netdev-vhost-async/show: every connected async port and its guest Rx
 * vrings. */
static void
netdev_vhost_async_unixctl_show(struct unixctl_conn *conn,
                                int argc OVS_UNUSED,
                                const char *argv[] OVS_UNUSED,
                                void *aux OVS_UNUSED)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    struct vhost_async_dev *vdev;

    VHOST_ASYNC_FOR_EACH_VDEV (vdev, vid) {
        const struct vhost_async_socket *sock;

        ovs_mutex_lock(&vhost_async_socket_mutex);
        sock = vhost_async_socket_of_vid(vid);
        ds_put_format(&s, "%s (vhost device %d)%s%s\n",
                      sock ? sock->port : "?", vid,
                      sock && sock->error ? ": " : "",
                      sock && sock->error ? sock->error : "");
        ovs_mutex_unlock(&vhost_async_socket_mutex);

        int n_vrings = vhost_async_vdev_n_vrings(vdev);
        for (int q = 0; q < n_vrings; q++) {
            struct vhost_async_vring *vr = &vdev->vrings[q];
            int inflight, cost;
            uint64_t mask;
            bool error;

            atomic_read_relaxed(&vr->inflight, &inflight);
            atomic_read_relaxed(&vr->cost, &cost);
            atomic_read_relaxed(&vr->dma_mask, &mask);
            atomic_read_relaxed(&vr->error, &error);
            ds_put_format(&s, "  vring %d: %s  in flight: %d  "
                          "descriptors: %d  DMA devices: 0x%"PRIx64"%s\n",
                          q, error ? "error" : vring_is_async(vr) ? "async"
                          : "cpu", inflight, cost, mask,
                          vr->stalled ? "  stalled" : "");
        }
    }
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}
