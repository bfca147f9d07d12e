/// A packet trace in struct-of-arrays form: what the simulator replays.
///
/// Packets are never objects: packet `k` is `timestamps[k]`, `lengths[k]` and
/// `flows[k]`; its flow's RSS hash is `flowHashes[flows[k]]` and its 5-tuple (when
/// the packet had one) `flowTuples[flows[k]]`. A 5-million-packet trace takes
/// 80 MB and no allocation per packet.
///
/// ```
///  per packet: timestamps [UInt64] ns since the first packet, non-decreasing
///              lengths    [UInt32] frame length as captured on the wire, FCS excluded
///              flows      [UInt32] index into the flow table
///  per flow:   flowHashes [UInt32] Toeplitz hash (0 for non-IP: RSS sends it to queue 0)
///              flowTuples [FiveTuple?]
/// ```
public struct PacketTrace: Sendable {
    /// A name for reports (file name or generator description).
    public var name: String
    /// Absolute time of the first packet (ns since the Unix epoch; 0 for synthetic traces).
    public var startNanoseconds: UInt64
    /// Per packet: ns since the first packet.
    public var timestamps: [UInt64]
    /// Per packet: frame length in bytes (FCS excluded; 60 for a minimum Ethernet frame).
    public var lengths: [UInt32]
    /// Per packet: index into the flow table.
    public var flows: [UInt32]
    /// Per flow: RSS hash.
    public var flowHashes: [UInt32]
    /// Per flow: 5-tuple, `nil` for packets without one (non-IP, truncated).
    public var flowTuples: [FiveTuple?]

    /// An empty trace.
    public init(name: String, startNanoseconds: UInt64 = 0) {
        self.name = name
        self.startNanoseconds = startNanoseconds
        timestamps = []; lengths = []; flows = []; flowHashes = []; flowTuples = []
    }

    /// Packets in the trace.
    public var count: Int { timestamps.count }
    /// Time from the first to the last packet, ns.
    public var durationNanoseconds: UInt64 { timestamps.last ?? 0 }
    /// Total bytes.
    public var totalBytes: UInt64 { lengths.reduce(0) { $0 &+ UInt64($1) } }

    /// Reserves room for `packets` packets.
    public mutating func reserve(packets: Int) {
        timestamps.reserveCapacity(packets); lengths.reserveCapacity(packets); flows.reserveCapacity(packets)
    }

    /// Adds a flow and returns its index.
    @discardableResult
    public mutating func addFlow(_ tuple: FiveTuple?, hash: UInt32) -> UInt32 {
        flowTuples.append(tuple)
        flowHashes.append(hash)
        return UInt32(flowHashes.count - 1)
    }

    /// Appends a packet (timestamps must not decrease).
    @inlinable
    public mutating func append(timestamp: UInt64, length: UInt32, flow: UInt32) {
        timestamps.append(timestamp); lengths.append(length); flows.append(flow)
    }

    /// The receive queue of every packet with `queues` queues and the given steering.
    public func queueAssignment(queues: Int, steering: Steering) -> [UInt16] {
        precondition(queues >= 1 && queues <= Int(UInt16.max))
        var out = [UInt16](repeating: 0, count: count)
        if queues == 1 { return out }
        switch steering {
        case .roundRobin:
            for k in 0..<count { out[k] = UInt16(k % queues) }
        case .rss(let size):
            precondition(size >= 1 && size & (size - 1) == 0, "RSS table size must be a power of two")
            let perFlow = flowHashes.map { UInt16(Steering.rssQueue(hash: $0, queues: queues, tableSize: size)) }
            perFlow.withUnsafeBufferPointer { pf in
                flows.withUnsafeBufferPointer { f in
                    out.withUnsafeMutableBufferPointer { o in
                        for k in 0..<f.count { o[k] = pf[Int(f[k])] }
                    }
                }
            }
        }
        return out
    }

    /// Packets per queue per `binNanoseconds` bin (the paper's Figure 3 profile).
    /// - Returns: `bins[b][q]`.
    public func binnedCounts(queues: Int, steering: Steering, binNanoseconds: UInt64) -> [[Int]] {
        let assignment = queueAssignment(queues: queues, steering: steering)
        let binCount = count == 0 ? 0 : Int(durationNanoseconds / binNanoseconds) + 1
        var bins = [[Int]](repeating: [Int](repeating: 0, count: queues), count: binCount)
        for k in 0..<count { bins[Int(timestamps[k] / binNanoseconds)][Int(assignment[k])] += 1 }
        return bins
    }

    /// The first `packets` packets (flows kept whole).
    public func prefix(_ packets: Int) -> PacketTrace {
        var t = self
        let n = min(packets, count)
        t.timestamps = Array(timestamps[0..<n]); t.lengths = Array(lengths[0..<n]); t.flows = Array(flows[0..<n])
        return t
    }
}
