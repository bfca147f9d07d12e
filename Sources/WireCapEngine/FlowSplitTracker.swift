import WireCapCore
import WireCapSystem
/// Counts flows whose packets were processed by more than one consumer (`--flows`):
/// the price of offload. RSS keeps a flow on one queue; buddy-group offload (or
/// the kernel's fanout rollover) may hand some of its packets to another worker.
///
/// Each consumer owns a fixed open-addressing set of 5-tuple hashes (IPv4 TCP/UDP/
/// other; other packets are not flows here), filled on its own thread with no
/// allocation or lock; ``report()`` merges them after the consumers joined.
/// A set that fills up stops taking new flows and says so (`overflowed`).
public final class FlowSplitTracker: @unchecked Sendable {
    /// Flows per consumer the sets hold (a power of two; half full at most).
    public let capacity: Int
    private let workers: Int
    private let slots: UnsafeMutablePointer<UInt64>   // [worker * capacity + i], 0 = empty
    private let counts: UnsafeMutablePointer<Int>
    private let overflow: UnsafeMutablePointer<Bool>

    public init(workers: Int, capacity: Int = 1 << 16) {
        self.workers = workers
        self.capacity = capacity
        slots = .allocate(capacity: workers * capacity)
        slots.initialize(repeating: 0, count: workers * capacity)
        counts = .allocate(capacity: workers)
        counts.initialize(repeating: 0, count: workers)
        overflow = .allocate(capacity: workers)
        overflow.initialize(repeating: false, count: workers)
    }

    deinit { slots.deallocate(); counts.deallocate(); overflow.deallocate() }

    /// Records the packet's flow for `worker`. Consumer `worker` only.
    @inline(__always)
    public func record(_ b: UnsafeRawBufferPointer, worker: Int) {
        guard b.count >= 34, b[12] == 0x08, b[13] == 0x00 else { return }
        let ihl = Int(b[14] & 0x0f) << 2
        let proto = UInt64(b[23])
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ proto
        @inline(__always) func mix(_ v: UInt64) { h = (h ^ v) &* 0x100_0000_01b3 ; h ^= h >> 29 }
        mix(UInt64(b.loadUnaligned(fromByteOffset: 26, as: UInt32.self)))
        mix(UInt64(b.loadUnaligned(fromByteOffset: 30, as: UInt32.self)))
        if (proto == 6 || proto == 17), b.count >= 14 + ihl + 4 {
            mix(UInt64(b.loadUnaligned(fromByteOffset: 14 + ihl, as: UInt32.self)))
        }
        let key = h | 1  // never 0 (0 marks an empty slot)
        let table = slots + worker * capacity
        let mask = capacity - 1
        var i = Int(truncatingIfNeeded: key >> 7) & mask
        while true {
            let v = table[i]
            if v == key { return }
            if v == 0 {
                if counts[worker] * 2 >= capacity { overflow[worker] = true; return }
                table[i] = key
                counts[worker] += 1
                return
            }
            i = (i + 1) & mask
        }
    }

    /// What the sets say, merged, with the order count of a ``FlowOrder`` if one ran
    /// beside. Call after every consumer stopped.
    public func report(outOfOrder: Int? = nil, flowsReordered: Int? = nil) -> FlowSplitReport {
        var seen: [UInt64: Int] = [:]
        for w in 0..<workers {
            let table = slots + w * capacity
            for i in 0..<capacity where table[i] != 0 { seen[table[i], default: 0] += 1 }
        }
        return FlowSplitReport(flowsTotal: seen.count, flowsSplit: seen.values.filter { $0 > 1 }.count,
                               overflowed: (0..<workers).contains { overflow[$0] }, outOfOrder: outOfOrder,
                               flowsReordered: flowsReordered)
    }
}

/// Flows seen and flows processed by more than one consumer.
public struct FlowSplitReport: Sendable, Codable, Hashable {
    /// Distinct IPv4 5-tuples seen by any consumer.
    public var flowsTotal: Int
    /// Of those, flows whose packets reached more than one consumer: split (two at
    /// once, ``flowsReordered``) or moved whole (one after the other).
    public var flowsSplit: Int
    /// A consumer's set filled up: counts are lower bounds.
    public var overflowed: Bool
    /// Generator packets processed after a later packet of their own flow, by any
    /// consumer (`FlowOrder`); `nil` when not counted.
    public var outOfOrder: Int?
    /// Generator flows with at least one such packet: processed by two consumers
    /// at once (`FlowOrder`); `nil` when not counted. A flow that moved whole, one
    /// consumer after the other, is in ``flowsSplit`` but not here.
    public var flowsReordered: Int? = nil

    /// Flows on more than one consumer that were never on two at once (``flowsSplit``
    /// minus ``flowsReordered``); `nil` when order was not counted.
    public var flowsMovedWhole: Int? { flowsReordered.map { max(0, flowsSplit - $0) } }
}
