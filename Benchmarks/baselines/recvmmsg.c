/*
 * recvmmsg: raw AF_PACKET (SOCK_RAW, ETH_P_ALL) consumer reading batches with
 * recvmmsg(MSG_WAITFORONE) into its own buffers (one copy per packet).
 *
 * Q sockets (one thread each, pinned to CPU w % ncpu) in a fanout group
 * (--fanout hash|cpu|lb|qm, optional --rollover) when Q > 1. Receive buffer
 * --rcvbuf-mb MiB per socket (SO_RCVBUFFORCE). Every packet: bytes 12-13,
 * IPv4 count, synthetic cost X, optional flow tracking.
 * Drops: PACKET_STATISTICS tp_drops (socket receive queue full).
 *
 *   recvmmsg -i IF [-q Q] [--fanout MODE] [--rollover] [--cost X] [--batch B]
 *            [--duration S] [--count N] [--rcvbuf-mb MB] [--flows] | --calibrate X
 */
#include "common.h"
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SNAP 2048

typedef struct {
    int index, fd;
    uint64_t packets, ipv4, tp_drops, calls;
    uint32_t sink;
    wc_flowset flows;
    pthread_t thread;
} __attribute__((aligned(64))) worker_t;

static unsigned cost_x, batch = 64;
static int track_flows;
static uint64_t count_limit;
static _Atomic uint64_t total_packets;

static void read_stats(worker_t *w) {
    struct tpacket_stats st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    if (getsockopt(w->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) w->tp_drops += st.tp_drops;
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    uint8_t *bufs = malloc((size_t)batch * SNAP);
    struct mmsghdr *msgs = calloc(batch, sizeof *msgs);
    struct iovec *iov = calloc(batch, sizeof *iov);
    for (unsigned i = 0; i < batch; i++) {
        iov[i].iov_base = bufs + (size_t)i * SNAP;
        iov[i].iov_len = SNAP;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t last_stats = wc_now_ns();
    while (!wc_stop) {
        int n = recvmmsg(w->fd, msgs, batch, MSG_WAITFORONE, NULL);
        w->calls++;
        if (n <= 0) {
            uint64_t now = wc_now_ns();
            if (now - last_stats > 200000000ull) { read_stats(w); last_stats = now; }
            continue;
        }
        uint64_t ip = 0;
        for (int i = 0; i < n; i++) {
            const uint8_t *p = iov[i].iov_base;
            uint32_t len = msgs[i].msg_len;
            ip += wc_touch(p, len);
            if (cost_x) w->sink += wc_cost(p, len, cost_x);
            if (track_flows) { wc_flowset_add(&w->flows, wc_flow_key(p, len)); wc_seen_check(p, len); }
        }
        w->packets += (uint64_t)n;
        w->ipv4 += ip;
        if (count_limit && atomic_fetch_add(&total_packets, (uint64_t)n) + (uint64_t)n >= count_limit) wc_stop = 1;
    }
    read_stats(w);
    free(bufs); free(msgs); free(iov);
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
    int q = 2, rollover = 0, rcvbuf_mb = 64;
    double duration = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--calibrate") && v) return wc_calibrate((unsigned)atoi(v));
        else if (!strcmp(a, "-i") && v) { ifname = v; i++; }
        else if (!strcmp(a, "-q") && v) { q = atoi(v); i++; }
        else if (!strcmp(a, "--fanout") && v) { fanout = v; i++; }
        else if (!strcmp(a, "--rollover")) rollover = 1;
        else if (!strcmp(a, "--cost") && v) { cost_x = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--batch") && v) { batch = (unsigned)atoi(v); i++; }
        else if (!strcmp(a, "--duration") && v) { duration = atof(v); i++; }
        else if (!strcmp(a, "--count") && v) { count_limit = strtoull(v, NULL, 10); i++; }
        else if (!strcmp(a, "--rcvbuf-mb") && v) { rcvbuf_mb = atoi(v); i++; }
        else if (!strcmp(a, "--flows")) { track_flows = 1; wc_seen_init(); }
        else { fprintf(stderr, "recvmmsg: bad argument %s\n", a); return 2; }
    }
    int mode = fanout_mode(fanout);
    if (!ifname || q < 1 || q > 64 || mode < 0 || batch < 1 || batch > 1024) {
        fprintf(stderr, "usage: recvmmsg -i IF [-q Q] [--fanout MODE] [--rollover] [--cost X] [--batch B] "
                        "[--duration S] [--count N] [--rcvbuf-mb MB] [--flows]\n");
        return 2;
    }
    unsigned ifindex = if_nametoindex(ifname);
    if (!ifindex) { fprintf(stderr, "recvmmsg: unknown interface %s\n", ifname); return 1; }
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
        int rcv = rcvbuf_mb << 20;
        if (setsockopt(k->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv))
            setsockopt(k->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
        struct timeval tv = { 0, 100000 };   /* wake to see a stop request */
        setsockopt(k->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
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
        read_stats(k);
        k->tp_drops = 0;
    }
    double u0, s0;
    wc_cpu(&u0, &s0);
    for (int w = 0; w < q; w++) wc_thread_start(&ws[w].thread, worker_main, &ws[w], ncpu > 0 ? w % ncpu : -1);
    uint64_t t0 = wc_now_ns();
    wc_run_until_stopped(t0, duration);
    for (int w = 0; w < q; w++) pthread_join(ws[w].thread, NULL);
    double elapsed = (double)(wc_now_ns() - t0) / 1e9;
    double u1, s1;
    wc_cpu(&u1, &s1);
    uint64_t pk = 0, ip = 0, dr = 0, calls = 0, ftot = 0, fsplit = 0, fovf = 0;
    uint32_t sink = 0;
    for (int w = 0; w < q; w++) { pk += ws[w].packets; ip += ws[w].ipv4; dr += ws[w].tp_drops; calls += ws[w].calls; sink ^= ws[w].sink; fovf += ws[w].flows.overflow; }
    if (track_flows) {
        wc_flowset *sets = calloc((size_t)q, sizeof *sets);
        for (int w = 0; w < q; w++) sets[w] = ws[w].flows;
        wc_flows_merge(sets, q, &ftot, &fsplit);
    }
    printf("{\"engine\":\"recvmmsg\",\"fanout\":\"%s\",\"rollover\":%s,\"queues\":%d,\"consumer_cost\":%u,"
           "\"packets\":%llu,\"ipv4\":%llu,\"per_worker\":[",
           fanout, rollover ? "true" : "false", q, cost_x, (unsigned long long)pk, (unsigned long long)ip);
    for (int w = 0; w < q; w++) printf("%s%llu", w ? "," : "", (unsigned long long)ws[w].packets);
    printf("],\"drops\":{\"tp_drops\":%llu},\"drops_total\":%llu,\"cpu_user\":%.3f,\"cpu_sys\":%.3f,"
           "\"cpu_user_total\":%.3f,\"cpu_sys_total\":%.3f,\"elapsed\":%.3f,\"calls\":%llu,\"rcvbuf_bytes\":%d,",
           (unsigned long long)dr, (unsigned long long)dr, u1 - u0, s1 - s0, u1, s1, elapsed,
           (unsigned long long)calls, rcvbuf_mb << 20);
    if (track_flows) wc_print_flows(ftot, fsplit, fovf);
    printf("\"sink\":%u}\n", sink);
    fflush(stdout);
    for (int w = 0; w < q; w++) close(ws[w].fd);
    return 0;
}
