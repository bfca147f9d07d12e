/* The synthetic per-packet cost X of the baseline consumers: X runs of the
 * classic BPF filter "udp and dst port 9" through libpcap's bpf_filter()
 * (see common.h). Separate file: pcap's struct bpf_insn clashes with linux/bpf.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pcap/pcap.h>

static struct bpf_program wc_filter;

void wc_cost_init(void) {
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    if (!dead || pcap_compile(dead, &wc_filter, "udp and dst port 9", 1, PCAP_NETMASK_UNKNOWN)) {
        fprintf(stderr, "pcap_compile(\"udp and dst port 9\") failed\n");
        exit(1);
    }
    pcap_close(dead);
}

uint32_t wc_cost(const uint8_t *p, uint32_t len, unsigned x) {
    uint32_t matched = 0;
    for (unsigned r = 0; r < x; r++) matched += bpf_filter(wc_filter.bf_insns, p, len, len) != 0;
    return matched;
}
