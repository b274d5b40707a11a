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

#ifndef VHOST_ASYNC_NUMA_H
#define VHOST_ASYNC_NUMA_H 1

/* Where a guest's traffic is handled, by NUMA node.
 *
 * When a guest connects, OVS moves the port's mempool to the node of the
 * guest's memory and prefers PMD threads of that node for its rx queues;
 * each PMD thread copies through a DMA device of its own node when it has
 * one (dma-pool.h).  This module says, from what each node has, where
 * each of the three ends up, and why, for the log and for unit tests.
 *
 * The fallback order, for a guest on node G:
 *
 *   mempool  G if G has hugepage memory, else the node it is on now
 *            (OVS keeps the old mempool when it cannot allocate a new one).
 *   PMDs     G if G has PMD threads, else the lowest node that has some
 *            (OVS then polls the queues across nodes).
 *   DMA      the node of those PMD threads if it has a DMA device, else
 *            the lowest node that has one, else none: the CPU copies.
 */

#include <stdbool.h>
#include <stddef.h>

struct ds;

struct vhost_async_numa_node {
    bool hugepages;             /* Memory for a mempool. */
    unsigned int n_pmds;        /* PMD threads. */
    unsigned int n_dma;         /* DMA devices. */
};

struct vhost_async_numa_plan {
    int guest;                  /* Node of the guest's memory. */
    int mempool;                /* Node of the port's mempool. */
    int pmd;                    /* Node of the PMD threads, or -1: none. */
    int dma;                    /* Node of their DMA devices, or -1. */
};

void vhost_async_numa_plan(const struct vhost_async_numa_node nodes[],
                           int n_nodes, int guest, int current_mempool,
                           struct vhost_async_numa_plan *);
bool vhost_async_numa_plan_is_local(const struct vhost_async_numa_plan *);
void vhost_async_numa_plan_format(const struct vhost_async_numa_plan *,
                                  struct ds *);

#endif /* vhost-async-numa.h */
