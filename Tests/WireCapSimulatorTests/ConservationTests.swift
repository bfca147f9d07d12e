import Testing
import WireCapCore
import WireCapTrace
@testable import WireCapSimulator

@Suite struct ConservationTests {
    static let trace = BorderRouterModel.shortened(to: 1.5).generate(seed: 7)

    @Test(arguments: EngineKind.allCases)
    func everyEngineConservesPackets(_ engine: EngineKind) throws {
        for queues in [1, 3, 6] {
            for consumer in [ConsumerModel.none, .paperHeavy] {
                var c = SimulationConfiguration()
                c.engine = engine
                c.queues = queues
                c.consumer = consumer
                c.chunksPerPool = 20
                let r = try Simulation(c).run(trace: Self.trace)
                #expect(r.conservationViolations.isEmpty, "\(engine) q=\(queues) \(consumer): \(r.conservationViolations)")
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
        #expect(advanced.dropRate <= basic.dropRate)
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
