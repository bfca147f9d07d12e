import Testing
import WireCapCore
import WireCapTrace
@testable import WireCapSimulator

/// The paper's §3.2.2a claim: WireCAP-B(M, R) loses nothing in a burst of up to
/// P_m·R·M/(P_m − P_p) packets. The pool's R·M cells include the N/M chunks
/// attached to the ring, so the whole pool, not N plus the pool, is the buffer.
/// By causality the first dropped packet of a long burst is the largest lossless
/// burst, so one run per configuration measures it.
@Suite struct BurstFormulaTests {
    struct Case: Sendable, CustomStringConvertible {
        var m: Int, r: Int, consumerRate: Double
        var description: String { "M=\(m) R=\(r) Pp=\(Int(consumerRate))" }
    }

    static let cases: [Case] = [
        Case(m: 256, r: 100, consumerRate: 38_844),      // the paper's x = 300
        Case(m: 128, r: 400, consumerRate: 5_000_000),
        Case(m: 64, r: 800, consumerRate: 7_440_000),
        Case(m: 256, r: 500, consumerRate: 1_000_000),
    ]

    @Test(arguments: cases)
    func largestLosslessBurstMatchesFormula(_ c: Case) throws {
        var config = SimulationConfiguration()
        config.engine = .wirecapBasic
        config.cellsPerChunk = c.m
        config.chunksPerPool = c.r
        config.consumer = .rate(c.consumerRate)
        let pm = 1e12 / Double(SyntheticTrace.wirePicoseconds(length: 60))   // 14.88 Mpps
        let pp = 1e12 / Double(config.consumer.servicePicoseconds)            // as simulated
        let formula = pm * Double(c.r * c.m) / (pm - pp)
        let trace = SyntheticTrace.burst(packets: Int(formula * 1.5))
        let result = try Simulation(config).run(trace: trace)
        #expect(result.conservationViolations.isEmpty, "\(result.conservationViolations)")
        let firstDrop = result.total.firstDropPacket
        #expect(firstDrop > 0)
        let error = abs(Double(firstDrop) - formula) / formula
        #expect(error < 0.01, "largest lossless burst \(firstDrop), formula \(Int(formula)), error \(error)")
        // And a burst of exactly that size is lossless.
        let exact = try Simulation(config).run(trace: SyntheticTrace.burst(packets: firstDrop))
        #expect(exact.total.drops == 0)
    }

    /// The Type-II counterpart: only the ring buffers, P_m·N/(P_m − P_p).
    @Test func typeIIBufferIsTheRing() throws {
        var config = SimulationConfiguration()
        config.engine = .dna
        config.consumer = .rate(1_000_000)
        let pm = 1e12 / Double(SyntheticTrace.wirePicoseconds(length: 60))
        let pp = 1e12 / Double(config.consumer.servicePicoseconds)
        let formula = pm * 1024 / (pm - pp)
        let result = try Simulation(config).run(trace: SyntheticTrace.burst(packets: 5_000))
        let error = abs(Double(result.total.firstDropPacket) - formula) / formula
        #expect(error < 0.01, "first drop \(result.total.firstDropPacket), formula \(formula)")
    }
}
