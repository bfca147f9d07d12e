// Checks the mirrors of CWireCapPcap.h against the system's <pcap/pcap.h>, and
// holds the one call that needs _GNU_SOURCE.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <pcap/pcap.h>
#include "CWireCapPcap.h"

#define SAME_LAYOUT(mine, theirs) \
    _Static_assert(sizeof(struct mine) == sizeof(struct theirs), #mine " differs from " #theirs)
#define SAME_FIELD(mine, theirs, field) \
    _Static_assert(offsetof(struct mine, field) == offsetof(struct theirs, field), #mine "." #field " differs")

SAME_LAYOUT(wc_pcap_pkthdr, pcap_pkthdr);
SAME_FIELD(wc_pcap_pkthdr, pcap_pkthdr, caplen);
SAME_FIELD(wc_pcap_pkthdr, pcap_pkthdr, len);
SAME_LAYOUT(wc_pcap_stat, pcap_stat);
SAME_FIELD(wc_pcap_stat, pcap_stat, ps_drop);
SAME_FIELD(wc_pcap_stat, pcap_stat, ps_ifdrop);
SAME_LAYOUT(wc_bpf_insn, bpf_insn);
SAME_FIELD(wc_bpf_insn, bpf_insn, k);
SAME_LAYOUT(wc_bpf_program, bpf_program);
SAME_FIELD(wc_bpf_program, bpf_program, bf_insns);

_Static_assert(WC_PCAP_ERRBUF_SIZE == PCAP_ERRBUF_SIZE, "PCAP_ERRBUF_SIZE");
_Static_assert(WC_PCAP_ERROR == PCAP_ERROR, "PCAP_ERROR");
_Static_assert(WC_PCAP_ERROR_BREAK == PCAP_ERROR_BREAK, "PCAP_ERROR_BREAK");
_Static_assert(WC_PCAP_ERROR_NOT_ACTIVATED == PCAP_ERROR_NOT_ACTIVATED, "PCAP_ERROR_NOT_ACTIVATED");
_Static_assert(WC_PCAP_ERROR_ACTIVATED == PCAP_ERROR_ACTIVATED, "PCAP_ERROR_ACTIVATED");
_Static_assert(WC_PCAP_ERROR_NO_SUCH_DEVICE == PCAP_ERROR_NO_SUCH_DEVICE, "PCAP_ERROR_NO_SUCH_DEVICE");
_Static_assert(WC_PCAP_ERROR_RFMON_NOTSUP == PCAP_ERROR_RFMON_NOTSUP, "PCAP_ERROR_RFMON_NOTSUP");
_Static_assert(WC_PCAP_ERROR_PERM_DENIED == PCAP_ERROR_PERM_DENIED, "PCAP_ERROR_PERM_DENIED");
_Static_assert(WC_PCAP_ERROR_IFACE_NOT_UP == PCAP_ERROR_IFACE_NOT_UP, "PCAP_ERROR_IFACE_NOT_UP");
_Static_assert(WC_PCAP_WARNING_TSTAMP_TYPE_NOTSUP == PCAP_WARNING_TSTAMP_TYPE_NOTSUP, "PCAP_WARNING_TSTAMP_TYPE_NOTSUP");
_Static_assert(WC_PCAP_ERROR_TSTAMP_PRECISION_NOTSUP == PCAP_ERROR_TSTAMP_PRECISION_NOTSUP, "PCAP_ERROR_TSTAMP_PRECISION_NOTSUP");
_Static_assert(WC_PCAP_TSTAMP_PRECISION_MICRO == PCAP_TSTAMP_PRECISION_MICRO, "PCAP_TSTAMP_PRECISION_MICRO");
_Static_assert(WC_PCAP_TSTAMP_PRECISION_NANO == PCAP_TSTAMP_PRECISION_NANO, "PCAP_TSTAMP_PRECISION_NANO");
_Static_assert(WC_PCAP_TSTAMP_HOST == PCAP_TSTAMP_HOST, "PCAP_TSTAMP_HOST");
_Static_assert(WC_PCAP_D_INOUT == PCAP_D_INOUT && WC_PCAP_D_IN == PCAP_D_IN && WC_PCAP_D_OUT == PCAP_D_OUT, "pcap_direction_t");
_Static_assert(WC_DLT_EN10MB == DLT_EN10MB, "DLT_EN10MB");

void *wc_dlsym_next(const char *name) {
    return dlsym(RTLD_NEXT, name);
}
