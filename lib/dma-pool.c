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

#include "dma-pool.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <string.h>

#include <rte_dev.h>
#include <rte_dmadev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_vhost_async.h>

#include "coverage.h"
#include "dpdk.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "ovs-atomic.h"
#include "ovs-numa.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "smap.h"
#include "sset.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"
#include "vhost-async-numa.h"

VLOG_DEFINE_THIS_MODULE(dma_pool);

COVERAGE_DEFINE(dma_pool_assign);
COVERAGE_DEFINE(dma_pool_share);
COVERAGE_DEFINE(dma_pool_no_dma);
COVERAGE_DEFINE(dma_pool_error);
COVERAGE_DEFINE(dma_pool_release);
COVERAGE_DEFINE(dma_pool_failed);
COVERAGE_DEFINE(dma_pool_retry);

/* A device with copies outstanding that completes none for this long has
 * failed: hardware and the software device alike complete a copy in
 * microseconds. */
#define DMA_POOL_HUNG_MSEC 2000

/* A device that could not be opened or created is tried again this often:
 * what made it fail (memory, a name taken, a device being set up by
 * someone else) may go away without anyone telling us. */
#define DMA_POOL_RETRY_MSEC 5000

/* How often the main thread checks that DPDK still knows each device. */
#define DMA_POOL_PRESENCE_MSEC 500

/* A control operation waits this long for the data-path calls in progress
 * on its device (single vhost or dmadev calls: microseconds) before it
 * goes on regardless.  It only waits that long if a caller holds a lock
 * such a call waits for: a vring's, when a drain fails a device. */
#define DMA_POOL_BAR_MSEC 100

/* vhost tracks DMA device ids below RTE_DMADEV_DEFAULT_MAX only. */
#define DMA_POOL_MAX_ID 64

/* The uses of a device id: see dma_pool_use_begin(). */
struct dma_guard {
    PADDED_MEMBERS(CACHE_LINE_SIZE,
        atomic_uint users;      /* Data-path calls in progress. */
        atomic_bool barred;     /* Stopped, unconfigured or closed, or
                                 * about to be: no new call. */
    );
};
static struct dma_guard guards[DMA_POOL_MAX_ID];

/* A DMA device in the pool.  We use its vchan 0 only. */
struct dma_dev {
    struct ovs_list list_node;      /* In 'active_devs', 'retiring_devs'
                                     * or 'failed_devs'. */
    struct dma_pool_channel channel;
    char *name;
    int numa_id;
    bool software;                  /* Created, and removed, by us. */
    unsigned int lcore;             /* software: the lcore it copies on. */
    uint16_t ring_size;
    unsigned int n_users;           /* Threads assigned to it... */
    unsigned int n_pmds;            /* ...of which PMD threads. */
    atomic_llong busy_vrings;       /* Vrings with copies in flight on it. */
    unsigned int stalled_vrings;    /* Of which none completes, as last
                                     * reported; under 'dma_mutex'. */
    atomic_bool quiesced;           /* Retiring, and every thread has
                                     * quiesced since it left. */
    atomic_bool failed;             /* Stopped for good. */
    char *failure;                  /* Why it failed. */
    bool gone;                      /* DPDK no longer knows it: its id is
                                     * not ours to stop or query. */
    bool simulated_gone;            /* dpdk/dma-simulate-remove (tests). */

    /* Hang detection, main thread only. */
    uint64_t watch_completed;       /* Completions seen last time... */
    long long int watch_since;      /* ...and since when. */
};

/* A thread, or the non-PMD context, that copies through the pool. */
struct dma_user {
    struct ovs_list list_node;      /* In 'users'. */
    unsigned int core_id;           /* NON_PMD_CORE_ID: the non-PMD context. */
    int numa_id;
    struct dma_dev *dev;            /* Protected by 'dma_mutex'. */
    bool no_dma_logged;             /* Told it copies with the CPU. */
    OVSRCU_TYPE(const struct dma_pool_channel *) channel;  /* For readers. */
};

static struct ovs_mutex dma_mutex = OVS_MUTEX_INITIALIZER;
static struct ovs_list active_devs OVS_GUARDED_BY(dma_mutex)
    = OVS_LIST_INITIALIZER(&active_devs);
static struct ovs_list retiring_devs OVS_GUARDED_BY(dma_mutex)
    = OVS_LIST_INITIALIZER(&retiring_devs);
static struct ovs_list users OVS_GUARDED_BY(dma_mutex)
    = OVS_LIST_INITIALIZER(&users);
static struct ovs_list failed_devs OVS_GUARDED_BY(dma_mutex)
    = OVS_LIST_INITIALIZER(&failed_devs);
static atomic_uint64_t failed_mask = 0;

static uint64_t
dev_id_bit(int16_t dev_id)
{
    return UINT64_C(1) << (dev_id % 64);
}

/* Bit N set: vhost has device id N configured (see dma_pool_vhost_mask()). */
static atomic_uint64_t vhost_mask = 0;
/* Users lost their device to a failure outside the main thread. */
static bool refresh_needed OVS_GUARDED_BY(dma_mutex);

/* NULL while the pool is off (vhost async disabled). */
static struct dma_pool_config *pool_cfg OVS_GUARDED_BY(dma_mutex);
static uint64_t pmd_cpu_mask OVS_GUARDED_BY(dma_mutex);
static unsigned int n_software_created OVS_GUARDED_BY(dma_mutex);

/* Opening or creating devices.  A refresh that fails to open one sets
 * 'retry_at', when dma_pool_run() refreshes again; 'logged_failures' holds
 * the failures logged since the pool last had every device it wanted, so
 * that a retry that fails the same way stays quiet. */
static long long int retry_at OVS_GUARDED_BY(dma_mutex);
static struct sset logged_failures OVS_GUARDED_BY(dma_mutex)
    = SSET_INITIALIZER(&logged_failures);
static char *last_failure OVS_GUARDED_BY(dma_mutex);
static bool refresh_failed OVS_GUARDED_BY(dma_mutex);

/* Tests only: dpdk/dma-simulate-start-failure makes the rte_dma_start
 * step of every device opened report failure, and
 * dpdk/dma-simulate-unconfigure-failure makes vhost refuse to let go of
 * every device released. */
struct simulated_failure {
    bool on;
    const char *what;
};
static struct simulated_failure simulate_start_failure
    OVS_GUARDED_BY(dma_mutex) = { false, "to start" };
static struct simulated_failure simulate_unconfigure_failure
    OVS_GUARDED_BY(dma_mutex) = { false, "to leave vhost" };

static struct dma_user non_pmd_user = {
    .core_id = NON_PMD_CORE_ID,
};

DEFINE_STATIC_PER_THREAD_DATA(struct dma_user *, thread_user, NULL);

/* Configuration. */

static bool
is_power_of_2(unsigned long long x)
{
    return x && !(x & (x - 1));
}

char *
dma_pool_config_parse(const struct smap *other_config,
                      struct dma_pool_config *cfg)
{
    const char *dma = smap_get_def(other_config, "vhost-async-dma", "auto");
    const char *ring = smap_get(other_config, "vhost-async-dma-ring-size");

    memset(cfg, 0, sizeof *cfg);
    cfg->ring_size = DMA_POOL_RING_DEFAULT;
    if (ring) {
        unsigned long long n;

        /* strtoull() takes "-N" as 2^64 - N: only digits will do. */
        if (!isdigit((unsigned char) ring[0])
            || !str_to_ullong(ring, 10, &n) || !is_power_of_2(n)
            || n < DMA_POOL_RING_MIN || n > DMA_POOL_RING_MAX) {
            return xasprintf("vhost-async-dma-ring-size=%s is not valid: "
                             "it must be a power of 2 from %d to %d",
                             ring, DMA_POOL_RING_MIN, DMA_POOL_RING_MAX);
        }
        cfg->ring_size = n;
    }

    if (!strcmp(dma, "auto")) {
        cfg->mode = DMA_POOL_AUTO;
    } else if (!strcmp(dma, "software")) {
        cfg->mode = DMA_POOL_SOFTWARE;
    } else {
        char *copy = xstrdup(dma);
        char *save_ptr = NULL;
        char *error = NULL;

        cfg->mode = DMA_POOL_LIST;
        for (char *name = strtok_r(copy, ",", &save_ptr); name;
             name = strtok_r(NULL, ",", &save_ptr)) {
            bool ok = name[0] != '\0';
            for (const char *p = name; *p && ok; p++) {
                ok = isalnum((unsigned char) *p) || strchr(":._-", *p);
            }
            if (!ok) {
                error = xasprintf("vhost-async-dma=%s is not valid: \"%s\" "
                                  "is not a device name", dma, name);
                break;
            }
            if (strlen(name) >= RTE_DEV_NAME_MAX_LEN) {
                error = xasprintf("vhost-async-dma=%s is not valid: \"%s\" "
                                  "is longer than a DPDK device name can be "
                                  "(%d bytes)", dma, name,
                                  RTE_DEV_NAME_MAX_LEN - 1);
                break;
            }
            for (size_t i = 0; i < cfg->n_names; i++) {
                if (!strcmp(cfg->names[i], name)) {
                    error = xasprintf("vhost-async-dma=%s is not valid: "
                                      "it names %s twice", dma, name);
                    break;
                }
            }
            if (error) {
                break;
            }
            cfg->names = xrealloc(cfg->names,
                                  (cfg->n_names + 1) * sizeof *cfg->names);
            cfg->names[cfg->n_names++] = xstrdup(name);
        }
        free(copy);
        if (!error && !cfg->n_names) {
            error = xasprintf("vhost-async-dma=%s names no device", dma);
        }
        if (error) {
            dma_pool_config_destroy(cfg);
            char *full = xasprintf("%s (choose auto, software or a "
                                   "comma-separated list of DMA devices)",
                                   error);
            free(error);
            return full;
        }
    }
    return NULL;
}

bool
dma_pool_config_equal(const struct dma_pool_config *a,
                      const struct dma_pool_config *b)
{
    if (a->mode != b->mode || a->ring_size != b->ring_size
        || a->n_names != b->n_names) {
        return false;
    }
    for (size_t i = 0; i < a->n_names; i++) {
        if (strcmp(a->names[i], b->names[i])) {
            return false;
        }
    }
    return true;
}

void
dma_pool_config_format(const struct dma_pool_config *cfg, struct ds *s)
{
    switch (cfg->mode) {
    case DMA_POOL_AUTO:
        ds_put_cstr(s, "auto");
        break;
    case DMA_POOL_SOFTWARE:
        ds_put_cstr(s, "software");
        break;
    case DMA_POOL_LIST:
        for (size_t i = 0; i < cfg->n_names; i++) {
            ds_put_format(s, "%s%s", i ? "," : "", cfg->names[i]);
        }
        break;
    }
    ds_put_format(s, " ring-size=%"PRIu16, cfg->ring_size);
}

void
dma_pool_config_destroy(struct dma_pool_config *cfg)
{
    for (size_t i = 0; i < cfg->n_names; i++) {
        free(cfg->names[i]);
    }
    free(cfg->names);
    cfg->names = NULL;
    cfg->n_names = 0;
}

/* Assignment policy.
 *
 * An unused device on the thread's NUMA node first, then an unused remote
 * one (a remote DMA engine still beats sharing a vchan lock on every
 * burst), then the least used local one, then the least used anywhere. */

const char *
dma_pool_pick_to_string(enum dma_pool_pick pick)
{
    switch (pick) {
    case DMA_PICK_NONE:
        return "none";
    case DMA_PICK_LOCAL:
        return "local";
    case DMA_PICK_REMOTE:
        return "remote";
    case DMA_PICK_SHARED_LOCAL:
        return "shared, local";
    case DMA_PICK_SHARED_REMOTE:
        return "shared, remote";
    }
    return "?";
}

static unsigned int
pick_rank(const struct dma_pool_candidate *c, int numa_id)
{
    bool local = c->numa_id == numa_id || c->numa_id == OVS_NUMA_UNSPEC
                 || numa_id == OVS_NUMA_UNSPEC;

    return (c->n_users ? 2 : 0) + (local ? 0 : 1);
}

size_t
dma_pool_pick(const struct dma_pool_candidate cands[], size_t n,
              int numa_id, enum dma_pool_pick *pick)
{
    static const enum dma_pool_pick by_rank[] = {
        DMA_PICK_LOCAL, DMA_PICK_REMOTE,
        DMA_PICK_SHARED_LOCAL, DMA_PICK_SHARED_REMOTE,
    };
    size_t best = SIZE_MAX;

    for (size_t i = 0; i < n; i++) {
        if (best == SIZE_MAX) {
            best = i;
            continue;
        }
        unsigned int r = pick_rank(&cands[i], numa_id);
        unsigned int br = pick_rank(&cands[best], numa_id);
        if (r < br || (r == br && cands[i].n_users < cands[best].n_users)) {
            best = i;
        }
    }
    *pick = best == SIZE_MAX ? DMA_PICK_NONE
            : by_rank[pick_rank(&cands[best], numa_id)];
    return best;
}

/* Devices. */

/* A device's NUMA node for humans: DPDK knows none for virtual devices. */
static const char *
numa_to_string(int numa_id, char buf[12])
{
    if (numa_id == OVS_NUMA_UNSPEC) {
        return "any";
    }
    snprintf(buf, 12, "%d", numa_id);
    return buf;
}

static struct dma_dev *
dma_dev_from_channel(const struct dma_pool_channel *channel)
{
    return CONTAINER_OF(channel, struct dma_dev, channel);
}

/* Checks that device 'dev_id' can copy memory with 'ring_size'
 * descriptors.  Returns NULL or an error message to free. */
static char *
dma_dev_check(int16_t dev_id, const char *name, uint16_t ring_size)
{
    struct rte_dma_info info;
    int err = rte_dma_info_get(dev_id, &info);

    if (err) {
        return xasprintf("cannot query DMA device %s: %s", name,
                         rte_strerror(-err));
    }
    if (dev_id >= DMA_POOL_MAX_ID) {
        return xasprintf("DMA device %s has id %d: vhost takes ids below "
                         "%d only", name, dev_id, DMA_POOL_MAX_ID);
    }
    if (!(info.dev_capa & RTE_DMA_CAPA_MEM_TO_MEM)
        || !(info.dev_capa & RTE_DMA_CAPA_OPS_COPY)) {
        return xasprintf("DMA device %s cannot copy memory to memory", name);
    }
    if (ring_size < info.min_desc || ring_size > info.max_desc) {
        return xasprintf("vhost-async-dma-ring-size=%"PRIu16" is outside "
                         "the limits of DMA device %s (%"PRIu16" to "
                         "%"PRIu16")", ring_size, name, info.min_desc,
                         info.max_desc);
    }
    return NULL;
}

static struct dma_dev *dma_dev_find(struct ovs_list *, int16_t dev_id);

/* Records that DMA device 'name' could not be opened or created, 'what'
 * saying why, so that dma_pool_run() tries again later.  Logs it unless it
 * already failed the same way since the pool last had every device it
 * wanted.  A software device may get a new name each time it is created:
 * its failures go by what failed only. */
static void
pool_open_failed(const char *name, bool software, const char *what)
    OVS_REQUIRES(dma_mutex)
{
    char *key = xasprintf("%s: %s", software ? "software" : name, what);

    refresh_failed = true;
    free(last_failure);
    last_failure = xasprintf("cannot use DMA device %s: %s", name, what);
    if (sset_add(&logged_failures, key)) {
        VLOG_WARN("%s; trying again every %d s", last_failure,
                  DMA_POOL_RETRY_MSEC / 1000);
        COVERAGE_INC(dma_pool_error);
    } else {
        VLOG_DBG("%s, again", last_failure);
    }
    free(key);
}

bool
dma_pool_use_begin(int16_t dev_id)
{
    struct dma_guard *guard = &guards[dev_id % DMA_POOL_MAX_ID];
    unsigned int orig;
    bool barred;

    /* Sequentially consistent, as in dma_dev_bar(): either the bar sees
     * this use, or this use sees the bar. */
    atomic_add(&guard->users, 1, &orig);
    atomic_read(&guard->barred, &barred);
    if (OVS_UNLIKELY(barred)) {
        atomic_sub(&guard->users, 1, &orig);
        return false;
    }
    return true;
}

void
dma_pool_use_end(int16_t dev_id)
{
    struct dma_guard *guard = &guards[dev_id % DMA_POOL_MAX_ID];
    unsigned int orig;

    atomic_sub_explicit(&guard->users, 1, &orig, memory_order_release);
}

/* Refuses new uses of 'dev' and waits for those in progress to end, so
 * that the caller may stop, unconfigure or close it. */
static void
dma_dev_bar(const struct dma_dev *dev)
{
    struct dma_guard *guard = &guards[dev->channel.dev_id % DMA_POOL_MAX_ID];
    long long int deadline = time_msec() + DMA_POOL_BAR_MSEC;
    unsigned int n_users;

    atomic_store(&guard->barred, true);
    for (;;) {
        atomic_read_explicit(&guard->users, &n_users, memory_order_acquire);
        if (!n_users) {
            return;
        }
        if (time_msec() > deadline) {
            VLOG_WARN("DMA device %s: %u threads still in a call on it "
                      "after %d ms; going on", dev->name, n_users,
                      DMA_POOL_BAR_MSEC);
            return;
        }
        sched_yield();
    }
}

/* Lets threads use device id 'dev_id' again, once it is a working device
 * of the pool. */
static void
dma_dev_unbar(int16_t dev_id)
{
    atomic_store(&guards[dev_id % DMA_POOL_MAX_ID].barred, false);
}

/* Configures vchan 0 of 'dev_id', starts it and hands it to vhost. */
static struct dma_dev *
dma_dev_open(int16_t dev_id, bool software, unsigned int lcore,
             uint16_t ring_size)
    OVS_REQUIRES(dma_mutex)
{
    const struct rte_dma_conf conf = { .nb_vchans = 1 };
    const struct rte_dma_vchan_conf vconf = {
        .direction = RTE_DMA_DIR_MEM_TO_MEM,
        .nb_desc = ring_size,
    };
    struct rte_dma_info info;
    const char *step;
    char *name, *what;
    int err;

    err = rte_dma_info_get(dev_id, &info);
    if (err) {
        name = xasprintf("id %d", dev_id);
        step = "rte_dma_info_get";
        goto error;
    }
    name = xasprintf("%s (id %d)", info.dev_name, dev_id);
    if (dma_dev_find(&failed_devs, dev_id)) {
        /* Only a device that went away under vhost frees its id.  vhost
         * keeps completion state for that id, which it cannot be made to
         * forget (rte_vhost_async_dma_unconfigure() wants a live device):
         * a new device with the id would inherit it. */
        pool_open_failed(name, software, "its id is that of a DMA device "
                         "that went away under vhost");
        free(name);
        return NULL;
    }
    char *problem = dma_dev_check(dev_id, info.dev_name, ring_size);
    if (problem) {
        /* Not worth a retry: the device will not change. */
        VLOG_WARN("%s", problem);
        free(problem);
        free(name);
        COVERAGE_INC(dma_pool_error);
        return NULL;
    }

    step = "rte_dma_configure";
    err = rte_dma_configure(dev_id, &conf);
    if (!err) {
        step = "rte_dma_vchan_setup";
        err = rte_dma_vchan_setup(dev_id, 0, &vconf);
    }
    if (!err) {
        step = "rte_dma_start";
        /* The simulated failure comes once the vchan is set up, as a real
         * one would, so that what it leaves behind is cleaned up too. */
        err = simulate_start_failure.on ? -EIO : rte_dma_start(dev_id);
    }
    if (!err) {
        step = "rte_vhost_async_dma_configure";
        err = rte_vhost_async_dma_configure(dev_id, 0);
        if (err) {
            rte_dma_stop(dev_id);
        }
    }
    if (err) {
        goto error;
    }

    struct dma_dev *dev = xzalloc(sizeof *dev);
    dev->channel.dev_id = dev_id;
    dev->channel.vchan = 0;
    dev->channel.ring_size = ring_size;
    dev->name = xstrdup(info.dev_name);
    /* A software device has no node of its own: it copies on 'lcore'. */
    dev->numa_id = (software ? (int) rte_lcore_to_socket_id(lcore)
                    : info.numa_node < 0 ? OVS_NUMA_UNSPEC
                    : info.numa_node);
    dev->software = software;
    dev->lcore = lcore;
    dev->ring_size = ring_size;
    /* The hang watch counts from now, not from the epoch: a device that
     * has not completed its first copies yet when first watched is new,
     * not hung. */
    dev->watch_since = time_msec();
    atomic_init(&dev->quiesced, false);
    atomic_init(&dev->busy_vrings, 0);
    atomic_init(&dev->failed, false);
    dma_dev_unbar(dev_id);
    ovs_list_push_back(&active_devs, &dev->list_node);
    uint64_t orig;
    atomic_or_relaxed(&vhost_mask, dev_id_bit(dev_id), &orig);
    char numa[12];
    VLOG_INFO("DMA device %s (id %d, NUMA %s%s) ready with %"PRIu16
              " descriptors", dev->name, dev_id,
              numa_to_string(dev->numa_id, numa),
              software ? ", software" : "", ring_size);
    free(name);
    return dev;

error:
    what = xasprintf("%s failed: %s", step,
                     rte_strerror(err < 0 ? -err : err));
    pool_open_failed(name, software, what);
    free(what);
    free(name);
    return NULL;
}

/* Stops a device that vhost no longer needs.  A hardware device is only
 * stopped, not closed: closing releases it from DPDK for good, and a later
 * configuration may want it back.  A device vhost will not let go of is
 * kept, stopped, among the failed ones. */
static void
dma_dev_close(struct dma_dev *dev)
    OVS_REQUIRES(dma_mutex)
{
    int16_t id = dev->channel.dev_id;
    uint64_t orig;
    int err;

    /* Drains may still name it: vrings keep the devices they used. */
    dma_dev_bar(dev);
    err = (simulate_unconfigure_failure.on ? -EBUSY
           : rte_vhost_async_dma_unconfigure(id, 0));

    if (err) {
        /* vhost keeps its completion table under this id: a device that
         * took the id over would meet it.  Keep the device, stopped and
         * out of service, for as long as we run. */
        VLOG_WARN("vhost still holds DMA device %s: %s; it stays stopped "
                  "and out of service", dev->name, rte_strerror(-err));
        COVERAGE_INC(dma_pool_error);
        /* Not in 'failed_mask': no copy is outstanding on it. */
        rte_dma_stop(id);
        dev->failure = xstrdup("vhost still holds it");
        ovs_list_remove(&dev->list_node);
        ovs_list_push_back(&failed_devs, &dev->list_node);
        return;
    }
    atomic_and_relaxed(&vhost_mask, ~dev_id_bit(id), &orig);

    rte_dma_stop(id);
    if (dev->software) {
        /* Removing the vdev closes the dmadev too. */
        err = rte_eal_hotplug_remove("vdev", dev->name);
        if (err) {
            VLOG_WARN("cannot remove software DMA device %s: %s",
                      dev->name, rte_strerror(-err));
        }
    }
    VLOG_INFO("DMA device %s released", dev->name);
    COVERAGE_INC(dma_pool_release);
    ovs_list_remove(&dev->list_node);
    free(dev->name);
    free(dev);
}

static void
dma_dev_set_quiesced(void *dev_)
{
    struct dma_dev *dev = dev_;

    atomic_store_relaxed(&dev->quiesced, true);
}

static struct dma_dev *
dma_dev_find(struct ovs_list *list, int16_t dev_id)
    OVS_REQUIRES(dma_mutex)
{
    struct dma_dev *dev;

    LIST_FOR_EACH (dev, list_node, list) {
        if (dev->channel.dev_id == dev_id) {
            return dev;
        }
    }
    return NULL;
}

static bool
user_is_pmd(const struct dma_user *user)
{
    return user->core_id != NON_PMD_CORE_ID;
}

static void
user_unassign(struct dma_user *user)
    OVS_REQUIRES(dma_mutex)
{
    struct dma_dev *dev = user->dev;

    if (dev) {
        dev->n_users--;
        dev->n_pmds -= user_is_pmd(user);
        user->dev = NULL;
        ovsrcu_set(&user->channel, NULL);
    }
}

/* Takes 'dev' out of service: its users move to other devices, and it is
 * released by dma_pool_run() once nothing can reach it any more. */
static void
dma_dev_retire(struct dma_dev *dev)
    OVS_REQUIRES(dma_mutex)
{
    struct dma_user *user;

    ovs_list_remove(&dev->list_node);
    ovs_list_push_back(&retiring_devs, &dev->list_node);
    LIST_FOR_EACH (user, list_node, &users) {
        if (user->dev == dev) {
            user_unassign(user);
        }
    }
    ovsrcu_postpone(dma_dev_set_quiesced, dev);
}


/* rte_dma_stats_get() for 'dev', which fails once it is gone. */
static int
dma_dev_stats(const struct dma_dev *dev, struct rte_dma_stats *stats)
    OVS_REQUIRES(dma_mutex)
{
    if (dev->gone || dev->simulated_gone) {
        return -ENODEV;
    }
    return rte_dma_stats_get(dev->channel.dev_id, dev->channel.vchan, stats);
}

/* Copies submitted to 'dev' that it has not completed, as far as its
 * statistics tell. */
static uint64_t
dma_dev_outstanding(const struct dma_dev *dev, uint64_t *completed)
    OVS_REQUIRES(dma_mutex)
{
    struct rte_dma_stats stats;

    if (dma_dev_stats(dev, &stats)) {
        *completed = 0;
        return 0;
    }
    *completed = stats.completed;
    return (stats.submitted > stats.completed + stats.errors
            ? stats.submitted - stats.completed - stats.errors : 0);
}

/* Takes 'dev', active or retiring, out of service for good.  Stopping it
 * makes sure it never writes into guest memory again; the copies it holds
 * and their mbufs are lost on purpose. */
static void
dma_dev_fail(struct dma_dev *dev, const char *why)
    OVS_REQUIRES(dma_mutex)
{
    struct dma_user *user;
    uint64_t completed;
    uint64_t outstanding = dma_dev_outstanding(dev, &completed);
    uint64_t orig;

    dma_dev_bar(dev);
    if (dev->gone) {
        VLOG_WARN("DMA device %s failed: %s; the copies vhost has in flight "
                  "on it are lost, with their mbufs; it stays out of service",
                  dev->name, why);
    } else {
        VLOG_WARN("DMA device %s failed: %s; %"PRIu64" copies it holds are "
                  "lost, with their mbufs; it stays stopped and out of "
                  "service", dev->name, why, outstanding);
        rte_dma_stop(dev->channel.dev_id);
    }
    COVERAGE_INC(dma_pool_failed);
    dev->failure = xstrdup(why);
    atomic_store_relaxed(&dev->failed, true);
    atomic_or_relaxed(&failed_mask, dev_id_bit(dev->channel.dev_id), &orig);

    ovs_list_remove(&dev->list_node);
    ovs_list_push_back(&failed_devs, &dev->list_node);
    LIST_FOR_EACH (user, list_node, &users) {
        if (user->dev == dev) {
            user_unassign(user);
            refresh_needed = true;
        }
    }
}

/* Fails every device, active or retiring, that has copies outstanding and
 * has completed none for DMA_POOL_HUNG_MSEC. */
static void
dma_devs_watch(struct ovs_list *list)
    OVS_REQUIRES(dma_mutex)
{
    long long int now = time_msec();
    struct dma_dev *dev;

    LIST_FOR_EACH_SAFE (dev, list_node, list) {
        uint64_t completed;

        if (!dma_dev_outstanding(dev, &completed)
            || completed != dev->watch_completed) {
            dev->watch_completed = completed;
            dev->watch_since = now;
        } else if (now - dev->watch_since >= DMA_POOL_HUNG_MSEC) {
            char *why = xasprintf("no copy completed for %lld ms",
                                  now - dev->watch_since);
            dma_dev_fail(dev, why);
            free(why);
        }
    }
}

/* Fails every device of 'list' that DPDK no longer knows by its id and
 * name: unplugged, or closed behind the pool's back.  Its id may already
 * be another device's, so nothing is asked of it any more, not even to
 * stop.  vhost still has it configured and cannot be told to forget it
 * (rte_vhost_async_dma_unconfigure() wants a live device): it stays in
 * the failed list, which keeps its id from being used again (see
 * dma_dev_open()). */
static void
dma_devs_check_present(struct ovs_list *list)
    OVS_REQUIRES(dma_mutex)
{
    struct dma_dev *dev;

    LIST_FOR_EACH_SAFE (dev, list_node, list) {
        struct rte_dma_info info;
        const char *step = "rte_dma_info_get";
        int err = (dev->simulated_gone ? -ENODEV
                   : rte_dma_info_get(dev->channel.dev_id, &info));

        if (!err && strcmp(info.dev_name, dev->name)) {
            step = "the device name check";
            err = -ENODEV;
        }
        if (err) {
            char *why = xasprintf("it is gone (%s failed: %s)", step,
                                  rte_strerror(-err));

            dev->gone = true;
            dma_dev_fail(dev, why);
            free(why);
        }
    }
}

/* Software devices. */

static bool
cpu_runs_pmd(unsigned int cpu)
    OVS_REQUIRES(dma_mutex)
{
    const struct dma_user *user;

    if (cpu < 64 && pmd_cpu_mask & (UINT64_C(1) << cpu)) {
        return true;
    }
    LIST_FOR_EACH (user, list_node, &users) {
        if (user->core_id == cpu) {
            return true;
        }
    }
    return false;
}

static bool
lcore_runs_pmd(unsigned int lcore)
    OVS_REQUIRES(dma_mutex)
{
    rte_cpuset_t set = rte_lcore_cpuset(lcore);

    for (unsigned int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set) && cpu_runs_pmd(cpu)) {
            return true;
        }
    }
    return false;
}

/* The EAL lcore a software device should copy on: the first whose CPUs run
 * no PMD thread, or else the main lcore. */
static unsigned int
software_lcore(bool *runs_pmd)
    OVS_REQUIRES(dma_mutex)
{
    for (unsigned int i = 0; i < RTE_MAX_LCORE; i++) {
        if (rte_eal_lcore_role(i) == ROLE_RTE && !lcore_runs_pmd(i)) {
            *runs_pmd = false;
            return i;
        }
    }
    *runs_pmd = true;
    return rte_get_main_lcore();
}

/* Creates software device 'name' with its copy thread on 'lcore', and
 * opens it.  Returns true if the name stays taken, by the open device or
 * by one that could not be created or removed, so that the next try takes
 * the next name. */
static bool
software_dev_try(const char *name, unsigned int lcore, bool runs_pmd)
    OVS_REQUIRES(dma_mutex)
{
    char *args = xasprintf("lcore=%u", lcore);
    int err = rte_eal_hotplug_add("vdev", name, args);

    free(args);
    if (err) {
        char *what = xasprintf("rte_eal_hotplug_add failed: %s",
                               rte_strerror(-err));

        pool_open_failed(name, true, what);
        free(what);
        return true;
    }

    int id = rte_dma_get_dev_id_by_name(name);

    if (id < 0) {
        pool_open_failed(name, true, "it is no DMA device");
    } else if (dma_dev_open(id, true, lcore, pool_cfg->ring_size)) {
        if (runs_pmd) {
            VLOG_WARN("software DMA device %s copies on lcore %u, whose "
                      "CPU also runs a PMD thread: every EAL lcore's CPU "
                      "does (give one a CPU of its own with "
                      "dpdk-lcore-mask)", name, lcore);
        }
        return true;
    }

    /* Removing the vdev frees what a failed start left set up (the vchan's
     * descriptors and rings) and the name, which the next try takes
     * again. */
    err = rte_eal_hotplug_remove("vdev", name);
    if (err) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

        VLOG_WARN_RL(&rl, "cannot remove software DMA device %s: %s",
                     name, rte_strerror(-err));
        return true;
    }
    return false;
}

static void
software_dev_create(void)
    OVS_REQUIRES(dma_mutex)
{
    bool runs_pmd;
    unsigned int lcore = software_lcore(&runs_pmd);
    char *name = xasprintf("dma_skeleton_ovs%u", n_software_created);

    /* A device may have the name already, e.g. from an EAL --vdev.
     * rte_eal_hotplug_add() then reports success, and the pool would take
     * over, and later remove, a device it did not create. */
    while (rte_dma_get_dev_id_by_name(name) >= 0) {
        free(name);
        name = xasprintf("dma_skeleton_ovs%u", ++n_software_created);
    }
    if (software_dev_try(name, lcore, runs_pmd)) {
        n_software_created++;
    }
    free(name);
}

static size_t
n_pmd_users(void)
    OVS_REQUIRES(dma_mutex)
{
    const struct dma_user *user;
    size_t n = 0;

    LIST_FOR_EACH (user, list_node, &users) {
        n += user_is_pmd(user);
    }
    return n;
}

/* One software device per PMD thread, at least one, each on a CPU that
 * runs no PMD if there is one. */
static void
software_devs_refresh(void)
    OVS_REQUIRES(dma_mutex)
{
    size_t want = MAX(1, n_pmd_users());
    struct dma_dev *dev;
    bool runs_pmd;
    unsigned int lcore = software_lcore(&runs_pmd);

    /* A device keeps the CPU it was created on. */
    LIST_FOR_EACH_SAFE (dev, list_node, &active_devs) {
        if (dev->lcore != lcore && !runs_pmd) {
            dma_dev_retire(dev);
        }
    }
    while (ovs_list_size(&active_devs) > want) {
        struct dma_dev *least = NULL;

        LIST_FOR_EACH (dev, list_node, &active_devs) {
            if (!least || dev->n_pmds < least->n_pmds) {
                least = dev;
            }
        }
        dma_dev_retire(least);
    }
    for (size_t n = ovs_list_size(&active_devs); n < want; n++) {
        software_dev_create();
    }
}

/* Users. */

static void
user_format(const struct dma_user *user, struct ds *s)
{
    if (!user_is_pmd(user)) {
        ds_put_cstr(s, "main thread");
    } else {
        ds_put_format(s, "PMD thread on core %u", user->core_id);
    }
}

static void
user_assign(struct dma_user *user)
    OVS_REQUIRES(dma_mutex)
{
    size_t n = ovs_list_size(&active_devs);
    struct dma_pool_candidate *cands = xmalloc(MAX(n, 1) * sizeof *cands);
    struct dma_dev **devs = xmalloc(MAX(n, 1) * sizeof *devs);
    struct ds name = DS_EMPTY_INITIALIZER;
    enum dma_pool_pick pick;
    struct dma_dev *dev;
    size_t i = 0;

    /* A device nobody uses comes first.  Then a PMD thread does not count
     * the main thread, which sends little, as a user: it should not have
     * to share because the main thread came first. */
    LIST_FOR_EACH (dev, list_node, &active_devs) {
        cands[i].numa_id = dev->numa_id;
        cands[i].n_users = dev->n_users;
        devs[i++] = dev;
    }
    i = dma_pool_pick(cands, n, user->numa_id, &pick);
    if (user_is_pmd(user)
        && pick != DMA_PICK_LOCAL && pick != DMA_PICK_REMOTE) {
        for (i = 0; i < n; i++) {
            cands[i].n_users = devs[i]->n_pmds;
        }
        i = dma_pool_pick(cands, n, user->numa_id, &pick);
    }
    user_format(user, &name);
    if (pick == DMA_PICK_NONE) {
        /* Once until it gets a device: the pool may try again and again to
         * open one (see dma_pool_run()). */
        if (!user->no_dma_logged) {
            VLOG_WARN("no DMA device for the %s: its vhost async copies "
                      "fall back to the CPU", ds_cstr(&name));
            COVERAGE_INC(dma_pool_no_dma);
            user->no_dma_logged = true;
        }
    } else {
        bool pmd = user_is_pmd(user);

        user->no_dma_logged = false;
        dev = devs[i];
        dev->n_users++;
        dev->n_pmds += pmd;
        user->dev = dev;
        ovsrcu_set(&user->channel, &dev->channel);
        COVERAGE_INC(dma_pool_assign);
        if (pick == DMA_PICK_LOCAL) {
            VLOG_INFO("%s (NUMA %d) copies with DMA device %s",
                      ds_cstr(&name), user->numa_id, dev->name);
        } else {
            /* The main thread sends little: sharing is by design there. */
            enum vlog_level level = pmd ? VLL_WARN : VLL_INFO;

            char numa[12];

            VLOG(level, "%s (NUMA %d) copies with DMA device %s (NUMA %s, "
                 "%s): %s", ds_cstr(&name), user->numa_id, dev->name,
                 numa_to_string(dev->numa_id, numa),
                 dma_pool_pick_to_string(pick),
                 pick == DMA_PICK_REMOTE ? "no device left on its node"
                 : "fewer DMA devices than threads");
            if (pick != DMA_PICK_REMOTE) {
                COVERAGE_INC(dma_pool_share);
            }
        }
    }
    ds_destroy(&name);
    free(devs);
    free(cands);
}

/* Opens DMA device 'dev_id', found by DPDK, unless the pool has it already
 * (a retiring one comes back only once released: see dma_pool_run(); a
 * failed one never does). */
static void
dma_dev_open_if_new(int16_t dev_id)
    OVS_REQUIRES(dma_mutex)
{
    if (!dma_dev_find(&active_devs, dev_id)
        && !dma_dev_find(&retiring_devs, dev_id)
        && !dma_dev_find(&failed_devs, dev_id)) {
        dma_dev_open(dev_id, false, 0, pool_cfg->ring_size);
    }
}

/* After a refresh: schedules another one if it failed to open a device,
 * otherwise forgets past failures, so that a new one is logged again. */
static void
pool_retry_update(void)
    OVS_REQUIRES(dma_mutex)
{
    if (refresh_failed && pool_cfg) {
        retry_at = time_msec() + DMA_POOL_RETRY_MSEC;
    } else {
        if (last_failure && pool_cfg) {
            VLOG_INFO("vhost async DMA: every DMA device wanted is open "
                      "again");
        }
        retry_at = 0;
        free(last_failure);
        last_failure = NULL;
        sset_clear(&logged_failures);
    }
}

/* Brings the pool in line with 'pool_cfg' and the users: opens what is
 * missing, retires what is no longer wanted, assigns every user without a
 * device (PMD threads before the main thread). */
static void
pool_refresh(void)
    OVS_REQUIRES(dma_mutex)
{
    struct dma_dev *dev;
    struct dma_user *user;

    refresh_failed = false;
    if (!pool_cfg) {
        LIST_FOR_EACH_SAFE (dev, list_node, &active_devs) {
            dma_dev_retire(dev);
        }
        pool_retry_update();
        return;
    }

    switch (pool_cfg->mode) {
    case DMA_POOL_AUTO: {
        int16_t id;

        RTE_DMA_FOREACH_DEV (id) {
            dma_dev_open_if_new(id);
        }
        break;
    }
    case DMA_POOL_LIST:
        for (size_t i = 0; i < pool_cfg->n_names; i++) {
            int id = rte_dma_get_dev_id_by_name(pool_cfg->names[i]);

            if (id >= 0) {
                dma_dev_open_if_new(id);
            }
        }
        break;
    case DMA_POOL_SOFTWARE:
        software_devs_refresh();
        break;
    }

    for (int pass = 0; pass < 2; pass++) {
        LIST_FOR_EACH (user, list_node, &users) {
            if (!user->dev && user_is_pmd(user) == !pass) {
                user_assign(user);
            }
        }
    }
    pool_retry_update();
}

/* Checks that 'cfg' can be applied: named devices exist and are DMA
 * devices, the ring size suits them, software devices can work. */
static char *
pool_config_check(const struct dma_pool_config *cfg)
{
    switch (cfg->mode) {
    case DMA_POOL_AUTO: {
        int16_t id;

        RTE_DMA_FOREACH_DEV (id) {
            struct rte_dma_info info;

            if (!rte_dma_info_get(id, &info)) {
                char *error = dma_dev_check(id, info.dev_name,
                                            cfg->ring_size);
                if (error) {
                    return error;
                }
            }
        }
        return NULL;
    }
    case DMA_POOL_SOFTWARE:
        /* The skeleton copies with memcpy on the addresses it is given. */
        if (rte_eal_iova_mode() != RTE_IOVA_VA) {
            return xstrdup("vhost-async-dma=software needs IOVA as VA: add "
                           "--iova-mode=va to other_config:dpdk-extra");
        }
        return NULL;
    case DMA_POOL_LIST:
        for (size_t i = 0; i < cfg->n_names; i++) {
            const char *name = cfg->names[i];
            int id = rte_dma_get_dev_id_by_name(name);
            uint16_t port;

            if (id < 0) {
                return rte_eth_dev_get_port_by_name(name, &port)
                       ? xasprintf("vhost-async-dma: unknown DMA device %s",
                                   name)
                       : xasprintf("vhost-async-dma: %s is a network "
                                   "device, not a DMA device", name);
            }
            char *error = dma_dev_check(id, name, cfg->ring_size);
            if (error) {
                return error;
            }
        }
        return NULL;
    }
    OVS_NOT_REACHED();
}

static uint64_t
parse_pmd_cpu_mask(const struct smap *other_config)
{
    const char *mask = smap_get(other_config, "pmd-cpu-mask");
    unsigned long long value;

    if (!mask) {
        return 0;
    }
    if (!strncasecmp(mask, "0x", 2)) {
        mask += 2;
    }
    /* Beyond 64 CPUs, the PMD threads themselves tell us their cores. */
    return str_to_ullong(mask, 16, &value) ? value : 0;
}

static void dma_pool_unixctl_show(struct unixctl_conn *, int argc,
                                  const char *argv[], void *aux);
static void dma_pool_unixctl_stop(struct unixctl_conn *, int argc,
                                  const char *argv[], void *aux);
static void dma_pool_unixctl_simulate_failure(struct unixctl_conn *,
                                              int argc, const char *argv[],
                                              void *failure);

void
dma_pool_set_config(const struct smap *other_config)
{
    static struct ovsthread_once once = OVSTHREAD_ONCE_INITIALIZER;
    static char *last_error;

    if (ovsthread_once_start(&once)) {
        unixctl_command_register("dpdk/dma-show", "", 0, 0,
                                 dma_pool_unixctl_show, NULL);
        unixctl_command_register("dpdk/dma-simulate-hang", "DEVICE", 1, 1,
                                 dma_pool_unixctl_stop, NULL);
        unixctl_command_register("dpdk/dma-simulate-remove", "DEVICE", 1, 1,
                                 dma_pool_unixctl_stop,
                                 CONST_CAST(char *, "remove"));
        unixctl_command_register("dpdk/dma-simulate-start-failure", "on|off",
                                 1, 1, dma_pool_unixctl_simulate_failure,
                                 &simulate_start_failure);
        unixctl_command_register("dpdk/dma-simulate-unconfigure-failure",
                                 "on|off", 1, 1,
                                 dma_pool_unixctl_simulate_failure,
                                 &simulate_unconfigure_failure);
        ovs_mutex_lock(&dma_mutex);
        non_pmd_user.numa_id = rte_lcore_to_socket_id(rte_get_main_lcore());
        ovs_list_push_back(&users, &non_pmd_user.list_node);
        ovs_mutex_unlock(&dma_mutex);
        ovsthread_once_done(&once);
    }

    ovs_mutex_lock(&dma_mutex);
    bool changed = false;
    if (!other_config) {
        if (pool_cfg) {
            dma_pool_config_destroy(pool_cfg);
            free(pool_cfg);
            pool_cfg = NULL;
            changed = true;
        }
    } else {
        struct dma_pool_config cfg;
        char *error = dma_pool_config_parse(other_config, &cfg);

        if (!error) {
            error = pool_config_check(&cfg);
            if (error) {
                dma_pool_config_destroy(&cfg);
            }
        }
        if (error) {
            /* Once per distinct problem, not once per main loop. */
            if (!last_error || strcmp(error, last_error)) {
                struct ds keep = DS_EMPTY_INITIALIZER;

                if (pool_cfg) {
                    dma_pool_config_format(pool_cfg, &keep);
                } else {
                    ds_put_cstr(&keep, "auto");
                }
                VLOG_WARN("%s; keeping vhost-async-dma=%s", error,
                          ds_cstr(&keep));
                ds_destroy(&keep);
                COVERAGE_INC(dma_pool_error);
                free(last_error);
                last_error = error;
            } else {
                free(error);
            }
            if (!pool_cfg) {
                /* No valid setting yet: the default. */
                struct smap empty = SMAP_INITIALIZER(&empty);
                pool_cfg = xmalloc(sizeof *pool_cfg);
                dma_pool_config_parse(&empty, pool_cfg);
                changed = true;
            }
        } else {
            free(last_error);
            last_error = NULL;
            if (!pool_cfg || !dma_pool_config_equal(&cfg, pool_cfg)) {
                struct ds s = DS_EMPTY_INITIALIZER;

                dma_pool_config_format(&cfg, &s);
                VLOG_INFO("vhost async DMA: %s", ds_cstr(&s));
                ds_destroy(&s);
                if (pool_cfg) {
                    struct dma_dev *dev;

                    /* A device the new setting wants too comes back once
                     * released: see dma_pool_run(). */
                    LIST_FOR_EACH_SAFE (dev, list_node, &active_devs) {
                        dma_dev_retire(dev);
                    }
                    dma_pool_config_destroy(pool_cfg);
                } else {
                    pool_cfg = xmalloc(sizeof *pool_cfg);
                }
                *pool_cfg = cfg;
                changed = true;
            } else {
                dma_pool_config_destroy(&cfg);
            }
        }

        uint64_t mask = parse_pmd_cpu_mask(other_config);
        if (mask != pmd_cpu_mask) {
            pmd_cpu_mask = mask;
            changed |= pool_cfg && pool_cfg->mode == DMA_POOL_SOFTWARE;
        }
    }
    if (changed) {
        pool_refresh();
    }
    ovs_mutex_unlock(&dma_mutex);
}

void
dma_pool_run(bool watch)
{
    static long long int next_presence_check;
    struct dma_dev *dev;

    bool released = false;

    ovs_mutex_lock(&dma_mutex);
    /* Before anything else asks a device anything, and also while
     * completions are not watched: a device that is gone must get no new
     * copies, nor be released as if it were still there. */
    if (time_msec() >= next_presence_check) {
        next_presence_check = time_msec() + DMA_POOL_PRESENCE_MSEC;
        dma_devs_check_present(&active_devs);
        dma_devs_check_present(&retiring_devs);
    }
    if (watch) {
        dma_devs_watch(&active_devs);
        dma_devs_watch(&retiring_devs);
    } else {
        /* Start afresh when watching resumes. */
        LIST_FOR_EACH (dev, list_node, &active_devs) {
            dev->watch_since = time_msec();
        }
        LIST_FOR_EACH (dev, list_node, &retiring_devs) {
            dev->watch_since = time_msec();
        }
    }
    LIST_FOR_EACH_SAFE (dev, list_node, &retiring_devs) {
        bool quiesced;
        long long busy_vrings;

        atomic_read_relaxed(&dev->quiesced, &quiesced);
        atomic_read_relaxed(&dev->busy_vrings, &busy_vrings);
        if (quiesced && !busy_vrings) {
            dma_dev_close(dev);
            released = true;
        }
    }
    bool retry = retry_at && time_msec() >= retry_at;
    if (retry) {
        COVERAGE_INC(dma_pool_retry);
    }
    if ((released || refresh_needed || retry) && pool_cfg) {
        refresh_needed = false;
        /* The new setting may want a device that was only now released. */
        pool_refresh();
    }
    ovs_mutex_unlock(&dma_mutex);
}

static bool
devs_busy(const struct ovs_list *list)
    OVS_REQUIRES(dma_mutex)
{
    const struct dma_dev *dev;

    LIST_FOR_EACH (dev, list_node, list) {
        long long busy_vrings;

        atomic_read_relaxed(&dev->busy_vrings, &busy_vrings);
        if (busy_vrings) {
            return true;
        }
    }
    return false;
}

void
dma_pool_wait(void)
{
    ovs_mutex_lock(&dma_mutex);
    if (devs_busy(&active_devs) || devs_busy(&retiring_devs)) {
        /* Watch devices that have copies in flight. */
        poll_timer_wait(MIN(DMA_POOL_HUNG_MSEC / 4, DMA_POOL_PRESENCE_MSEC));
    }
    if (retry_at && pool_cfg) {
        poll_timer_wait_until(retry_at);
    }
    ovs_mutex_unlock(&dma_mutex);
}

bool
dma_pool_channel_failed(const struct dma_pool_channel *channel)
{
    bool failed;

    atomic_read_relaxed(&dma_dev_from_channel(channel)->failed, &failed);
    return failed;
}

uint64_t
dma_pool_vhost_mask(void)
{
    uint64_t mask;

    atomic_read_relaxed(&vhost_mask, &mask);
    return mask;
}

uint64_t
dma_pool_failed_mask(void)
{
    uint64_t mask;

    atomic_read_relaxed(&failed_mask, &mask);
    return mask;
}

static void
dma_devs_fail_stuck(struct ovs_list *list, uint64_t mask, const char *why)
    OVS_REQUIRES(dma_mutex)
{
    struct dma_dev *dev;

    LIST_FOR_EACH_SAFE (dev, list_node, list) {
        uint64_t completed;

        if (mask & dev_id_bit(dev->channel.dev_id)
            && dma_dev_outstanding(dev, &completed)) {
            dma_dev_fail(dev, why);
        }
    }
}

void
dma_pool_fail_stuck(uint64_t mask, const char *why)
{
    ovs_mutex_lock(&dma_mutex);
    dma_devs_fail_stuck(&active_devs, mask, why);
    dma_devs_fail_stuck(&retiring_devs, mask, why);
    ovs_mutex_unlock(&dma_mutex);
}

void
dma_pool_attach_thread(unsigned int core_id)
{
    struct dma_user *user = xzalloc(sizeof *user);

    user->core_id = core_id;
    user->numa_id = ovs_numa_get_numa_id(core_id);
    ovsrcu_set_hidden(&user->channel, NULL);

    ovs_mutex_lock(&dma_mutex);
    ovs_list_push_back(&users, &user->list_node);
    *thread_user_get() = user;
    if (pool_cfg) {
        pool_refresh();
    }
    ovs_mutex_unlock(&dma_mutex);
}

void
dma_pool_detach_thread(void)
{
    struct dma_user *user = *thread_user_get();

    if (!user) {
        return;
    }
    ovs_mutex_lock(&dma_mutex);
    user_unassign(user);
    ovs_list_remove(&user->list_node);
    *thread_user_get() = NULL;
    if (pool_cfg) {
        pool_refresh();
    }
    ovs_mutex_unlock(&dma_mutex);
    free(user);
}

const struct dma_pool_channel *
dma_pool_get_channel(void)
{
    const struct dma_user *user = *thread_user_get();

    return ovsrcu_get(const struct dma_pool_channel *,
                      &(user ? user : &non_pmd_user)->channel);
}

void
dma_pool_busy_vrings_add(const struct dma_pool_channel *channel, int delta)
{
    long long orig;

    atomic_add_relaxed(&dma_dev_from_channel(channel)->busy_vrings, delta,
                       &orig);
}

void
dma_pool_set_stalled_vrings(const unsigned int *counts, size_t n)
{
    struct dma_dev *dev;

    ovs_mutex_lock(&dma_mutex);
    LIST_FOR_EACH (dev, list_node, &active_devs) {
        dev->stalled_vrings = counts[dev->channel.dev_id % n];
    }
    ovs_mutex_unlock(&dma_mutex);
}

void
dma_pool_numa_nodes(struct vhost_async_numa_node *nodes, int n_nodes)
{
    const struct dma_user *user;
    struct dma_dev *dev;

    ovs_mutex_lock(&dma_mutex);
    LIST_FOR_EACH (user, list_node, &users) {
        if (user_is_pmd(user) && user->numa_id >= 0
            && user->numa_id < n_nodes) {
            nodes[user->numa_id].n_pmds++;
        }
    }
    LIST_FOR_EACH (dev, list_node, &active_devs) {
        for (int i = 0; i < n_nodes; i++) {
            /* A software device copies on whatever node it is asked to. */
            nodes[i].n_dma += (dev->numa_id == i
                               || dev->numa_id == OVS_NUMA_UNSPEC);
        }
    }
    ovs_mutex_unlock(&dma_mutex);
}

/* dpdk/dma-show. */

static void
dma_dev_show(struct dma_dev *dev, const char *state, struct ds *s)
    OVS_REQUIRES(dma_mutex)
{
    struct rte_dma_stats stats;
    const struct dma_user *user;
    long long busy_vrings;
    int n = 0;

    atomic_read_relaxed(&dev->busy_vrings, &busy_vrings);
    ds_put_format(s, "%s:%s\n", dev->name, state);
    if (dev->failure) {
        ds_put_format(s, "  failed: %s\n", dev->failure);
    }
    char numa[12];

    ds_put_format(s, "  id: %d  numa_id: %s  kind: ", dev->channel.dev_id,
                  numa_to_string(dev->numa_id, numa));
    if (dev->software) {
        ds_put_format(s, "software (lcore %u)", dev->lcore);
    } else {
        ds_put_cstr(s, "hardware");
    }
    ds_put_format(s, "  ring_size: %"PRIu16"\n  users:", dev->ring_size);
    LIST_FOR_EACH (user, list_node, &users) {
        if (user->dev == dev) {
            if (!user_is_pmd(user)) {
                ds_put_format(s, "%s main", n++ ? "," : "");
            } else {
                ds_put_format(s, "%s pmd %u", n++ ? "," : "", user->core_id);
            }
        }
    }
    ds_put_format(s, "%s\n", n ? "" : " none");
    if (!dma_dev_stats(dev, &stats)) {
        ds_put_format(s, "  submitted: %"PRIu64"  completed: %"PRIu64
                      "  errors: %"PRIu64"\n", stats.submitted,
                      stats.completed, stats.errors);
    }
    ds_put_format(s, "  vrings with copies in flight: %lld", busy_vrings);
    if (dev->stalled_vrings) {
        ds_put_format(s, "  stalled: %u", dev->stalled_vrings);
    }
    ds_put_cstr(s, "\n");
}

static void
dma_pool_unixctl_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
                      const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    const struct dma_user *user;
    struct dma_dev *dev;

    ovs_mutex_lock(&dma_mutex);
    if (!pool_cfg) {
        ds_put_cstr(&s, "vhost async is disabled: no DMA device in use\n");
    } else {
        ds_put_cstr(&s, "vhost-async-dma: ");
        dma_pool_config_format(pool_cfg, &s);
        ds_put_char(&s, '\n');
        LIST_FOR_EACH (dev, list_node, &active_devs) {
            dma_dev_show(dev, "", &s);
        }
        LIST_FOR_EACH (dev, list_node, &retiring_devs) {
            dma_dev_show(dev, " (releasing)", &s);
        }
        LIST_FOR_EACH (dev, list_node, &failed_devs) {
            dma_dev_show(dev, " (failed)", &s);
        }
        LIST_FOR_EACH (user, list_node, &users) {
            if (!user->dev) {
                ds_put_cstr(&s, "without DMA (CPU copies): ");
                user_format(user, &s);
                ds_put_char(&s, '\n');
            }
        }
        if (retry_at && last_failure) {
            long long int wait = MAX(0, retry_at - time_msec());

            ds_put_format(&s, "%s; trying again in %lld s\n", last_failure,
                          (wait + 999) / 1000);
        }
    }
    ovs_mutex_unlock(&dma_mutex);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* The active or retiring device named 'name', or NULL. */
static struct dma_dev *
dma_dev_find_by_name(const char *name)
    OVS_REQUIRES(dma_mutex)
{
    int id = rte_dma_get_dev_id_by_name(name);
    struct dma_dev *dev = NULL;

    if (id >= 0) {
        dev = dma_dev_find(&active_devs, id);
        if (!dev) {
            dev = dma_dev_find(&retiring_devs, id);
        }
    }
    return dev;
}

/* dpdk/dma-simulate-hang and dpdk/dma-simulate-remove, for tests only:
 * the device stops copying, with whatever it holds, and the pool is not
 * told.  With 'aux' non-null (remove), it also answers the pool's queries
 * no more, as after a hot-unplug, and the pool has to notice.
 *
 * It is not really removed: freeing a dmadev that vhost has configured is
 * not safe.  rte_dma_close() frees the driver's private data while a PMD
 * thread may still be inside the driver's copy or completion functions
 * with a pointer to it, until it quiesces; and vhost keeps its completion
 * state for the id, which rte_vhost_async_dma_unconfigure() refuses to
 * free once the device is not valid, so that a device created later with
 * the same id would inherit it.  So it stays allocated and stopped (its
 * completion functions stay safe to call), and only the pool's view of it
 * changes: what the pool does next is the same as for a device that is
 * really gone. */
static void
dma_pool_unixctl_stop(struct unixctl_conn *conn, int argc OVS_UNUSED,
                      const char *argv[], void *aux)
{
    bool remove = aux != NULL;
    struct dma_dev *dev;

    ovs_mutex_lock(&dma_mutex);
    dev = dma_dev_find_by_name(argv[1]);
    if (!dev) {
        unixctl_command_reply_error(conn, "no such DMA device in the pool");
    } else {
        /* Threads go on using it, as they would a hung device. */
        dma_dev_bar(dev);
        rte_dma_stop(dev->channel.dev_id);
        dma_dev_unbar(dev->channel.dev_id);
        dev->simulated_gone |= remove;
        VLOG_WARN("DMA device %s %s (test only)", dev->name,
                  remove ? "removed" : "stopped copying");
        unixctl_command_reply(conn, NULL);
    }
    ovs_mutex_unlock(&dma_mutex);
}

/* dpdk/dma-simulate-start-failure and
 * dpdk/dma-simulate-unconfigure-failure, for tests only. */
static void
dma_pool_unixctl_simulate_failure(struct unixctl_conn *conn,
                                  int argc OVS_UNUSED, const char *argv[],
                                  void *failure_)
    OVS_NO_THREAD_SAFETY_ANALYSIS
{
    struct simulated_failure *failure = failure_;
    bool on = !strcmp(argv[1], "on");

    if (!on && strcmp(argv[1], "off")) {
        unixctl_command_reply_error(conn, "say on or off");
        return;
    }
    ovs_mutex_lock(&dma_mutex);
    if (on != failure->on) {
        failure->on = on;
        VLOG_WARN("DMA devices %s %s (test only)",
                  on ? "fail" : "no longer fail", failure->what);
    }
    ovs_mutex_unlock(&dma_mutex);
    unixctl_command_reply(conn, NULL);
}
