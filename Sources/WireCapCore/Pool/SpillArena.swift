#if canImport(Glibc)
import Glibc
#endif

/// The dense spill blocks of one queue (issue 14) and the one block being
/// filled. The unsafe memory of spilling lives here and nowhere else.
///
/// **Layout.** Block `b` starts at `first + b · blockBytes`. Its descriptor table
/// grows up from the block's start, its packet bytes grow down from its end, and
/// the block is full when they would meet:
///
/// ```
///   block b:  [desc 0][desc 1] … [desc k-1] →   free   ← [bytes k-1] … [bytes 1][bytes 0]
///             └ CellDescriptor, 24 B each ┘               └ each 16-byte aligned ┘
/// ```
///
/// So a block of 64-byte packets holds one per 88 bytes (a frame holds one per
/// 2,048), and one of 1,500-byte packets one per 1,528. A record's bytes take at
/// least 16 (a packet of 0 bytes too), so a block holds at most
/// ``SpillGeometry/maxPacketsPerBlock`` packets. Consumers read a block as
/// they read a chunk: its table (``table(_:)``) through the handle, the bytes at
/// the queue's memory base plus each descriptor's address.
///
/// **Memory.** Live, the arena is the tail of the queue's memory (after the AF_XDP
/// frames, in the same NUMA-placed, hugepage-capable mapping, not registered
/// with the kernel), and ``append(_:)`` copies each packet's bytes from its frame.
/// Without memory (the simulator, core tests) the arena allocates its blocks
/// itself and copies no bytes (there are none): the tables and all the
/// bookkeeping are the same.
///
/// - warning: Not thread-safe: the queue's capture thread writes (through its
///   ``ChunkPool``); consumers read only blocks they hold, published by the
///   capture lane's release/acquire pair.
public final class SpillArena: @unchecked Sendable {
    /// Blocks in the arena.
    public let blocks: Int
    /// Bytes per block.
    public let blockBytes: Int
    /// The first block.
    @usableFromInline let first: UnsafeMutableRawPointer
    /// The queue's memory base (descriptor addresses are offsets from it), nil when
    /// there are no packet bytes to copy.
    @usableFromInline let base: UnsafeMutableRawPointer?
    /// The address (offset from the queue's memory base) of block 0.
    @usableFromInline let firstAddress: UInt64
    @usableFromInline let ownsMemory: Bool

    // The open block: its index, descriptors written, and where its bytes begin.
    @usableFromInline var openIndex = 0
    @usableFromInline var openCount = 0
    @usableFromInline var openTop = 0
    @usableFromInline var openTable: UnsafeMutablePointer<CellDescriptor>

    /// Bytes one descriptor takes in a block.
    public static let descriptorBytes = MemoryLayout<CellDescriptor>.stride
    /// Alignment of each packet's first byte.
    public static let alignment = 16

    /// An arena of `geometry.blocks` blocks.
    ///
    /// - Parameters:
    ///   - memory: the queue's memory base (frames from 0), with the arena at
    ///     `arenaOffset`; nil: allocate the blocks, copy no bytes.
    ///   - arenaOffset: where the arena starts from the base (the frames' bytes).
    public init(geometry: SpillGeometry, memory: UnsafeMutableRawPointer?, arenaOffset: Int) {
        precondition(MemoryLayout<CellDescriptor>.stride == 24, "CellDescriptor is 24 bytes: the block layout assumes it")
        blocks = geometry.blocks
        blockBytes = geometry.blockBytes
        firstAddress = UInt64(arenaOffset)
        if let memory {
            base = memory
            first = memory + arenaOffset
            ownsMemory = false
        } else {
            base = nil
            first = .allocate(byteCount: geometry.arenaBytes, alignment: 4096)
            ownsMemory = true
        }
        openTable = first.bindMemory(to: CellDescriptor.self, capacity: 1)
        openTop = blockBytes
    }

    deinit { if ownsMemory { first.deallocate() } }

    /// The descriptor table of block `b` (its first cell).
    @inlinable @inline(__always)
    public func table(_ b: Int) -> UnsafeMutablePointer<CellDescriptor> {
        (first + b &* blockBytes).assumingMemoryBound(to: CellDescriptor.self)
    }

    /// Makes block `b` the open block, empty.
    @inlinable
    func open(_ b: Int) {
        openIndex = b
        openCount = 0
        openTop = blockBytes
        openTable = (first + b &* blockBytes).bindMemory(to: CellDescriptor.self, capacity: blockBytes / Self.descriptorBytes)
    }

    /// Copies one packet into the open block.
    ///
    /// - Returns: `false` when it does not fit (the block is full for it).
    @inlinable @inline(__always)
    func append(_ packet: CellDescriptor) -> Bool {
        let length = Int(packet.length)
        let top = openTop &- max(16, (length &+ 15) & ~15)
        guard top >= (openCount &+ 1) &* 24 else { return false }
        let offset = openIndex &* blockBytes &+ top
        if let base {
            memcpy(first + offset, base + Int(truncatingIfNeeded: packet.address), length)
        }
        openTable[openCount] = CellDescriptor(address: firstAddress &+ UInt64(offset), length: packet.length,
                                              timestamp: packet.timestamp, flags: packet.flags)
        openCount &+= 1
        openTop = top
        return true
    }

    /// Bytes a packet of `length` bytes takes in a block: its descriptor and its
    /// bytes, 16-aligned, at least 16.
    @inlinable @inline(__always)
    public static func recordBytes(_ length: Int) -> Int { 24 &+ max(16, (length &+ 15) & ~15) }

    /// Bytes the open block still has for records.
    @inlinable var openRoom: Int { openTop &- openCount &* 24 }

    /// The most packets of `length` bytes one block holds.
    public static func capacity(blockBytes: Int, length: Int) -> Int {
        blockBytes / (descriptorBytes + max(alignment, (length + alignment - 1) / alignment * alignment))
    }
}
