#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

// The AF_PACKET syscalls, wrapped once (through `syscall(_:_:)` of Syscall.swift,
// which retries EINTR and converts errno): socket, the TPACKET_V3 ring setup,
// bind, fanout, the drop-all filter and PACKET_STATISTICS.

extension FanoutMode {
    var kernelValue: Int32 {
        switch self {
        case .hash: PACKET_FANOUT_HASH
        case .cpu: PACKET_FANOUT_CPU
        case .lb: PACKET_FANOUT_LB
        case .qm: PACKET_FANOUT_QM
        }
    }
}

/// One AF_PACKET socket with its mapped TPACKET_V3 RX_RING.
///
/// Setup order (``init(ifindex:interface:geometry:retireMilliseconds:)`` then
/// ``joinFanout(_:)`` then ``openFilter()``): socket → drop-all filter →
/// PACKET_VERSION=V3 → PACKET_IGNORE_OUTGOING → PACKET_RX_RING → mmap → bind →
/// (all sockets) PACKET_FANOUT → detach the filter. The drop-all filter keeps the
/// ring empty between bind (each socket alone sees *every* packet) and the
/// fanout join (each packet goes to one socket): without it the first packets
/// would be captured twice.
///
/// - warning: Not thread-safe: the engine's control thread sets it up and closes it;
///   the capture thread serving it reads statistics and block status words.
package final class AFPacketSocket: @unchecked Sendable {
    package let fd: Int32
    package let ring: UnsafeMutableRawPointer
    package let ringBytes: Int
    package let geometry: AFPacketGeometry

    package init(ifindex: UInt32, interface: String, geometry: AFPacketGeometry, retireMilliseconds: UInt32) throws(XDPError) {
        self.geometry = geometry
        let protocolBE = UInt16(ETH_P_ALL).bigEndian
        // Protocol 0: the socket hooks no traffic until bind() names ETH_P_ALL and the
        // interface (with ETH_P_ALL here it would see every interface's packets, and
        // count them in PACKET_STATISTICS, before the drop-all filter is on).
        let fd = try syscall("socket(AF_PACKET, SOCK_RAW)") {
            socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        var mapped: UnsafeMutableRawPointer?
        do throws(XDPError) {
            try Self.setDropAllFilter(fd)
            var version = Int32(TPACKET_V3.rawValue)
            try Self.setOption(fd, SOL_PACKET, PACKET_VERSION, &version, "PACKET_VERSION=TPACKET_V3")
            // Receive only (like an AF_XDP rx socket): without it, frames this host
            // sends on the interface would be captured too. Kernel ≥ 4.20; older: ignored.
            var one: Int32 = 1
            try? Self.setOption(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, "PACKET_IGNORE_OUTGOING")
            var request = tpacket_req3()
            request.tp_block_size = UInt32(geometry.blockSize)
            request.tp_block_nr = UInt32(geometry.blocks)
            // V3 packs packets of any size into a block; the frame size only has to
            // divide the block (the kernel checks frame_nr = block_nr · block/frame).
            request.tp_frame_size = 2048
            request.tp_frame_nr = UInt32(geometry.blocks * (geometry.blockSize / 2048))
            request.tp_retire_blk_tov = retireMilliseconds
            request.tp_sizeof_priv = 0
            request.tp_feature_req_word = 0
            try Self.setOption(fd, SOL_PACKET, PACKET_RX_RING, &request, "PACKET_RX_RING(\(geometry))")
            let bytes = geometry.blocks * geometry.blockSize
            // MAP_POPULATE: fault the page tables in now, not per block in a consumer.
            guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0), p != MAP_FAILED else {
                throw XDPError("mmap(PACKET_RX_RING, \(bytes) bytes)", errno: errno)
            }
            mapped = p
            var address = sockaddr_ll()
            address.sll_family = UInt16(AF_PACKET)
            address.sll_protocol = protocolBE
            address.sll_ifindex = Int32(ifindex)
            try withUnsafePointer(to: &address) { (p) throws(XDPError) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { (sa) throws(XDPError) in
                    _ = try syscall("bind(AF_PACKET, \(interface))") {
                        bind(fd, sa, socklen_t(MemoryLayout<sockaddr_ll>.size))
                    }
                }
            }
        } catch {
            if let mapped { _ = munmap(mapped, geometry.blocks * geometry.blockSize) }
            Sys.close(fd)
            throw error
        }
        self.fd = fd
        ring = mapped!
        ringBytes = geometry.blocks * geometry.blockSize
    }

    deinit {
        _ = munmap(ring, ringBytes)
        Sys.close(fd)
    }

    private static func setOption<T: BitwiseCopyable>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: inout T,
                                     _ what: @autoclosure () -> String) throws(XDPError) {
        let size = socklen_t(MemoryLayout<T>.size)
        try syscall("setsockopt(\(what()))") { setsockopt(fd, level, name, &value, size) }
    }

    /// A one-instruction classic BPF program returning 0 (drop everything).
    private static func setDropAllFilter(_ fd: Int32) throws(XDPError) {
        var instruction = sock_filter(code: UInt16(BPF_RET | BPF_K), jt: 0, jf: 0, k: 0)
        try withUnsafeMutablePointer(to: &instruction) { (p) throws(XDPError) in
            var program = sock_fprog(len: 1, filter: p)
            try setOption(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, "SO_ATTACH_FILTER(drop all)")
        }
    }

    /// Removes the drop-all filter: the socket starts receiving (call after the fanout join).
    package func openFilter() throws(XDPError) {
        var zero: Int32 = 0
        try Self.setOption(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, "SO_DETACH_FILTER")
    }

    /// Joins fanout group `id` (0 with `unique`: let the kernel pick a free id).
    /// - Returns: the group id (read back with `getsockopt(PACKET_FANOUT)`).
    package func joinFanout(id: UInt16, mode: FanoutMode, rollover: Bool, unique: Bool) throws(XDPError) -> UInt16 {
        var flags = mode.kernelValue
        if rollover { flags |= PACKET_FANOUT_FLAG_ROLLOVER }
        if unique { flags |= PACKET_FANOUT_FLAG_UNIQUEID }
        var argument = Int32(id) | (flags << 16)
        try Self.setOption(fd, SOL_PACKET, PACKET_FANOUT, &argument, "PACKET_FANOUT(\(mode.rawValue)\(rollover ? "+rollover" : ""))")
        var value: Int32 = 0
        var length = socklen_t(4)
        try syscall("getsockopt(PACKET_FANOUT)") { getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &value, &length) }
        return UInt16(truncatingIfNeeded: value & 0xffff)
    }

    /// Lets no packet in any more (the drop-all filter again): the stop of a capture.
    /// Packets the filter rejects are not counted by PACKET_STATISTICS.
    package func closeFilter() throws(XDPError) {
        try Self.setDropAllFilter(fd)
    }

    /// PACKET_STATISTICS since the previous call (the kernel resets them on read):
    /// packets offered to the socket after its filter (`tp_packets`, which the kernel
    /// reports with `tp_drops` included), packets dropped because no block was free,
    /// and times the ring froze.
    package func readStatistics() -> (packets: UInt64, drops: UInt64, freezes: UInt64) {
        var stats = tpacket_stats_v3()
        var length = socklen_t(MemoryLayout<tpacket_stats_v3>.size)
        guard (try? syscall("getsockopt(PACKET_STATISTICS)") {
            getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &length)
        }) != nil else { return (0, 0, 0) }
        return (UInt64(stats.tp_packets), UInt64(stats.tp_drops), UInt64(stats.tp_freeze_q_cnt))
    }

    // MARK: Blocks

    /// The header of block `b`.
    @inline(__always)
    package func block(_ b: Int) -> UnsafeMutableRawPointer { ring + b &* geometry.blockSize }
}

/// Views into one TPACKET_V3 block (`struct tpacket_block_desc`, `tpacket_hdr_v1`).
///
/// **The status word is shared with the kernel.** `block_status` is the only
/// field both sides write: the kernel sets TP_STATUS_USER (plus flags such as
/// TP_STATUS_BLK_TMO) when it retires a block, user space stores TP_STATUS_KERNEL
/// to give it back. Everything else in a user-owned block is read-only for us
/// and untouched by the kernel until the status is KERNEL again.
package enum TPacketBlock {
    static let statusOffset = MemoryLayout<tpacket_block_desc>.offset(of: \.hdr)! + MemoryLayout<tpacket_hdr_v1>.offset(of: \.block_status)!
    static let countOffset = MemoryLayout<tpacket_block_desc>.offset(of: \.hdr)! + MemoryLayout<tpacket_hdr_v1>.offset(of: \.num_pkts)!
    static let firstOffset = MemoryLayout<tpacket_block_desc>.offset(of: \.hdr)! + MemoryLayout<tpacket_hdr_v1>.offset(of: \.offset_to_first_pkt)!
    static let sequenceOffset = MemoryLayout<tpacket_block_desc>.offset(of: \.hdr)! + MemoryLayout<tpacket_hdr_v1>.offset(of: \.seq_num)!
    /// The corresponding C constants are `TP_STATUS_KERNEL`, `TP_STATUS_USER`, `TP_STATUS_BLK_TMO`.
    static let kernel = UInt32(TP_STATUS_KERNEL), user = UInt32(TP_STATUS_USER), retiredByTimer = UInt32(TP_STATUS_BLK_TMO)

    @inline(__always)
    package static func status(_ block: UnsafeMutableRawPointer) -> UnsafeAtomic<UInt32> {
        UnsafeAtomic(at: (block + statusOffset).assumingMemoryBound(to: UInt32.AtomicRepresentation.self))
    }

    /// Packets in a user-owned block (plain load: read after the acquire of the status).
    @inline(__always)
    package static func count(_ block: UnsafeRawPointer) -> UInt32 { block.load(fromByteOffset: countOffset, as: UInt32.self) }

    @inline(__always)
    package static func firstPacket(_ block: UnsafeRawPointer) -> Int { Int(block.load(fromByteOffset: firstOffset, as: UInt32.self)) }

    /// The kernel's block sequence number (increases by one per block it opens).
    @inline(__always)
    package static func sequence(_ block: UnsafeRawPointer) -> UInt64 { block.load(fromByteOffset: sequenceOffset, as: UInt64.self) }
}

extension MemoryBudget {
    /// AF_PACKET rings: per socket blocks × block size, and the block descriptor tables.
    public static func rings(sockets: Int, geometry: AFPacketGeometry) -> MemoryBudget {
        let s = UInt64(sockets)
        return MemoryBudget(
            pinnedBytes: s * UInt64(geometry.blocks * geometry.blockSize),
            tableBytes: s * UInt64(geometry.blocks) * UInt64(geometry.maxPacketsPerBlock) * 28,
            explanation: "\(sockets) socket\(sockets == 1 ? "" : "s") × \(geometry.blocks) blocks × \(geometry.blockSize) B")
    }
}
