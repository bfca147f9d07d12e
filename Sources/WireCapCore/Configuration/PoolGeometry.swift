/// The shape of one receive queue's ring-buffer pool (paper §3.2.1).
///
/// ```
///  pool (R chunks) ─┬─ chunk 0: cell 0 | cell 1 | … | cell M-1   (M · frameSize bytes)
///                   ├─ chunk 1: …
///                   └─ chunk R-1
///  fill ring: N descriptors = N/M descriptor segments, one attached chunk each
/// ```
///
/// Frame addresses are offsets into the pool's memory: cell `c` of chunk `k`
/// lives at `k · M · frameSize + c · frameSize`. The receive ring may return
/// frames in any order, so the owning chunk of a frame is always found by
/// address (`offset / chunkBytes`), never by position.
public struct PoolGeometry: Sendable, Hashable, CustomStringConvertible {
    /// M: packet cells per chunk (a descriptor segment's length).
    public var cellsPerChunk: Int
    /// R: chunks in the pool.
    public var chunksPerPool: Int
    /// N: fill-ring descriptors (the receive ring of the paper). Power of two.
    public var fillRingSize: Int
    /// Size of one cell (an AF_XDP frame). Power of two, 2048...4096.
    public var frameSize: Int

    /// Defaults: the paper's WireCAP-B(256, 500) with 2 KiB cells, and N = 16384.
    ///
    /// The paper's N = 1024 was the 82599's receive ring. On AF_XDP, N is the fill
    /// ring: the frames the kernel can receive into before the capture thread posts
    /// more. Those frames come out of the pool, so a larger N costs no memory; it
    /// buys time for a capture thread that is late: at 1.2 Mpps per queue 16384
    /// frames last 13 ms. Measured on the 2-core testbed at the generator's maximum
    /// (2.1–2.7 Mpps over 2 queues, the generator sharing the cores): N = 4096 lost
    /// 0.4–1.0% (kernel: no frame posted), N = 16384 lost nothing.
    public static let `default` = PoolGeometry(cellsPerChunk: 256, chunksPerPool: 500, fillRingSize: 16384, frameSize: 2048)

    public init(cellsPerChunk: Int, chunksPerPool: Int, fillRingSize: Int, frameSize: Int = 2048) {
        self.cellsPerChunk = cellsPerChunk
        self.chunksPerPool = chunksPerPool
        self.fillRingSize = fillRingSize
        self.frameSize = frameSize
    }

    /// Bytes of one chunk: M · frameSize.
    public var chunkBytes: Int { cellsPerChunk * frameSize }
    /// Bytes of one pool: R · M · frameSize.
    public var poolBytes: Int { chunksPerPool * chunkBytes }
    /// Cells in one pool: R · M (the pool's buffering capacity in packets).
    public var cellsPerPool: Int { chunksPerPool * cellsPerChunk }
    /// N / M: how many chunks the fill ring holds at once.
    public var segmentsPerRing: Int { fillRingSize / cellsPerChunk }

    /// Checks the paper's rules and the AF_XDP ring constraints.
    ///
    /// - M ≥ 1 and M divides N (a descriptor segment is M descriptors);
    /// - N is a power of two (AF_XDP rings are indexed with a mask), 8...65536;
    /// - R > N/M (the pool must be larger than the ring, or it buffers nothing);
    /// - frame size is a power of two in 2048...4096 (aligned UMEM chunks);
    /// - R · M fits in 32 bits (chunk and cell indices are UInt32).
    public func validate() throws(ConfigurationError) {
        guard cellsPerChunk >= 1 else {
            throw ConfigurationError(.cellsPerChunk, "M (cells per chunk) must be at least 1, got \(cellsPerChunk)")
        }
        guard fillRingSize >= 8, fillRingSize <= 65536, fillRingSize & (fillRingSize - 1) == 0 else {
            throw ConfigurationError(.fillRingSize, "N (fill ring size) must be a power of two in 8...65536, got \(fillRingSize)")
        }
        guard cellsPerChunk <= fillRingSize, fillRingSize % cellsPerChunk == 0 else {
            throw ConfigurationError(.cellsPerChunk, "M (\(cellsPerChunk)) must divide N (\(fillRingSize))")
        }
        guard chunksPerPool > segmentsPerRing else {
            throw ConfigurationError(.chunksPerPool, "R (\(chunksPerPool)) must be greater than N/M = \(segmentsPerRing)")
        }
        guard frameSize >= 2048, frameSize <= 4096, frameSize & (frameSize - 1) == 0 else {
            throw ConfigurationError(.frameSize, "frame size must be 2048 or 4096 bytes, got \(frameSize)")
        }
        guard cellsPerPool < Int(UInt32.max) else {
            throw ConfigurationError(.chunksPerPool, "R·M = \(cellsPerPool) cells is too large (limit \(UInt32.max))")
        }
    }

    public var description: String {
        "M=\(cellsPerChunk) R=\(chunksPerPool) N=\(fillRingSize) frame=\(frameSize)B (\(ByteCount(poolBytes)) per pool)"
    }
}

/// A byte count printed for people, the one formatter of the project: whole units
/// when exact (`256 KiB`, `16 MiB`), else one decimal (`1.9 GiB`); below 1 KiB, `B`.
public struct ByteCount: Sendable, CustomStringConvertible {
    public var bytes: Int
    public init(_ bytes: Int) { self.bytes = bytes }

    /// Reads a size as people write it: a whole number with an optional unit,
    /// `B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` (all powers of 1,024; `KB`,
    /// `MB`, … are read the same way), e.g. `256MiB`, `2G`, `65536`. nil when it is
    /// not one, or is 0 or beyond 2⁶².
    public static func parse(_ text: String) -> Int? {
        let t = text.filter { $0 != " " }
        let digits = t.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let n = Int(digits), n > 0 else { return nil }
        let unit = t.dropFirst(digits.count).lowercased()
        let shifts: [String: Int] = ["": 0, "b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20,
                                     "g": 30, "gb": 30, "gib": 30, "t": 40, "tb": 40, "tib": 40]
        guard let shift = shifts[unit], n <= (1 << 62) >> shift else { return nil }
        return n << shift
    }
    public var description: String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var i = 0
        while i < units.count - 1, bytes.magnitude >= UInt(1) << (10 * (i + 1)) { i += 1 }
        if i == 0 { return "\(bytes) B" }
        let unit = 1 << (10 * i)
        if bytes % unit == 0 { return "\(bytes / unit) \(units[i])" }
        let tenths = Int((Double(bytes) / Double(unit) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[i])"
    }
}
