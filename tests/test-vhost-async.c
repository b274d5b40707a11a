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

#include "command-line.h"
#include "netdev-vhost-async.h"
#include "openvswitch/util.h"
#include "ovstest.h"
#include "util.h"

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

static const struct ovs_cmdl_command commands[] = {
    { "dpdk-version", "VERSION...", 1, INT_MAX, test_dpdk_version,
      OVS_RO },
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
