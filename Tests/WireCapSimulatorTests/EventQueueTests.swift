import Testing
@testable import WireCapSimulator

@Suite struct EventQueueTests {
    @Test func ordersByTimeThenInsertion() {
        var q = EventQueue()
        var rng = UInt64(12345)
        var expected: [(UInt64, UInt64)] = []
        for i in 0..<500 {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            let t = (rng >> 33) % 50
            q.schedule(at: t, .captureTick, target: i)
            expected.append((t, UInt64(i)))
        }
        expected.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        var got: [(UInt64, UInt64)] = []
        while let e = q.pop() { got.append((e.time, UInt64(e.target))) }
        #expect(got.map(\.0) == expected.map(\.0))
        #expect(got.map(\.1) == expected.map(\.1))
    }
}
