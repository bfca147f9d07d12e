import WireCapCore
#if canImport(Glibc)
import Glibc
#endif

/// A plain pthread for stress tests: no executor, no locks between the two sides.
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<TestThread>.fromOpaque(raw!).takeRetainedValue()
            me.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() { pthread_join(thread, nil) }
}

/// A deterministic generator for tests (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
