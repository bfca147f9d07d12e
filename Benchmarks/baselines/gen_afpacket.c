/*
 * gen_afpacket: fallback traffic generator for the e2e harness (used when
 * `wirecap generate` is missing or fails). Run inside the testbed namespace on
 * the generator-side veth.
 *
 * One sender thread per queue with a non-zero share, pinned to CPU q. Each
 * sends on an AF_PACKET socket with PACKET_QDISC_BYPASS using sendmmsg
 * batches; with bypass and no XPS map the kernel picks tx queue
 * (sending CPU % tx queues), and veth delivers tx queue q to the peer's rx
 * queue q, so thread q feeds capture queue q. (Needs as many CPUs as queues;
 * the per-queue counts printed are what each thread handed to the device.)
 *
 * Packets: the WireCap test-packet layout (UDP/IPv4, magic "WCAP", gen queue,
 * flow, per-queue sequence, FNV-1a checksum), --flows K flows per queue.
 * Rate: --rate PPS total (split by --share) or "max". At max rate with an
 * uneven share the largest-share thread runs flat out and the others pace
 * themselves to its progress, so the share holds over time.
 *
 *   gen_afpacket -i IF --count N [--rate PPS|max] [--share a,b,...] [--flows K]
 *                [--size BYTES] [--queues Q]
 * Prints one JSON line: per-queue sent, total, elapsed, achieved rate.
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
#include <unistd.h>

#define GBATCH 64
#define MAXQ 16

typedef struct {
    int queue, fd;
    double share;
    uint64_t target, sent, failed;
    double rate;            /* pps, 0 = max */
    uint64_t t_start, t_end;
    pthread_t thread;
} __attribute__((aligned(64))) sender_t;

static int size = 64, flows = 64, nq = 2, leader = 0;
static unsigned ifindex;
static sender_t snd[MAXQ];
static _Atomic uint64_t progress[MAXQ];

static void header(uint8_t *h, int flow) {
    memset(h, 0, 42);
    static const uint8_t dst[6] = { 2, 0, 0, 0, 0, 2 }, src[6] = { 2, 0, 0, 0, 0, 1 };
    memcpy(h, dst, 6); memcpy(h + 6, src, 6);
    h[12] = 0x08; h[13] = 0x00;
    int iplen = size - 14;
    h[14] = 0x45; h[16] = (uint8_t)(iplen >> 8); h[17] = (uint8_t)iplen;
    h[20] = 0x40; h[22] = 64; h[23] = 17;
    h[26] = 10; h[27] = 0; h[28] = (uint8_t)(flow >> 8); h[29] = (uint8_t)((flow & 0xff) + 1);
    h[30] = 10; h[31] = 1; h[32] = 0; h[33] = 1;
    uint32_t sum = 0;
    for (int i = 14; i < 34; i += 2) sum += (uint32_t)h[i] << 8 | h[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    h[24] = (uint8_t)(c >> 8); h[25] = (uint8_t)c;
    int sport = 10000 + flow % 50000;
    h[34] = (uint8_t)(sport >> 8); h[35] = (uint8_t)sport; h[37] = 9;
    int udplen = size - 34;
    h[38] = (uint8_t)(udplen >> 8); h[39] = (uint8_t)udplen;
}

static void fill(uint8_t *f, const uint8_t *hdr, uint16_t queue, uint16_t flow, uint64_t seq) {
    memcpy(f, hdr, 42);
    f[42] = 'W'; f[43] = 'C'; f[44] = 'A'; f[45] = 'P';
    memcpy(f + 46, &queue, 2); memcpy(f + 48, &flow, 2); memcpy(f + 50, &seq, 8);
    uint8_t seed = (uint8_t)seq;
    for (int i = 62; i < size; i++) f[i] = (uint8_t)(seed + (uint8_t)i);
    uint32_t h = 0x811C9DC5u;
    for (int i = 0; i < size; i++) { if (i == 58) { i = 61; continue; } h = (h ^ f[i]) * 0x01000193u; }
    memcpy(f + 58, &h, 4);
}

static void *sender_main(void *arg) {
    sender_t *s = arg;
    uint8_t *hdrs = malloc((size_t)flows * 42);
    for (int f = 0; f < flows; f++) header(hdrs + f * 42, s->queue * flows + f);
    uint8_t *bufs = malloc((size_t)GBATCH * (size_t)size);
    struct mmsghdr msgs[GBATCH];
    struct iovec iov[GBATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < GBATCH; i++) {
        iov[i].iov_base = bufs + (size_t)i * (size_t)size;
        iov[i].iov_len = (size_t)size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t seq = 0;
    int pending = 0, off = 0;   /* built but not yet accepted */
    s->t_start = wc_now_ns();
    while (s->sent < s->target && !wc_stop) {
        if (!pending) {
            uint64_t want = s->target - s->sent;
            int b = want < GBATCH ? (int)want : GBATCH;
            if (s->rate > 0) {
                /* Pace: the batch is due when the sent count says so. */
                uint64_t due = s->t_start + (uint64_t)((double)s->sent * 1e9 / s->rate);
                uint64_t now = wc_now_ns();
                if (due > now + 20000) { wc_sleep_ns(due - now); continue; }
                uint64_t per = (uint64_t)(s->rate / 5000.0) + 1;  /* ~200 us of traffic */
                if ((uint64_t)b > per) b = (int)per;
            } else if (s->queue != leader && snd[leader].target > 0) {
                /* Follow the leader's progress so the share holds at max rate. */
                double allowed = (double)atomic_load(&progress[leader]) * s->share / snd[leader].share + GBATCH;
                int leader_done = atomic_load(&progress[leader]) >= snd[leader].target;
                if (!leader_done && (double)s->sent + b > allowed) { wc_sleep_ns(50000); continue; }
            }
            for (int i = 0; i < b; i++) {
                uint16_t flow = (uint16_t)(s->queue * flows + (int)(seq % (uint64_t)flows));
                fill(bufs + (size_t)i * (size_t)size, hdrs + (seq % (uint64_t)flows) * 42, (uint16_t)s->queue, flow, seq);
                seq++;
            }
            pending = b;
            off = 0;
        }
        int n = sendmmsg(s->fd, msgs + off, (unsigned)pending, 0);
        if (n < 0) {
            s->failed++;
            if (errno == ENOBUFS || errno == EAGAIN || errno == EBUSY) { wc_sleep_ns(20000); continue; }
            if (errno == EINTR) continue;
            perror("sendmmsg");
            break;
        }
        s->sent += (uint64_t)n;
        pending -= n;
        off += n;
        atomic_store(&progress[s->queue], s->sent);
    }
    s->t_end = wc_now_ns();
    free(bufs); free(hdrs);
    return NULL;
}

int main(int argc, char **argv) {
    const char *ifname = NULL, *share = NULL;
    uint64_t count = 0;
    double rate = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-i") && v) { ifname = v; i++; }
        else if (!strcmp(a, "--count") && v) { count = strtoull(v, NULL, 10); i++; }
        else if (!strcmp(a, "--rate") && v) { rate = strcmp(v, "max") ? atof(v) : 0; i++; }
        else if (!strcmp(a, "--share") && v) { share = v; i++; }
        else if (!strcmp(a, "--flows") && v) { flows = atoi(v); i++; }
        else if (!strcmp(a, "--size") && v) { size = atoi(v); i++; }
        else if (!strcmp(a, "--queues") && v) { nq = atoi(v); i++; }
        else if (!strcmp(a, "--json")) {}
        else { fprintf(stderr, "gen_afpacket: bad argument %s\n", a); return 2; }
    }
    if (!ifname || !count || nq < 1 || nq > MAXQ || size < 64 || size > 1514 || flows < 1 || flows > 4096) {
        fprintf(stderr, "usage: gen_afpacket -i IF --count N [--rate PPS|max] [--share a,b] [--flows K] [--size B] [--queues Q]\n");
        return 2;
    }
    double shares[MAXQ] = { 0 }, total = 0;
    if (share) {
        char *dup = strdup(share), *save = NULL;
        int k = 0;
        for (char *t = strtok_r(dup, ",", &save); t && k < MAXQ; t = strtok_r(NULL, ",", &save)) shares[k++] = atof(t);
        if (k > nq) nq = k;
        free(dup);
    } else {
        for (int k = 0; k < nq; k++) shares[k] = 1;
    }
    for (int k = 0; k < nq; k++) total += shares[k];
    if (total <= 0) { fprintf(stderr, "gen_afpacket: empty share\n"); return 2; }
    ifindex = if_nametoindex(ifname);
    if (!ifindex) { fprintf(stderr, "gen_afpacket: unknown interface %s\n", ifname); return 1; }
    wc_install_signals();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t assigned = 0;
    for (int k = 0; k < nq; k++) {
        snd[k].queue = k;
        snd[k].share = shares[k] / total;
        snd[k].target = k == nq - 1 ? count - assigned : (uint64_t)((double)count * snd[k].share + 0.5);
        if (snd[k].share == 0) snd[k].target = 0;
        if (snd[k].target > count - assigned) snd[k].target = count - assigned;
        assigned += snd[k].target;
        snd[k].rate = rate > 0 ? rate * snd[k].share : 0;
        if (snd[k].share > snd[leader].share) leader = k;
    }
    for (int k = 0; k < nq; k++) {
        if (!snd[k].target) continue;
        int fd = socket(AF_PACKET, SOCK_RAW, 0);
        if (fd < 0) { perror("socket"); return 1; }
        int one = 1;
        setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
        int sndbuf = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
        struct sockaddr_ll ll;
        memset(&ll, 0, sizeof ll);
        ll.sll_family = AF_PACKET;
        ll.sll_protocol = 0;
        ll.sll_ifindex = (int)ifindex;
        if (bind(fd, (struct sockaddr *)&ll, sizeof ll)) { perror("bind"); return 1; }
        snd[k].fd = fd;
    }
    uint64_t t0 = wc_now_ns();
    for (int k = 0; k < nq; k++) {
        if (!snd[k].target) continue;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(k % (ncpu > 0 ? ncpu : 1), &set);
        pthread_attr_setaffinity_np(&attr, sizeof set, &set);
        pthread_create(&snd[k].thread, &attr, sender_main, &snd[k]);
        pthread_attr_destroy(&attr);
    }
    uint64_t sent = 0, t_end = t0;
    for (int k = 0; k < nq; k++) {
        if (!snd[k].target) continue;
        pthread_join(snd[k].thread, NULL);
        sent += snd[k].sent;
        if (snd[k].t_end > t_end) t_end = snd[k].t_end;
    }
    double elapsed = (double)(t_end - t0) / 1e9;
    printf("{\"generator\":\"gen_afpacket\",\"sent\":%llu,\"per_queue\":[", (unsigned long long)sent);
    for (int k = 0; k < nq; k++) printf("%s%llu", k ? "," : "", (unsigned long long)snd[k].sent);
    printf("],\"per_queue_elapsed\":[");
    for (int k = 0; k < nq; k++)
        printf("%s%.6f", k ? "," : "", snd[k].target ? (double)(snd[k].t_end - snd[k].t_start) / 1e9 : 0.0);
    printf("],\"send_retries\":%llu,\"elapsed\":%.6f,\"rate_pps\":%.0f,\"size\":%d,\"flows_per_queue\":%d}\n",
           (unsigned long long)(snd[0].failed + snd[1].failed), elapsed, elapsed > 0 ? (double)sent / elapsed : 0,
           size, flows);
    return 0;
}
