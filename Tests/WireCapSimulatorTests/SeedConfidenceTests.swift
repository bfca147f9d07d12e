import Testing
@testable import WireCapSimulator

@Suite struct SeedConfidenceTests {
    @Test("constant columns stay, varying numbers become mean and 95% half-width (Student's t)")
    func meansAndHalfWidths() throws {
        let a = "engine,x,drop_rate\nWireCAP-A,300,0.1\nPF_RING,300,0.5\n"
        let b = "engine,x,drop_rate\nWireCAP-A,300,0.3\nPF_RING,300,0.5\n"
        let c = "engine,x,drop_rate\nWireCAP-A,300,0.2\nPF_RING,300,0.5\n"
        let merged = try #require(SeedConfidence.table([a, b, c]))
        let rows = SeedConfidence.parse(merged)
        #expect(rows[0] == ["engine", "x", "drop_rate", "drop_rate_ci95"])
        #expect(rows[1][0] == "WireCAP-A" && rows[1][1] == "300")
        #expect(abs(Double(rows[1][2])! - 0.2) < 1e-9)
        // s = 0.1, t(0.975, 2) = 4.303: half-width 4.303 · 0.1 / √3.
        #expect(abs(Double(rows[1][3])! - 4.303 * 0.1 / 3.0.squareRoot()) < 1e-6)
        #expect(Double(rows[2][2]) == 0.5 && Double(rows[2][3]) == 0)
    }

    @Test("tables of different shapes, or a single one, are refused")
    func refusesMismatches() {
        let a = "engine,drop_rate\nA,0.1\n"
        #expect(SeedConfidence.table([a]) == nil)
        #expect(SeedConfidence.table([a, "engine,drop_rate\nA,0.1\nB,0.2\n"]) == nil)
        #expect(SeedConfidence.table([a, "engine,loss\nA,0.1\n"]) == nil)
    }

    @Test("quoted fields survive the round trip; text that differs by seed is listed")
    func quotedFields() throws {
        let a = "name,v\n\"a, \"\"b\"\"\",1\nx,2\n"
        let b = "name,v\n\"a, \"\"b\"\"\",3\ny,2\n"
        let rows = SeedConfidence.parse(try #require(SeedConfidence.table([a, b])))
        #expect(rows[1][0] == "a, \"b\"")
        #expect(rows[2][0] == "x|y")
        #expect(rows[1][1] == "2")
        #expect(SeedConfidence.studentT975(degreesOfFreedom: 1) == 12.706)
        #expect(SeedConfidence.studentT975(degreesOfFreedom: 100) == 1.96)
    }

    @Test("a real scenario over three seeds: the border-router scenario's rates vary, its points do not")
    func scenarioOverSeeds() throws {
        var o = ScenarioOptions(seed: 1, fast: true)
        o.traceSeconds = 0.2
        let csvs = (1...3).map { seed -> String in
            o.seed = UInt64(seed)
            return Table1Scenario().run(o).csv
        }
        let rows = SeedConfidence.parse(try #require(SeedConfidence.table(csvs)))
        #expect(rows[0].prefix(3) == ["engine", "x", "queue"])
        #expect(rows[0].contains("offered_ci95"), "the trace differs by seed: \(rows[0])")
    }
}
