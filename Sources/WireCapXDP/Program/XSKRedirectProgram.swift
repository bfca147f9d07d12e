#if canImport(Glibc)
import Glibc
#endif
import CXDP

/// How an XDP program is attached to an interface.
public enum XDPAttachMode: String, Sendable, Codable {
    /// Native (driver) XDP. The corresponding C flag is `XDP_FLAGS_DRV_MODE`.
    case driver
    /// Generic XDP in the networking stack. The corresponding C flag is `XDP_FLAGS_SKB_MODE`.
    case generic

    var flag: UInt32 {
        switch self {
        case .driver: UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: UInt32(XDP_FLAGS_SKB_MODE)
        }
    }
}

/// The engine's own XDP program and its XSKMAP: every packet on rx queue `q`
/// goes to the AF_XDP socket at `XSKMAP[q]`; a queue without a socket passes
/// packets to the stack.
///
/// One engine process loads ONE such program per interface and inserts all of
/// its sockets (created with `XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD`). libxdp's
/// multi-program dispatcher fails its compatibility check on this kernel (EPERM)
/// and two processes attaching sockets to one interface race (EBUSY), so the
/// program is not libxdp's and is never shared between processes.
///
/// The program, five instructions built here (no clang, no object file):
///
/// ```
///   r2 = *(u32 *)(r1 + 16)        ; xdp_md.rx_queue_index
///   r1 = map_fd XSKMAP            ; ld_imm64, src = BPF_PSEUDO_MAP_FD
///   r3 = XDP_PASS                 ; flags: action when XSKMAP[r2] is empty
///   call bpf_redirect_map
///   exit
/// ```
///
/// - warning: Not thread-safe; the engine calls it from its control thread.
public final class XSKRedirectProgram {
    /// The interface the program is for.
    public let interface: String
    /// Its index.
    public let ifindex: UInt32
    /// How the program is attached, once attached.
    public private(set) var attachMode: XDPAttachMode?
    let mapFD: Int32
    let programFD: Int32

    /// Creates the XSKMAP (`entries` slots, one per device rx queue) and loads the program.
    public init(interface: String, ifindex: UInt32, entries: Int) throws(XDPError) {
        self.interface = interface
        self.ifindex = ifindex
        mapFD = try XDPLib.createSocketMap(name: "wirecap_xsks", entries: max(1, entries))
        do {
            programFD = try XDPLib.loadXDPProgram(name: "wirecap_rx", instructions: Self.instructions(mapFD: mapFD))
        } catch {
            Sys.close(mapFD)
            throw error
        }
    }

    deinit {
        detach()
        Sys.close(programFD)
        Sys.close(mapFD)
    }

    /// Encodes the program (see the type's documentation). Each `UInt64` is one
    /// `struct bpf_insn` in little-endian layout: code, dst|src<<4, off, imm.
    static func instructions(mapFD: Int32) -> [UInt64] {
        func insn(_ code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) -> UInt64 {
            UInt64(code) | UInt64(dst | src << 4) << 8 | UInt64(UInt16(bitPattern: off)) << 16
                | UInt64(UInt32(bitPattern: imm)) << 32
        }
        let ldxW: UInt8 = 0x61          // BPF_LDX | BPF_MEM | BPF_W
        let ldImm64: UInt8 = 0x18       // BPF_LD | BPF_IMM | BPF_DW
        let movK: UInt8 = 0xb7          // BPF_ALU64 | BPF_MOV | BPF_K
        let call: UInt8 = 0x85          // BPF_JMP | BPF_CALL
        let exit: UInt8 = 0x95          // BPF_JMP | BPF_EXIT
        return [
            insn(ldxW, dst: 2, src: 1, off: 16),
            insn(ldImm64, dst: 1, src: UInt8(BPF_PSEUDO_MAP_FD), imm: mapFD), insn(0),
            insn(movK, dst: 3, imm: Int32(XDP_PASS.rawValue)),
            insn(call, imm: Int32(BPF_FUNC_redirect_map.rawValue)),
            insn(exit),
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

    /// Removes whatever XDP program is attached to the interface, in both modes.
    public static func detachAny(ifindex: UInt32, interface: String) {
        for mode in [XDPAttachMode.driver, .generic] {
            try? XDPLib.detach(ifindex: ifindex, flags: mode.flag, interface: interface)
        }
    }

    /// Attaches the program: driver mode first, generic (SKB) mode when the driver
    /// refuses, with a note on stderr.
    ///
    /// - Parameter force: replace a program already attached; without it an
    ///   attached program is a `.busy` error naming its id.
    @discardableResult
    public func attach(force: Bool, preferredMode: XDPAttachMode? = nil, quiet: Bool = false) throws(XDPError) -> XDPAttachMode {
        let existing = try Self.attachedProgramID(ifindex: ifindex, interface: interface)
        if existing != 0 {
            guard force else {
                throw XDPError("bpf_xdp_query_id(\(interface))", kind: .busy,
                               message: "XDP program already attached to \(interface) (id \(existing)): use --force to replace it")
            }
            Self.detachAny(ifindex: ifindex, interface: interface)
        }
        let noExist = UInt32(XDP_FLAGS_UPDATE_IF_NOEXIST)
        let modes: [XDPAttachMode] = preferredMode.map { [$0] } ?? [.driver, .generic]
        var lastError: XDPError?
        for mode in modes {
            do {
                try XDPLib.attach(ifindex: ifindex, program: programFD, flags: noExist | mode.flag, interface: interface)
                attachMode = mode
                if mode == .generic && modes.count > 1 && !quiet {
                    Sys.printError("wirecap: note: \(interface) refused native XDP (\(lastError?.errnoDescription ?? "?")); using generic (SKB) mode\n")
                }
                return mode
            } catch {
                if error.errno == EBUSY || error.errno == EEXIST {
                    throw XDPError(error.operation, errno: error.errno, kind: .busy,
                                   message: "XDP program already attached to \(interface): use --force to replace it")
                }
                lastError = error
            }
        }
        var e = lastError!
        e.kind = .unsupported
        e.message = "XDP unsupported on \(interface): \(e.operation) failed: \(e.errnoDescription)"
        throw e
    }

    /// Puts an AF_XDP socket at `XSKMAP[queue]`.
    public func insert(socketFD: Int32, queue: UInt32) throws(XDPError) {
        try XDPLib.updateMap(mapFD, key: queue, value: socketFD)
    }

    /// Removes `XSKMAP[queue]` (packets of that queue then go to the stack).
    public func remove(queue: UInt32) {
        XDPLib.deleteMapEntry(mapFD, key: queue)
    }

    /// Detaches the program if this object attached it (only our own program:
    /// `old_prog_fd` is not used, so the attach mode is what is detached). Idempotent.
    public func detach() {
        guard let mode = attachMode else { return }
        attachMode = nil
        // Only remove the program if it is still ours.
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
