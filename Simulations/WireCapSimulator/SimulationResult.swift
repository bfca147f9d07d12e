/// What happened to one receive queue's packets in a run.
///
/// Conservation: `offered == delivered + captureDrops + deliveryDrops`, always
/// (checked by ``SimulationResult/conservationViolations``). With offload, a
/// queue's packets may be consumed by a buddy's consumer: `delivered` counts them
/// by origin queue, `consumed` counts the work each consumer did.
public struct QueueResult: Sendable, Hashable, Codable {
    /// Queue index.
    public var queue: Int
    /// Packets the NIC steered to this queue.
    public var offered: UInt64 = 0
    /// Of those, packets an application thread processed.
    public var delivered: UInt64 = 0
    /// Of those, packets lost before reaching user space (no ready descriptor).
    public var captureDrops: UInt64 = 0
    /// Of those, packets captured but then discarded (Type-I buffer full).
    public var deliveryDrops: UInt64 = 0
    /// Capture drops while the pool had no free chunk (WireCAP).
    public var dropsPoolExhausted: UInt64 = 0
    /// Capture drops while the pool still had free chunks but the fill ring was empty (WireCAP).
    public var dropsNoBuffer: UInt64 = 0
    /// Packets this queue's consumer processed, whatever their origin.
    public var consumed: UInt64 = 0
    /// Chunks this queue's capture thread placed on a buddy (WireCAP advanced).
    public var offloadedOutChunks: UInt64 = 0
    /// Chunks this queue's consumer took from buddies (WireCAP advanced).
    public var offloadedInChunks: UInt64 = 0
    /// Trace index of the first packet of this queue that was dropped (capture or delivery), or -1.
    public var firstDropPacket: Int = -1
    /// Packets the capture thread copied into spill blocks (WireCAP with spill).
    public var spilled: UInt64 = 0
    /// Flow buckets this queue's scheduler moved (WireCAP flow offload; each bucket of each move).
    public var bucketMoves: UInt64 = 0

    public init(queue: Int) { self.queue = queue }

    /// All drops.
    public var drops: UInt64 { captureDrops + deliveryDrops }
    /// Drops / offered (0 when nothing was offered).
    public var dropRate: Double { offered == 0 ? 0 : Double(drops) / Double(offered) }
    /// Capture drops / offered.
    public var captureDropRate: Double { offered == 0 ? 0 : Double(captureDrops) / Double(offered) }
    /// Delivery drops / offered.
    public var deliveryDropRate: Double { offered == 0 ? 0 : Double(deliveryDrops) / Double(offered) }
}

/// Whether flows stayed whole and in order (WireCAP engines): counted over the
/// packets consumers processed, in the order they finished their chunks.
public struct FlowOrderResult: Sendable, Hashable, Codable {
    /// Packets processed (equal to the run's delivered packets: each is seen once).
    public var packets: UInt64 = 0
    /// Flows with at least one processed packet.
    public var flows: UInt64 = 0
    /// Of those, flows processed by two consumers *at once*: a consumer began a
    /// chunk with packets of the flow before another consumer had finished its
    /// latest chunk with packets of it, or a packet of it was processed out of order.
    public var flowsSplit: UInt64 = 0
    /// Flows that changed consumer, each consumer finishing before the next
    /// began and nothing out of order (a flow offload's move; not split).
    public var flowsMoved: UInt64 = 0
    /// Packets processed after a later packet of their own flow.
    public var packetsOutOfOrder: UInt64 = 0
    /// flowsSplit / flows (0 without flows).
    public var splitRate: Double { flows == 0 ? 0 : Double(flowsSplit) / Double(flows) }

    public init() {}
}

/// The outcome of one run.
public struct SimulationResult: Sendable, Hashable {
    /// The configuration that ran.
    public var configuration: SimulationConfiguration
    /// The trace's name.
    public var traceName: String
    /// Per queue.
    public var queues: [QueueResult]
    /// Virtual time of the last event, ns.
    public var endTimeNanoseconds: UInt64 = 0
    /// Virtual time of the last arrival, ns.
    public var lastArrivalNanoseconds: UInt64 = 0
    /// Events processed (ticks and chunk completions).
    public var events: UInt64 = 0
    /// Flows split between consumers and packets out of order (WireCAP engines; nil for
    /// the others, whose one consumer per queue keeps every RSS flow whole).
    public var flowOrder: FlowOrderResult?
    /// Pool invariant violations found at the end (WireCAP; empty when sound).
    public var invariantViolations: [String] = []
    /// Wall-clock seconds the run took (not part of any deterministic output).
    public var wallSeconds: Double = 0

    /// Totals over all queues (queue index -1).
    public var total: QueueResult {
        var t = QueueResult(queue: -1)
        for q in queues {
            t.offered += q.offered; t.delivered += q.delivered
            t.captureDrops += q.captureDrops; t.deliveryDrops += q.deliveryDrops
            t.dropsPoolExhausted += q.dropsPoolExhausted; t.dropsNoBuffer += q.dropsNoBuffer
            t.consumed += q.consumed
            t.offloadedOutChunks += q.offloadedOutChunks; t.offloadedInChunks += q.offloadedInChunks
            t.spilled += q.spilled
            if q.firstDropPacket >= 0 && (t.firstDropPacket < 0 || q.firstDropPacket < t.firstDropPacket) {
                t.firstDropPacket = q.firstDropPacket
            }
        }
        return t
    }

    /// Overall drop rate.
    public var dropRate: Double { total.dropRate }

    /// One line per queue whose counts do not add up (empty when conserved), plus
    /// consumed-vs-delivered and invariant problems.
    public var conservationViolations: [String] {
        var problems: [String] = []
        for q in queues where q.offered != q.delivered + q.captureDrops + q.deliveryDrops {
            problems.append("queue \(q.queue): offered \(q.offered) != delivered \(q.delivered) + capture drops \(q.captureDrops) + delivery drops \(q.deliveryDrops)")
        }
        let t = total
        if t.consumed != t.delivered { problems.append("consumed \(t.consumed) != delivered \(t.delivered)") }
        return problems + invariantViolations
    }

    /// Simulated packets per wall-clock second.
    public var packetsPerSecond: Double { wallSeconds > 0 ? Double(total.offered) / wallSeconds : 0 }
}
