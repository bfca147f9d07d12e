#if canImport(Glibc)
import Glibc
#endif
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

extension XDPAttachMode {
    var flag: UInt32 {
        switch self {
        case .driver: UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: UInt32(XDP_FLAGS_SKB_MODE)
        }
    }
}

/// Who holds an XDP program found on an interface, for the "already attached" message.
public struct XDPProgramOwner: Sendable, Hashable {
    /// The program's id and name.
    public var programID: UInt32
    public var programName: String?
    /// The BPF link holding it (nil: a netlink attachment, which outlives its process).
    public var linkID: UInt32?
    /// Processes holding the link's fd (read from `/proc/*/fdinfo`).
    public var pids: [Int32]

    /// One line: which program, and whether a running process holds it or a process
    /// left it behind, with what to do.
    public func describe(interface: String) -> String {
        let name = programName.map { " \"\($0)\"" } ?? ""
        if let linkID {
            let holders = pids.isEmpty ? "a running process" : "pid " + pids.map(String.init).joined(separator: ", ")
            return "XDP program\(name) (id \(programID)) on \(interface) is held by \(holders) through BPF link \(linkID): "
                + "another capture is running; stop it first (--force cannot replace a link)"
        }
        let ours = programName == XSKRedirectProgram.programName
        return "XDP program\(name) (id \(programID)) is attached to \(interface) by netlink"
            + (ours ? ", left behind by a WireCap that did not exit cleanly" : "")
            + ": use --force to replace it (or `ip link set dev \(interface) xdp off`)"
    }
}

/// What the program counted for one rx queue (``ProgramCounters``).
public struct ProgramQueueCounts: Sendable, Hashable {
    /// Steered to the queue's socket (the count taken back when none was there).
    public var redirected: UInt64 = 0
    /// Rejected by the kernel filter while a socket was there.
    public var filtered: UInt64 = 0
    /// Packets and bytes of bypassed flows while a socket was there.
    public var bypassedPackets: UInt64 = 0
    public var bypassedBytes: UInt64 = 0

    public init() {}

    /// Every packet the program saw on the captured queue: each is counted in exactly one section.
    public var offered: UInt64 { redirected &+ filtered &+ bypassedPackets }
}

/// The program's COUNTS map, read: a per-CPU array of four sections of E slots
/// (E = the XSKMAP's entries), section s of queue q at `s·E + q`. The one place
/// that layout is spelled on the user side (the program writes it).
package struct ProgramCounters: Sendable {
    /// The sections, in map order.
    package enum Section: UInt32, CaseIterable { case redirected = 0, filtered, bypassedPackets, bypassedBytes }
    /// Sections in the map (its size is this × E).
    package static let sections = Section.allCases.count
    /// The map's fd, valid while its program is open.
    package let fd: Int32
    /// E.
    package let entries: UInt32

    /// One counter, summed over CPUs (a statistics read: one syscall).
    package func read(_ section: Section, queue: UInt32) -> UInt64 {
        XDPLib.lookupPerCPUCounter(fd, key: section.rawValue &* entries &+ queue)
    }

    /// Queue `queue`'s four counters; the redirect count is read last, so a live
    /// read never shows a packet received that it does not show offered.
    package func read(queue: UInt32) -> ProgramQueueCounts {
        var c = ProgramQueueCounts()
        c.bypassedPackets = read(.bypassedPackets, queue: queue)
        c.bypassedBytes = read(.bypassedBytes, queue: queue)
        c.filtered = read(.filtered, queue: queue)
        c.redirected = read(.redirected, queue: queue)
        return c
    }
}

/// The engine's own XDP program, its XSKMAP and its per-queue counters: every
/// packet on rx queue `q` goes to the AF_XDP socket at `XSKMAP[q]`, and each
/// packet redirected there is counted in `COUNTS[q]`; a queue without a socket
/// passes packets to the stack, uncounted.
///
/// `COUNTS[q]` is the `offered` of the loss ledger on AF_XDP: it is counted at the
/// very point where the packet is steered to WireCap, so every packet it counts
/// is either received by the socket or counted by the socket's `XDP_STATISTICS`
/// drops; anything else (a redirect error) shows as `unexplained`.
///
/// The count is taken *before* the redirect and taken back when the redirect
/// finds no socket. So a packet that may still land in the rx ring is already
/// counted when the drain reads COUNTS, even if its program was still running
/// when the XSKMAP entry went (an XSKMAP delete does not wait for running
/// programs): the drain's balance check can only wait too long, never stop early.
///
/// One engine process loads ONE such program per interface and inserts all of
/// its sockets (created with `XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD`). libxdp's
/// multi-program dispatcher fails its compatibility check on this kernel (EPERM)
/// and two processes attaching sockets to one interface race (EBUSY), so the
/// program is not libxdp's and is never shared between processes.
///
/// **Per-packet timestamps** (instructions 0–13): the program grows the packet's
/// metadata area by 8 bytes (`bpf_xdp_adjust_meta`) and stores the kernel clock
/// there (`bpf_ktime_get_ns`, CLOCK_MONOTONIC, ns) as the packet arrives. AF_XDP
/// copies the metadata into the frame with the packet, in copy mode too
/// (`xsk_copy_xdp`), so it sits in the 8 bytes before the packet's first byte
/// and the capture thread reads it with the descriptor (``RxQueue``; at most ~36 ns
/// per packet on its thread, within the testbed's run-to-run noise). A driver
/// without metadata support makes the helper fail: the packet then goes on
/// unstamped, and the capture thread, which never takes a stamp that is zero or
/// older than its queue's previous one, stamps it itself.
///
/// **A kernel filter** (issue 17, ``KernelFilter``) goes between the stamp and
/// the steering: on a queue with a socket (an XSKMAP lookup), a packet the
/// filter rejects is counted in `COUNTS[entries + q]` and passed to the stack
/// (or dropped) without touching the socket; an accepted one goes on to the
/// steering below. The ledger's `offered` is then `COUNTS[q] + COUNTS[entries + q]`
/// and its `filtered` includes the second.
///
/// The program, thirty-nine instructions built here with ``EBPFAssembler`` (no
/// clang, no object file), a filter's translation between 13 and 14.
/// COUNTS is a per-CPU array: the program adds to its own CPU's copy (XDP runs
/// in NAPI context with preemption off, so a plain load-add-store cannot race)
/// and user space sums the copies, so no locked instruction and no cache line
/// shared between CPUs is on the packet path.
///
/// ```
///    0  r9 = r1                       ; ctx
///    1  r2 = -8
///    2  call bpf_xdp_adjust_meta      ; 8 bytes of metadata in front of the packet
///    3  r1 = r9
///    4  if r0 != 0 goto 14            ; not supported here: no stamp
///    5  r2 = *(u32 *)(r9 + 8)         ; xdp_md.data_meta
///    6  r3 = *(u32 *)(r9 + 0)         ; xdp_md.data
///    7  r4 = r2
///    8  r4 += 8
///    9  if r4 > r3 goto 14            ; the verifier's bounds check
///   10  r8 = r2
///   11  call bpf_ktime_get_ns
///   12  *(u64 *)(r8 + 0) = r0         ; the arrival stamp
///   13  r1 = r9
///   14  r6 = *(u32 *)(r1 + 16)        ; xdp_md.rx_queue_index
///   15  r7 = 0
///   16  if r6 >= entries goto 28      ; beyond the XSKMAP: no COUNTS slot of its own
///   17  *(u32 *)(r10 - 4) = r6        ; key = q
///   18  r2 = r10
///   19  r2 += -4
///   20  r1 = map_fd COUNTS            ; ld_imm64, src = BPF_PSEUDO_MAP_FD
///   22  call bpf_map_lookup_elem
///   23  r7 = r0                       ; &COUNTS[q] on this CPU, or NULL
///   24  if r7 == 0 goto 28
///   25  r8 = *(u64 *)(r7 + 0)         ; count first
///   26  r8 += 1
///   27  *(u64 *)(r7 + 0) = r8
///   28  r2 = r6
///   29  r1 = map_fd XSKMAP
///   31  r3 = XDP_PASS                 ; flags: action when XSKMAP[q] is empty
///   32  call bpf_redirect_map
///   33  if r0 == XDP_REDIRECT goto 38
///   34  if r7 == 0 goto 38
///   35  r8 = *(u64 *)(r7 + 0)         ; no socket: not ours, take the count back
///   36  r8 += -1
///   37  *(u64 *)(r7 + 0) = r8
///   38  exit                          ; r0: the redirect's action
/// ```
///
/// - warning: Not thread-safe; the engine calls it from its control thread.
public final class XSKRedirectProgram {
    /// The program's name in the kernel (`bpftool prog` shows it).
    public static let programName = "wirecap_rx"
    /// The interface the program is for.
    public let interface: String
    /// Its index.
    public let ifindex: UInt32
    /// How the program is attached, once attached.
    public private(set) var attachMode: XDPAttachMode?
    /// Link or netlink, once attached.
    public private(set) var attachment: XDPAttachment?
    package let mapFD: Int32
    package let countsFD: Int32
    package let programFD: Int32
    private var linkFD: Int32 = -1

    /// The filter run in the program (nil: every packet of a captured queue is steered).
    public let filter: KernelFilter?
    /// The flow-bypass table the program looks packets up in (nil: no bypass section).
    public let bypass: FlowBypassMap?
    /// XSKMAP slots E: COUNTS holds 4E (per queue: redirected, filtered, bypassed
    /// packets, bypassed bytes).
    public let entries: Int

    /// Creates the XSKMAP and the counters (`entries` slots, one per device rx queue)
    /// and loads the program, with `filter` in it if given.
    public init(interface: String, ifindex: UInt32, entries: Int, filter: KernelFilter? = nil,
                bypass: FlowBypassMap? = nil) throws(XDPError) {
        self.interface = interface
        self.ifindex = ifindex
        self.filter = filter
        self.bypass = bypass
        self.entries = max(1, entries)
        XDPLib.silenced
        mapFD = try XDPLib.createSocketMap(name: "wirecap_xsks", entries: self.entries)
        do {
            countsFD = try XDPLib.createPerCPUCounterArray(name: "wirecap_counts", entries: ProgramCounters.sections * self.entries)
        } catch {
            Sys.close(mapFD)
            throw error
        }
        do {
            programFD = try XDPLib.loadXDPProgram(name: Self.programName,
                                                  instructions: Self.instructions(mapFD: mapFD, countsFD: countsFD,
                                                                                  entries: self.entries, filter: filter,
                                                                                  bypass: bypass))
        } catch {
            Sys.close(countsFD)
            Sys.close(mapFD)
            throw error
        }
    }

    deinit {
        detach()
        Sys.close(programFD)
        Sys.close(countsFD)
        Sys.close(mapFD)
    }

    /// Encodes the program (see the type's documentation), with `filter` (if any)
    /// between the timestamp and the steering. Each `UInt64` is one `struct bpf_insn`.
    ///
    /// - Parameter entries: the XSKMAP's slots; `COUNTS[entries + q]` counts the
    ///   packets of queue q the filter rejected.
    package static func instructions(mapFD: Int32, countsFD: Int32, entries: Int = 1,
                                     filter: KernelFilter? = nil, bypass: FlowBypassMap? = nil) throws(XDPError) -> [UInt64] {
        var a = EBPFAssembler()
        let unstamped = a.label(), steer = a.label(), counted = a.label(), done = a.label()
        // `r0 = bpf_map_lookup_elem(map, &key)`, the u32 key in register `key`, stored at fp + `slot`.
        func lookup(_ fd: Int32, key: UInt8, slot: Int16) {
            a.emit(EBPF.store(EBPF.sizeW), dst: 10, src: key, off: slot)
            a.emit(EBPF.mov64X, dst: 2, src: 10)
            a.emit(EBPF.add64K, dst: 2, imm: Int32(slot))
            a.loadMap(1, fd: fd)
            a.emit(EBPF.call, imm: EBPF.helperMapLookup)
        }
        // `*(u64 *)ptr += by`: this CPU's slot of a per-CPU array, which no other CPU writes.
        func add(_ by: Int32, at ptr: UInt8) {
            a.emit(EBPF.load(EBPF.sizeDW), dst: 8, src: ptr, off: 0)
            a.emit(EBPF.add64K, dst: 8, imm: by)
            a.emit(EBPF.store(EBPF.sizeDW), dst: ptr, src: 8, off: 0)
        }
        // 0–13: the arrival stamp in 8 bytes of metadata.
        a.emit(EBPF.mov64X, dst: 9, src: 1)
        a.emit(EBPF.mov64K, dst: 2, imm: -8)
        a.emit(EBPF.call, imm: EBPF.helperXDPAdjustMeta)
        a.emit(EBPF.mov64X, dst: 1, src: 9)
        a.jump(EBPF.classJMP | EBPF.jmpJNE | EBPF.sourceK, dst: 0, imm: 0, to: unstamped)
        a.emit(EBPF.load(EBPF.sizeW), dst: 2, src: 9, off: EBPF.mdDataMeta)
        a.emit(EBPF.load(EBPF.sizeW), dst: 3, src: 9, off: EBPF.mdData)
        a.emit(EBPF.mov64X, dst: 4, src: 2)
        a.emit(EBPF.add64K, dst: 4, imm: 8)
        a.jump(EBPF.classJMP | EBPF.jmpJGT | EBPF.sourceX, dst: 4, src: 3, to: unstamped)
        a.emit(EBPF.mov64X, dst: 8, src: 2)
        a.emit(EBPF.call, imm: EBPF.helperKtimeGetNs)
        a.emit(EBPF.store(EBPF.sizeDW), dst: 8, src: 0, off: 0)
        a.emit(EBPF.mov64X, dst: 1, src: 9)
        a.bind(unstamped)
        if filter != nil || bypass != nil {
            // Only a queue with a socket is bypassed or filtered (and counted): the others
            // are not captured, and go on as without WireCap.
            a.emit(EBPF.load(EBPF.sizeW), dst: 6, src: 9, off: EBPF.mdRxQueueIndex)
            lookup(mapFD, key: 6, slot: -4)
            a.jump(EBPF.classJMP | EBPF.jmpJEQ | EBPF.sourceK, dst: 0, imm: 0, to: steer)
        }
        if let bypass {
            emitBypass(into: &a, mapFD: bypass.fd, action: bypass.settings.action, countsFD: countsFD, entries: entries)
        }
        if let filter {
            let rejected = a.label(), out = a.label()
            do { try filter.emit(into: &a, context: 9, accept: steer, reject: rejected) } catch {
                throw XDPError("kernel filter", kind: .usage, message: error.reason)
            }
            // A filter that never rejects leaves this code unreached: the verifier refuses that.
            if a.isReferenced(rejected) {
                a.bind(rejected)
                a.emit(EBPF.load(EBPF.sizeW), dst: 6, src: 9, off: EBPF.mdRxQueueIndex)
                a.emit(EBPF.add64K, dst: 6, imm: Int32(ProgramCounters.Section.filtered.rawValue) * Int32(entries))
                lookup(countsFD, key: 6, slot: -8)
                a.jump(EBPF.classJMP | EBPF.jmpJEQ | EBPF.sourceK, dst: 0, imm: 0, to: out)
                add(1, at: 0)
                a.bind(out)
                a.emit(EBPF.mov64K, dst: 0, imm: filter.rejected == .drop ? EBPF.xdpDrop : EBPF.xdpPass)
                a.emit(EBPF.exit)
            }
        }
        if filter != nil || bypass != nil {
            a.bind(steer)
            a.emit(EBPF.mov64X, dst: 1, src: 9)
        }
        // 14–38: count, then redirect to XSKMAP[q]; no socket: take the count back.
        a.emit(EBPF.load(EBPF.sizeW), dst: 6, src: 1, off: EBPF.mdRxQueueIndex)
        // A queue beyond the XSKMAP (channels added during a capture) has no slot of its
        // own in COUNTS (the second half counts filter rejects): no count, no socket.
        a.emit(EBPF.mov64K, dst: 7, imm: 0)
        a.jump(EBPF.classJMP | EBPF.jmpJGE | EBPF.sourceK, dst: 6, imm: Int32(entries), to: counted)
        lookup(countsFD, key: 6, slot: -4)
        a.emit(EBPF.mov64X, dst: 7, src: 0)
        a.jump(EBPF.classJMP | EBPF.jmpJEQ | EBPF.sourceK, dst: 7, imm: 0, to: counted)
        add(1, at: 7)
        a.bind(counted)
        a.emit(EBPF.mov64X, dst: 2, src: 6)
        a.loadMap(1, fd: mapFD)
        a.emit(EBPF.mov64K, dst: 3, imm: EBPF.xdpPass)
        a.emit(EBPF.call, imm: EBPF.helperRedirectMap)
        a.jump(EBPF.classJMP | EBPF.jmpJEQ | EBPF.sourceK, dst: 0, imm: EBPF.xdpRedirect, to: done)
        a.jump(EBPF.classJMP | EBPF.jmpJEQ | EBPF.sourceK, dst: 7, imm: 0, to: done)
        add(-1, at: 7)
        a.bind(done)
        a.emit(EBPF.exit)
        do { return try a.finish() } catch { throw XDPError("XDP program", kind: .usage, message: error.description) }
    }

    /// `filter` alone as an XDP program that passes what it accepts and drops what
    /// it rejects: what the translation's tests run through `BPF_PROG_TEST_RUN`.
    package static func filterTestInstructions(_ filter: KernelFilter) throws(XDPError) -> [UInt64] {
        var a = EBPFAssembler()
        let accept = a.label(), reject = a.label()
        a.emit(EBPF.mov64X, dst: 9, src: 1)
        do { try filter.emit(into: &a, context: 9, accept: accept, reject: reject) } catch {
            throw XDPError("kernel filter", kind: .usage, message: error.reason)
        }
        for (label, action) in [(reject, EBPF.xdpDrop), (accept, EBPF.xdpPass)] where a.isReferenced(label) {
            a.bind(label)
            a.emit(EBPF.mov64K, dst: 0, imm: action)
            a.emit(EBPF.exit)
        }
        do { return try a.finish() } catch { throw XDPError("XDP program", kind: .usage, message: error.description) }
    }

    /// The id of any XDP program attached to `interface` now (0: none).
    public static func attachedProgramID(ifindex: UInt32, interface: String) throws(XDPError) -> UInt32 {
        let any = try XDPLib.attachedProgramID(ifindex: ifindex, interface: interface)
        if any != 0 { return any }
        for mode in [XDPAttachMode.driver, .generic] {
            let id = try XDPLib.attachedProgramID(ifindex: ifindex, flags: mode.flag, interface: interface)
            if id != 0 { return id }
        }
        return 0
    }

    /// The id of any XDP program attached to the interface called `interface` (0: none).
    public static func attachedProgramID(interface: String) throws(XDPError) -> UInt32 {
        try attachedProgramID(ifindex: Sys.interfaceIndex(interface), interface: interface)
    }

    /// Who holds the XDP program on `ifindex`, if there is one.
    public static func owner(ifindex: UInt32, interface: String) throws(XDPError) -> XDPProgramOwner? {
        let id = try attachedProgramID(ifindex: ifindex, interface: interface)
        guard id != 0 else { return nil }
        let link = XDPLib.xdpLinkID(ifindex: ifindex)
        return XDPProgramOwner(programID: id, programName: XDPLib.programName(id: id), linkID: link,
                               pids: link.map(Self.processesHolding(link:)) ?? [])
    }

    /// Processes with an fd of BPF link `id` open (`link_id:` in `/proc/PID/fdinfo/FD`).
    package static func processesHolding(link id: UInt32) -> [Int32] {
        var pids: [Int32] = []
        let needle = "link_id:\t\(id)\n"
        for entry in Sys.directoryEntries("/proc") {
            guard let pid = Int32(entry) else { continue }
            let dir = "/proc/\(entry)/fdinfo"
            for fd in Sys.directoryEntries(dir) {
                if let text = Sys.readFile(dir + "/" + fd), text.contains(needle) {
                    pids.append(pid)
                    break
                }
            }
        }
        return pids
    }

    /// Removes whatever XDP program is attached by netlink to the interface, in both
    /// modes (a link-held program cannot be removed this way: the kernel refuses).
    public static func detachAny(ifindex: UInt32, interface: String) {
        for mode in [XDPAttachMode.driver, .generic] {
            try? XDPLib.detach(ifindex: ifindex, flags: mode.flag, interface: interface)
        }
    }

    /// Attaches the program: driver mode first, generic (SKB) mode when the driver
    /// refuses, with a note on stderr; through a BPF link unless `attachment` is
    /// `.netlink` or the kernel has no XDP links.
    ///
    /// - Parameter force: replace a program already attached by netlink; without it an
    ///   attached program is a `.busy` error saying who holds it.
    @discardableResult
    public func attach(force: Bool, preferredMode: XDPAttachMode? = nil, attachment: XDPAttachment = .link,
                       quiet: Bool = false) throws(XDPError) -> XDPAttachMode {
        if let owner = try Self.owner(ifindex: ifindex, interface: interface) {
            guard force, owner.linkID == nil else {
                throw XDPError("bpf_xdp_query_id(\(interface))", kind: .busy, message: owner.describe(interface: interface))
            }
            Self.detachAny(ifindex: ifindex, interface: interface)
        }
        let modes: [XDPAttachMode] = preferredMode.map { [$0] } ?? [.driver, .generic]
        var lastError: XDPError?
        // Decided once, before trying modes: kernels before 5.9 have no XDP links.
        let useLink = attachment == .link && !Self.kernelLacksXDPLinks()
        if attachment == .link && !useLink && !quiet {
            Sys.printError("wirecap: note: no XDP links in this kernel (< 5.9); attaching by netlink (a killed capture leaves the program behind)\n")
        }
        for mode in modes {
            do {
                if useLink {
                    linkFD = try XDPLib.createXDPLink(ifindex: ifindex, program: programFD, flags: mode.flag, interface: interface)
                    self.attachment = .link
                } else {
                    try XDPLib.attach(ifindex: ifindex, program: programFD,
                                      flags: UInt32(XDP_FLAGS_UPDATE_IF_NOEXIST) | mode.flag, interface: interface)
                    self.attachment = .netlink
                }
                attachMode = mode
                if mode == .generic && modes.count > 1 && !quiet {
                    Sys.printError("wirecap: note: \(interface) refused native XDP (\(lastError?.errnoDescription ?? "?")); using generic (SKB) mode\n")
                }
                return mode
            } catch {
                if error.errno == EBUSY || error.errno == EEXIST {
                    let owner = (try? Self.owner(ifindex: ifindex, interface: interface)) ?? nil
                    throw XDPError(error.operation, errno: error.errno, kind: .busy,
                                   message: owner?.describe(interface: interface)
                                       ?? "XDP program already attached to \(interface): use --force to replace it")
                }
                lastError = error
            }
        }
        var e = lastError!
        e.kind = .unsupported
        e.message = "XDP unsupported on \(interface): \(e.operation) failed: \(e.errnoDescription)"
        throw e
    }

    /// `true` on kernels older than 5.9, which have no XDP links.
    package static func kernelLacksXDPLinks() -> Bool {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
        guard parts.count == 2 else { return false }
        return parts[0] < 5 || (parts[0] == 5 && parts[1] < 9)
    }

    /// Puts an AF_XDP socket at `XSKMAP[queue]`: queue `queue` is captured from now on.
    public func insert(socketFD: Int32, queue: UInt32) throws(XDPError) {
        try XDPLib.updateMap(mapFD, key: queue, value: socketFD)
    }

    /// Removes `XSKMAP[queue]`: packets of that queue go to the stack, uncounted, from now on.
    public func remove(queue: UInt32) {
        XDPLib.deleteMapEntry(mapFD, key: queue)
    }

    /// The program's COUNTS, read (valid while this object lives).
    package var counters: ProgramCounters { ProgramCounters(fd: countsFD, entries: UInt32(entries)) }

    /// Detaches the program if this object attached it: closes the link, or (netlink)
    /// removes the program from the mode it was attached in, only if it is still ours.
    /// Idempotent.
    public func detach() {
        guard let mode = attachMode else { return }
        attachMode = nil
        if linkFD >= 0 {
            Sys.close(linkFD)
            linkFD = -1
            return
        }
        if let current = try? XDPLib.attachedProgramID(ifindex: ifindex, flags: mode.flag, interface: interface),
           current != 0, current != programID {
            return
        }
        try? XDPLib.detach(ifindex: ifindex, flags: mode.flag, interface: interface)
    }

    /// The program's runs and the nanoseconds they took, as the kernel counts them
    /// while `kernel.bpf_stats_enabled` is 1 (`bpf_prog_info.run_cnt`, `run_time_ns`;
    /// both 0 otherwise). The one exact per-packet cost of the program.
    public var runStatistics: (runs: UInt64, nanoseconds: UInt64) {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(programFD, &info, &length) == 0 else { return (0, 0) }
        return (info.run_cnt, info.run_time_ns)
    }

    /// The kernel id of the loaded program.
    public var programID: UInt32 {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(programFD, &info, &length) == 0 else { return 0 }
        return info.id
    }
}
