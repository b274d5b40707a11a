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

/* The copy ceilings of ovs-vhost-async-bench: how many copies of each
 * packet size one CPU core makes with rte_memcpy(), and how many a DPDK
 * dmadev (by default a dma_skeleton software device) makes when one thread
 * keeps it busy through the dmadev API.  A vhost port cannot move more
 * packets per second, in one direction, than the copy rate of whatever
 * copies them.
 *
 * Usage:
 *     ovs-vhost-async-bench-copy [EAL-ARGS] -- [-t SECONDS] [-w MIB]
 *                                [-r RING] [-b BURST] [-d DMA-NAME] SIZE...
 *
 * The caller chooses CPUs with EAL arguments, e.g.
 *     -l 0,1 --main-lcore 1 --vdev dma_skeleton0,lcore=0
 * copies with the main lcore (CPU 1) while the software DMA thread copies
 * on CPU 0.  IOVA must be VA for a software device (--iova-mode=va).
 *
 * It prints "# tsc_hz HZ" first, then for each SIZE one line:
 *     SIZE MEMCPY-MCOPIES/S DMA-MCOPIES/S
 * ('-' for DMA when there is no device). */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_dmadev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_memcpy.h>

/* Source and destination buffers, each 'set_bytes' long.  Copies walk
 * through them at a cache-line aligned stride, so that a run does not
 * copy the same hot lines over and over: OVS's mbufs and a guest's
 * buffers are spread over far more memory than the caches hold. */
struct copy_set {
    uint8_t *src;
    uint8_t *dst;
    rte_iova_t src_iova;
    rte_iova_t dst_iova;
    size_t set_bytes;
};

static double
now_sec(void)
{
    return (double) rte_get_timer_cycles() / rte_get_timer_hz();
}

static size_t
copy_stride(uint32_t size)
{
    return RTE_ALIGN_CEIL(size, RTE_CACHE_LINE_SIZE);
}

/* Millions of rte_memcpy() copies of 'size' bytes per second. */
static double
measure_memcpy(const struct copy_set *set, uint32_t size, double seconds)
{
    size_t stride = copy_stride(size);
    size_t n_slots = set->set_bytes / stride;
    uint64_t copies = 0;
    size_t slot = 0;
    double start = now_sec(), end = start + seconds, t;

    do {
        /* Check the clock once per 256 copies only. */
        for (int i = 0; i < 256; i++) {
            rte_memcpy(set->dst + slot * stride, set->src + slot * stride,
                       size);
            if (++slot == n_slots) {
                slot = 0;
            }
        }
        copies += 256;
        t = now_sec();
    } while (t < end);
    return copies / (t - start) / 1e6;
}

/* Collects what 'dev_id' has completed; returns how many, or -1 on a
 * copy error. */
static int
dma_collect(int16_t dev_id, uint64_t *done)
{
    uint16_t last_idx;
    bool error = false;
    uint16_t n = rte_dma_completed(dev_id, 0, 64, &last_idx, &error);

    *done += n;
    return error ? -1 : n;
}

/* Millions of copies of 'size' bytes per second through DMA device
 * 'dev_id', submitted 'burst' at a time, as vhost async does. */
static double
measure_dma(int16_t dev_id, const struct copy_set *set, uint32_t size,
            double seconds, uint16_t burst)
{
    size_t stride = copy_stride(size);
    size_t n_slots = set->set_bytes / stride;
    uint64_t submitted = 0, done = 0;
    size_t slot = 0;
    double start = now_sec(), end = start + seconds, t;

    do {
        if (rte_dma_burst_capacity(dev_id, 0) >= burst) {
            for (uint16_t i = 0; i < burst; i++) {
                uint64_t flags = i == burst - 1 ? RTE_DMA_OP_FLAG_SUBMIT : 0;
                int ret = rte_dma_copy(dev_id, 0,
                                       set->src_iova + slot * stride,
                                       set->dst_iova + slot * stride,
                                       size, flags);
                if (ret < 0) {
                    fprintf(stderr, "rte_dma_copy: %s\n", strerror(-ret));
                    return -1;
                }
                if (++slot == n_slots) {
                    slot = 0;
                }
            }
            submitted += burst;
        }
        if (dma_collect(dev_id, &done) < 0) {
            fprintf(stderr, "DMA device %d reported a failed copy\n",
                    dev_id);
            return -1;
        }
        t = now_sec();
    } while (t < end);

    /* Only completed copies count; drain the rest, bounded in time. */
    double deadline = now_sec() + 2.0;
    while (done < submitted && now_sec() < deadline) {
        if (dma_collect(dev_id, &done) < 0) {
            return -1;
        }
    }
    return done < submitted ? -1 : done / (t - start) / 1e6;
}

static int
dma_setup(int16_t dev_id, uint16_t ring)
{
    struct rte_dma_conf conf = { .nb_vchans = 1 };
    struct rte_dma_vchan_conf vconf = {
        .direction = RTE_DMA_DIR_MEM_TO_MEM,
        .nb_desc = ring,
    };
    int ret;

    ret = rte_dma_configure(dev_id, &conf);
    if (!ret) {
        ret = rte_dma_vchan_setup(dev_id, 0, &vconf);
    }
    if (!ret) {
        ret = rte_dma_start(dev_id);
    }
    if (ret) {
        fprintf(stderr, "DMA device %d: setup failed: %s\n", dev_id,
                strerror(-ret));
    }
    return ret;
}

static void
usage(void)
{
    fprintf(stderr, "usage: ovs-vhost-async-bench-copy [EAL-ARGS] -- "
            "[-t SECONDS] [-w MIB] [-r RING] [-b BURST] [-d DMA-NAME] "
            "SIZE...\n");
    exit(2);
}

int
main(int argc, char *argv[])
{
    double seconds = 0.5;
    size_t set_mib = 40;
    unsigned long ring = 4096, burst = 32;
    const char *dma_name = NULL;
    int ret, opt;

    ret = rte_eal_init(argc, argv);
    if (ret < 0) {
        fprintf(stderr, "rte_eal_init failed: %s\n",
                rte_strerror(rte_errno));
        return 1;
    }
    argc -= ret;
    argv += ret;

    while ((opt = getopt(argc, argv, "t:w:r:b:d:")) != -1) {
        switch (opt) {
        case 't':
            seconds = atof(optarg);
            break;
        case 'w':
            set_mib = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            ring = strtoul(optarg, NULL, 10);
            break;
        case 'b':
            burst = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            dma_name = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc || seconds <= 0 || !set_mib || !burst
        || burst > ring || ring > UINT16_MAX) {
        usage();
    }

    struct copy_set set = { .set_bytes = set_mib << 20 };
    set.src = rte_malloc("bench_src", set.set_bytes, RTE_CACHE_LINE_SIZE);
    set.dst = rte_malloc("bench_dst", set.set_bytes, RTE_CACHE_LINE_SIZE);
    if (!set.src || !set.dst) {
        fprintf(stderr, "cannot allocate 2 x %zu MiB of DPDK memory\n",
                set_mib);
        return 1;
    }
    memset(set.src, 0x5a, set.set_bytes);
    memset(set.dst, 0, set.set_bytes);
    set.src_iova = rte_malloc_virt2iova(set.src);
    set.dst_iova = rte_malloc_virt2iova(set.dst);

    /* The first DMA device, or the one named. */
    int16_t dev_id = -1;
    if (dma_name) {
        dev_id = rte_dma_get_dev_id_by_name(dma_name);
        if (dev_id < 0) {
            fprintf(stderr, "no DMA device %s\n", dma_name);
            return 1;
        }
    } else if (rte_dma_count_avail() > 0) {
        dev_id = rte_dma_next_dev(0);
    }
    if (dev_id >= 0 && dma_setup(dev_id, ring)) {
        return 1;
    }

    printf("# tsc_hz %"PRIu64"\n", rte_get_tsc_hz());
    for (int i = optind; i < argc; i++) {
        unsigned long size = strtoul(argv[i], NULL, 10);

        if (!size || size > set.set_bytes / 2 || size > UINT32_MAX) {
            fprintf(stderr, "bad size %s\n", argv[i]);
            return 1;
        }
        double cpu = measure_memcpy(&set, size, seconds);
        printf("%lu %.3f", size, cpu);
        if (dev_id >= 0) {
            /* The DMA run must write the first slot again, whole. */
            memset(set.dst, 0, size);
            double dma = measure_dma(dev_id, &set, size, seconds, burst);
            if (dma >= 0 && memcmp(set.src, set.dst, size)) {
                fprintf(stderr, "DMA copies of %lu B do not match their "
                        "source\n", size);
                dma = -1;
            }
            if (dma < 0) {
                printf(" -\n");
                fflush(stdout);
                return 1;
            }
            printf(" %.3f\n", dma);
        } else {
            printf(" -\n");
        }
        fflush(stdout);
    }

    if (dev_id >= 0) {
        rte_dma_stop(dev_id);
        rte_dma_close(dev_id);
    }
    rte_free(set.src);
    rte_free(set.dst);
    rte_eal_cleanup();
    return 0;
}
