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
/// The program, thirty-seven instructions built here (no clang, no object file).
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
///   15  *(u32 *)(r10 - 4) = r6        ; key = q
///   16  r2 = r10
///   17  r2 += -4
///   18  r1 = map_fd COUNTS            ; ld_imm64, src = BPF_PSEUDO_MAP_FD
///   20  call bpf_map_lookup_elem
///   21  r7 = r0                       ; &COUNTS[q] on this CPU, or NULL
///   22  if r7 == 0 goto 26
///   23  r8 = *(u64 *)(r7 + 0)         ; count first
///   24  r8 += 1
///   25  *(u64 *)(r7 + 0) = r8
///   26  r2 = r6
///   27  r1 = map_fd XSKMAP
///   29  r3 = XDP_PASS                 ; flags: action when XSKMAP[q] is empty
///   30  call bpf_redirect_map
///   31  if r0 == XDP_REDIRECT goto 36
///   32  if r7 == 0 goto 36
///   33  r8 = *(u64 *)(r7 + 0)         ; no socket: not ours, take the count back
///   34  r8 += -1
///   35  *(u64 *)(r7 + 0) = r8
///   36  exit                          ; r0: the redirect's action
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

    /// Creates the XSKMAP and the counters (`entries` slots, one per device rx queue)
    /// and loads the program.
    public init(interface: String, ifindex: UInt32, entries: Int) throws(XDPError) {
        self.interface = interface
        self.ifindex = ifindex
        XDPLib.silenced
        mapFD = try XDPLib.createSocketMap(name: "wirecap_xsks", entries: max(1, entries))
        do {
            countsFD = try XDPLib.createPerCPUCounterArray(name: "wirecap_counts", entries: max(1, entries))
        } catch {
            Sys.close(mapFD)
            throw error
        }
        do {
            programFD = try XDPLib.loadXDPProgram(name: Self.programName,
                                                  instructions: Self.instructions(mapFD: mapFD, countsFD: countsFD))
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

    /// Encodes the program (see the type's documentation). Each `UInt64` is one
    /// `struct bpf_insn` in little-endian layout: code, dst|src<<4, off, imm.
    package static func instructions(mapFD: Int32, countsFD: Int32) -> [UInt64] {
        func insn(_ code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) -> UInt64 {
            UInt64(code) | UInt64(dst | src << 4) << 8 | UInt64(UInt16(bitPattern: off)) << 16
                | UInt64(UInt32(bitPattern: imm)) << 32
        }
        let ldxW: UInt8 = 0x61          // BPF_LDX | BPF_MEM | BPF_W
        let ldxDW: UInt8 = 0x79         // BPF_LDX | BPF_MEM | BPF_DW
        let stxW: UInt8 = 0x63          // BPF_STX | BPF_MEM | BPF_W
        let stxDW: UInt8 = 0x7b         // BPF_STX | BPF_MEM | BPF_DW
        let ldImm64: UInt8 = 0x18       // BPF_LD | BPF_IMM | BPF_DW
        let movK: UInt8 = 0xb7          // BPF_ALU64 | BPF_MOV | BPF_K
        let movX: UInt8 = 0xbf          // BPF_ALU64 | BPF_MOV | BPF_X
        let addK: UInt8 = 0x07          // BPF_ALU64 | BPF_ADD | BPF_K
        let jeqK: UInt8 = 0x15          // BPF_JMP | BPF_JEQ | BPF_K
        let jneK: UInt8 = 0x55          // BPF_JMP | BPF_JNE | BPF_K
        let jgtX: UInt8 = 0x2d          // BPF_JMP | BPF_JGT | BPF_X
        let call: UInt8 = 0x85          // BPF_JMP | BPF_CALL
        let exit: UInt8 = 0x95          // BPF_JMP | BPF_EXIT
        let pseudoMapFD = UInt8(BPF_PSEUDO_MAP_FD)
        return [
            insn(movX, dst: 9, src: 1),                                                 // 0
            insn(movK, dst: 2, imm: -8),                                                // 1
            insn(call, imm: Int32(BPF_FUNC_xdp_adjust_meta.rawValue)),                  // 2
            insn(movX, dst: 1, src: 9),                                                 // 3
            insn(jneK, dst: 0, off: 9, imm: 0),                                         // 4 → 14
            insn(ldxW, dst: 2, src: 9, off: 8),                                         // 5
            insn(ldxW, dst: 3, src: 9, off: 0),                                         // 6
            insn(movX, dst: 4, src: 2),                                                 // 7
            insn(addK, dst: 4, imm: 8),                                                 // 8
            insn(jgtX, dst: 4, src: 3, off: 4),                                         // 9 → 14
            insn(movX, dst: 8, src: 2),                                                 // 10
            insn(call, imm: Int32(BPF_FUNC_ktime_get_ns.rawValue)),                     // 11
            insn(stxDW, dst: 8, src: 0, off: 0),                                        // 12
            insn(movX, dst: 1, src: 9),                                                 // 13
            insn(ldxW, dst: 6, src: 1, off: 16),                                        // 14
            insn(stxW, dst: 10, src: 6, off: -4),                                       // 1
            insn(movX, dst: 2, src: 10),                                                // 2
            insn(addK, dst: 2, imm: -4),                                                // 3
            insn(ldImm64, dst: 1, src: pseudoMapFD, imm: countsFD), insn(0),            // 4, 5
            insn(call, imm: Int32(BPF_FUNC_map_lookup_elem.rawValue)),                  // 6
            insn(movX, dst: 7, src: 0),                                                 // 7
            insn(jeqK, dst: 7, off: 3, imm: 0),                                         // 8 → 12
            insn(ldxDW, dst: 8, src: 7, off: 0),                                        // 9
            insn(addK, dst: 8, imm: 1),                                                 // 10
            insn(stxDW, dst: 7, src: 8, off: 0),                                        // 11
            insn(movX, dst: 2, src: 6),                                                 // 12
            insn(ldImm64, dst: 1, src: pseudoMapFD, imm: mapFD), insn(0),               // 13, 14
            insn(movK, dst: 3, imm: Int32(XDP_PASS.rawValue)),                          // 15
            insn(call, imm: Int32(BPF_FUNC_redirect_map.rawValue)),                     // 16
            insn(jeqK, dst: 0, off: 4, imm: Int32(XDP_REDIRECT.rawValue)),              // 17 → 22
            insn(jeqK, dst: 7, off: 3, imm: 0),                                         // 18 → 22
            insn(ldxDW, dst: 8, src: 7, off: 0),                                        // 19
            insn(addK, dst: 8, imm: -1),                                                // 20
            insn(stxDW, dst: 7, src: 8, off: 0),                                        // 21
            insn(exit),                                                                 // 22
        ]
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

    /// Packets the program has redirected to `XSKMAP[queue]` since it was loaded.
    public func redirectedPackets(queue: UInt32) -> UInt64 {
        XDPLib.lookupPerCPUCounter(countsFD, key: queue)
    }

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

    /// The kernel id of the loaded program.
    public var programID: UInt32 {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        guard bpf_obj_get_info_by_fd(programFD, &info, &length) == 0 else { return 0 }
        return info.id
    }
}
