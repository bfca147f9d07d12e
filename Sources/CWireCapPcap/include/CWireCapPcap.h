// libpcap's ABI as the WireCap libpcap library (Sources/WireCapPcap) sees it.
//
// Why a C module: the library's Swift module imports WireCap, which loads
// <linux/bpf.h> (libbpf, through CXDP); <pcap/pcap.h> defines another
// `struct bpf_insn`, and the two cannot meet in one Clang module context (the
// reason WireCapFilter exists). So the few structures the library exchanges
// with programs are mirrored here under wc_ names, and abi.c checks each
// against the real <pcap/pcap.h> with _Static_assert: a libpcap whose layout
// differs fails the build. Removal condition: Swift modules that can keep two
// such C modules apart (or libbpf and libpcap agreeing on bpf_insn).
#ifndef WIRECAP_CWIRECAPPCAP_H
#define WIRECAP_CWIRECAPPCAP_H

#include <stdint.h>
#include <sys/time.h>

/// struct pcap_pkthdr: a packet's time stamp (µs or ns in tv_usec, by the
/// handle's precision), captured and wire lengths.
struct wc_pcap_pkthdr {
    struct timeval ts;
    uint32_t caplen;
    uint32_t len;
};

/// struct pcap_stat (Linux: three counters).
struct wc_pcap_stat {
    unsigned int ps_recv;
    unsigned int ps_drop;
    unsigned int ps_ifdrop;
};

/// struct bpf_insn (classic BPF), as pcap_compile writes it.
struct wc_bpf_insn {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
};

/// struct bpf_program: what pcap_compile fills and pcap_setfilter takes.
struct wc_bpf_program {
    unsigned int bf_len;
    struct wc_bpf_insn *bf_insns;
};

/// pcap_handler.
typedef void (*wc_pcap_handler)(unsigned char *user, const struct wc_pcap_pkthdr *header,
                                const unsigned char *bytes);

/// dlsym(RTLD_NEXT, name): the next definition of `name` after this library in
/// the dynamic linker's search order, i.e. the system libpcap's (RTLD_NEXT needs
/// _GNU_SOURCE, which abi.c defines). NULL when there is none.
void *wc_dlsym_next(const char *name);

/// libpcap's constants the library answers with (checked in abi.c; macros, so
/// Swift imports them as Int32).
#define WC_PCAP_ERRBUF_SIZE 256
#define WC_PCAP_ERROR (-1)
#define WC_PCAP_ERROR_BREAK (-2)
#define WC_PCAP_ERROR_NOT_ACTIVATED (-3)
#define WC_PCAP_ERROR_ACTIVATED (-4)
#define WC_PCAP_ERROR_NO_SUCH_DEVICE (-5)
#define WC_PCAP_ERROR_RFMON_NOTSUP (-6)
#define WC_PCAP_ERROR_PERM_DENIED (-8)
#define WC_PCAP_ERROR_IFACE_NOT_UP (-9)
#define WC_PCAP_WARNING_TSTAMP_TYPE_NOTSUP 3
#define WC_PCAP_ERROR_TSTAMP_PRECISION_NOTSUP (-12)
#define WC_PCAP_TSTAMP_PRECISION_MICRO 0
#define WC_PCAP_TSTAMP_PRECISION_NANO 1
#define WC_PCAP_TSTAMP_HOST 0
#define WC_PCAP_D_INOUT 0
#define WC_PCAP_D_IN 1
#define WC_PCAP_D_OUT 2
#define WC_DLT_EN10MB 1


// ---- Handles (handle.c) ----------------------------------------------------
//
// A `pcap_t *` the library hands out points at a wc_handle: the words a signal
// handler may touch (pcap_breakloop's flag and the eventfd it writes) and the
// Swift object. In C because pcap_breakloop runs in signal handlers (tcpdump's
// SIGINT): there it must only set a flag and write an eventfd, with no Swift
// runtime call (retain, lazy global) in between. Every handle is registered in a
// fixed table so any pcap_t can be told WireCap's or the system libpcap's
// without reading its memory.

/// One WireCap pcap handle (opaque).
struct wc_handle;

/// A handle for `object` whose breakloop writes `event_fd`; NULL when the table
/// (256 handles) is full.
struct wc_handle *wc_handle_register(void *object, int event_fd);
/// Removes `h` from the table and frees it.
void wc_handle_unregister(struct wc_handle *h);
/// `p` as a WireCap handle, or NULL when it is none of ours (lock-free).
struct wc_handle *wc_handle_lookup(const void *p);
/// The object given to wc_handle_register.
void *wc_handle_object(const struct wc_handle *h);
/// Whether pcap_breakloop was called and not yet taken (an acquire load).
int wc_handle_break_requested(const struct wc_handle *h);
/// Takes a break request: returns 1 and clears it, or 0.
int wc_handle_take_break(struct wc_handle *h);
/// pcap_breakloop on `h`: the flag, then one eventfd write (async-signal-safe).
void wc_handle_break(struct wc_handle *h);

#endif
