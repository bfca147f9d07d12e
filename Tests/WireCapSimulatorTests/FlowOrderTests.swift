import Testing
import WireCapCore
import WireCapTrace
@testable import WireCapSimulator

/// The simulator's flow accounting (the baseline issue 15 measures against): each
/// packet's trace index rides in its descriptor, through the NIC buffer and spill
/// blocks, so every processed packet is attributed to its flow exactly once.
@Suite struct FlowOrderTests {
    static let trace = BorderRouterModel.shortened(to: 2).generate(seed: 3)

    static func run(_ engine: EngineKind, queues: Int, spill: Bool, nicBuffer: Int = 0) throws -> SimulationResult {
        var c = SimulationConfiguration()
        c.engine = engine
        c.queues = queues
        c.consumer = .paperHeavy
        c.chunksPerPool = 40
        c.nicBufferBytes = nicBuffer
        if spill { c.spill = SpillGeometry() }
        return try Simulation(c).run(trace: Self.trace)
    }

    @Test("basic mode: one consumer per queue, so no flow is split and none reordered; every delivered packet is seen once",
          arguments: [false, true])
    func basicKeepsFlowsWhole(spill: Bool) throws {
        let r = try Self.run(.wirecapBasic, queues: 4, spill: spill, nicBuffer: 64 * 1024)
        let f = try #require(r.flowOrder)
        #expect(r.conservationViolations.isEmpty, "\(r.conservationViolations)")
        #expect(f.packets == r.total.delivered)
        #expect(f.flowsSplit == 0 && f.packetsOutOfOrder == 0)
        #expect(f.flows > 1000 && f.flows <= UInt64(Self.trace.flowHashes.count))
        #expect(r.total.drops > 0, "the heavy consumer must be overloaded for the test to mean something")
    }

    @Test("chunk offload (WireCAP-A) splits flows and reorders them whenever it offloads", arguments: [false, true])
    func chunkOffloadSplitsFlows(spill: Bool) throws {
        let r = try Self.run(.wirecapAdvanced, queues: 4, spill: spill)
        let f = try #require(r.flowOrder)
        #expect(r.conservationViolations.isEmpty, "\(r.conservationViolations)")
        #expect(f.packets == r.total.delivered)
        #expect(r.total.offloadedOutChunks > 0)
        #expect(f.flowsSplit > 0 && f.packetsOutOfOrder > 0)
        #expect(f.flowsSplit <= f.flows)
    }

    static func flowRun(_ trace: PacketTrace, offload: OffloadPolicy, strict: Bool = false, spill: Bool = false) throws -> SimulationResult {
        // A small pool (R = 12: 3,072 packets), so a second of overload shows as drops.
        var c = SimulationConfiguration.wirecapAdvanced(m: 256, r: 12, t: 60)
        c.queues = 2
        c.consumer = .paperHeavy
        c.offload = offload
        c.strictFlowAffinity = strict
        if spill { c.spill = SpillGeometry() }
        return try Simulation(c).run(trace: trace)
    }

    static let capacity = 1e12 / Double(ConsumerModel.paperHeavy.servicePicoseconds)

    @Test("flow offload, 90/10 over 1,000 flows: buckets move, no flow is split or reordered, and it loses less than basic mode",
          arguments: [false, true])
    func flowOffloadMovesWholeFlows(spill: Bool) throws {
        let trace = FlowOffloadScenario.twoQueueTrace(seconds: 1, packetsPerSecond: 1.6 * Self.capacity, share0: 0.9, elephant: 0, seed: 5)
        let r = try Self.flowRun(trace, offload: .flow, spill: spill)
        let f = try #require(r.flowOrder)
        #expect(r.conservationViolations.isEmpty, "\(r.conservationViolations)")
        #expect(f.packets == r.total.delivered)
        #expect(f.flowsMoved > 0)
        #expect(f.flowsSplit == 0 && f.packetsOutOfOrder == 0)
        var basic = r.configuration
        basic.engine = .wirecapBasic
        let b = try Simulation(basic).run(trace: trace)
        if !spill {
            #expect(b.total.drops > 0, "one consumer cannot take queue 0")
            #expect(r.total.drops < b.total.drops)
        }
    }

    @Test("flow offload, an elephant heavier than a consumer: spread (split, counted) by default, never with strict affinity")
    func elephantIsSpreadUnlessStrict() throws {
        let trace = FlowOffloadScenario.twoQueueTrace(seconds: 1, packetsPerSecond: 1.8 * Self.capacity, share0: 0.8, elephant: 0.6, seed: 6)
        let spread = try Self.flowRun(trace, offload: .flow)
        let s = try #require(spread.flowOrder)
        #expect(spread.conservationViolations.isEmpty, "\(spread.conservationViolations)")
        #expect(s.flowsSplit >= 1 && Double(s.flowsSplit) <= 0.01 * Double(s.flows))
        let strict = try Self.flowRun(trace, offload: .flow, strict: true)
        let t = try #require(strict.flowOrder)
        #expect(strict.conservationViolations.isEmpty, "\(strict.conservationViolations)")
        #expect(t.flowsSplit == 0 && t.packetsOutOfOrder == 0)
        #expect(strict.total.drops > spread.total.drops, "strict affinity drops what it will not spread")
        let chunk = try Self.flowRun(trace, offload: .chunk)
        #expect(try #require(chunk.flowOrder).flowsSplit > 100 * s.flowsSplit)
    }

    @Test func typeIAndIIEnginesHaveNoFlowAccounting() throws {
        #expect(try Self.run(.netmap, queues: 2, spill: false).flowOrder == nil)
    }
}
