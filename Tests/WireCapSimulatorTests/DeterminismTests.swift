import Testing
import WireCapTrace
@testable import WireCapSimulator

/// The same scenario and seed give byte-identical CSV; every run conserves packets.
@Suite struct DeterminismTests {
    static func tiny(seed: UInt64 = 5) -> ScenarioOptions {
        var o = ScenarioOptions(seed: seed, fast: true)
        o.traceSeconds = 0.6
        return o
    }

    @Test func burstScenarioIsByteIdentical() {
        let a = Fig9Scenario().run(Self.tiny()), b = Fig9Scenario().run(Self.tiny())
        #expect(a.csv == b.csv)
        #expect(a.summary.serialized() == b.summary.serialized())
        #expect(a.csv.split(separator: "\n").count > 10)
    }

    @Test(arguments: ["table1", "fig11", "fig12", "fig3"])
    func traceScenarioIsByteIdentical(_ name: String) throws {
        let s = try #require(Scenarios.named(name))
        let a = s.run(Self.tiny()), b = s.run(Self.tiny())
        #expect(a.csv == b.csv)
        #expect(a.summary.serialized() == b.summary.serialized())
        let c = s.run(Self.tiny(seed: 6))
        #expect(a.csv != c.csv, "another seed should give another trace")
    }

    @Test func fig9PaperPointsInFastMode() throws {
        // The burst scenarios do not depend on the trace length; fast mode keeps the paper's P values.
        let out = Fig9Scenario().run(Self.tiny())
        guard case .object(let top) = out.summary, case .array(let comparison)? = top.first(where: { $0.0 == "comparison" })?.1 else {
            Issue.record("no comparison in the fig9 summary"); return
        }
        var rates: [String: Double] = [:]
        for item in comparison {
            guard case .object(let fields) = item,
                  case .string(let engine)? = fields.first(where: { $0.0 == "engine" })?.1,
                  case .number(let rate)? = fields.first(where: { $0.0 == "simulated_drop_rate" })?.1
            else {
                Issue.record("a comparison row without engine or simulated_drop_rate: \(item)")
                continue
            }
            rates[engine] = rate
        }
        // A missing engine must fail, not read as a drop rate of 0.
        for engine in ["DNA", "WireCAP-B(256,500)", "WireCAP-B(256,100)"] {
            #expect(rates[engine] != nil, "\(engine) missing from the fig9 comparison")
        }
        #expect(abs((rates["DNA"] ?? -1) - 0.15) < 0.03, "DNA at P=6,000: \(rates["DNA"] ?? -1)")
        #expect((rates["WireCAP-B(256,500)"] ?? -1) == 0)
        #expect(abs((rates["WireCAP-B(256,100)"] ?? -1) - 0.71) < 0.03)
    }

    @Test func csvQuotesLabelsWithCommas() {
        let out = Fig10Scenario().run(Self.tiny())
        #expect(out.csv.contains("\"WireCAP-B(64,400)\","))
    }
}
