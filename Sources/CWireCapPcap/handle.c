// WireCap pcap handles: the table that tells them from the system libpcap's,
// and pcap_breakloop, which must be async-signal-safe (see CWireCapPcap.h).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include "CWireCapPcap.h"

struct wc_handle {
    uint32_t break_loop;   // 1: pcap_breakloop was called (atomic)
    int event_fd;          // written after the flag, so a poll() returns
    void *object;          // the Swift PcapHandle (retained by the Swift side)
};

enum { WC_SLOTS = 256 };
// Registered handles; NULL slots are free. Stores are release, loads acquire
// (a lookup that finds a pointer sees the handle's initialised fields).
static struct wc_handle *slots[WC_SLOTS];

typedef void (*breakloop_fn)(void *);
// The system libpcap's pcap_breakloop, resolved at load time (dlsym is not
// async-signal-safe, and a breakloop may arrive first in a signal handler).
static breakloop_fn real_breakloop;

__attribute__((constructor)) static void wc_resolve_breakloop(void) {
    real_breakloop = (breakloop_fn)dlsym(RTLD_NEXT, "pcap_breakloop");
}

struct wc_handle *wc_handle_register(void *object, int event_fd) {
    struct wc_handle *h = calloc(1, sizeof *h);
    if (h == NULL) return NULL;
    h->event_fd = event_fd;
    h->object = object;
    for (int i = 0; i < WC_SLOTS; i++) {
        struct wc_handle *expected = NULL;
        if (__atomic_compare_exchange_n(&slots[i], &expected, h, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) return h;
    }
    free(h);
    return NULL;
}

void wc_handle_unregister(struct wc_handle *h) {
    for (int i = 0; i < WC_SLOTS; i++) {
        struct wc_handle *expected = h;
        if (__atomic_compare_exchange_n(&slots[i], &expected, NULL, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) break;
    }
    free(h);
}

struct wc_handle *wc_handle_lookup(const void *p) {
    if (p == NULL) return NULL;
    for (int i = 0; i < WC_SLOTS; i++) {
        if (__atomic_load_n(&slots[i], __ATOMIC_ACQUIRE) == p) return (struct wc_handle *)p;
    }
    return NULL;
}

void *wc_handle_object(const struct wc_handle *h) { return h->object; }

int wc_handle_break_requested(const struct wc_handle *h) {
    // Acquire: pairs with the release store in wc_handle_break.
    return __atomic_load_n(&h->break_loop, __ATOMIC_ACQUIRE) != 0;
}

int wc_handle_take_break(struct wc_handle *h) {
    return __atomic_exchange_n(&h->break_loop, 0, __ATOMIC_ACQ_REL) != 0;
}

void wc_handle_break(struct wc_handle *h) {
    // Release (seq_cst here): the flag is visible before the eventfd wakes a
    // poller, which checks it after its poll returns.
    __atomic_store_n(&h->break_loop, 1, __ATOMIC_SEQ_CST);
    uint64_t one = 1;
    ssize_t r = write(h->event_fd, &one, sizeof one);
    (void)r;
}

// pcap_breakloop for every handle of the process: WireCap's set their flag and
// write their eventfd; any other goes to the system libpcap.
void pcap_breakloop(void *p) {
    struct wc_handle *h = wc_handle_lookup(p);
    if (h != NULL) {
        wc_handle_break(h);
    } else if (real_breakloop != NULL) {
        real_breakloop(p);
    }
}
