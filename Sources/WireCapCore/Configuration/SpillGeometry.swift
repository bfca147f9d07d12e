/// The spill arena of one queue (issue 14): `blocks` dense blocks of `blockBytes`
/// each, after the pool's frames in the same memory.
///
/// A frame holds one packet whatever its size (2 KiB for a 64-byte packet). Under
/// pressure the capture thread copies a chunk's packets into the open spill block
/// as packed records and gives the chunk's frames back to the kernel at once; the
/// block then travels the same lanes as a chunk. See ``SpillArena`` for the
/// layout and ``ChunkPool`` for when a chunk is spilled.
public struct SpillGeometry: Sendable, Hashable, CustomStringConvertible {
    /// Spill blocks per queue.
    public var blocks: Int
    /// Bytes per block: a multiple of 4 KiB, at least two frames' worth (so any
    /// packet fits an empty block), at most 64 MiB.
    public var blockBytes: Int

    /// The default block: 256 KiB, about 2,900 packets of 60–64 bytes (88 bytes
    /// each with its descriptor) or 170 of 1,500 bytes. Smaller blocks waste less
    /// when one is delivered part-full; larger ones mean fewer handles.
    public static let defaultBlockBytes = 256 * 1024

    public init(blocks: Int, blockBytes: Int = SpillGeometry.defaultBlockBytes) {
        self.blocks = blocks
        self.blockBytes = blockBytes
    }

    /// Bytes of the whole arena.
    public var arenaBytes: Int { blocks * blockBytes }

    /// The most packets one block can hold: every record takes at least 40 bytes
    /// (its 24-byte descriptor and 16 for the bytes, see ``SpillArena``).
    public var maxPacketsPerBlock: Int { blockBytes / 40 }

    /// Checks the block count and size against the pool's frame size.
    public func validate(frameSize: Int) throws(ConfigurationError) {
        // The bound keeps chunk indices (R + S) in 32 bits; the memory check says
        // much sooner that such an arena does not fit.
        guard blocks >= 1, blocks <= 1 << 28 else {
            throw ConfigurationError(.buffer, "spill blocks must be 1...\(1 << 28), got \(blocks)")
        }
        guard blockBytes % 4096 == 0, blockBytes >= 2 * frameSize, blockBytes <= 64 << 20 else {
            throw ConfigurationError(.buffer, "a spill block must be a multiple of 4 KiB, 2 frames (\(2 * frameSize) B) ... 64 MiB, got \(blockBytes) B")
        }
    }

    public var description: String { "\(blocks) × \(ByteCount(blockBytes)) spill blocks (\(ByteCount(arenaBytes)))" }
}

extension CaptureConfiguration {
    /// A configuration whose queues each take `bytes` of memory, split by
    /// ``BufferPlan`` (spilling unless `spill` is false): the live default of the
    /// CLI and of `EngineSettings`. `CaptureConfiguration()` is the paper's pool
    /// (no spill), which the simulator's experiments use.
    ///
    /// - Parameter fillRingSize: N, or nil for ``BufferPlan``'s rule.
    public static func buffered(
        bytes: Int = PoolGeometry.default.poolBytes, cellsPerChunk: Int = PoolGeometry.default.cellsPerChunk,
        fillRingSize: Int? = nil, spill: Bool = true, mode: CaptureMode = .advanced, offloadThresholdPercent: Int = 60,
        partialTimeoutNanoseconds: UInt64 = 1_000_000
    ) throws(ConfigurationError) -> CaptureConfiguration {
        let plan = try BufferPlan.split(budget: bytes, cellsPerChunk: cellsPerChunk, fillRingSize: fillRingSize, spill: spill)
        let c = CaptureConfiguration(geometry: plan.geometry, mode: mode, offloadThresholdPercent: offloadThresholdPercent,
                                     partialTimeoutNanoseconds: partialTimeoutNanoseconds, spill: plan.spill)
        try c.validate()
        return c
    }
}

/// How one queue's memory budget (`--buffer`) is split between AF_XDP frames and
/// the spill arena (issue 14). The choices, written down:
///
/// - **Frames**: the fill ring's N/M chunks plus ``zeroCopyChunks`` chunks for
///   the consumers to hold zero-copy. A consumer that keeps up holds one to three
///   chunks, so eight is room to spare; when they are all held, the next full
///   chunk is spilled (see ``ChunkPool``).
/// - **N**, when not given: the largest power of two whose frames take at most a
///   quarter of the budget, at most 16,384 (so 16,384 from 128 MiB per queue, the
///   default 250 MiB included), and at least M; spill on or off. The fill ring is
///   the kernel's reserve while the capture thread is off the CPU; it buffers
///   nothing a spill block could not hold 23× denser, and a pool must be larger
///   than its ring.
/// - **The arena**: the rest, in whole blocks of ``SpillGeometry/defaultBlockBytes``.
///   Fewer than two blocks: no spill (the frames take the whole budget).
/// - **Spill off**: R = budget / (M · frame size), the paper's pool alone (with
///   the same N).
public struct BufferPlan: Sendable, Hashable {
    /// The frame pool.
    public var geometry: PoolGeometry
    /// The arena, nil when spilling is off or there is no room for it.
    public var spill: SpillGeometry?

    /// Zero-copy chunks beyond the fill ring's when spilling is on.
    public static let zeroCopyChunks = 8

    /// Splits `budget` bytes per queue.
    ///
    /// - Parameters:
    ///   - fillRingSize: N, or nil for the rule above (16,384 when spill is off).
    ///   - spill: `true` to plan an arena.
    public static func split(budget: Int, cellsPerChunk m: Int, fillRingSize: Int?, frameSize: Int = 2048,
                             spill: Bool, blockBytes: Int = SpillGeometry.defaultBlockBytes) throws(ConfigurationError) -> BufferPlan {
        guard m >= 1, m <= 65536 else { throw ConfigurationError(.cellsPerChunk, "M (cells per chunk) must be 1...65536, got \(m)") }
        let chunkBytes = m * frameSize
        guard budget >= 2 * chunkBytes else {
            throw ConfigurationError(.buffer, "--buffer \(ByteCount(budget)) is below two chunks of M=\(m) frames (\(ByteCount(2 * chunkBytes)))")
        }
        var n = fillRingSize ?? 0
        if fillRingSize == nil {
            n = 8
            while n * 2 <= 16384 && n * 2 * frameSize <= budget / 4 { n *= 2 }
            n = max(n, m)   // a chunk's M frames must fit the ring
        }
        guard spill else {
            let g = PoolGeometry(cellsPerChunk: m, chunksPerPool: budget / chunkBytes, fillRingSize: n, frameSize: frameSize)
            try g.validate()
            return BufferPlan(geometry: g, spill: nil)
        }
        let frameChunks = n / max(1, m) + zeroCopyChunks
        let arena = budget - frameChunks * chunkBytes
        guard arena >= 2 * blockBytes else {
            // No room for an arena worth having: the budget is all frames, as with spill off.
            let g = PoolGeometry(cellsPerChunk: m, chunksPerPool: budget / chunkBytes, fillRingSize: n, frameSize: frameSize)
            try g.validate()
            return BufferPlan(geometry: g, spill: nil)
        }
        let g = PoolGeometry(cellsPerChunk: m, chunksPerPool: frameChunks, fillRingSize: n, frameSize: frameSize)
        try g.validate()
        let s = SpillGeometry(blocks: arena / blockBytes, blockBytes: blockBytes)
        try s.validate(frameSize: frameSize)
        return BufferPlan(geometry: g, spill: s)
    }
}
