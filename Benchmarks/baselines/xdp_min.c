/*
 * xdp_min: the AF_XDP limit. One process loads a minimal XDP program once
 * (rx_queue_index -> XSKMAP, XDP_PASS when the slot is empty: five BPF
 * instructions built here) and attaches it (native mode, generic as fallback);
 * per queue an AF_XDP socket (libxdp xsk_socket__create with program loading
 * inhibited, inserted into the XSKMAP) with its own UMEM of --frames frames.
 *
 * One thread per queue (pinned to CPU q % ncpu): the fill ring is kept full;
 * received frames are touched (bytes 12-13, IPv4 count, synthetic cost X,
 * optional flow tracking) and returned straight to the fill ring. Wake-up
 * policy as WireCap's capture threads: when the rx ring is empty, sleep
 * --sleep-us (default 1000 us) with nanosleep instead of poll() per batch.
 *
 * Drops: XDP_STATISTICS read with the full struct size (rx_dropped,
 * rx_ring_full, rx_invalid_descs; rx_fill_ring_empty_descs counts starvation
 * events, not packets). The program is detached on exit (also on SIGINT/SIGTERM)
 * before the sockets are closed.
 *
 *   xdp_min -i IF [-q Q] [--cost X] [--duration S] [--count N] [--frames F]
 *           [--sleep-us U] [--generic] [--force] [--flows] | --calibrate X
 */
#include "common.h"
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#define FRAME_SIZE 2048u
#define BATCH 64u

typedef struct {
    int index, queue;
    void *area;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill;
    struct xsk_ring_cons comp;
    struct xsk_ring_cons rx;
    struct xsk_ring_prod tx;
    uint64_t packets, ipv4, sleeps, kicks;
    struct xdp_statistics stats;
    uint32_t sink;
    wc_flowset flows;
    pthread_t thread;
} __attribute__((aligned(64))) worker_t;

static unsigned cost_x, nframes = 8192, sleep_us = 1000;
static int track_flows;
static uint64_t count_limit;
static _Atomic uint64_t total_packets;

static void *worker_main(void *arg) {
    worker_t *w = arg;
    int fd = xsk_socket__fd(w->xsk);
    while (!wc_stop) {
        uint32_t rx_idx;
        uint32_t n = xsk_ring_cons__peek(&w->rx, BATCH, &rx_idx);
        if (!n) {
            if (xsk_ring_prod__needs_wakeup(&w->fill)) {
                recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
                w->kicks++;
            }
            w->sleeps++;
            wc_sleep_ns((uint64_t)sleep_us * 1000u);
            continue;
        }
        uint32_t fill_idx = 0;
        while (xsk_ring_prod__reserve(&w->fill, n, &fill_idx) != n) {
            if (wc_stop) break;   /* cannot happen with a fill ring as large as the UMEM */
        }
        uint64_t ip = 0;
        for (uint32_t i = 0; i < n; i++) {
            const struct xdp_desc *d = xsk_ring_cons__rx_desc(&w->rx, rx_idx + i);
            const uint8_t *p = xsk_umem__get_data(w->area, d->addr);
            ip += wc_touch(p, d->len);
            if (cost_x) w->sink += wc_cost(p, d->len, cost_x);
            if (track_flows) { wc_flowset_add(&w->flows, wc_flow_key(p, d->len)); wc_seen_check(p, d->len); }
            *xsk_ring_prod__fill_addr(&w->fill, fill_idx + i) = xsk_umem__extract_addr(d->addr);
        }
        xsk_ring_prod__submit(&w->fill, n);
        xsk_ring_cons__release(&w->rx, n);
        w->packets += n;
        w->ipv4 += ip;
        if (count_limit && atomic_fetch_add(&total_packets, n) + n >= count_limit) wc_stop = 1;
    }
    socklen_t len = sizeof w->stats;
    memset(&w->stats, 0, sizeof w->stats);
    if (getsockopt(fd, SOL_XDP, XDP_STATISTICS, &w->stats, &len) || len != sizeof w->stats)
        fprintf(stderr, "xdp_min: XDP_STATISTICS returned %u bytes, expected %zu\n", len, sizeof w->stats);
    return NULL;
}

/* r2 = ctx->rx_queue_index; r1 = xskmap; r3 = XDP_PASS; call bpf_redirect_map; exit */
static int load_program(int map_fd) {
    struct bpf_insn insns[6];
    memset(insns, 0, sizeof insns);
    insns[0].code = BPF_LDX | BPF_MEM | BPF_W; insns[0].dst_reg = 2; insns[0].src_reg = 1;
    insns[0].off = (short)offsetof(struct xdp_md, rx_queue_index);
    insns[1].code = BPF_LD | BPF_IMM | BPF_DW; insns[1].dst_reg = 1; insns[1].src_reg = BPF_PSEUDO_MAP_FD;
    insns[1].imm = map_fd;
    insns[3].code = BPF_ALU64 | BPF_MOV | BPF_K; insns[3].dst_reg = 3; insns[3].imm = XDP_PASS;
    insns[4].code = BPF_JMP | BPF_CALL; insns[4].imm = BPF_FUNC_redirect_map;
    insns[5].code = BPF_JMP | BPF_EXIT;
    char log[4096];
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = sizeof log, .log_level = 0);
    log[0] = 0;
    int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdp_min_rx", "GPL", insns, 6, &opts);
    if (fd < 0) fprintf(stderr, "xdp_min: bpf_prog_load: %s %s\n", strerror(errno), log);
    return fd;
}

int main(int argc, char **argv) {
    const char *ifname = NULL;
    int q = 2, generic = 0, force = 0;
    double duration = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--calibrate") && v) return wc_calibrate((unsigned)atoi(v));
        else if (!strcmp(a, "-i") && v) { ifname = v; i++; }
        else if (!strcmp(a, "-q") && v) { q = atoi(v); i++; }
        else if (!strcmp(a, "--cost") && v) { cost_x = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--duration") && v) { duration = atof(v); i++; }
        else if (!strcmp(a, "--count") && v) { count_limit = strtoull(v, NULL, 10); i++; }
        else if (!strcmp(a, "--frames") && v) { nframes = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--sleep-us") && v) { sleep_us = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--generic")) generic = 1;
        else if (!strcmp(a, "--force")) force = 1;
        else if (!strcmp(a, "--flows")) { track_flows = 1; wc_seen_init(); }
        else { fprintf(stderr, "xdp_min: bad argument %s\n", a); return 2; }
    }
    if (!ifname || q < 1 || q > 64 || nframes < 64 || (nframes & (nframes - 1))) {
        fprintf(stderr, "usage: xdp_min -i IF [-q Q] [--cost X] [--duration S] [--count N] [--frames F(power of 2)] "
                        "[--sleep-us U] [--generic] [--force] [--flows]\n");
        return 2;
    }
    unsigned ifindex = if_nametoindex(ifname);
    if (!ifindex) { fprintf(stderr, "xdp_min: unknown interface %s\n", ifname); return 1; }
    struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
    if (setrlimit(RLIMIT_MEMLOCK, &rl)) { getrlimit(RLIMIT_MEMLOCK, &rl); rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_MEMLOCK, &rl); }
    wc_install_signals();
    wc_cost_init();

    __u32 existing = 0;
    if (bpf_xdp_query_id((int)ifindex, 0, &existing) == 0 && existing) {
        if (!force) { fprintf(stderr, "xdp_min: XDP program %u already attached to %s (use --force)\n", existing, ifname); return 1; }
        bpf_xdp_detach((int)ifindex, XDP_FLAGS_DRV_MODE, NULL);
        bpf_xdp_detach((int)ifindex, XDP_FLAGS_SKB_MODE, NULL);
    }
    int map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "xdp_min_xsks", sizeof(__u32), sizeof(__u32), 64, NULL);
    if (map_fd < 0) { perror("bpf_map_create(XSKMAP)"); return 1; }
    int prog_fd = load_program(map_fd);
    if (prog_fd < 0) return 1;

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    worker_t *ws = calloc((size_t)q, sizeof *ws);
    int rc = 0;
    __u32 attach_flags = 0;
    const char *mode = "none";
    for (int w = 0; w < q && !rc; w++) {
        worker_t *k = &ws[w];
        k->index = w;
        k->queue = w;
        size_t len = (size_t)nframes * FRAME_SIZE;
        if (posix_memalign(&k->area, (size_t)getpagesize(), len)) { rc = 1; break; }
        memset(k->area, 0, len);
        struct xsk_umem_config ucfg = {
            .fill_size = nframes, .comp_size = 64, .frame_size = FRAME_SIZE, .frame_headroom = 0, .flags = 0 };
        int err = xsk_umem__create(&k->umem, k->area, len, &k->fill, &k->comp, &ucfg);
        if (err) { fprintf(stderr, "xdp_min: xsk_umem__create: %s\n", strerror(-err)); rc = 1; break; }
        struct xsk_socket_config scfg = {
            .rx_size = nframes / 2, .tx_size = 64,
            .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD, .xdp_flags = 0,
            .bind_flags = XDP_USE_NEED_WAKEUP };
        err = xsk_socket__create(&k->xsk, ifname, (unsigned)k->queue, k->umem, &k->rx, &k->tx, &scfg);
        if (err) { fprintf(stderr, "xdp_min: xsk_socket__create(queue %d): %s\n", k->queue, strerror(-err)); rc = 1; break; }
        __u32 idx;
        if (xsk_ring_prod__reserve(&k->fill, nframes, &idx) != nframes) { fprintf(stderr, "xdp_min: fill reserve\n"); rc = 1; break; }
        for (unsigned f = 0; f < nframes; f++) *xsk_ring_prod__fill_addr(&k->fill, idx + f) = (uint64_t)f * FRAME_SIZE;
        xsk_ring_prod__submit(&k->fill, nframes);
        __u32 key = (__u32)k->queue;
        int fd = xsk_socket__fd(k->xsk);
        if (bpf_map_update_elem(map_fd, &key, &fd, 0)) { perror("bpf_map_update_elem(XSKMAP)"); rc = 1; break; }
        if (track_flows) wc_flowset_init(&k->flows);
    }
    if (!rc) {
        __u32 modes[2] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
        for (int m = generic ? 1 : 0; m < 2; m++) {
            if (bpf_xdp_attach((int)ifindex, prog_fd, modes[m] | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL) == 0) {
                attach_flags = modes[m];
                mode = m ? "generic" : "native";
                break;
            }
            fprintf(stderr, "xdp_min: attach %s: %s\n", m ? "generic" : "native", strerror(errno));
        }
        if (!attach_flags) rc = 1;
    }
    double u0, s0;
    wc_cpu(&u0, &s0);
    uint64_t t0 = wc_now_ns();
    if (!rc) {
        for (int w = 0; w < q; w++) wc_thread_start(&ws[w].thread, worker_main, &ws[w], ncpu > 0 ? w % ncpu : -1);
        wc_run_until_stopped(t0, duration);
        for (int w = 0; w < q; w++) pthread_join(ws[w].thread, NULL);
    }
    double elapsed = (double)(wc_now_ns() - t0) / 1e9;
    /* Detach first, then close the sockets. */
    if (attach_flags) bpf_xdp_detach((int)ifindex, attach_flags, NULL);
    double u1, s1;
    wc_cpu(&u1, &s1);
    if (!rc) {
        uint64_t pk = 0, ip = 0, rxd = 0, rxf = 0, rxi = 0, fe = 0, sl = 0, ki = 0, ftot = 0, fsplit = 0, fovf = 0;
        uint32_t sink = 0;
        for (int w = 0; w < q; w++) {
            pk += ws[w].packets; ip += ws[w].ipv4; sink ^= ws[w].sink; sl += ws[w].sleeps; ki += ws[w].kicks;
            rxd += ws[w].stats.rx_dropped; rxf += ws[w].stats.rx_ring_full;
            rxi += ws[w].stats.rx_invalid_descs; fe += ws[w].stats.rx_fill_ring_empty_descs;
            fovf += ws[w].flows.overflow;
        }
        if (track_flows) {
            wc_flowset *sets = calloc((size_t)q, sizeof *sets);
            for (int w = 0; w < q; w++) sets[w] = ws[w].flows;
            wc_flows_merge(sets, q, &ftot, &fsplit);
        }
        printf("{\"engine\":\"xdp_min\",\"queues\":%d,\"xdp_mode\":\"%s\",\"consumer_cost\":%u,\"packets\":%llu,"
               "\"ipv4\":%llu,\"per_worker\":[", q, mode, cost_x, (unsigned long long)pk, (unsigned long long)ip);
        for (int w = 0; w < q; w++) printf("%s%llu", w ? "," : "", (unsigned long long)ws[w].packets);
        printf("],\"drops\":{\"rx_dropped\":%llu,\"rx_ring_full\":%llu,\"rx_invalid_descs\":%llu},"
               "\"drops_total\":%llu,\"rx_fill_ring_empty_events\":%llu,\"cpu_user\":%.3f,\"cpu_sys\":%.3f,"
               "\"cpu_user_total\":%.3f,\"cpu_sys_total\":%.3f,\"elapsed\":%.3f,\"sleeps\":%llu,\"kicks\":%llu,"
               "\"frames_per_queue\":%u,",
               (unsigned long long)rxd, (unsigned long long)rxf, (unsigned long long)rxi,
               (unsigned long long)(rxd + rxf + rxi), (unsigned long long)fe, u1 - u0, s1 - s0, u1, s1, elapsed,
               (unsigned long long)sl, (unsigned long long)ki, nframes);
        if (track_flows) wc_print_flows(ftot, fsplit, fovf);
        printf("\"sink\":%u}\n", sink);
        fflush(stdout);
    }
    for (int w = 0; w < q; w++) {
        if (ws[w].xsk) xsk_socket__delete(ws[w].xsk);
        if (ws[w].umem) xsk_umem__delete(ws[w].umem);
        free(ws[w].area);
    }
    close(prog_fd);
    close(map_fd);
    return rc;
}
