/// Basic or advanced capture (paper §3.2.2a).
public enum CaptureMode: String, Sendable, Hashable, CaseIterable {
    /// Every queue is handled on its own: no offload.
    case basic
    /// Buddy-group offload: a capture thread whose capture queue is longer than
    /// T% of its capacity places chunks on the least busy buddy's capture queue.
    case advanced
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
    /// Each queue's spill arena (issue 14), after its frames; nil: no spill (the
    /// paper's pools alone). ``BufferPlan`` splits a memory budget into both.
    public var spill: SpillGeometry?

    public init(
        geometry: PoolGeometry = .default,
        mode: CaptureMode = .advanced,
        offloadThresholdPercent: Int = 60,
        partialTimeoutNanoseconds: UInt64 = 1_000_000,
        spill: SpillGeometry? = nil
    ) {
        self.geometry = geometry
        self.mode = mode
        self.offloadThresholdPercent = offloadThresholdPercent
        self.partialTimeoutNanoseconds = partialTimeoutNanoseconds
        self.spill = spill
    }

    /// Validates the geometry, T and the timeout.
    public func validate() throws(ConfigurationError) {
        try geometry.validate()
        try spill?.validate(frameSize: geometry.frameSize)
        guard (1...100).contains(offloadThresholdPercent) else {
            throw ConfigurationError(.offloadThreshold, "T (offload threshold) must be a percentage in 1...100, got \(offloadThresholdPercent)")
        }
        guard partialTimeoutNanoseconds > 0 else {
            throw ConfigurationError(.partialTimeout, "the partial-chunk timeout must be greater than 0")
        }
    }

    /// Bytes of one queue's buffer: its frames (R · M · frameSize) and its spill arena.
    public var queueBytes: Int { geometry.poolBytes + (spill?.arenaBytes ?? 0) }

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
