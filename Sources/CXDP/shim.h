// The libxdp/libbpf surface WireCap uses. Nothing here is hand-copied:
// every declaration comes from the distribution's headers, so a header
// update cannot silently change a struct layout under us.
#ifndef WIRECAP_CXDP_SHIM_H
#define WIRECAP_CXDP_SHIM_H
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>
#include <xdp/libxdp.h>
#endif
