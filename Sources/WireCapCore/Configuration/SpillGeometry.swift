/// Spilling (issue 14) for one queue: under pressure, full chunks are copied into
/// dense *spill blocks*, and each block lives in a free frame chunk the pool lends
/// it, so frames and blocks share one memory budget and its split follows the
/// traffic.
///
/// A frame holds one packet whatever its size (2 KiB for a 64-byte packet). Under
/// pressure the capture thread copies a chunk's packets into the open spill block
/// as packed records and gives the chunk's frames back to the kernel at once; the
/// block then travels the same lanes as a chunk. A block is one chunk's memory
/// (M · frame size bytes); while it is open or delivered, the frame chunk it
/// borrowed is `lent` and the kernel never sees its frames. See ``SpillArena``
/// for the layout and ``ChunkPool`` for when a chunk is spilled (and why chunks
/// of large packets never are).
public struct SpillGeometry: Sendable, Hashable, CustomStringConvertible {
    /// The most spill blocks open or delivered at once; nil: one per frame chunk (R).
    /// Each block borrows a free frame chunk, so the frames are the real limit.
    public var blocks: Int?
    /// Frame chunks consumers may hold zero-copy before pressure starts (at most
    /// R − N/M − 1). A consumer that keeps up holds one to three, so eight is room
    /// to spare; when they are all held, the next full chunk is spilled.
    public var zeroCopyChunks: Int

    /// The default zero-copy allowance.
    public static let defaultZeroCopyChunks = 8

    public init(blocks: Int? = nil, zeroCopyChunks: Int = SpillGeometry.defaultZeroCopyChunks) {
        self.blocks = blocks
        self.zeroCopyChunks = zeroCopyChunks
    }

    /// Spill blocks of a pool of `chunks` frame chunks: ``blocks``, at most R.
    public func blockSlots(chunks: Int) -> Int { min(blocks ?? chunks, chunks) }

    /// The most packets one block of `blockBytes` (a chunk's bytes) can hold: every
    /// record takes at least 40 bytes (its 24-byte descriptor and 16 for the bytes,
    /// see ``SpillArena``).
    public static func maxPacketsPerBlock(blockBytes: Int) -> Int { blockBytes / 40 }

    /// Whether packets of `length` bytes are copied under pressure: their records
    /// take at most half a frame (about 1,000 bytes or less with 2 KiB frames).
    /// ``ChunkPool`` applies the same rule to the sum over a chunk's packets.
    public static func isWorthCopying(length: Int, frameSize: Int) -> Bool {
        SpillArena.recordBytes(length) * 2 <= frameSize
    }

    /// Checks the limits against the pool they are for.
    public func validate(geometry: PoolGeometry) throws(ConfigurationError) {
        if let blocks, blocks < 1 {
            throw ConfigurationError(.buffer, "spill blocks must be at least 1, got \(blocks)")
        }
        guard zeroCopyChunks >= 1 else {
            throw ConfigurationError(.buffer, "the zero-copy allowance must be at least 1 chunk, got \(zeroCopyChunks)")
        }
        guard geometry.cellsPerChunk >= 2 else {
            throw ConfigurationError(.cellsPerChunk, "spilling needs M of at least 2 (a spill block is one chunk's memory): use --spill off with M=1")
        }
        guard geometry.chunksPerPool >= geometry.segmentsPerRing + 2 else {
            throw ConfigurationError(.buffer, "spilling needs R of at least N/M + 2 (a chunk to hold zero-copy and one to lend a block), got R=\(geometry.chunksPerPool), N/M=\(geometry.segmentsPerRing)")
        }
    }

    public var description: String {
        "spill blocks in lent chunks (\(blocks.map { "at most \($0), " } ?? "")\(zeroCopyChunks) zero-copy chunks before pressure)"
    }
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

/// How one queue's memory budget (`--buffer`) is laid out (issue 14). The
/// choices, written down:
///
/// - **Frames**: the whole budget, R = budget / (M · frame size) chunks, spill on
///   or off. With spill on, a free chunk becomes a spill block when one is needed
///   (see ``SpillGeometry``): the split between frames and dense blocks is made
///   by the traffic, so a budget is never smaller as frames than with spill off,
///   and large packets (which are never spilled) find exactly spill off's pool.
/// - **N**, when not given: the largest power of two whose frames take at most a
///   quarter of the budget, at most 16,384 (so 16,384 from 128 MiB per queue, the
///   default 250 MiB included), and at least M. The fill ring is the kernel's
///   reserve while the capture thread is off the CPU; it buffers nothing a spill
///   block could not hold 23× denser, and a pool must be larger than its ring.
/// - **Spill** needs R ≥ N/M + 2; a smaller budget is planned without it.
public struct BufferPlan: Sendable, Hashable {
    /// The frame pool (the whole budget).
    public var geometry: PoolGeometry
    /// Spilling, nil when off or the pool is too small for it.
    public var spill: SpillGeometry?

    /// Plans `budget` bytes per queue.
    ///
    /// - Parameters:
    ///   - fillRingSize: N, or nil for the rule above.
    ///   - spill: `true` to spill under pressure.
    public static func split(budget: Int, cellsPerChunk m: Int, fillRingSize: Int?, frameSize: Int = 2048,
                             spill: Bool) throws(ConfigurationError) -> BufferPlan {
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
        let g = PoolGeometry(cellsPerChunk: m, chunksPerPool: budget / chunkBytes, fillRingSize: n, frameSize: frameSize)
        try g.validate()
        let s = SpillGeometry()
        guard spill, (try? s.validate(geometry: g)) != nil else { return BufferPlan(geometry: g, spill: nil) }
        return BufferPlan(geometry: g, spill: s)
    }
}
