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

#ifndef DMA_POOL_H
#define DMA_POOL_H 1

/* The pool of DMA devices that vhost async copies with.
 *
 * Every thread that sends to or receives from vhost-user ports, each PMD
 * thread and the non-PMD context (the main thread and whoever else holds
 * dp->non_pmd_mutex), is a "user" of the pool with one (device, vchan 0)
 * of its own when there are enough devices.  A DMA virtual channel is not
 * thread-safe by itself; vhost serializes each one with its own lock, so
 * sharing is correct, only slower.
 *
 * Threads:
 *   - dma_pool_set_config() and dma_pool_run(): main thread only.
 *   - dma_pool_attach_thread()/dma_pool_detach_thread(): the PMD thread
 *     itself, at start and exit.
 *   - dma_pool_get_channel(): any thread, lock-free (RCU).
 *
 * A device leaves the pool (configuration change, PMD gone) in two steps:
 * its users are moved away, then once every thread has quiesced and no
 * copy is in flight on it, vhost forgets it and it is stopped (and removed,
 * if we created it). */

#include <stdbool.h>
#include <stdint.h>

#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"

struct smap;

/* What other_config:vhost-async-dma asks for. */
enum dma_pool_mode {
    DMA_POOL_AUTO,          /* Every DMA device DPDK probed. */
    DMA_POOL_SOFTWARE,      /* dma_skeleton devices we create, one a PMD. */
    DMA_POOL_LIST,          /* Exactly the named devices. */
};

#define DMA_POOL_RING_MIN      32
#define DMA_POOL_RING_MAX      8192
#define DMA_POOL_RING_DEFAULT  4096

struct dma_pool_config {
    enum dma_pool_mode mode;
    char **names;           /* DMA_POOL_LIST: device names. */
    size_t n_names;
    uint16_t ring_size;     /* Descriptors in each vchan. */
};

/* Parses the vhost-async-dma* keys of 'other_config' into 'cfg'.  Returns
 * NULL on success, otherwise an error message (to be freed) naming the bad
 * value and the valid choices, leaving 'cfg' empty. */
char *dma_pool_config_parse(const struct smap *other_config,
                            struct dma_pool_config *cfg);
bool dma_pool_config_equal(const struct dma_pool_config *,
                           const struct dma_pool_config *);
void dma_pool_config_format(const struct dma_pool_config *, struct ds *);
void dma_pool_config_destroy(struct dma_pool_config *);

/* The assignment policy, apart from DPDK so that it can be unit tested.
 * Candidates are the pool's active devices. */
struct dma_pool_candidate {
    int numa_id;
    unsigned int n_users;   /* Threads already assigned to it. */
};

enum dma_pool_pick {
    DMA_PICK_NONE,          /* No device: copy with the CPU. */
    DMA_PICK_LOCAL,         /* An unused device on the thread's node. */
    DMA_PICK_REMOTE,        /* An unused device on another node. */
    DMA_PICK_SHARED_LOCAL,  /* A device used by others, same node. */
    DMA_PICK_SHARED_REMOTE, /* A device used by others, another node. */
};

const char *dma_pool_pick_to_string(enum dma_pool_pick);
size_t dma_pool_pick(const struct dma_pool_candidate[], size_t n,
                     int numa_id, enum dma_pool_pick *);

/* The (device, vchan) a thread submits copies to. */
struct dma_pool_channel {
    int16_t dev_id;
    uint16_t vchan;
    uint16_t ring_size;     /* Descriptors in the vchan. */
};

void dma_pool_set_config(const struct smap *other_config);

/* Main thread, every run of the main loop: releases retired devices and,
 * if 'watch', fails devices that stopped completing copies (a DMA reports
 * a failed copy to vhost only by never completing it). */
void dma_pool_run(bool watch);
void dma_pool_wait(void);

void dma_pool_attach_thread(unsigned int core_id);
void dma_pool_detach_thread(void);

/* The calling thread's channel, or NULL if it has none (copy with the
 * CPU).  The result stays valid until the caller next quiesces. */
const struct dma_pool_channel *dma_pool_get_channel(void);

/* Uses of a device.  dmadev forbids a control operation on a device
 * (stop, close, and vhost's rte_vhost_async_dma_unconfigure()) while a
 * thread is inside a data-path call on it: a vhost submit, poll or clear
 * that names it, or rte_dma_burst_capacity().  So a thread makes such
 * calls on device 'dev_id' only between dma_pool_use_begin(), if it
 * returns true, and dma_pool_use_end().  Neither blocks: a device that is
 * failing or leaving the pool refuses new uses, and the pool waits for
 * those in progress before it stops or releases the device.  Any thread;
 * uses may nest. */
bool dma_pool_use_begin(int16_t dev_id);
void dma_pool_use_end(int16_t dev_id);

/* A vring that gets copies in flight on a channel adds 1, and subtracts 1
 * once it has none left: the pool releases a device only at 0. */
void dma_pool_busy_vrings_add(const struct dma_pool_channel *, int delta);

/* Main thread: 'counts[N]' vrings that submitted to device id N (modulo
 * 'n') have copies in flight none of which completes, for dpdk/dma-show. */
void dma_pool_set_stalled_vrings(const unsigned int *counts, size_t n);

/* Adds the PMD threads and the DMA devices of each of 'n_nodes' NUMA
 * nodes to 'nodes'. */
struct vhost_async_numa_node;
void dma_pool_numa_nodes(struct vhost_async_numa_node *nodes, int n_nodes);

/* Failed devices.  A device that stops completing copies is stopped, so
 * that it can never write into guest memory again, and kept out of
 * service for good, with the copies and mbufs it holds: vhost cannot
 * forget a device with copies outstanding.  Its users move to other
 * devices. */
bool dma_pool_channel_failed(const struct dma_pool_channel *);

/* Bit N set: device id N is configured in vhost, so that vhost can be
 * asked about its copies (ids of 64 and up share bit N % 64). */
uint64_t dma_pool_vhost_mask(void);

/* Bit N set: device id N has failed (ids of 64 and up share bit N % 64). */
uint64_t dma_pool_failed_mask(void);

/* Any thread: the devices in 'mask' (bit N for device id N) have held
 * copies that would not complete for a whole drain: fail those of them
 * that still have copies outstanding. */
void dma_pool_fail_stuck(uint64_t mask, const char *why);

#endif /* dma-pool.h */
