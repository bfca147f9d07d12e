#if canImport(Glibc)
import Glibc
#endif

/// The dense spill blocks of one queue (issue 14) and the blocks being filled:
/// one, or with flow routing one per route (``opens``), so that a delivered block
/// belongs to one consumer. The unsafe memory of spilling lives here and nowhere else.
///
/// **Where a block lives.** Block slot `b` (chunk `R + b` of its pool) is given,
/// when it is opened, the memory of a free frame chunk its ``ChunkPool`` lends
/// it (``open(_:lentChunk:)``): one chunk's bytes, M · frame size. So the
/// arena is not a region of its own: frames and blocks share the queue's memory.
///
/// **Layout.** A block's descriptor table grows up from its start, its packet
/// bytes grow down from its end, and the block is full when they would meet:
///
/// ```
///   block b:  [desc 0][desc 1] … [desc k-1] →   free   ← [bytes k-1] … [bytes 1][bytes 0]
///             └ CellDescriptor, 24 B each ┘               └ each 16-byte aligned ┘
/// ```
///
/// So a block of 64-byte packets holds one per 88 bytes (a frame holds one per
/// 2,048), and one of 1,500-byte packets one per 1,528. A record's bytes take at
/// least 16 (a packet of 0 bytes too), so a block holds at most
/// ``SpillGeometry/maxPacketsPerBlock(blockBytes:)`` packets. Consumers read a block as
/// they read a chunk: its table (``table(_:)``) through the handle, the bytes at
/// the queue's memory base plus each descriptor's address.
///
/// **Memory.** Live, the blocks are frame chunks of the queue's AF_XDP memory
/// (NUMA-placed, hugepage-capable), and ``append(_:)`` copies each packet's
/// bytes from its frame. Without memory (the simulator, core tests) the arena
/// allocates one block of tables per slot itself (pages are touched only as
/// tables grow) and copies no bytes (there are none): the descriptors, their
/// addresses and all the bookkeeping are the same.
///
/// - warning: Not thread-safe: the queue's capture thread writes (through its
///   ``ChunkPool``); consumers read only blocks they hold, published by the
///   capture lane's release/acquire pair.
public final class SpillArena: @unchecked Sendable {
    /// Block slots.
    public let blocks: Int
    /// Bytes per block: one frame chunk's.
    public let blockBytes: Int
    /// The queue's memory base (descriptor addresses are offsets from it), nil when
    /// there are no packet bytes to copy.
    @usableFromInline let base: UnsafeMutableRawPointer?
    /// Without memory: the arena's own tables, one block per slot.
    @usableFromInline let own: UnsafeMutableRawPointer?
    /// Per slot, where its block starts (set when the slot is opened).
    @usableFromInline let starts: UnsafeMutablePointer<UnsafeMutableRawPointer>

    /// Blocks that can be open at once (one per route of a flow-routed pool, else 1).
    public let opens: Int
    // Per open block o: its start, address, descriptors written, where its bytes begin, its table.
    @usableFromInline let openStart: UnsafeMutablePointer<UnsafeMutableRawPointer>
    @usableFromInline let openAddress: UnsafeMutablePointer<UInt64>
    @usableFromInline let openCounts: UnsafeMutablePointer<Int>
    @usableFromInline let openTop: UnsafeMutablePointer<Int>
    @usableFromInline let openTable: UnsafeMutablePointer<UnsafeMutablePointer<CellDescriptor>>

    /// Bytes one descriptor takes in a block.
    public static let descriptorBytes = MemoryLayout<CellDescriptor>.stride
    /// Alignment of each packet's first byte.
    public static let alignment = 16

    /// An arena of `blocks` slots of `blockBytes` each.
    ///
    /// - Parameters:
    ///   - memory: the queue's memory base (frame chunk `c` at `c · blockBytes`);
    ///     nil: allocate the tables, copy no bytes.
    ///   - opens: blocks open at once (one per route).
    public init(blocks: Int, blockBytes: Int, memory: UnsafeMutableRawPointer?, opens: Int = 1) {
        precondition(MemoryLayout<CellDescriptor>.stride == 24, "CellDescriptor is 24 bytes: the block layout assumes it")
        precondition(blocks >= 1 && blockBytes >= 4096 && blockBytes % 16 == 0, "SpillArena: \(blocks) blocks of \(blockBytes) B")
        self.blocks = blocks
        self.blockBytes = blockBytes
        base = memory
        if memory == nil {
            own = .allocate(byteCount: blocks * blockBytes, alignment: 4096)
        } else {
            own = nil
        }
        let first = memory ?? own!
        starts = .allocate(capacity: blocks)
        starts.initialize(repeating: first, count: blocks)
        precondition(opens >= 1, "SpillArena: \(opens) open blocks")
        self.opens = opens
        openStart = .allocate(capacity: opens); openStart.initialize(repeating: first, count: opens)
        openAddress = .allocate(capacity: opens); openAddress.initialize(repeating: 0, count: opens)
        openCounts = .allocate(capacity: opens); openCounts.initialize(repeating: 0, count: opens)
        openTop = .allocate(capacity: opens); openTop.initialize(repeating: blockBytes, count: opens)
        openTable = .allocate(capacity: opens)
        openTable.initialize(repeating: first.bindMemory(to: CellDescriptor.self, capacity: 1), count: opens)
    }

    deinit {
        own?.deallocate()
        starts.deallocate()
        openStart.deallocate(); openAddress.deallocate(); openCounts.deallocate(); openTop.deallocate(); openTable.deallocate()
    }

    /// The descriptor table of block slot `b` (its first cell), while it is open or delivered.
    @inlinable @inline(__always)
    public func table(_ b: Int) -> UnsafeMutablePointer<CellDescriptor> {
        starts[b].assumingMemoryBound(to: CellDescriptor.self)
    }

    /// Makes slot `b` open block `o`, empty, in the memory of frame chunk `chunk`.
    @inlinable
    func open(_ o: Int, slot b: Int, lentChunk chunk: Int) {
        let start = base.map { $0 + chunk &* blockBytes } ?? (own! + b &* blockBytes)
        openAddress[o] = UInt64(chunk) &* UInt64(blockBytes)
        openStart[o] = start
        starts[b] = start
        openCounts[o] = 0
        openTop[o] = blockBytes
        openTable[o] = start.bindMemory(to: CellDescriptor.self, capacity: blockBytes / Self.descriptorBytes)
    }

    /// Packets in open block `o`.
    @inlinable @inline(__always)
    func openCount(_ o: Int) -> Int { openCounts[o] }

    /// Copies one packet into open block `o`.
    ///
    /// - Returns: `false` when it does not fit (the block is full for it).
    @inlinable @inline(__always)
    func append(_ packet: CellDescriptor, to o: Int) -> Bool {
        let length = Int(packet.length)
        let count = openCounts[o]
        let top = openTop[o] &- max(16, (length &+ 15) & ~15)
        guard top >= (count &+ 1) &* 24 else { return false }
        if let base {
            memcpy(openStart[o] + top, base + Int(truncatingIfNeeded: packet.address), length)
        }
        openTable[o][count] = CellDescriptor(address: openAddress[o] &+ UInt64(top), length: packet.length,
                                             timestamp: packet.timestamp, flags: packet.flags)
        openCounts[o] = count &+ 1
        openTop[o] = top
        return true
    }

    /// Bytes a packet of `length` bytes takes in a block: its descriptor and its
    /// bytes, 16-aligned, at least 16.
    @inlinable @inline(__always)
    public static func recordBytes(_ length: Int) -> Int { 24 &+ max(16, (length &+ 15) & ~15) }

    /// Bytes open block `o` still has for records.
    @inlinable func openRoom(_ o: Int) -> Int { openTop[o] &- openCounts[o] &* 24 }

    /// The most packets of `length` bytes one block holds.
    public static func capacity(blockBytes: Int, length: Int) -> Int {
        blockBytes / (descriptorBytes + max(alignment, (length + alignment - 1) / alignment * alignment))
    }
}
