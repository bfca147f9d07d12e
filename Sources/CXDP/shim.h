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

// ---- Linux calls the Swift Glibc module does not expose (added by the engine) ----
// glibc declares these only under _GNU_SOURCE, and Swift's Glibc module is built
// without it, so the prototypes below repeat glibc's (man 2 setns, man 3
// sched_getcpu, pthread_setaffinity_np, pthread_setname_np, gettid). Remove each when the
// Glibc module exposes it.
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/vfs.h>
extern int setns(int fd, int nstype);
extern int sched_getcpu(void);
extern int pthread_setaffinity_np(pthread_t thread, size_t cpusetsize, const cpu_set_t *cpuset);
extern int pthread_setname_np(pthread_t thread, const char *name);
extern pid_t gettid(void);
// CLONE_NEWNET is a _GNU_SOURCE macro of <sched.h>; value from <linux/sched.h>.
static const int WIRECAP_CLONE_NEWNET = 0x40000000;
static const int WIRECAP_RLIMIT_MEMLOCK = RLIMIT_MEMLOCK;

// ---- futex: syscall(2) is variadic, which Swift cannot call ----
// Private (process-local) futex wait/wake on a 32-bit word, used by consumers to
// sleep on an empty capture queue. Remove when Swift can call variadic C functions.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static inline long wirecap_futex_wait(unsigned int *word, unsigned int expected, const struct timespec *timeout) {
    return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
}
static inline long wirecap_futex_wake(unsigned int *word, int waiters) {
    return syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, waiters, NULL, NULL, 0);
}
// ---- AF_PACKET TPACKET_V3 (the AF_PACKET backend, Sources/WireCapXDP/AFPacket) ----
// The kernel's UAPI header, not glibc's <netpacket/packet.h> (which lacks the
// TPACKET_V3 ring structs); Swift's Glibc module includes neither, so no clash.
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#endif
