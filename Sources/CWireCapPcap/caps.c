// Capabilities a capture program gives up before it opens its interface.
//
// dumpcap (and so tshark, which runs it) started as root keeps only
// CAP_NET_RAW and CAP_NET_ADMIN, through libcap's cap_set_proc, before it opens
// any interface. libpcap's TPACKET socket needs no more; WireCap's capture
// needs CAP_BPF for its XSKMAP and XDP program and CAP_IPC_LOCK for its pools
// (or a memlock limit as large as them). So, inside a program started by
// `wirecap exec`, cap_set_proc adds those two to the set the program asks for,
// when the process still has them: the program ends with what it chose plus
// what WireCap needs, never more than it had. Everything else is the program's
// own choice, unchanged.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef void *wc_cap_t;   // libcap's cap_t (opaque)
typedef int (*cap_set_proc_fn)(wc_cap_t);
typedef int (*cap_set_flag_fn)(wc_cap_t, int flag, int count, const int *caps, int value);
enum { WC_CAP_EFFECTIVE = 0, WC_CAP_PERMITTED = 1, WC_CAP_SET = 1 };

int cap_set_proc(wc_cap_t caps) {
    cap_set_proc_fn real = (cap_set_proc_fn)dlsym(RTLD_NEXT, "cap_set_proc");
    cap_set_flag_fn set_flag = (cap_set_flag_fn)dlsym(RTLD_DEFAULT, "cap_set_flag");
    if (real == NULL) return -1;
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    if (caps != NULL && set_flag != NULL && syscall(SYS_capget, &header, data) == 0) {
        const int wanted[] = { CAP_BPF, CAP_IPC_LOCK };
        for (unsigned i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
            int c = wanted[i];
            if (data[c / 32].permitted & (UINT32_C(1) << (c % 32))) {
                set_flag(caps, WC_CAP_PERMITTED, 1, &c, WC_CAP_SET);
                set_flag(caps, WC_CAP_EFFECTIVE, 1, &c, WC_CAP_SET);
            }
        }
    }
    return real(caps);
}
