#if canImport(Glibc)
import Glibc
#endif
import CXDP
import WireCapCore

// Every syscall the engine makes, wrapped once. Two helpers read errno:
// `syscall(_:_:)` (retries EINTR, throws everything else) and
// `syscallWouldBlock(_:_:)` (also returns nil for EAGAIN/EWOULDBLOCK/EBUSY/ENOBUFS,
// the "try again later" answers of a non-blocking AF_XDP socket).
// The libxdp/libbpf conventions are converted in `Library.swift`.

/// Runs `body` until it does not fail with EINTR; a -1 result throws the errno.
@inline(never)
@discardableResult
package func syscall<T: FixedWidthInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(XDPError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let e = errno
        if e == EINTR { continue }
        precondition(e != EBADF && e != EFAULT, "\(operation()): \(String(cString: strerror(e))) — a WireCap bug")
        throw XDPError(operation(), errno: e)
    }
}

/// Like ``syscall(_:_:)`` but treats "try again" errnos as `nil` (would block).
@inline(never)
package func syscallWouldBlock<T: FixedWidthInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws(XDPError) -> T? {
    while true {
        let result = body()
        if result != -1 { return result }
        let e = errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK || e == EBUSY || e == ENOBUFS { return nil }
        precondition(e != EBADF && e != EFAULT, "\(operation()): \(String(cString: strerror(e))) — a WireCap bug")
        throw XDPError(operation(), errno: e)
    }
}

/// Thin wrappers over the syscalls the engine uses.
package enum Sys {
    /// Raises RLIMIT_MEMLOCK to infinity (libbpf 1.1 checks it before creating maps;
    /// the UMEM is pinned memory, charged to it without CAP_IPC_LOCK). Without
    /// CAP_SYS_RESOURCE (containers) only the soft limit can rise, to the hard one;
    /// that is not an error: kernels ≥ 5.11 charge BPF memory to the memcg, and
    /// CAP_IPC_LOCK exempts the UMEM. The corresponding C call is `setrlimit(RLIMIT_MEMLOCK, …)`.
    package static func raiseMemlockLimit() {
        let resource = __rlimit_resource_t(UInt32(WIRECAP_RLIMIT_MEMLOCK))
        var limit = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)  // RLIM_INFINITY
        if (try? syscall("setrlimit(RLIMIT_MEMLOCK, infinity)") { setrlimit(resource, &limit) }) != nil { return }
        var current = rlimit()
        guard getrlimit(resource, &current) == 0 else { return }
        current.rlim_cur = current.rlim_max
        _ = setrlimit(resource, &current)
    }

    /// The effective capability set (`CapEff` of `/proc/self/status`), bit n = capability n.
    package static func effectiveCapabilities() -> UInt64 {
        guard let status = readFile("/proc/self/status") else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst(7).trimmingPrefix(while: { $0 == " " || $0 == "\t" }), radix: 16) ?? 0
        }
        return 0
    }

    /// The soft RLIMIT_MEMLOCK in bytes, nil when unlimited or unreadable.
    package static func memlockLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(UInt32(WIRECAP_RLIMIT_MEMLOCK)), &limit) == 0, limit.rlim_cur != rlim_t.max else {
            return nil
        }
        return UInt64(limit.rlim_cur)
    }

    /// Anonymous shared memory for a UMEM; `MAP_HUGETLB` first when asked.
    /// - Returns: the mapping and whether huge pages were used.
    package static func mapAnonymous(bytes: Int, hugePages: Bool) throws(XDPError) -> (UnsafeMutableRawPointer, Bool) {
        let prot = PROT_READ | PROT_WRITE
        // No MAP_POPULATE: the NUMA policy must be set before the first touch
        // (xsk_umem__create pins, and so faults in, every page afterwards).
        let flags = MAP_PRIVATE | MAP_ANONYMOUS
        if hugePages {
            if let p = mmap(nil, bytes, prot, flags | MAP_HUGETLB, -1, 0), p != MAP_FAILED {
                return (p, true)
            }
        }
        guard let p = mmap(nil, bytes, prot, flags, -1, 0), p != MAP_FAILED else {
            throw XDPError("mmap(\(bytes) bytes)", errno: errno)
        }
        return (p, false)
    }

    package static func unmap(_ p: UnsafeMutableRawPointer, bytes: Int) {
        _ = munmap(p, bytes)
    }

    package static func close(_ fd: Int32) {
        // Never retry close on EINTR (Linux frees the descriptor anyway).
        _ = Glibc.close(fd)
    }

    package static func open(_ path: String, flags: Int32) throws(XDPError) -> Int32 {
        try syscall("open(\(path))") { Glibc.open(path, flags) }
    }

    /// A non-blocking, close-on-exec eventfd (a wake-up a thread can `poll()` beside its sockets).
    package static func eventFD() throws(XDPError) -> Int32 {
        try syscall("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
    }

    /// Empties an eventfd's counter (a non-blocking read), so it is no longer readable.
    package static func reset(eventFD fd: Int32) {
        var value: UInt64 = 0
        _ = Glibc.read(fd, &value, 8)
    }

    /// Adds one to an eventfd's counter (makes it readable: wakes its pollers).
    package static func signal(eventFD fd: Int32) {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    /// `poll(2)` on `fds` for at most `timeoutMilliseconds`. - Returns: ready descriptors.
    @discardableResult
    package static func poll(_ fds: UnsafeMutablePointer<pollfd>, count: Int, timeoutMilliseconds: Int32) throws(XDPError) -> Int32 {
        let r = Glibc.poll(fds, nfds_t(count), timeoutMilliseconds)
        if r == -1 {
            let e = errno
            if e == EINTR { return 0 }
            throw XDPError("poll", errno: e)
        }
        return r
    }

    /// Moves the calling thread into the network namespace at `path`
    /// (`/var/run/netns/NAME`). Affects only the calling thread.
    package static func enterNetworkNamespace(_ path: String) throws(XDPError) {
        let fd: Int32
        do { fd = try open(path, flags: O_RDONLY | O_CLOEXEC) } catch {
            throw XDPError.usage("open(\(path))", "network namespace \(path) not found: \(error.errnoDescription)")
        }
        defer { close(fd) }
        try syscall("setns(\(path), CLONE_NEWNET)") { setns(fd, WIRECAP_CLONE_NEWNET) }
    }

    /// Mounts bpffs at /sys/fs/bpf if nothing of type bpf is mounted there.
    package static func mountBPFFSIfMissing() {
        var fs = statfs()
        let bpfMagic: Int = 0xCAFE_4A11
        if statfs("/sys/fs/bpf", &fs) == 0, Int(fs.f_type) == bpfMagic { return }
        _ = mount("bpf", "/sys/fs/bpf", "bpf", 0, nil)
    }

    /// Pins `thread` to `cpus` (empty: no change).
    package static func setAffinity(_ thread: pthread_t, cpus: [Int]) throws(XDPError) {
        guard !cpus.isEmpty else { return }
        var set = cpu_set_t()
        let wordBits = 8 * MemoryLayout<UInt>.size
        withUnsafeMutableBytes(of: &set) { raw in
            let words = raw.bindMemory(to: UInt.self)
            for cpu in cpus where cpu >= 0 && cpu < words.count * wordBits {
                words[cpu / wordBits] |= 1 << UInt(cpu % wordBits)
            }
        }
        let r = pthread_setaffinity_np(thread, MemoryLayout<cpu_set_t>.size, &set)
        if r != 0 { throw XDPError("pthread_setaffinity_np(cpus \(cpus))", errno: r) }
    }

    /// Sets the calling thread's nice value (`setpriority(PRIO_PROCESS, gettid(), nice)`).
    package static func setThreadNice(_ nice: Int32) throws(XDPError) {
        try syscall("setpriority(thread, nice \(nice))") {
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(gettid()), nice)
        }
    }

    /// CLOCK_REALTIME in nanoseconds (packet timestamps and partial-chunk deadlines).
    @inline(__always)
    package static func realtimeNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// CLOCK_MONOTONIC in nanoseconds (rates, timeouts).
    @inline(__always)
    package static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Sleeps `nanoseconds` (an interrupted sleep just returns early).
    package static func sleep(nanoseconds: UInt64) {
        var ts = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        _ = nanosleep(&ts, nil)
    }

    /// Writes `text` to standard error (fd 2) unbuffered; notes and warnings only.
    package static func printError(_ text: String) {
        var t = text
        t.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }

    /// `true` when the effective user is root.
    package static var isRoot: Bool { geteuid() == 0 }

    /// The interface index of `name`, or a usage error naming it.
    package static func interfaceIndex(_ name: String) throws(XDPError) -> UInt32 {
        let index = if_nametoindex(name)
        guard index != 0 else {
            throw XDPError.usage("if_nametoindex(\(name))", "unknown interface \(name)")
        }
        return index
    }

    /// Reads a small sysfs/proc file, trimmed.
    package static func readSmallFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 256)
        guard fgets(&buffer, 256, f) != nil else { return nil }
        let s = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return s.trimmingCharacters(in: " \n\t")
    }

    /// Reads a whole (small) text file, or nil.
    package static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Names in a directory (for /sys/class/net/IF/queues).
    package static func directoryEntries(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

extension String {
    package func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
