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

/* Unit tests of lib/dma-pool.c that need no DPDK device, run as
 * "ovstest test-dma-pool COMMAND ARG...". */

#include <config.h>
#undef NDEBUG

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command-line.h"
#include "dma-pool.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/util.h"
#include "ovstest.h"
#include "smap.h"
#include "util.h"

/* parse [KEY=VALUE]...: parses other_config keys and prints the result. */
static void
test_parse(struct ovs_cmdl_context *ctx)
{
    struct smap other_config = SMAP_INITIALIZER(&other_config);
    struct dma_pool_config cfg;

    for (int i = 1; i < ctx->argc; i++) {
        char *key = xstrdup(ctx->argv[i]);
        char *value = strchr(key, '=');

        ovs_assert(value);
        *value++ = '\0';
        smap_add(&other_config, key, value);
        free(key);
    }

    char *error = dma_pool_config_parse(&other_config, &cfg);
    if (error) {
        printf("error: %s\n", error);
        free(error);
    } else {
        struct ds s = DS_EMPTY_INITIALIZER;

        dma_pool_config_format(&cfg, &s);
        printf("%s\n", ds_cstr(&s));
        ds_destroy(&s);
        dma_pool_config_destroy(&cfg);
    }
    smap_destroy(&other_config);
}

/* assign DEVICE-NODES OP...
 *
 * Plays the assignment policy over a fake device table.  DEVICE-NODES is a
 * comma-separated list of the devices' NUMA nodes.  Each OP is "+N" (a
 * thread starts on node N) or "-T" (thread number T, counting from 0 in
 * order of start, exits).  Prints each thread's device after each OP. */
#define MAX_FAKE 16

static void
test_assign(struct ovs_cmdl_context *ctx)
{
    struct dma_pool_candidate devs[MAX_FAKE];
    struct { int numa_id; size_t dev; bool alive; } threads[MAX_FAKE];
    size_t n_devs = 0, n_threads = 0;
    char *nodes = xstrdup(ctx->argv[1]);
    char *save_ptr = NULL;

    for (char *tok = strtok_r(nodes, ",", &save_ptr); tok;
         tok = strtok_r(NULL, ",", &save_ptr)) {
        ovs_assert(n_devs < MAX_FAKE);
        devs[n_devs].numa_id = atoi(tok);
        devs[n_devs++].n_users = 0;
    }
    free(nodes);

    for (int i = 2; i < ctx->argc; i++) {
        const char *op = ctx->argv[i];

        if (op[0] == '+') {
            enum dma_pool_pick pick;

            ovs_assert(n_threads < MAX_FAKE);
            threads[n_threads].numa_id = atoi(op + 1);
            threads[n_threads].alive = true;
            threads[n_threads].dev = dma_pool_pick(devs, n_devs,
                                                   threads[n_threads].numa_id,
                                                   &pick);
            if (pick != DMA_PICK_NONE) {
                devs[threads[n_threads].dev].n_users++;
            }
            printf("%s: thread %"PRIuSIZE" on node %d -> ", op, n_threads,
                   threads[n_threads].numa_id);
            if (pick == DMA_PICK_NONE) {
                printf("no device\n");
            } else {
                printf("device %"PRIuSIZE" (%s)\n", threads[n_threads].dev,
                       dma_pool_pick_to_string(pick));
            }
            n_threads++;
        } else if (op[0] == '-') {
            size_t t = atoi(op + 1);

            ovs_assert(t < n_threads && threads[t].alive);
            threads[t].alive = false;
            if (threads[t].dev != SIZE_MAX) {
                devs[threads[t].dev].n_users--;
            }
            printf("%s: thread %"PRIuSIZE" exits\n", op, t);
        } else {
            ovs_fatal(0, "%s: bad operation", op);
        }
    }

    printf("users:");
    for (size_t d = 0; d < n_devs; d++) {
        printf(" %u", devs[d].n_users);
    }
    printf("\n");
}

static const struct ovs_cmdl_command commands[] = {
    { "parse", "[KEY=VALUE]...", 0, INT_MAX, test_parse, OVS_RO },
    { "assign", "DEVICE-NODES OP...", 1, INT_MAX, test_assign, OVS_RO },
    { NULL, NULL, 0, 0, NULL, OVS_RO },
};

static void
test_dma_pool_main(int argc, char *argv[])
{
    struct ovs_cmdl_context ctx = {
        .argc = argc - 1,
        .argv = argv + 1,
    };

    set_program_name(argv[0]);
    ovs_cmdl_run_command(&ctx, commands);
}

OVSTEST_REGISTER("test-dma-pool", test_dma_pool_main);
