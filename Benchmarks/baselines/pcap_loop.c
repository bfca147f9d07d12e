/*
 * pcap_loop: minimal libpcap consumer (one handle, one thread).
 *
 * pcap_create + snaplen 262144 + buffer --buffer-mb MiB + timeout --timeout ms,
 * immediate mode off (libpcap 1.10 then uses TPACKET_V3 blocks), pcap_loop
 * until a signal, --duration or --count. Every packet: bytes 12-13, count
 * IPv4, synthetic cost X (common.h), optional flow tracking (one worker).
 *
 * libpcap has no fanout: -q is accepted for a uniform command line but only
 * 1 is supported (the harness runs it with one handle).
 *
 *   pcap_loop -i IF [-q 1] [--cost X] [--duration S] [--count N]
 *             [--buffer-mb MB] [--timeout MS] [--flows] | --calibrate X
 */
#include "common.h"
#include <pcap/pcap.h>
#include <unistd.h>

static pcap_t *handle;
static unsigned cost_x;
static uint64_t packets, ipv4, count_limit;
static uint32_t sink;
static int track_flows;
static wc_flowset flows;

static void on_stop(int sig) { (void)sig; wc_stop = 1; if (handle) pcap_breakloop(handle); }

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *p) {
    (void)user;
    ipv4 += wc_touch(p, h->caplen);
    if (cost_x) sink += wc_cost(p, h->caplen, cost_x);
    if (track_flows) { wc_flowset_add(&flows, wc_flow_key(p, h->caplen)); wc_seen_check(p, h->caplen); }
    packets++;
    if (count_limit && packets >= count_limit) pcap_breakloop(handle);
}

int main(int argc, char **argv) {
    const char *ifname = NULL;
    int q = 1, buffer_mb = 20, timeout = 1;
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
        else if (!strcmp(a, "--buffer-mb") && v) { buffer_mb = atoi(v); i++; }
        else if (!strcmp(a, "--timeout") && v) { timeout = atoi(v); i++; }
        else if (!strcmp(a, "--flows")) { track_flows = 1; wc_seen_init(); wc_flowset_init(&flows); }
        else { fprintf(stderr, "pcap_loop: bad argument %s\n", a); return 2; }
    }
    if (!ifname || q != 1) {
        fprintf(stderr, "usage: pcap_loop -i IF [-q 1] [--cost X] [--duration S] [--count N] [--buffer-mb MB] [--timeout MS] [--flows]\n");
        return 2;
    }
    wc_cost_init();
    char err[PCAP_ERRBUF_SIZE];
    handle = pcap_create(ifname, err);
    if (!handle) { fprintf(stderr, "pcap_create: %s\n", err); return 1; }
    pcap_set_snaplen(handle, 262144);
    pcap_set_promisc(handle, 1);
    pcap_set_immediate_mode(handle, 0);
    pcap_set_buffer_size(handle, buffer_mb << 20);
    pcap_set_timeout(handle, timeout);
    int rc = pcap_activate(handle);
    if (rc < 0) { fprintf(stderr, "pcap_activate: %s\n", pcap_geterr(handle)); return 1; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    struct pcap_stat st0;
    memset(&st0, 0, sizeof st0);
    pcap_stats(handle, &st0);
    double u0, s0;
    wc_cpu(&u0, &s0);
    fprintf(stderr, "READY\n");
    uint64_t t0 = wc_now_ns();
    if (duration > 0) {
        struct itimerval it;
        memset(&it, 0, sizeof it);
        it.it_value.tv_sec = (time_t)duration;
        it.it_value.tv_usec = (suseconds_t)((duration - (double)(time_t)duration) * 1e6);
        setitimer(ITIMER_REAL, &it, NULL);
    }
    while (!wc_stop) {
        rc = pcap_loop(handle, -1, on_packet, NULL);
        if (rc == PCAP_ERROR) { fprintf(stderr, "pcap_loop: %s\n", pcap_geterr(handle)); break; }
        if (rc == PCAP_ERROR_BREAK || (count_limit && packets >= count_limit)) break;
    }
    double elapsed = (double)(wc_now_ns() - t0) / 1e9;
    double u1, s1;
    wc_cpu(&u1, &s1);
    struct pcap_stat st;
    memset(&st, 0, sizeof st);
    pcap_stats(handle, &st);
    unsigned long long drop = st.ps_drop - st0.ps_drop, ifdrop = st.ps_ifdrop - st0.ps_ifdrop;
    printf("{\"engine\":\"pcap_loop\",\"queues\":1,\"consumer_cost\":%u,\"packets\":%llu,\"ipv4\":%llu,"
           "\"per_worker\":[%llu],\"drops\":{\"ps_drop\":%llu,\"ps_ifdrop\":%llu},\"drops_total\":%llu,"
           "\"ps_recv\":%u,\"cpu_user\":%.3f,\"cpu_sys\":%.3f,\"cpu_user_total\":%.3f,\"cpu_sys_total\":%.3f,"
           "\"elapsed\":%.3f,\"buffer_bytes\":%d,\"timeout_ms\":%d,",
           cost_x, (unsigned long long)packets, (unsigned long long)ipv4, (unsigned long long)packets,
           drop, ifdrop, drop + ifdrop, st.ps_recv - st0.ps_recv, u1 - u0, s1 - s0, u1, s1, elapsed,
           buffer_mb << 20, timeout);
    if (track_flows) {
        uint64_t total = 0, split = 0;
        wc_flows_merge(&flows, 1, &total, &split);
        wc_print_flows(total, split, flows.overflow);
    }
    printf("\"sink\":%u}\n", sink);
    fflush(stdout);
    pcap_close(handle);
    return 0;
}
