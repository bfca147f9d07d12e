import Testing
@testable import WireCapSimulator

@Suite struct Table1CauseTests {
    @Test("a loss the model counts in the other counter than the paper is said; agreement and zeros are not")
    func causeMismatch() throws {
        let pfring3 = Table1Scenario.paper.first { $0.engine == .pfring && $0.queue == 3 }
        let note = try #require(Table1Scenario.causeMismatch(engine: "PF_RING", queue: 3, capture: 0, delivery: 0.0058,
                                                             paper: pfring3))
        #expect(note.hasPrefix("PF_RING queue 3: simulated 0.58% as delivery drops, paper 0.80% as capture drops"))
        #expect(Table1Scenario.causeMismatch(engine: "PF_RING", queue: 3, capture: 0.007, delivery: 0, paper: pfring3) == nil)
        #expect(Table1Scenario.causeMismatch(engine: "PF_RING", queue: 3, capture: 0, delivery: 0, paper: pfring3) == nil)
        let netmap0 = Table1Scenario.paper.first { $0.engine == .netmap && $0.queue == 0 }
        #expect(Table1Scenario.causeMismatch(engine: "NETMAP", queue: 0, capture: 0.48, delivery: 0, paper: netmap0) == nil)
        #expect(Table1Scenario.causeMismatch(engine: "NETMAP", queue: 0, capture: 0.48, delivery: 0, paper: nil) == nil)
    }
}
