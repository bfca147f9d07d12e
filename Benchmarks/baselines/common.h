/*
 * Shared pieces of the WireCap end-to-end baseline consumers.
 *
 * Every consumer touches every packet the same way (Benchmarks/e2e/README.md):
 *   - reads bytes 12-13 (the Ethertype) and counts IPv4 (0x0800);
 *   - optionally applies the synthetic per-packet cost X (wc_cost below);
 *   - optionally (--flows) records which worker saw each flow (wc_flows_*), to report
 *     the fraction of flows whose packets were processed by more than one worker,
 *     and checks test packets for duplicates and order within their flow (wc_seen_check).
 *
 * Synthetic cost X ("consumer cost", the paper's x): every packet is run X
 * times through the classic BPF filter "udp and dst port 9" (which matches
 * every generator packet) with libpcap's bpf_filter() interpreter; the number
 * of matches goes to a per-worker sink so the compiler cannot drop it. This is
 * the same per-packet work as WireCap's `--consumer-cost X`
 * (Sources/WireCapXDP/Engine/ConsumerCost.swift interprets the same program,
 * `tcpdump -dd 'udp and dst port 9'`). `<consumer> --calibrate X` prints the
 * measured ns per packet of this loop on a 64-byte test packet.
 */
#ifndef WC_BASELINE_COMMON_H
#define WC_BASELINE_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <pthread.h>
#include <sched.h>

static volatile sig_atomic_t wc_stop;

static __attribute__((unused)) void wc_on_signal(int sig) { (void)sig; wc_stop = 1; }

static __attribute__((unused)) void wc_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = wc_on_signal;   /* no SA_RESTART: blocking calls return EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static inline uint64_t wc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static __attribute__((unused)) void wc_sleep_ns(uint64_t ns) {
    struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
    nanosleep(&ts, NULL);
}

/* CPU seconds (user, system) of the whole process so far. */
static __attribute__((unused)) void wc_cpu(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    *sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The touch every consumer applies: Ethertype at bytes 12-13, 1 if IPv4. */
static inline unsigned wc_touch(const uint8_t *p, uint32_t len) {
    if (len < 14) return 0;
    return (((unsigned)p[12] << 8) | p[13]) == 0x0800;
}

/* Synthetic per-packet cost, in wc_cost.c (kept out of this header because
 * pcap's classic struct bpf_insn clashes with linux/bpf.h in xdp_min.c). */
void wc_cost_init(void);
uint32_t wc_cost(const uint8_t *p, uint32_t len, unsigned x);

/* ---------- flow tracking (which workers saw each 5-tuple) ---------- */

/* 64-bit key of the IPv4 5-tuple (0 when not IPv4 TCP/UDP: not tracked). */
static inline uint64_t wc_flow_key(const uint8_t *p, uint32_t len) {
    if (len < 14 + 20 + 4 || p[12] != 0x08 || p[13] != 0x00) return 0;
    const uint8_t *ip = p + 14;
    unsigned ihl = (ip[0] & 0x0f) * 4u;
    uint8_t proto = ip[9];
    if ((proto != 6 && proto != 17) || len < 14 + ihl + 4) return 0;
    uint64_t h = 0xcbf29ce484222325ull;
    const uint8_t *fields[3] = { ip + 12, ip + 16, ip + ihl };  /* src, dst, ports */
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < 4; i++) h = (h ^ fields[f][i]) * 0x100000001b3ull;
    h = (h ^ proto) * 0x100000001b3ull;
    return h ? h : 1;
}

#define WC_FLOW_SLOTS (1u << 17)   /* per worker, open addressing */
typedef struct { uint64_t *slots; uint64_t used, overflow; } wc_flowset;

static __attribute__((unused)) void wc_flowset_init(wc_flowset *s) {
    s->slots = calloc(WC_FLOW_SLOTS, sizeof(uint64_t));
    s->used = s->overflow = 0;
}

static inline void wc_flowset_add(wc_flowset *s, uint64_t key) {
    if (!key || !s->slots) return;
    uint32_t i = (uint32_t)(key ^ (key >> 29)) & (WC_FLOW_SLOTS - 1);
    for (uint32_t probe = 0; probe < 64; probe++) {
        uint64_t v = s->slots[i];
        if (v == key) return;
        if (v == 0) {
            if (s->used >= WC_FLOW_SLOTS / 2) { s->overflow++; return; }
            s->slots[i] = key; s->used++; return;
        }
        i = (i + 1) & (WC_FLOW_SLOTS - 1);
    }
    s->overflow++;
}

static inline int wc_flowset_has(const wc_flowset *s, uint64_t key) {
    uint32_t i = (uint32_t)(key ^ (key >> 29)) & (WC_FLOW_SLOTS - 1);
    for (uint32_t probe = 0; probe < 64; probe++) {
        uint64_t v = s->slots[i];
        if (v == key) return 1;
        if (v == 0) return 0;
        i = (i + 1) & (WC_FLOW_SLOTS - 1);
    }
    return 0;
}

/* Flows seen in total and flows seen by more than one of the n sets. */
static __attribute__((unused)) void wc_flows_merge(wc_flowset *sets, int n, uint64_t *total, uint64_t *split) {
    *total = *split = 0;
    for (int w = 0; w < n; w++) {
        if (!sets[w].slots) continue;
        for (uint32_t i = 0; i < WC_FLOW_SLOTS; i++) {
            uint64_t k = sets[w].slots[i];
            if (!k) continue;
            int earlier = 0, later = 0;
            for (int o = 0; o < w; o++) if (sets[o].slots && wc_flowset_has(&sets[o], k)) earlier = 1;
            if (earlier) continue;               /* counted at its first set */
            for (int o = w + 1; o < n; o++) if (sets[o].slots && wc_flowset_has(&sets[o], k)) later = 1;
            (*total)++;
            if (later) (*split)++;
        }
    }
}

/* ---------- test-packet check (with --flows): duplicates, order, foreign packets ----------
 * Generator packets carry magic "WCAP" at 42, the generator queue (u16 LE) at 46,
 * the flow (u16 LE) at 48 and a per-queue sequence (u64 LE) at 50. Every flow is
 * sent from one generator queue, so the per-queue sequence also numbers each
 * flow's packets in sending order.
 *   - Duplicates: a bitmap shared by all workers marks (queue, sequence); a bit
 *     already set is a duplicate.
 *   - Order: a table shared by all workers holds, per (queue, flow), the highest
 *     sequence processed so far (+1; 0: none). A packet whose sequence is below it
 *     was processed after a later packet of its own flow, by this worker or any
 *     other: it is counted out of order. This is what a flow's state sees when the
 *     flow is processed by two workers (rollover, offload) or delivered late.
 * IPv4 packets without the magic are counted as foreign. All counters are relaxed
 * atomics: they are read once, after the workers joined (pthread_join orders them). */
#define WC_SEQ_BITS (1u << 23)          /* sequences per queue tracked */
#define WC_SEQ_QUEUES 4
#define WC_ORDER_FLOWS 65536u           /* the u16 flow field */
static uint64_t *wc_seen, *wc_order;
static uint64_t wc_dups, wc_foreign, wc_reordered, wc_flows_reordered;   /* updated atomically */
/* The flag bit of a wc_order word: the flow had a packet out of order (the rest is the highest sequence + 1). */
#define WC_REORDERED_FLAG (1ull << 63)

static __attribute__((unused)) void wc_seen_init(void) {
    wc_seen = calloc((size_t)WC_SEQ_QUEUES * WC_SEQ_BITS / 64, sizeof(uint64_t));
    wc_order = calloc((size_t)WC_SEQ_QUEUES * WC_ORDER_FLOWS, sizeof(uint64_t));
}

static inline void wc_seen_check(const uint8_t *p, uint32_t len) {
    if (!wc_seen || len < 58 || p[12] != 0x08 || p[13] != 0x00) return;
    if (p[42] != 'W' || p[43] != 'C' || p[44] != 'A' || p[45] != 'P') {
        __atomic_fetch_add(&wc_foreign, 1, __ATOMIC_RELAXED);
        return;
    }
    uint16_t q, flow; uint64_t seq;
    memcpy(&q, p + 46, 2); memcpy(&flow, p + 48, 2); memcpy(&seq, p + 50, 8);
    if (q >= WC_SEQ_QUEUES) return;
    uint64_t *highest = &wc_order[(size_t)q * WC_ORDER_FLOWS + flow];
    uint64_t seen = __atomic_load_n(highest, __ATOMIC_RELAXED), mine = seq + 1;
    for (;;) {
        if (mine < (seen & ~WC_REORDERED_FLAG)) {
            __atomic_fetch_add(&wc_reordered, 1, __ATOMIC_RELAXED);
            /* The flow's first late packet counts the flow: one OR on the word, so exactly one sees the flag clear. */
            if (!(seen & WC_REORDERED_FLAG) && !(__atomic_fetch_or(highest, WC_REORDERED_FLAG, __ATOMIC_RELAXED) & WC_REORDERED_FLAG))
                __atomic_fetch_add(&wc_flows_reordered, 1, __ATOMIC_RELAXED);
            break;
        }
        if (__atomic_compare_exchange_n(highest, &seen, mine | (seen & WC_REORDERED_FLAG), 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) break;
    }
    if (seq >= WC_SEQ_BITS) return;
    uint64_t bit = (uint64_t)q * WC_SEQ_BITS + seq;
    uint64_t mask = 1ull << (bit & 63);
    if (__atomic_fetch_or(&wc_seen[bit >> 6], mask, __ATOMIC_RELAXED) & mask)
        __atomic_fetch_add(&wc_dups, 1, __ATOMIC_RELAXED);
}

/* The --flows fields of a consumer's JSON line (a trailing comma included). */
static __attribute__((unused)) void wc_print_flows(uint64_t total, uint64_t split, uint64_t overflow) {
    printf("\"duplicates\":%llu,\"foreign_ipv4\":%llu,\"out_of_order\":%llu,\"flows_reordered\":%llu,\"flows_total\":%llu,"
           "\"flows_split\":%llu,\"flows_overflow\":%llu,",
           (unsigned long long)wc_dups, (unsigned long long)wc_foreign, (unsigned long long)wc_reordered,
           (unsigned long long)wc_flows_reordered,
           (unsigned long long)total, (unsigned long long)split, (unsigned long long)overflow);
}

/* Calibration: ns per packet of wc_touch + wc_cost(x) on a 64-byte frame. */
static __attribute__((unused)) int wc_calibrate(unsigned x) {
    uint8_t pkt[64];
    memset(pkt, 0, sizeof pkt);
    pkt[12] = 8; pkt[14] = 0x45; pkt[17] = 50; pkt[20] = 0x40; pkt[22] = 64; pkt[23] = 17; pkt[37] = 9;
    wc_cost_init();
    volatile uint32_t sink = 0;
    uint64_t n = 0, t0 = wc_now_ns(), t;
    do {
        for (int i = 0; i < 256; i++) { pkt[0] = (uint8_t)n; sink += wc_touch(pkt, 64) + wc_cost(pkt, 64, x); n++; }
        t = wc_now_ns();
    } while (t - t0 < 300000000ull);
    double ns = (double)(t - t0) / (double)n;
    printf("{\"calibrate\":true,\"consumer_cost\":%u,\"ns_per_packet\":%.1f,\"packets_per_second\":%.0f}\n",
           x, ns, 1e9 / ns);
    return 0;
}

/* Starts fn(arg) on a new thread, pinned to CPU `cpu` when cpu >= 0. */
static __attribute__((unused)) int wc_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, int cpu) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    }
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

/* Says READY (the harness waits for it), then waits for SIGINT/SIGTERM or until
 * `duration` seconds (0: no limit) have passed since t0; sets wc_stop for the workers. */
static __attribute__((unused)) void wc_run_until_stopped(uint64_t t0, double duration) {
    fprintf(stderr, "READY\n");
    while (!wc_stop) {
        if (duration > 0 && (double)(wc_now_ns() - t0) / 1e9 >= duration) break;
        wc_sleep_ns(20000000);
    }
    wc_stop = 1;
}

#endif
