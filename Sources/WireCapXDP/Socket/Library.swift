#if canImport(Glibc)
import Glibc
#endif
import CXDP
import CNuma
import WireCapCore
import WireCapSystem
import WireCapEngine

// libxdp and libbpf, wrapped once. Their two error conventions meet here:
// int functions return -errno (libbpf 1.x "strict" mode, libxdp's xsk API),
// creators return NULL and set errno. `libCall` and `libCreate` convert both
// into `XDPError`; nothing else in the module inspects a library's return code.

/// Converts a libxdp/libbpf int result (negative errno on failure) into a thrown error.
@inline(never)
@discardableResult
package func libCall(_ operation: @autoclosure () -> String, _ body: () -> Int32) throws(XDPError) -> Int32 {
    let result = body()
    if result < 0 {
        // -errno by contract; a bare -1 means "see errno" (older libbpf paths).
        let e = result == -1 && errno != 0 ? errno : -result
        throw XDPError(operation(), errno: e)
    }
    return result
}

/// Converts a NULL-returning creator into a thrown error carrying errno.
@inline(never)
package func libCreate<T>(_ operation: @autoclosure () -> String, _ body: () -> T?) throws(XDPError) -> T {
    errno = 0
    guard let value = body() else { throw XDPError(operation(), errno: errno == 0 ? EINVAL : errno) }
    return value
}

/// The libbpf/libxdp calls the engine makes.
package enum XDPLib {
    /// Silences libbpf's and libxdp's own stderr printing (e.g. `libbpf: Kernel
    /// error message: …`), once: every failure reaches the user as one line of
    /// WireCap's, built from the errno the call returned.
    static let silenced: Void = {
        _ = libbpf_set_print(nil)
        _ = libxdp_set_print(nil)
    }()

    // MARK: BPF objects

    /// `bpf_map_create(BPF_MAP_TYPE_XSKMAP, name, 4, 4, entries, NULL)`. - Returns: the map fd.
    package static func createSocketMap(name: String, entries: Int) throws(XDPError) -> Int32 {
        try libCall("bpf_map_create(XSKMAP, \(entries) entries)") {
            bpf_map_create(BPF_MAP_TYPE_XSKMAP, name, 4, 4, UInt32(entries), nil)
        }
    }

    /// `bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, name, 4, 8, entries, NULL)`: one
    /// 64-bit counter per key and CPU (a program increments its CPU's copy without an
    /// atomic and without sharing a cache line with another CPU).
    package static func createPerCPUCounterArray(name: String, entries: Int) throws(XDPError) -> Int32 {
        try libCall("bpf_map_create(PERCPU_ARRAY, \(entries) entries)") {
            bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, name, 4, 8, UInt32(entries), nil)
        }
    }

    /// `bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name, keySize, valueSize, entries, NULL)`:
    /// a hash table the kernel keeps at `entries` by evicting its least recently used
    /// keys. - Returns: the map fd.
    package static func createLRUHashMap(name: String, keySize: Int, valueSize: Int, entries: Int) throws(XDPError) -> Int32 {
        try libCall("bpf_map_create(LRU_HASH, \(entries) entries)") {
            bpf_map_create(BPF_MAP_TYPE_LRU_HASH, name, UInt32(keySize), UInt32(valueSize), UInt32(entries), nil)
        }
    }

    /// `bpf_map_update_elem(map, key, value, flags)` on raw key and value bytes;
    /// `BPF_NOEXIST` on an existing key is `false`, not an error.
    package static func updateElement(_ mapFD: Int32, key: UnsafeRawPointer, value: UnsafeRawPointer,
                                      onlyIfNew: Bool = false) throws(XDPError) -> Bool {
        let rc = bpf_map_update_elem(mapFD, key, value, UInt64(onlyIfNew ? BPF_NOEXIST : BPF_ANY))
        if rc == 0 { return true }
        if onlyIfNew && rc == -EEXIST { return false }
        throw XDPError("bpf_map_update_elem", errno: -rc)
    }

    /// `bpf_map_lookup_elem(map, key, value)`: `false` when the key is missing.
    package static func lookupElement(_ mapFD: Int32, key: UnsafeRawPointer, value: UnsafeMutableRawPointer) -> Bool {
        bpf_map_lookup_elem(mapFD, key, value) == 0
    }

    /// `bpf_map_delete_elem(map, key)` on raw key bytes; a missing key is not an error.
    package static func deleteElement(_ mapFD: Int32, key: UnsafeRawPointer) {
        _ = bpf_map_delete_elem(mapFD, key)
    }

    /// Every key and value of a hash map, read `batch` at a time with
    /// `bpf_map_lookup_batch` (one syscall per batch, each entry seen once even while
    /// the program evicts others). `body` gets each key and value (`keySize`,
    /// `valueSize` bytes), valid only during the call. Stops at the end or at an error.
    package static func forEachEntry(_ mapFD: Int32, keySize: Int, valueSize: Int, batch: Int = 4096,
                                     _ body: (UnsafeRawPointer, UnsafeRawPointer) -> Void) {
        let keys = UnsafeMutableRawPointer.allocate(byteCount: keySize * batch, alignment: 8)
        let values = UnsafeMutableRawPointer.allocate(byteCount: valueSize * batch, alignment: 8)
        defer { keys.deallocate(); values.deallocate() }
        // The position token: a bucket index (u32) for hash maps; 8 bytes leave room.
        var position: UInt64 = 0, next: UInt64 = 0
        var first = true
        while true {
            var count = UInt32(batch)
            let rc = withUnsafeMutablePointer(to: &position) { p in
                bpf_map_lookup_batch(mapFD, first ? nil : UnsafeMutableRawPointer(p), &next, keys, values, &count, nil)
            }
            for i in 0..<Int(min(count, UInt32(batch))) { body(keys + i * keySize, values + i * valueSize) }
            // -ENOENT: the last batch (its entries were read above); anything else: give up.
            if rc != 0 { return }
            position = next
            first = false
        }
    }

    /// CPUs a per-CPU map has a value for (`libbpf_num_possible_cpus`).
    static let possibleCPUs: Int = max(1, Int(libbpf_num_possible_cpus()))

    /// The sum over CPUs of a per-CPU 64-bit counter (`bpf_map_lookup_elem` fills one
    /// value per possible CPU); 0 when the key is missing. Allocates its buffer: a
    /// statistics read, not a packet path.
    package static func lookupPerCPUCounter(_ mapFD: Int32, key: UInt32) -> UInt64 {
        var k = key
        var values = [UInt64](repeating: 0, count: possibleCPUs)
        guard bpf_map_lookup_elem(mapFD, &k, &values) == 0 else { return 0 }
        return values.reduce(0, &+)
    }

    /// Loads an XDP program from raw instructions; the verifier log is in the error on failure.
    package static func loadXDPProgram(name: String, instructions: [UInt64]) throws(XDPError) -> Int32 {
        var log = [CChar](repeating: 0, count: 16 * 1024)
        let result: Int32 = log.withUnsafeMutableBufferPointer { logBuffer in
            var opts = bpf_prog_load_opts()
            opts.sz = MemoryLayout<bpf_prog_load_opts>.size
            opts.log_buf = logBuffer.baseAddress
            opts.log_size = UInt32(logBuffer.count)
            opts.log_level = 0
            return instructions.withUnsafeBytes { raw in
                bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL",
                              raw.baseAddress!.assumingMemoryBound(to: bpf_insn.self), instructions.count, &opts)
            }
        }
        if result < 0 {
            let verifier = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var error = XDPError("bpf_prog_load(XDP)", errno: -result)
            if !verifier.isEmpty { error.message = "bpf_prog_load(XDP) failed: \(error.errnoDescription): \(verifier)" }
            throw error
        }
        return result
    }

    /// Runs XDP program `program` once over `packet` in the kernel
    /// (`BPF_PROG_TEST_RUN`) and returns its action (`XDP_PASS`, `XDP_DROP`, …).
    package static func testRun(program: Int32, packet: [UInt8]) throws(XDPError) -> UInt32 {
        var opts = bpf_test_run_opts()
        opts.sz = MemoryLayout<bpf_test_run_opts>.size
        opts.repeat = 1
        let rc: Int32 = packet.withUnsafeBytes { raw in
            opts.data_in = raw.baseAddress
            opts.data_size_in = UInt32(raw.count)
            return bpf_prog_test_run_opts(program, &opts)
        }
        guard rc == 0 else { throw XDPError("bpf_prog_test_run_opts", errno: rc < 0 ? -rc : errno) }
        return opts.retval
    }

    /// `bpf_map_update_elem(map, &key, &value, BPF_ANY)`.
    package static func updateMap(_ mapFD: Int32, key: UInt32, value: Int32) throws(XDPError) {
        var k = key
        var v = value
        do { _ = try updateElement(mapFD, key: &k, value: &v) } catch {
            throw XDPError("bpf_map_update_elem(XSKMAP[\(key)])", errno: error.errno)
        }
    }

    /// `bpf_map_delete_elem(map, &key)`; a missing key is not an error.
    package static func deleteMapEntry(_ mapFD: Int32, key: UInt32) {
        var k = key
        deleteElement(mapFD, key: &k)
    }

    // MARK: XDP attachment

    /// `bpf_xdp_attach(ifindex, prog, flags, NULL)`.
    package static func attach(ifindex: UInt32, program: Int32, flags: UInt32, interface: String) throws(XDPError) {
        try libCall("bpf_xdp_attach(\(interface))") { bpf_xdp_attach(Int32(ifindex), program, flags, nil) }
    }

    /// `bpf_link_create(prog, ifindex, BPF_XDP, {flags})`: an XDP attachment owned by
    /// the returned link fd. The kernel removes the program when the last fd of the
    /// link closes, however the process ends (SIGKILL and OOM included).
    package static func createXDPLink(ifindex: UInt32, program: Int32, flags: UInt32, interface: String) throws(XDPError) -> Int32 {
        var opts = bpf_link_create_opts()
        opts.sz = MemoryLayout<bpf_link_create_opts>.size
        opts.flags = flags
        return try libCall("bpf_link_create(BPF_XDP, \(interface))") {
            bpf_link_create(program, Int32(ifindex), BPF_XDP, &opts)
        }
    }

    /// The BPF link (id) holding an XDP program on `ifindex`, if one does:
    /// walks the kernel's links (`bpf_link_get_next_id`) for an XDP link on the device.
    package static func xdpLinkID(ifindex: UInt32) -> UInt32? {
        var id: UInt32 = 0
        while bpf_link_get_next_id(id, &id) == 0 {
            let fd = bpf_link_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            defer { Glibc.close(fd) }
            var info = bpf_link_info()
            var length = UInt32(MemoryLayout<bpf_link_info>.size)
            guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { continue }
            if info.type == BPF_LINK_TYPE_XDP.rawValue && info.xdp.ifindex == ifindex { return id }
        }
        return nil
    }

    /// The name of BPF program `id` (`bpf_prog_info.name`), if it can be read.
    package static func programName(id: UInt32) -> String? {
        let fd = bpf_prog_get_fd_by_id(id)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { return nil }
        return withUnsafeBytes(of: info.name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// `bpf_xdp_detach(ifindex, flags, NULL)`.
    package static func detach(ifindex: UInt32, flags: UInt32, interface: String) throws(XDPError) {
        try libCall("bpf_xdp_detach(\(interface))") { bpf_xdp_detach(Int32(ifindex), flags, nil) }
    }

    /// The id of the XDP program attached in the mode `flags` selects (0 = any mode), or 0 when none.
    package static func attachedProgramID(ifindex: UInt32, flags: UInt32 = 0, interface: String) throws(XDPError) -> UInt32 {
        var id: UInt32 = 0
        try libCall("bpf_xdp_query_id(\(interface))") { bpf_xdp_query_id(Int32(ifindex), Int32(flags), &id) }
        return id
    }

    // MARK: AF_XDP (libxdp xsk API)

    /// `xsk_umem__create`: registers `area` as a UMEM and maps its fill and completion rings
    /// into `fill` / `completion` (which must stay at a fixed address for the UMEM's life).
    package static func createUMEM(area: UnsafeMutableRawPointer, bytes: Int,
                           fill: UnsafeMutablePointer<xsk_ring_prod>,
                           completion: UnsafeMutablePointer<xsk_ring_cons>,
                           config: xsk_umem_config) throws(XDPError) -> OpaquePointer {
        var umem: OpaquePointer?
        var cfg = config
        try libCall("xsk_umem__create(\(bytes) bytes)") {
            xsk_umem__create(&umem, area, UInt64(bytes), fill, completion, &cfg)
        }
        return umem!
    }

    /// `xsk_socket__create`: an AF_XDP socket on `interface` queue `queue` using `umem`'s rings.
    package static func createSocket(interface: String, queue: UInt32, umem: OpaquePointer,
                             rx: UnsafeMutablePointer<xsk_ring_cons>?,
                             tx: UnsafeMutablePointer<xsk_ring_prod>?,
                             config: xsk_socket_config) throws(XDPError) -> OpaquePointer {
        var xsk: OpaquePointer?
        var cfg = config
        // The kernel releases the sockets of a process that just exited after it is
        // gone (deferred work), so the queue can read busy for a few milliseconds:
        // EBUSY is retried for up to a second before it is reported.
        var busyUntil: UInt64 = 0
        while true {
            do {
                try libCall("xsk_socket__create(\(interface) queue \(queue))") {
                    xsk_socket__create(&xsk, interface, queue, umem, rx, tx, &cfg)
                }
                break
            } catch where error.errno == EBUSY {
                let now = Sys.monotonicNanoseconds()
                if busyUntil == 0 { busyUntil = now &+ 1_000_000_000 }
                guard now < busyUntil else { throw error }
                Sys.sleep(nanoseconds: 10_000_000)
            } catch {
                if error.errno == EINVAL || error.errno == EOPNOTSUPP {
                    var e = error
                    e.kind = .unsupported
                    e.message = "AF_XDP socket on \(interface) queue \(queue) refused: \(error.errnoDescription) (XDP/AF_XDP unsupported by this device or kernel?)"
                    throw e
                }
                throw error
            }
        }
        return xsk!
    }

    /// `xsk_socket__create_shared`: a socket on `interface` queue `queue` that shares
    /// `umem` (XDP_SHARED_UMEM) with its own fill and completion rings, so frames of a
    /// UMEM registered for another device/queue can be sent from here without a copy.
    package static func createSharedSocket(interface: String, queue: UInt32, umem: OpaquePointer,
                                   tx: UnsafeMutablePointer<xsk_ring_prod>,
                                   fill: UnsafeMutablePointer<xsk_ring_prod>,
                                   completion: UnsafeMutablePointer<xsk_ring_cons>,
                                   config: xsk_socket_config) throws(XDPError) -> OpaquePointer {
        var xsk: OpaquePointer?
        var cfg = config
        try libCall("xsk_socket__create_shared(\(interface) queue \(queue))") {
            xsk_socket__create_shared(&xsk, interface, queue, umem, nil, tx, fill, completion, &cfg)
        }
        return xsk!
    }

    package static func socketFD(_ xsk: OpaquePointer) -> Int32 { xsk_socket__fd(xsk) }

    package static func deleteSocket(_ xsk: OpaquePointer) { xsk_socket__delete(xsk) }

    /// `xsk_umem__delete`; EBUSY (a socket still uses it) is a caller bug.
    package static func deleteUMEM(_ umem: OpaquePointer) {
        let r = xsk_umem__delete(umem)
        precondition(r == 0, "xsk_umem__delete: \(r) — a socket still uses the UMEM (WireCap bug)")
    }
}

/// libnuma, wrapped once.
package enum NUMA {
    /// `true` when the kernel and libnuma support NUMA policy (`numa_available() >= 0`).
    static var isAvailable: Bool { numa_available() >= 0 }

    /// The node of the calling thread's current CPU (the "local node").
    package static func localNode() -> Int32 {
        let cpu = sched_getcpu()
        return cpu >= 0 ? numa_node_of_cpu(cpu) : 0
    }

    /// Binds `bytes` at `start` to `node` before first touch (`numa_tonode_memory`).
    package static func bind(_ start: UnsafeMutableRawPointer, bytes: Int, node: Int32) {
        numa_tonode_memory(start, bytes, node)
    }

    /// The NUMA node of a network interface: `/sys/class/net/IF/device/numa_node`;
    /// the local node when the file is missing (virtual devices) or says -1.
    package static func node(ofInterface name: String) -> Int32 {
        if let text = Sys.readSmallFile("/sys/class/net/\(name)/device/numa_node"),
           let node = Int32(text), node >= 0 {
            return node
        }
        return localNode()
    }
}
