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

#include "vhost-async-numa.h"

#include "openvswitch/dynamic-string.h"

/* The lowest node 'has' says yes to, or -1. */
static int
first_node(const struct vhost_async_numa_node nodes[], int n_nodes,
           bool (*has)(const struct vhost_async_numa_node *))
{
    for (int i = 0; i < n_nodes; i++) {
        if (has(&nodes[i])) {
            return i;
        }
    }
    return -1;
}

static bool
has_pmds(const struct vhost_async_numa_node *node)
{
    return node->n_pmds > 0;
}

static bool
has_dma(const struct vhost_async_numa_node *node)
{
    return node->n_dma > 0;
}

static bool
node_has(const struct vhost_async_numa_node nodes[], int n_nodes, int id,
         bool (*has)(const struct vhost_async_numa_node *))
{
    return id >= 0 && id < n_nodes && has(&nodes[id]);
}

void
vhost_async_numa_plan(const struct vhost_async_numa_node nodes[],
                      int n_nodes, int guest, int current_mempool,
                      struct vhost_async_numa_plan *plan)
{
    plan->guest = guest;
    plan->mempool = (guest >= 0 && guest < n_nodes && nodes[guest].hugepages
                     ? guest : current_mempool);
    plan->pmd = (node_has(nodes, n_nodes, guest, has_pmds)
                 ? guest : first_node(nodes, n_nodes, has_pmds));
    plan->dma = (node_has(nodes, n_nodes, plan->pmd, has_dma)
                 ? plan->pmd : first_node(nodes, n_nodes, has_dma));
}

bool
vhost_async_numa_plan_is_local(const struct vhost_async_numa_plan *plan)
{
    return (plan->mempool == plan->guest && plan->pmd == plan->guest
            && plan->dma == plan->guest);
}

static void
format_node(struct ds *s, const char *what, int node, int guest,
            const char *none)
{
    if (node < 0) {
        ds_put_format(s, "%s: %s", what, none);
    } else {
        ds_put_format(s, "%s on node %d%s", what, node,
                      guest < 0 || node == guest ? "" : " (remote)");
    }
}

/* "mempool on node 1, PMD threads on node 1, DMA on node 0 (remote)". */
void
vhost_async_numa_plan_format(const struct vhost_async_numa_plan *plan,
                             struct ds *s)
{
    format_node(s, "mempool", plan->mempool, plan->guest, "unknown");
    ds_put_cstr(s, ", ");
    format_node(s, "PMD threads", plan->pmd, plan->guest, "none");
    ds_put_cstr(s, ", ");
    format_node(s, "DMA", plan->dma, plan->guest, "none, the CPU copies");
}
