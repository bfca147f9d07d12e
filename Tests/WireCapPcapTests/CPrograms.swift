import Foundation
import Testing

/// The small C programs of the tests, compiled against the system's libpcap
/// headers with the machine's C compiler, into a test directory.
enum CPrograms {
    /// `cc` (gcc from the bootstrap, else the Swift toolchain's clang).
    static var compiler: String? {
        ["/usr/bin/cc", "/usr/bin/gcc", "/opt/swift/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Compiles `source` to `directory/name`. - Returns: the executable's path.
    static func build(_ name: String, _ source: String, in directory: String) throws -> String {
        let cc = try #require(compiler, "needs a C compiler (scripts/bootstrap installs gcc)")
        let src = "\(directory)/\(name).c", bin = "\(directory)/\(name)"
        try source.write(toFile: src, atomically: true, encoding: .utf8)
        let out = try Shim.run([cc, "-O2", "-Wall", "-o", bin, src, "-lpcap", "-lpthread"])
        try #require(out.status == 0, "\(cc) failed: \(out.stderr)")
        return bin
    }

    /// `nonblock IF N`: pcap_create/activate, non-blocking mode, poll() on the
    /// selectable fd, pcap_next_ex until it returns 0, until N packets; then prints
    /// the count, the polls that found the fd readable, the reads that returned 0,
    /// and pcap_stats.
    static let nonBlocking = #"""
    #include <pcap/pcap.h>
    #include <poll.h>
    #include <stdio.h>
    #include <stdlib.h>
    int main(int argc, char **argv) {
        char err[PCAP_ERRBUF_SIZE];
        if (argc != 3) { fprintf(stderr, "usage: nonblock IF N\n"); return 2; }
        long want = atol(argv[2]);
        pcap_t *p = pcap_create(argv[1], err);
        if (!p) { fprintf(stderr, "pcap_create: %s\n", err); return 1; }
        pcap_set_snaplen(p, 2048);
        pcap_set_timeout(p, 100);
        if (pcap_activate(p) < 0) { fprintf(stderr, "pcap_activate: %s\n", pcap_geterr(p)); return 1; }
        if (pcap_setnonblock(p, 1, err) < 0) { fprintf(stderr, "pcap_setnonblock: %s\n", err); return 1; }
        if (pcap_getnonblock(p, err) != 1) { fprintf(stderr, "pcap_getnonblock is not 1\n"); return 1; }
        int fd = pcap_get_selectable_fd(p);
        if (fd < 0) { fprintf(stderr, "no selectable fd\n"); return 1; }
        printf("ready fd %d\n", fd); fflush(stdout);
        long got = 0, readable = 0, empty = 0;
        while (got < want) {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            int r = poll(&pfd, 1, 5000);
            if (r < 0) { perror("poll"); return 1; }
            if (r == 0) continue;
            readable++;
            for (;;) {
                struct pcap_pkthdr *h; const u_char *d;
                int n = pcap_next_ex(p, &h, &d);
                if (n == 0) { empty++; break; }
                if (n < 0) { fprintf(stderr, "pcap_next_ex: %s\n", pcap_geterr(p)); return 1; }
                if (h->caplen == 0 || h->caplen > h->len || d == NULL) { fprintf(stderr, "bad header\n"); return 1; }
                got++;
            }
        }
        struct pcap_stat st;
        if (pcap_stats(p, &st) < 0) { fprintf(stderr, "pcap_stats: %s\n", pcap_geterr(p)); return 1; }
        printf("packets %ld readable %ld empty %ld recv %u drop %u ifdrop %u\n", got, readable, empty, st.ps_recv, st.ps_drop, st.ps_ifdrop);
        pcap_close(p);
        return 0;
    }
    """#

    /// `breakloop IF N`: pcap_open_live with no timeout (a read blocks until a
    /// packet comes), pcap_loop(-1) on the main thread; when the callback has seen
    /// N packets it signals a second thread, which calls pcap_breakloop while the
    /// loop waits for more. Prints pcap_loop's result and the count.
    static let breakLoop = #"""
    #include <pcap/pcap.h>
    #include <pthread.h>
    #include <stdio.h>
    #include <stdlib.h>
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t reached = PTHREAD_COND_INITIALIZER;
    static long want, got;
    static pcap_t *p;
    static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *d) {
        (void)user; (void)h; (void)d;
        pthread_mutex_lock(&lock);
        if (++got == want) pthread_cond_signal(&reached);
        pthread_mutex_unlock(&lock);
    }
    static void *breaker(void *arg) {
        (void)arg;
        pthread_mutex_lock(&lock);
        while (got < want) pthread_cond_wait(&reached, &lock);
        pthread_mutex_unlock(&lock);
        pcap_breakloop(p);
        return NULL;
    }
    int main(int argc, char **argv) {
        char err[PCAP_ERRBUF_SIZE];
        if (argc != 3) { fprintf(stderr, "usage: breakloop IF N\n"); return 2; }
        want = atol(argv[2]);
        p = pcap_open_live(argv[1], 262144, 1, 0, err);
        if (!p) { fprintf(stderr, "pcap_open_live: %s\n", err); return 1; }
        printf("ready datalink %d snapshot %d\n", pcap_datalink(p), pcap_snapshot(p)); fflush(stdout);
        pthread_t t;
        pthread_create(&t, NULL, breaker, NULL);
        int r = pcap_loop(p, -1, on_packet, NULL);
        pthread_join(t, NULL);
        pthread_mutex_lock(&lock);
        printf("loop returned %d after %ld packets\n", r, got);
        pthread_mutex_unlock(&lock);
        pcap_close(p);
        return 0;
    }
    """#

    /// `open IF`: create, activate, print the link type, close (for the fallbacks).
    static let open = #"""
    #include <pcap/pcap.h>
    #include <stdio.h>
    int main(int argc, char **argv) {
        char err[PCAP_ERRBUF_SIZE];
        if (argc != 2) return 2;
        pcap_t *p = pcap_create(argv[1], err);
        if (!p) { fprintf(stderr, "pcap_create: %s\n", err); return 1; }
        if (pcap_activate(p) < 0) { fprintf(stderr, "pcap_activate: %s\n", pcap_geterr(p)); return 1; }
        printf("datalink %d\n", pcap_datalink(p));
        pcap_close(p);
        return 0;
    }
    """#
}
