import WireCapCore
import WireCapTrace

/// The capture engines the simulator models (paper §2.1 and §3).
public enum EngineKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// Type-II, NETMAP: the ring is the buffer; slots the application has read go
    /// back to the NIC only at its next sync (batch release).
    case netmap
    /// Type-II, DNA: the ring is the buffer; a descriptor is ready again as soon
    /// as the application has consumed its packet.
    case dna
    /// Type-I, PF_RING (mode 2): the kernel copies each packet from the ring into
    /// a per-queue buffer at a per-packet cost; a full buffer is a delivery drop.
    case pfring
    /// WireCAP basic mode on WireCapCore's pools and work queues.
    case wirecapBasic = "wirecap-basic"
    /// WireCAP advanced mode (buddy-group offload) on WireCapCore.
    case wirecapAdvanced = "wirecap-advanced"

    /// `true` for the WireCAP engines (which run the core's code).
    public var isWireCap: Bool { self == .wirecapBasic || self == .wirecapAdvanced }
}

/// How fast the trace is replayed.
public enum ReplaySpeed: Sendable, Hashable, CustomStringConvertible {
    /// Timestamps as recorded.
    case recorded
    /// Recorded gaps divided by the factor (2 = twice as fast).
    case factor(Double)
    /// Back to back at the given link rate (wire time of each frame, preamble and gap included).
    case lineRate(bitsPerSecond: UInt64)

    /// 10 Gb/s line rate: 14.88 Mpps for 64-byte frames.
    public static let tenGigabitLineRate = ReplaySpeed.lineRate(bitsPerSecond: SyntheticTrace.tenGigabit)

    public var description: String {
        switch self {
        case .recorded: "recorded"
        case .factor(let f): "x\(f)"
        case .lineRate(let b): "line-rate(\(b / 1_000_000) Mb/s)"
        }
    }
}

/// The per-packet work of a consumer thread (the paper's `pkt_handler`).
public enum ConsumerModel: Sendable, Hashable, CustomStringConvertible {
    /// No work: packets are consumed the instant they are available (x = 0).
    case none
    /// A fixed processing rate, packets per second.
    case rate(Double)
    /// `x` BPF runs per packet at `costNanoseconds` each.
    case bpf(x: Int, costNanoseconds: Double)

    /// The cost of one run of the paper's filter "131.225.2 and udp" implied by the
    /// paper itself: x = 300 gives 38,844 p/s at 2.4 GHz, so 1e9 / 38,844 / 300 ns.
    public static let paperBPFCostNanoseconds = 1e9 / 38_844 / 300

    /// The paper's heavy load: x = 300, 38,844 p/s.
    public static let paperHeavy = ConsumerModel.bpf(x: 300, costNanoseconds: paperBPFCostNanoseconds)

    /// Service time per packet in picoseconds.
    public var servicePicoseconds: UInt64 {
        switch self {
        case .none: 0
        case .rate(let r): r > 0 ? UInt64((1e12 / r).rounded()) : 0
        case .bpf(let x, let c): UInt64((Double(x) * c * 1000).rounded())
        }
    }

    /// Packets per second one consumer sustains (infinity for `.none`).
    public var packetsPerSecond: Double {
        let ps = servicePicoseconds
        return ps == 0 ? .infinity : 1e12 / Double(ps)
    }

    public var description: String {
        switch self {
        case .none: "x=0"
        case .rate(let r): "\(r) p/s"
        case .bpf(let x, let c): "x=\(x) (\(c) ns/BPF)"
        }
    }
}

/// Parameters of the Type-I (PF_RING) model.
public struct TypeIParameters: Sendable, Hashable {
    /// The pf_ring buffer, slots per queue (the paper uses 10,240).
    public var bufferSlots: Int = 10_240
    /// Kernel time to copy one packet from the ring into pf_ring (NAPI poll, copy,
    /// bookkeeping), ns. It runs on the consumer's core with priority over the
    /// application (softirq), which is how receive livelock appears.
    public var copyNanoseconds: Double = 100
    /// The application's own per-packet cost of reading from pf_ring, ns (paid even at x = 0).
    public var receiveNanoseconds: Double = 50

    public init() {}
}

/// Everything one simulation run needs besides the trace.
public struct SimulationConfiguration: Sendable, Hashable {
    /// The engine.
    public var engine: EngineKind = .wirecapBasic
    /// Receive queues (one consumer each).
    public var queues: Int = 1
    /// How packets are spread over the queues.
    public var steering: Steering = .rss
    /// N: receive-ring descriptors per queue.
    public var ringSize: Int = 1024
    /// M: cells per chunk (WireCAP).
    public var cellsPerChunk: Int = 256
    /// R: chunks per pool (WireCAP).
    public var chunksPerPool: Int = 100
    /// T: offload threshold, percent (WireCAP advanced).
    public var offloadThresholdPercent: Int = 60
    /// What WireCAP advanced mode moves: chunks (the paper's) or flow buckets (issue 15).
    /// The same ``BuddyGroup`` code runs both.
    public var offload: OffloadPolicy = .chunk
    /// Flow offload: never spread a flow heavier than a consumer.
    public var strictFlowAffinity = false
    /// Spilling (issue 14; WireCAP): blocks lent by free chunks of the same pool; nil: none (the paper's pools).
    /// The same ``ChunkPool`` code spills as live; only the copy is modelled.
    public var spill: SpillGeometry?
    /// The capture thread's cost to spill one packet: this many ns, plus
    /// ``spillNanosecondsPerByte`` per byte. Fitted to the `Spill_cycle` benchmarks
    /// (Benchmarks/, this 2-core VM): 8.2 ns a 60-byte packet and 68.6 ns a
    /// 1,500-byte one above the zero-copy cycle.
    public var spillNanosecondsPerPacket: Double = 5.7
    /// See ``spillNanosecondsPerPacket``.
    public var spillNanosecondsPerByte: Double = 0.042
    /// A partly filled chunk is delivered when its oldest packet is this old, ns (WireCAP).
    public var partialTimeoutNanoseconds: UInt64 = 1_000_000
    /// The capture thread notices new work within this long, ns (WireCAP).
    public var pollIntervalNanoseconds: UInt64 = 2_000
    /// Bytes of the NIC's own receive packet buffer per queue, which holds frames
    /// while no descriptor is ready (0: none, a frame without a descriptor is
    /// dropped at once; ``intel82599ReceiveBuffer``: the paper's NIC).
    public var nicBufferBytes: Int = 0
    /// The Intel 82599's 512 KiB receive packet buffer.
    public static let intel82599ReceiveBuffer = 512 * 1024
    /// The consumers' per-packet work.
    public var consumer: ConsumerModel = .none
    /// Replay speed.
    public var replay: ReplaySpeed = .recorded
    /// Type-I model parameters.
    public var typeI = TypeIParameters()

    /// The defaults: WireCAP-B(256, 100), 1 queue, N = 1024, x = 0, recorded speed.
    public init() {}

    /// The WireCapCore configuration of a WireCAP engine.
    public var captureConfiguration: CaptureConfiguration {
        CaptureConfiguration(
            geometry: PoolGeometry(cellsPerChunk: cellsPerChunk, chunksPerPool: chunksPerPool, fillRingSize: ringSize),
            mode: engine == .wirecapAdvanced ? .advanced : .basic,
            offloadThresholdPercent: offloadThresholdPercent,
            partialTimeoutNanoseconds: partialTimeoutNanoseconds, spill: spill,
            offload: offload, strictFlowAffinity: strictFlowAffinity)
    }

    /// Checks every parameter; the error is one line naming the parameter.
    /// WireCAP engines are checked by WireCapCore's own rules.
    public func validate() throws(ConfigurationError) {
        guard (1...1024).contains(queues) else {
            throw ConfigurationError(.queues, "queues must be in 1...1024, got \(queues)")
        }
        if engine.isWireCap {
            try captureConfiguration.validate()
        } else {
            guard ringSize >= 8, ringSize <= 65536, ringSize & (ringSize - 1) == 0 else {
                throw ConfigurationError(.fillRingSize, "N (ring size) must be a power of two in 8...65536, got \(ringSize)")
            }
        }
        guard nicBufferBytes >= 0, nicBufferBytes <= 1 << 30 else {
            throw ConfigurationError(.other, "the NIC buffer must be 0...1 GiB, got \(nicBufferBytes)")
        }
        guard pollIntervalNanoseconds >= 1 else {
            throw ConfigurationError(.other, "the poll interval must be at least 1 ns")
        }
        switch consumer {
        case .rate(let r) where !(r > 0 && r.isFinite):
            throw ConfigurationError(.other, "the consumer rate must be a positive number of packets per second, got \(r)")
        case .bpf(let x, let c) where x < 0 || !(c >= 0 && c.isFinite):
            throw ConfigurationError(.other, "x must be ≥ 0 and the BPF cost a non-negative number of ns")
        default: break
        }
        switch replay {
        case .factor(let f) where !(f > 0 && f.isFinite):
            throw ConfigurationError(.other, "the replay speed factor must be positive, got \(f)")
        case .lineRate(let b) where b == 0:
            throw ConfigurationError(.other, "the line rate must be positive")
        default: break
        }
        if case .rss(let size) = steering, size < 1 || size & (size - 1) != 0 {
            throw ConfigurationError(.other, "the RSS table size must be a power of two, got \(size)")
        }
        if engine == .pfring {
            guard typeI.bufferSlots >= 1 else { throw ConfigurationError(.other, "the pf_ring buffer needs at least 1 slot") }
            guard typeI.copyNanoseconds >= 0, typeI.receiveNanoseconds >= 0 else {
                throw ConfigurationError(.other, "PF_RING costs must be non-negative")
            }
        }
    }

    /// The paper's name for the engine: `WireCAP-B(256,100)`, `WireCAP-A(256,500,60%)`, `DNA`, …
    public var engineLabel: String {
        switch engine {
        case .netmap: "NETMAP"
        case .dna: "DNA"
        case .pfring: "PF_RING"
        case .wirecapBasic: "WireCAP-B(\(cellsPerChunk),\(chunksPerPool))"
        case .wirecapAdvanced where offload == .flow:
            "WireCAP-F(\(cellsPerChunk),\(chunksPerPool),\(offloadThresholdPercent)%\(strictFlowAffinity ? ",strict" : ""))"
        case .wirecapAdvanced: "WireCAP-A(\(cellsPerChunk),\(chunksPerPool),\(offloadThresholdPercent)%)"
        }
    }
}
