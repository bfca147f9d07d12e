/// What travels through the work-queue pairs: the metadata of a captured chunk,
/// or of a slice of one (paper §3.2.1 "Capture": `{{nic, ring, chunk}, pkt_count}`).
///
/// The packets themselves never move. A handle names cells `start ..< start+count`
/// of chunk `chunk` in the pool of queue `queue`, as of the chunk's `generation`
/// (which changes every time the chunk is attached again, so a stale handle is
/// recognised and rejected on recycle), in the buddy group `group` (so a handle
/// recycled into another capture's group is rejected too).
///
/// A full chunk is delivered as one handle with `start == 0, count == M`. A chunk
/// whose packets waited longer than the partial-chunk timeout is delivered in
/// slices while its remaining frames are still with the kernel (zero-copy partial
/// delivery): see ``ChunkPool``.
@frozen
public struct ChunkHandle: Sendable, Hashable, BitwiseCopyable, CustomStringConvertible {
    /// Index of the origin queue (its pool) within its ``BuddyGroup``.
    public var queue: UInt16
    /// The ``BuddyGroup/identity`` of the group whose pool made the handle (0 for a
    /// pool made alone, as tests do). Fills what was padding: the handle stays 20 bytes.
    public var group: UInt16
    /// Index of the chunk within its pool.
    public var chunk: UInt32
    /// The chunk's attach generation when this handle was made.
    public var generation: UInt32
    /// First cell of the slice, 0 ..< M.
    public var start: UInt32
    /// Packets in the slice, 1 ... M.
    public var count: UInt32

    @inlinable
    public init(queue: UInt16, chunk: UInt32, generation: UInt32, start: UInt32, count: UInt32, group: UInt16 = 0) {
        self.queue = queue
        self.group = group
        self.chunk = chunk
        self.generation = generation
        self.start = start
        self.count = count
    }

    public var description: String {
        "q\(queue)/c\(chunk)@g\(generation)[\(start)..<\(start + count)]" + (group == 0 ? "" : " in group \(group)")
    }
}

/// One received packet as recorded in a chunk's descriptor table.
@frozen
public struct CellDescriptor: Sendable, Hashable, BitwiseCopyable {
    /// Offset of the packet's first byte in the pool's memory (an AF_XDP frame address,
    /// headroom included).
    public var address: UInt64
    /// Captured length in bytes.
    public var length: UInt32
    /// How the timestamp was taken: ``kernelTimestamp`` or 0 (see there).
    public var flags: UInt32
    /// Capture time in nanoseconds of the engine's clock.
    public var timestamp: UInt64

    /// ``flags`` bit: the kernel stamped the packet as it arrived (the XDP
    /// program's `bpf_ktime_get_ns`, per packet, ns). Without it the capture thread
    /// stamped it when it read the receive ring (one reading per batch of up to 256).
    public static let kernelTimestamp: UInt32 = 1

    @inlinable
    public init(address: UInt64, length: UInt32, timestamp: UInt64, flags: UInt32 = 0) {
        self.address = address
        self.length = length
        self.flags = flags
        self.timestamp = timestamp
    }
}

/// Why a recycle was refused (paper §3.2.2c: recycles are strictly validated).
public enum RecycleRejection: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The handle names another queue's pool, or a pool of another buddy group.
    case wrongPool
    /// The chunk index is outside the pool.
    case unknownChunk
    /// The chunk has been recycled and attached again since the handle was made.
    case staleGeneration
    /// The chunk is free: nothing of it is in user space.
    case notCaptured
    /// No slice starting at this cell is outstanding (for example a double recycle).
    case notOutstanding
    /// A slice starts at this cell, but with another length.
    case lengthMismatch

    public var description: String {
        switch self {
        case .wrongPool: "wrong pool"
        case .unknownChunk: "unknown chunk"
        case .staleGeneration: "stale generation"
        case .notCaptured: "chunk not captured"
        case .notOutstanding: "slice not outstanding (double recycle?)"
        case .lengthMismatch: "slice length mismatch"
        }
    }
}
