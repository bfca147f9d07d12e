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

    @Test func typeIAndIIEnginesHaveNoFlowAccounting() throws {
        #expect(try Self.run(.netmap, queues: 2, spill: false).flowOrder == nil)
    }
}
