#if canImport(Glibc)
import Glibc
#endif
import WireCapCore

/// The memory a capture will take, computed before anything is allocated, and
/// checked against what the machine has: a pool that cannot fit is refused with
/// one line instead of growing until the allocator traps.
public struct MemoryBudget: Sendable, Hashable {
    /// Bytes of packet memory (UMEMs or TPACKET_V3 rings), which the kernel pins
    /// (charged to RLIMIT_MEMLOCK without CAP_IPC_LOCK).
    public var pinnedBytes: UInt64
    /// Bytes of bookkeeping (descriptor tables, lanes), ordinary memory.
    public var tableBytes: UInt64
    /// How the figure was made, for the message.
    public var explanation: String

    /// Every byte.
    public var totalBytes: UInt64 { pinnedBytes &+ tableBytes }

    public init(pinnedBytes: UInt64, tableBytes: UInt64, explanation: String) {
        self.pinnedBytes = pinnedBytes
        self.tableBytes = tableBytes
        self.explanation = explanation
    }

    /// AF_XDP pools: per queue R·M frames plus a 24-byte descriptor and a 4-byte
    /// slice length per cell (spill blocks and their tables live in frame chunks),
    /// and capture and recycle lanes of the pool's item budget per queue pair.
    public static func pools(queues: Int, geometry: PoolGeometry, spill: SpillGeometry? = nil) -> MemoryBudget {
        let q = UInt64(queues)
        let cells = UInt64(geometry.cellsPerPool)
        let lanes = q * q * 2 * UInt64(2 * geometry.chunksPerPool + (spill?.blockSlots(chunks: geometry.chunksPerPool) ?? 0)) * 16
        return MemoryBudget(
            pinnedBytes: q * UInt64(geometry.poolBytes),
            tableBytes: q * cells * 28 + lanes,
            explanation: "\(queues) queue\(queues == 1 ? "" : "s") × (R=\(geometry.chunksPerPool) × M=\(geometry.cellsPerChunk) × \(geometry.frameSize) B)")
    }

    /// `MemAvailable` from `/proc/meminfo`, in bytes (nil when unreadable).
    public static var available: UInt64? {
        guard let text = Sys.readFile("/proc/meminfo") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let kib = line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }
            return kib.map { $0 * 1024 }
        }
        return nil
    }

    /// Throws a `.usage` error (one line with the sizes and the fix) when the capture
    /// cannot fit: more than the memory available, or more pinned memory than
    /// RLIMIT_MEMLOCK allows (after raising it as far as the process may).
    public func check() throws(XDPError) {
        if let free = Self.available, totalBytes > free {
            throw XDPError.usage("memory", "the capture needs \(ByteCount(Int(clamping: totalBytes))) (\(explanation), plus tables) and this machine has \(ByteCount(Int(clamping: free))) available: lower --buffer (or -R), or capture fewer queues")
        }
        Sys.raiseMemlockLimit()
        // CAP_IPC_LOCK (14) lifts the limit for UMEM and ring accounting.
        let ipcLock = Sys.effectiveCapabilities() & (1 << 14) != 0
        if let limit = Sys.memlockLimit(), pinnedBytes > limit, !Sys.isRoot, !ipcLock {
            throw XDPError("memory", kind: .permission, message: "the capture pins \(ByteCount(Int(clamping: pinnedBytes))) (\(explanation)) and RLIMIT_MEMLOCK allows \(ByteCount(Int(clamping: limit))): raise it (ulimit -l, LimitMEMLOCK=) or grant CAP_IPC_LOCK")
        }
    }
}
