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

/* A device with copies outstanding that completes none for this long has
 * failed: hardware and the software device alike complete a copy in
 * microseconds. */
#define DMA_POOL_HUNG_MSEC 2000

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
    int err;

    err = rte_dma_info_get(dev_id, &info);
    if (err) {
        step = "rte_dma_info_get";
        goto error;
    }
    char *problem = dma_dev_check(dev_id, info.dev_name, ring_size);
    if (problem) {
        VLOG_WARN("%s", problem);
        free(problem);
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
        err = rte_dma_start(dev_id);
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
    atomic_init(&dev->quiesced, false);
    atomic_init(&dev->busy_vrings, 0);
    atomic_init(&dev->failed, false);
    ovs_list_push_back(&active_devs, &dev->list_node);
    uint64_t orig;
    atomic_or_relaxed(&vhost_mask, dev_id_bit(dev_id), &orig);
    char numa[12];
    VLOG_INFO("DMA device %s (id %d, NUMA %s%s) ready with %"PRIu16
              " descriptors", dev->name, dev_id,
              numa_to_string(dev->numa_id, numa),
              software ? ", software" : "", ring_size);
    return dev;

error:
    VLOG_WARN("cannot use DMA device %d: %s failed: %s", dev_id, step,
              rte_strerror(err < 0 ? -err : err));
    COVERAGE_INC(dma_pool_error);
    return NULL;
}

/* Stops a device that vhost no longer needs.  A hardware device is only
 * stopped, not closed: closing releases it from DPDK for good, and a later
 * configuration may want it back. */
static void
dma_dev_close(struct dma_dev *dev)
    OVS_REQUIRES(dma_mutex)
{
    int16_t id = dev->channel.dev_id;
    int err = rte_vhost_async_dma_unconfigure(id, 0);
    uint64_t orig;

    atomic_and_relaxed(&vhost_mask, ~dev_id_bit(id), &orig);

    if (err) {
        VLOG_WARN("vhost still holds DMA device %s: %s", dev->name,
                  rte_strerror(-err));
        COVERAGE_INC(dma_pool_error);
    }
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


/* Copies submitted to 'dev' that it has not completed, as far as its
 * statistics tell. */
static uint64_t
dma_dev_outstanding(const struct dma_dev *dev, uint64_t *completed)
{
    struct rte_dma_stats stats;

    if (rte_dma_stats_get(dev->channel.dev_id, dev->channel.vchan, &stats)) {
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

    VLOG_WARN("DMA device %s failed: %s; %"PRIu64" copies it holds are "
              "lost, with their mbufs; it stays stopped and out of service",
              dev->name, why, outstanding);
    COVERAGE_INC(dma_pool_failed);
    rte_dma_stop(dev->channel.dev_id);
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

static void
software_dev_create(void)
    OVS_REQUIRES(dma_mutex)
{
    bool runs_pmd;
    unsigned int lcore = software_lcore(&runs_pmd);
    char *name = xasprintf("dma_skeleton_ovs%u", n_software_created++);
    char *args = xasprintf("lcore=%u", lcore);
    int err = rte_eal_hotplug_add("vdev", name, args);

    if (err) {
        VLOG_WARN("cannot create software DMA device %s: %s", name,
                  rte_strerror(-err));
        COVERAGE_INC(dma_pool_error);
    } else {
        int id = rte_dma_get_dev_id_by_name(name);

        if (runs_pmd) {
            VLOG_WARN("software DMA device %s copies on lcore %u, whose CPU "
                      "also runs a PMD thread: every EAL lcore's CPU does "
                      "(give one a CPU of its own with dpdk-lcore-mask)",
                      name, lcore);
        }
        if (id < 0 || !dma_dev_open(id, true, lcore, pool_cfg->ring_size)) {
            rte_eal_hotplug_remove("vdev", name);
        }
    }
    free(args);
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
        VLOG_WARN("no DMA device for the %s: its vhost async copies fall "
                  "back to the CPU", ds_cstr(&name));
        COVERAGE_INC(dma_pool_no_dma);
    } else {
        bool pmd = user_is_pmd(user);

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

/* Brings the pool in line with 'pool_cfg' and the users: opens what is
 * missing, retires what is no longer wanted, assigns every user without a
 * device (PMD threads before the main thread). */
static void
pool_refresh(void)
    OVS_REQUIRES(dma_mutex)
{
    struct dma_dev *dev;
    struct dma_user *user;

    if (!pool_cfg) {
        LIST_FOR_EACH_SAFE (dev, list_node, &active_devs) {
            dma_dev_retire(dev);
        }
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
static void dma_pool_unixctl_hang(struct unixctl_conn *, int argc,
                                  const char *argv[], void *aux);

void
dma_pool_set_config(const struct smap *other_config)
{
    static struct ovsthread_once once = OVSTHREAD_ONCE_INITIALIZER;
    static char *last_error;

    if (ovsthread_once_start(&once)) {
        unixctl_command_register("dpdk/dma-show", "", 0, 0,
                                 dma_pool_unixctl_show, NULL);
        unixctl_command_register("dpdk/dma-simulate-hang", "DEVICE", 1, 1,
                                 dma_pool_unixctl_hang, NULL);
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
    struct dma_dev *dev;

    bool released = false;

    ovs_mutex_lock(&dma_mutex);
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
    if ((released || refresh_needed) && pool_cfg) {
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
        poll_timer_wait(DMA_POOL_HUNG_MSEC / 4);
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
    if (!rte_dma_stats_get(dev->channel.dev_id, 0, &stats)) {
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
    }
    ovs_mutex_unlock(&dma_mutex);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* dpdk/dma-simulate-hang, for tests only: the device stops copying, with
 * whatever it holds, and the pool is not told. */
static void
dma_pool_unixctl_hang(struct unixctl_conn *conn, int argc OVS_UNUSED,
                      const char *argv[], void *aux OVS_UNUSED)
{
    int id = rte_dma_get_dev_id_by_name(argv[1]);
    struct dma_dev *dev = NULL;

    ovs_mutex_lock(&dma_mutex);
    if (id >= 0) {
        dev = dma_dev_find(&active_devs, id);
        if (!dev) {
            dev = dma_dev_find(&retiring_devs, id);
        }
    }
    if (!dev) {
        unixctl_command_reply_error(conn, "no such DMA device in the pool");
    } else {
        rte_dma_stop(id);
        VLOG_WARN("DMA device %s stopped copying (test only)", dev->name);
        unixctl_command_reply(conn, NULL);
    }
    ovs_mutex_unlock(&dma_mutex);
}
