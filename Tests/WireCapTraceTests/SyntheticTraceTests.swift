import Testing
import WireCapTrace

@Suite struct SyntheticTraceTests {
    @Test func burstIsLineRate() {
        let b = SyntheticTrace.burst(packets: 1000)
        #expect(b.count == 1000)
        // 67.2 ns apart: 14.88 Mpps.
        #expect(b.timestamps[999] == 999 * 67_200 / 1000)
        let pps = 1e12 / Double(SyntheticTrace.wirePicoseconds(length: 60))
        #expect(abs(pps - 14_880_952) < 1)
    }

    @Test func borderRouterIsSeededAndReproducible() {
        let model = BorderRouterModel.shortened(to: 0.5)
        let a = model.generate(seed: 1), b = model.generate(seed: 1), c = model.generate(seed: 2)
        #expect(a.timestamps == b.timestamps && a.flows == b.flows && a.lengths == b.lengths)
        #expect(a.timestamps != c.timestamps)
        #expect(zip(a.timestamps, a.timestamps.dropFirst()).allSatisfy { $0 <= $1 })
    }

    /// The Figure 3 shape: with 6 RSS queues, queue 0 near 80,000 p/s while the
    /// elephants run, the others near 20,000 p/s.
    @Test func borderRouterImbalance() {
        var model = BorderRouterModel.shortened(to: 4)
        model.elephantStart = 0.25
        model.elephantEnd = 1
        let trace = model.generate(seed: 11)
        let bins = trace.binnedCounts(queues: 6, steering: .rss, binNanoseconds: 1_000_000_000)
        let busy = bins[2]  // seconds 2–3: elephants on
        #expect(busy[0] > 65_000 && busy[0] < 100_000, "queue 0: \(busy[0]) p/s")
        for q in 1..<6 { #expect(busy[q] > 10_000 && busy[q] < 32_000, "queue \(q): \(busy[q]) p/s") }
    }
}
