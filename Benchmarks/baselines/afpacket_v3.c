/*
 * afpacket_v3: plain AF_PACKET TPACKET_V3 consumer with PACKET_FANOUT.
 *
 * Q sockets (one thread each, pinned to CPU w % ncpu), each with its own
 * TPACKET_V3 RX_RING, joined in one fanout group (hash, cpu, lb or qm, with
 * optional PACKET_FANOUT_FLAG_ROLLOVER). A worker walks a retired block at a
 * time and waits with poll() only when the next block is still the kernel's,
 * so it wakes per block (a block retires when full or after --tov ms).
 *
 * Every packet: read bytes 12-13, count IPv4, apply the synthetic cost X
 * (common.h), and with --flows record the 5-tuple in the worker's flow set.
 *
 * Prints one JSON line: packets, ipv4, per-worker packets, drops by cause
 * (PACKET_STATISTICS tp_drops / tp_freeze_q_cnt), CPU seconds (whole run and
 * since ready), flows total/split.
 *
 *   afpacket_v3 -i IF [-q Q] [--fanout hash|cpu|lb|qm] [--rollover] [--cost X]
 *               [--duration S] [--count N] [--block-size B] [--blocks N]
 *               [--tov MS] [--flows] [--no-pin] | --calibrate X
 */
#include "common.h"
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int index, fd;
    uint8_t *map;
    size_t map_len;
    unsigned nblocks, block_size;
    uint64_t packets, ipv4, tp_drops, tp_freeze, tp_packets, wakeups;
    uint32_t sink;
    wc_flowset flows;
    pthread_t thread;
} __attribute__((aligned(64))) worker_t;

static unsigned cost_x;
static int track_flows;
static uint64_t count_limit;
static _Atomic uint64_t total_packets;

static void read_stats(worker_t *w) {
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    if (getsockopt(w->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        /* Reading resets the kernel's counters: accumulate. */
        w->tp_packets += st.tp_packets;
        w->tp_drops += st.tp_drops;
        w->tp_freeze += st.tp_freeze_q_cnt;
    }
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    unsigned cur = 0;
    uint64_t last_stats = wc_now_ns();
    struct pollfd pfd = { .fd = w->fd, .events = POLLIN | POLLERR };
    while (!wc_stop) {
        struct tpacket_block_desc *bd = (void *)(w->map + (size_t)cur * w->block_size);
        if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
            w->wakeups++;
            poll(&pfd, 1, 100);
            uint64_t now = wc_now_ns();
            if (now - last_stats > 200000000ull) { read_stats(w); last_stats = now; }
            continue;
        }
        uint32_t n = bd->hdr.bh1.num_pkts;
        struct tpacket3_hdr *h = (void *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
        uint64_t ip = 0;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *p = (const uint8_t *)h + h->tp_mac;
            ip += wc_touch(p, h->tp_snaplen);
            if (cost_x) w->sink += wc_cost(p, h->tp_snaplen, cost_x);
            if (track_flows) { wc_flowset_add(&w->flows, wc_flow_key(p, h->tp_snaplen)); wc_seen_check(p, h->tp_snaplen); }
            h = (void *)((uint8_t *)h + h->tp_next_offset);
        }
        w->packets += n;
        w->ipv4 += ip;
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        cur = (cur + 1) % w->nblocks;
        if (count_limit && atomic_fetch_add(&total_packets, n) + n >= count_limit) wc_stop = 1;
    }
    read_stats(w);
    return NULL;
}

static int fanout_mode(const char *s) {
    if (!strcmp(s, "hash")) return PACKET_FANOUT_HASH;
    if (!strcmp(s, "cpu")) return PACKET_FANOUT_CPU;
    if (!strcmp(s, "lb")) return PACKET_FANOUT_LB;
    if (!strcmp(s, "qm")) return PACKET_FANOUT_QM;
    return -1;
}

int main(int argc, char **argv) {
    const char *ifname = NULL, *fanout = "hash";
    int q = 2, rollover = 0, pin = 1;
    double duration = 0;
    unsigned block_size = 1u << 16, nblocks = 320, tov = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--calibrate") && v) return wc_calibrate((unsigned)atoi(v));
        else if (!strcmp(a, "-i") && v) { ifname = v; i++; }
        else if (!strcmp(a, "-q") && v) { q = atoi(v); i++; }
        else if (!strcmp(a, "--fanout") && v) { fanout = v; i++; }
        else if (!strcmp(a, "--rollover")) rollover = 1;
        else if (!strcmp(a, "--cost") && v) { cost_x = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--duration") && v) { duration = atof(v); i++; }
        else if (!strcmp(a, "--count") && v) { count_limit = strtoull(v, NULL, 10); i++; }
        else if (!strcmp(a, "--block-size") && v) { block_size = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--blocks") && v) { nblocks = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--tov") && v) { tov = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--flows")) { track_flows = 1; wc_seen_init(); }
        else if (!strcmp(a, "--no-pin")) pin = 0;
        else { fprintf(stderr, "afpacket_v3: bad argument %s\n", a); return 2; }
    }
    int mode = fanout_mode(fanout);
    if (!ifname || q < 1 || q > 64 || mode < 0) {
        fprintf(stderr, "usage: afpacket_v3 -i IF [-q Q] [--fanout hash|cpu|lb|qm] [--rollover] [--cost X] "
                        "[--duration S] [--count N] [--block-size B] [--blocks N] [--tov MS] [--flows] [--no-pin]\n");
        return 2;
    }
    unsigned ifindex = if_nametoindex(ifname);
    if (!ifindex) { fprintf(stderr, "afpacket_v3: unknown interface %s\n", ifname); return 1; }
    wc_install_signals();
    wc_cost_init();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    worker_t *ws = calloc((size_t)q, sizeof *ws);
    int group = getpid() & 0xffff;
    for (int w = 0; w < q; w++) {
        worker_t *k = &ws[w];
        k->index = w;
        k->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
        if (k->fd < 0) { perror("socket"); return 1; }
        int ver = TPACKET_V3;
        if (setsockopt(k->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof ver)) { perror("PACKET_VERSION"); return 1; }
        struct tpacket_req3 req;
        memset(&req, 0, sizeof req);
        req.tp_block_size = block_size;
        req.tp_block_nr = nblocks;
        req.tp_frame_size = 2048;
        req.tp_frame_nr = (block_size / 2048) * nblocks;
        req.tp_retire_blk_tov = tov;
        if (setsockopt(k->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req)) { perror("PACKET_RX_RING"); return 1; }
        k->nblocks = nblocks;
        k->block_size = block_size;
        k->map_len = (size_t)block_size * nblocks;
        k->map = mmap(NULL, k->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, k->fd, 0);
        if (k->map == MAP_FAILED) {
            k->map = mmap(NULL, k->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, k->fd, 0);
            if (k->map == MAP_FAILED) { perror("mmap"); return 1; }
        }
        struct sockaddr_ll ll;
        memset(&ll, 0, sizeof ll);
        ll.sll_family = AF_PACKET;
        ll.sll_protocol = htons(ETH_P_ALL);
        ll.sll_ifindex = (int)ifindex;
        if (bind(k->fd, (struct sockaddr *)&ll, sizeof ll)) { perror("bind"); return 1; }
        if (q > 1 || rollover) {
            int arg = group | ((mode | (rollover ? PACKET_FANOUT_FLAG_ROLLOVER : 0)) << 16);
            if (setsockopt(k->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg)) { perror("PACKET_FANOUT"); return 1; }
        }
        if (track_flows) wc_flowset_init(&k->flows);
        read_stats(k);               /* discard what arrived before the fanout group was complete */
        k->tp_packets = k->tp_drops = k->tp_freeze = 0;
    }
    double u0, s0;
    wc_cpu(&u0, &s0);
    for (int w = 0; w < q; w++) wc_thread_start(&ws[w].thread, worker_main, &ws[w], pin && ncpu > 0 ? w % ncpu : -1);
    uint64_t t0 = wc_now_ns();
    wc_run_until_stopped(t0, duration);
    for (int w = 0; w < q; w++) pthread_join(ws[w].thread, NULL);
    double elapsed = (double)(wc_now_ns() - t0) / 1e9;
    double u1, s1;
    wc_cpu(&u1, &s1);
    uint64_t pk = 0, ip = 0, dr = 0, fr = 0, wk = 0, ftot = 0, fsplit = 0, fovf = 0;
    uint32_t sink = 0;
    for (int w = 0; w < q; w++) {
        pk += ws[w].packets; ip += ws[w].ipv4; dr += ws[w].tp_drops; fr += ws[w].tp_freeze;
        wk += ws[w].wakeups; sink ^= ws[w].sink; fovf += ws[w].flows.overflow;
    }
    if (track_flows) {
        wc_flowset *sets = calloc((size_t)q, sizeof *sets);
        for (int w = 0; w < q; w++) sets[w] = ws[w].flows;
        wc_flows_merge(sets, q, &ftot, &fsplit);
    }
    printf("{\"engine\":\"afpacket_v3\",\"fanout\":\"%s\",\"rollover\":%s,\"queues\":%d,\"consumer_cost\":%u,"
           "\"packets\":%llu,\"ipv4\":%llu,\"per_worker\":[",
           fanout, rollover ? "true" : "false", q, cost_x, (unsigned long long)pk, (unsigned long long)ip);
    for (int w = 0; w < q; w++) printf("%s%llu", w ? "," : "", (unsigned long long)ws[w].packets);
    printf("],\"drops\":{\"tp_drops\":%llu,\"tp_freeze_q_cnt\":%llu},\"drops_total\":%llu,"
           "\"cpu_user\":%.3f,\"cpu_sys\":%.3f,\"cpu_user_total\":%.3f,\"cpu_sys_total\":%.3f,"
           "\"elapsed\":%.3f,\"wakeups\":%llu,\"ring_bytes_per_socket\":%zu,\"tov_ms\":%u,",
           (unsigned long long)dr, (unsigned long long)fr, (unsigned long long)dr,
           u1 - u0, s1 - s0, u1, s1, elapsed, (unsigned long long)wk, (size_t)block_size * nblocks, tov);
    if (track_flows) wc_print_flows(ftot, fsplit, fovf);
    printf("\"sink\":%u}\n", sink);
    fflush(stdout);
    for (int w = 0; w < q; w++) { munmap(ws[w].map, ws[w].map_len); close(ws[w].fd); }
    return 0;
}
