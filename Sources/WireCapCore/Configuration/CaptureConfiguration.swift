/// Basic or advanced capture (paper §3.2.2a).
public enum CaptureMode: String, Sendable, Hashable, CaseIterable {
    /// Every queue is handled on its own: no offload.
    case basic
    /// Buddy-group offload: a capture thread whose capture queue is longer than
    /// T% of its capacity places chunks on the least busy buddy's capture queue.
    case advanced
}

/// What advanced mode moves to a less busy buddy (issue 15).
public enum OffloadPolicy: String, Sendable, Hashable, CaseIterable {
    /// Whole chunks (the paper's WireCAP-A): every flow on an overloaded queue is
    /// then processed by two consumers. Kept for the paper's experiments.
    case chunk
    /// Flow buckets (``FlowScheduler``): a chunk is delivered as per-consumer
    /// slices, a bucket moves only when its old consumer holds none of its packets,
    /// so a flow is processed by one consumer at a time and in order. The default of
    /// the engine's settings and the CLI.
    case flow
}

/// Everything the core needs to run a set of receive queues.
public struct CaptureConfiguration: Sendable, Hashable {
    /// The pool shape, the same for every queue.
    public var geometry: PoolGeometry
    /// Basic (no offload) or advanced (buddy-group offload).
    public var mode: CaptureMode
    /// T: offload when the own capture queue holds more than T% of its capacity (1...100).
    public var offloadThresholdPercent: Int
    /// A partly filled chunk is delivered when its oldest undelivered packet is this old.
    public var partialTimeoutNanoseconds: UInt64
    /// Spilling (issue 14): full chunks copied into dense blocks lent by free
    /// frame chunks under pressure; nil: no spill (the paper's pools alone).
    /// ``BufferPlan`` plans a memory budget.
    public var spill: SpillGeometry?
    /// What advanced mode offloads: chunks (the paper's, the core's default so its
    /// figures reproduce) or flow buckets. Basic mode ignores it.
    public var offload: OffloadPolicy
    /// Flow offload: buckets per receive queue (a power of two, 64 ... 65,536).
    public var flowBuckets: Int
    /// Flow offload: never spread a flow over consumers, not even one heavier than
    /// a consumer can take (an IDS's choice: its packets are dropped by the pool
    /// filling up and counted, rather than split).
    public var strictFlowAffinity: Bool

    /// The default ``flowBuckets``.
    public static let defaultFlowBuckets = 1024

    public init(
        geometry: PoolGeometry = .default,
        mode: CaptureMode = .advanced,
        offloadThresholdPercent: Int = 60,
        partialTimeoutNanoseconds: UInt64 = 1_000_000,
        spill: SpillGeometry? = nil,
        offload: OffloadPolicy = .chunk,
        flowBuckets: Int = CaptureConfiguration.defaultFlowBuckets,
        strictFlowAffinity: Bool = false
    ) {
        self.offload = offload
        self.flowBuckets = flowBuckets
        self.strictFlowAffinity = strictFlowAffinity
        self.geometry = geometry
        self.mode = mode
        self.offloadThresholdPercent = offloadThresholdPercent
        self.partialTimeoutNanoseconds = partialTimeoutNanoseconds
        self.spill = spill
    }

    /// Validates the geometry, T and the timeout.
    public func validate() throws(ConfigurationError) {
        try geometry.validate()
        try spill?.validate(geometry: geometry)
        guard (1...100).contains(offloadThresholdPercent) else {
            throw ConfigurationError(.offloadThreshold, "T (offload threshold) must be a percentage in 1...100, got \(offloadThresholdPercent)")
        }
        guard partialTimeoutNanoseconds > 0 else {
            throw ConfigurationError(.partialTimeout, "the partial-chunk timeout must be greater than 0")
        }
        guard (64...65536).contains(flowBuckets), flowBuckets & (flowBuckets - 1) == 0 else {
            throw ConfigurationError(.other, "flow buckets must be a power of two in 64...65536, got \(flowBuckets)")
        }
    }

    /// Bytes of one queue's buffer: its frames (R · M · frameSize); spill blocks live in them.
    public var queueBytes: Int { geometry.poolBytes }

    /// Spill blocks per pool (S, 0 without spilling): chunk indices R ..< R+S name them.
    public var spillBlocks: Int { spill?.blockSlots(chunks: geometry.chunksPerPool) ?? 0 }

    /// Packets of `length` bytes (as captured) one queue holds before the kernel
    /// must drop: the burst formula's C (issue 14). Spill off, or packets not worth
    /// copying (``SpillGeometry/isWorthCopying(length:frameSize:)``): R·M. Spill on:
    /// when the last chunk is lent, the fill ring's N frames hold a packet each and
    /// every other chunk a block of ``SpillArena/capacity(blockBytes:length:)``
    /// packets (chunks beyond the block limit, a packet per frame). The chunks the
    /// consumers held zero-copy when pressure began are counted as blocks: they are
    /// first in the lanes, so a consumer has taken them long before a burst that
    /// fills the pool ends (a stalled consumer keeps them: at most Z·M packets less).
    /// An upper bound by less than a record per block: a block closes when the
    /// next record does not fit, and a chunk waits when the open block and the free
    /// chunks cannot surely take it whole.
    public func packetCapacity(length: Int) -> Int {
        let g = geometry
        guard spill != nil, SpillGeometry.isWorthCopying(length: length, frameSize: g.frameSize) else { return g.cellsPerPool }
        let rest = g.chunksPerPool - g.segmentsPerRing
        let blocks = min(rest, spillBlocks)
        return g.fillRingSize + (rest - blocks) * g.cellsPerChunk + blocks * SpillArena.capacity(blockBytes: g.chunkBytes, length: length)
    }

    /// The most packets one handle can name: M, or a spill block's most.
    public var maxPacketsPerHandle: Int {
        spill == nil ? geometry.cellsPerChunk
            : max(geometry.cellsPerChunk, SpillGeometry.maxPacketsPerBlock(blockBytes: geometry.chunkBytes))
    }

    /// `true` when advanced mode moves flow buckets (``OffloadPolicy/flow``) among
    /// `queues` queues: chunks are then delivered as per-consumer slices.
    public func offloadsFlows(queues: Int) -> Bool { mode == .advanced && offload == .flow && queues > 1 }

    /// Buffer memory for `queues` receive queues.
    public func memoryRequired(queues: Int) -> Int { queues * queueBytes }
}

/// A configuration value that breaks a rule; `description` is one line naming the value and the rule.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which parameter is at fault.
    public enum Field: String, Sendable, Hashable {
        case cellsPerChunk = "M", chunksPerPool = "R", fillRingSize = "N", frameSize = "frame-size"
        case offloadThreshold = "T", partialTimeout = "timeout", queues = "queues", buffer = "buffer", other
    }
    public var field: Field
    public var message: String
    public init(_ field: Field, _ message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { message }
}
