import WireCapCore
#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for the kernel side of one queue: the fill ring (N slots) and the
/// order in which posted frames come back. `shuffle` models the kernel reusing
/// recently freed frames first: the next frame is drawn from anywhere in a window.
struct FakeKernel {
    var posted: [UInt64] = []
    let capacity: Int
    var shuffleWindow: Int

    init(capacity: Int, shuffleWindow: Int = 1) {
        self.capacity = capacity
        self.shuffleWindow = shuffleWindow
    }

    var room: Int { capacity - posted.count }

    /// Takes the next frame for a received packet, or nil (a capture drop: no buffer).
    mutating func take<G: RandomNumberGenerator>(using rng: inout G) -> UInt64? {
        guard !posted.isEmpty else { return nil }
        let window = min(shuffleWindow, posted.count)
        let i = window > 1 ? Int.random(in: 0..<window, using: &rng) : 0
        return posted.remove(at: i)
    }
}

/// A packet id encoded in the length and timestamp so delivery can be audited.
struct PacketLedger {
    var delivered: [UInt64: Int] = [:]
    mutating func deliver(_ id: UInt64) { delivered[id, default: 0] += 1 }
    var duplicates: Int { delivered.values.filter { $0 > 1 }.count }
}
