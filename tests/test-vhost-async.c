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

/* Unit tests of lib/netdev-vhost-async.c, run as
 * "ovstest test-vhost-async COMMAND ARG...". */

#include <config.h>
#undef NDEBUG

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_vhost.h>

#include "command-line.h"
#include "netdev-vhost-async.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/util.h"
#include "ovstest.h"
#include "util.h"
#include "vhost-async-numa.h"

/* Prints "ok" or the reason a DPDK version is refused. */
static void
test_dpdk_version(struct ovs_cmdl_context *ctx)
{
    for (int i = 1; i < ctx->argc; i++) {
        char *error = netdev_vhost_async_check_dpdk_version(ctx->argv[i]);

        printf("%s: %s\n", ctx->argv[i], error ? error : "ok");
        free(error);
    }
}

/* conflict SOCKET [FLAG]...
 *
 * Whether a socket registered with vhost FLAGs (iommu, postcopy, extbuf)
 * may copy asynchronously, and why not. */
static void
test_conflict(struct ovs_cmdl_context *ctx)
{
    uint64_t flags = 0;

    for (int i = 2; i < ctx->argc; i++) {
        const char *name = ctx->argv[i];

        flags |= (!strcmp(name, "iommu") ? RTE_VHOST_USER_IOMMU_SUPPORT
                  : !strcmp(name, "postcopy") ? RTE_VHOST_USER_POSTCOPY_SUPPORT
                  : !strcmp(name, "extbuf") ? RTE_VHOST_USER_EXTBUF_SUPPORT
                  : (ovs_fatal(0, "%s: unknown flag", name), 0));
    }

    const char *why = netdev_vhost_async_conflict(ctx->argv[1], flags);
    printf("%s: %s\n", ctx->argv[1], why ? why : "async");
}

/* numa-plan NODES GUEST [CURRENT]
 *
 * Where a guest on node GUEST is served, given NODES: for each node in
 * order, "H/P/D": 1 if it has hugepage memory, its PMD threads, its DMA
 * devices, comma-separated.  CURRENT is the node of the port's mempool
 * now (default -1: unknown). */
static void
test_numa_plan(struct ovs_cmdl_context *ctx)
{
    struct vhost_async_numa_node nodes[16];
    struct vhost_async_numa_plan plan;
    char *list = xstrdup(ctx->argv[1]);
    char *save_ptr = NULL;
    int n_nodes = 0;

    for (char *tok = strtok_r(list, ",", &save_ptr); tok;
         tok = strtok_r(NULL, ",", &save_ptr)) {
        unsigned int hugepages;

        ovs_assert(n_nodes < ARRAY_SIZE(nodes));
        if (sscanf(tok, "%u/%u/%u", &hugepages, &nodes[n_nodes].n_pmds,
                   &nodes[n_nodes].n_dma) != 3) {
            ovs_fatal(0, "%s: bad node (H/P/D expected)", tok);
        }
        nodes[n_nodes++].hugepages = hugepages;
    }
    free(list);

    vhost_async_numa_plan(nodes, n_nodes, atoi(ctx->argv[2]),
                          ctx->argc > 3 ? atoi(ctx->argv[3]) : -1, &plan);

    struct ds s = DS_EMPTY_INITIALIZER;
    vhost_async_numa_plan_format(&plan, &s);
    printf("%s%s\n", ds_cstr(&s),
           vhost_async_numa_plan_is_local(&plan) ? "; all local" : "");
    ds_destroy(&s);
}

static const struct ovs_cmdl_command commands[] = {
    { "dpdk-version", "VERSION...", 1, INT_MAX, test_dpdk_version,
      OVS_RO },
    { "conflict", "SOCKET [FLAG]...", 1, INT_MAX, test_conflict, OVS_RO },
    { "numa-plan", "NODES GUEST [CURRENT]", 2, 3, test_numa_plan, OVS_RO },
    { NULL, NULL, 0, 0, NULL, OVS_RO },
};

static void
test_vhost_async_main(int argc, char *argv[])
{
    struct ovs_cmdl_context ctx = {
        .argc = argc - 1,
        .argv = argv + 1,
    };

    set_program_name(argv[0]);
    ovs_cmdl_run_command(&ctx, commands);
}

OVSTEST_REGISTER("test-vhost-async", test_vhost_async_main);
