import Testing
import WireCapCore
import WireCapTrace
@testable import WireCapSimulator

@Suite struct ConservationTests {
    static let trace = BorderRouterModel.shortened(to: 1.2).generate(seed: 7)

    @Test(arguments: EngineKind.allCases)
    func everyEngineConservesPackets(_ engine: EngineKind) throws {
        for queues in [1, 3, 6] {
            for (consumer, nicBuffer) in [(ConsumerModel.none, 0), (.paperHeavy, 0), (.paperHeavy, 64 * 1024)] {
                var c = SimulationConfiguration()
                c.engine = engine
                c.queues = queues
                c.consumer = consumer
                c.nicBufferBytes = nicBuffer
                c.chunksPerPool = 20
                let r = try Simulation(c).run(trace: Self.trace)
                #expect(r.conservationViolations.isEmpty, "\(engine) q=\(queues) \(consumer) nic=\(nicBuffer): \(r.conservationViolations)")
                #expect(r.total.offered == UInt64(Self.trace.count))
            }
        }
    }

    @Test func lineRateBurstIsLosslessAtXZeroForWireCapAndTypeII() throws {
        let trace = SyntheticTrace.burst(packets: 200_000)
        for engine in [EngineKind.wirecapBasic, .wirecapAdvanced, .dna, .netmap] {
            var c = SimulationConfiguration()
            c.engine = engine
            let r = try Simulation(c).run(trace: trace)
            #expect(r.total.drops == 0, "\(engine) dropped \(r.total.drops)")
            #expect(r.conservationViolations.isEmpty)
        }
        var c = SimulationConfiguration()
        c.engine = .pfring
        let r = try Simulation(c).run(trace: trace)
        #expect(r.total.captureDrops > 0 && r.total.deliveryDrops > 0, "PF_RING at line rate should drop both ways")
    }

    @Test func offloadHelpsTheImbalancedTrace() throws {
        var c = SimulationConfiguration()
        c.queues = 6
        c.consumer = .paperHeavy
        c.chunksPerPool = 100
        c.engine = .wirecapBasic
        let basic = try Simulation(c).run(trace: Self.trace)
        c.engine = .wirecapAdvanced
        let advanced = try Simulation(c).run(trace: Self.trace)
        #expect(advanced.conservationViolations.isEmpty)
        #expect(advanced.total.offloadedOutChunks > 0)
        // Both sides must be measured: basic mode really drops on this trace, and offload drops less.
        #expect(basic.dropRate > 0, "the imbalanced trace overloads basic mode: \(basic.dropRate)")
        #expect(advanced.dropRate < basic.dropRate, "advanced \(advanced.dropRate) vs basic \(basic.dropRate)")
    }

    @Test func invalidConfigurationIsOneLine() {
        var c = SimulationConfiguration()
        c.cellsPerChunk = 100  // does not divide N = 1024
        #expect(throws: ConfigurationError.self) { try Simulation(c) }
        do { _ = try Simulation(c) } catch { #expect(!error.description.contains("\n")) }
        c = SimulationConfiguration()
        c.chunksPerPool = 4  // not more than N/M
        #expect(throws: ConfigurationError.self) { try Simulation(c) }
    }
}

extension ConservationTests {
    /// The NIC buffer holds frames that find no descriptor: with the 82599's 512 KiB a
    /// Type-II ring of 1,024 absorbs 1,024 + 4,096 minimum frames of a line-rate burst.
    @Test func nicBufferExtendsTheRing() throws {
        var c = SimulationConfiguration()
        c.engine = .dna
        c.consumer = .paperHeavy
        c.nicBufferBytes = SimulationConfiguration.intel82599ReceiveBuffer
        let r = try Simulation(c).run(trace: SyntheticTrace.burst(packets: 20_000))
        #expect(r.conservationViolations.isEmpty)
        #expect(r.total.firstDropPacket >= 5_120 && r.total.firstDropPacket < 5_200, "first drop \(r.total.firstDropPacket)")
        c.engine = .wirecapBasic
        let w = try Simulation(c).run(trace: SyntheticTrace.burst(packets: 40_000))
        #expect(w.conservationViolations.isEmpty)
        #expect(w.total.firstDropPacket >= 25_600 + 4_096, "first drop \(w.total.firstDropPacket)")
    }
}
