import Atomics

/// Counts generator packets (``TestPacket``) processed after a later packet of
/// their own flow, by any consumer: the reordering a flow's state sees when the
/// flow is processed by two workers (offload, the kernel's fanout rollover) or a
/// chunk of it is delivered late. An IDS that reassembles a stream counts such a
/// packet as out of order whichever worker touched it first.
///
/// Every flow is sent from one generator queue, so the per-queue sequence number
/// of a test packet also numbers its flow's packets in sending order. One word per
/// (generator queue, flow) holds the highest sequence processed so far, plus 1
/// (0: none). A consumer raises it with a compare-exchange; a packet below it is
/// late. The same check runs in the C baselines of the end-to-end harness
/// (`Benchmarks/baselines/common.h`, `wc_seen_check`).
///
/// Memory ordering: every access is relaxed. The words only order sequence numbers
/// against each other (a read-modify-write on one word is totally ordered with the
/// others on it, whatever the ordering), and the per-consumer counts are read after
/// the consumers joined (the join orders them).
public final class FlowOrder: @unchecked Sendable {
    /// Generator queues tracked (payload queue field `0 ..< origins`).
    public let origins: Int
    /// Flows per generator queue tracked: the payload's 16-bit flow field.
    public static let flowsPerOrigin = 1 << 16
    private let highest: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    private let consumers: Int
    private let late: UnsafeMutablePointer<Int>   // one cache line per consumer
    private static let lateStride = 8

    /// Allocates the table (`origins` × 65,536 words): call before capture starts.
    public init(origins: Int, consumers: Int) {
        self.origins = origins
        self.consumers = consumers
        highest = .allocate(capacity: origins * Self.flowsPerOrigin)
        highest.initialize(repeating: UnsafeAtomic<UInt64>.Storage(0), count: origins * Self.flowsPerOrigin)
        late = .allocate(capacity: max(1, consumers) * Self.lateStride)
        late.initialize(repeating: 0, count: max(1, consumers) * Self.lateStride)
    }

    deinit {
        highest.deinitialize(count: origins * Self.flowsPerOrigin)
        highest.deallocate()
        late.deallocate()
    }

    /// The flag bit of a flow's word: the flow had a packet out of order (the rest
    /// of the word is the highest sequence processed, plus 1).
    static let reorderedFlag: UInt64 = 1 << 63

    /// Checks one packet; consumer `consumer` only. Packets that are not test
    /// packets, or whose generator queue is not tracked, are ignored. No allocation.
    @inline(__always)
    public func check(_ bytes: UnsafeRawBufferPointer, consumer: Int) {
        guard let (queue, flow, sequence) = TestPacket.identity(bytes), queue < origins else { return }
        let word = UnsafeAtomic<UInt64>(at: highest + (queue &* Self.flowsPerOrigin &+ flow))
        let mine = sequence &+ 1
        var seen = word.load(ordering: .relaxed)
        while true {
            if mine < seen & ~Self.reorderedFlag {
                late[consumer &* Self.lateStride] &+= 1
                // The flow's first late packet counts the flow (the OR is one RMW on the word:
                // exactly one consumer sees the flag clear).
                if seen & Self.reorderedFlag == 0,
                   word.loadThenBitwiseOr(with: Self.reorderedFlag, ordering: .relaxed) & Self.reorderedFlag == 0 {
                    late[consumer &* Self.lateStride &+ 1] &+= 1
                }
                return
            }
            let desired = mine | (seen & Self.reorderedFlag)
            let (exchanged, current) = word.weakCompareExchange(expected: seen, desired: desired, ordering: .relaxed)
            if exchanged { return }
            seen = current
        }
    }

    /// Packets processed after a later packet of their flow, all consumers. Call
    /// after every consumer stopped.
    public var outOfOrder: Int { (0..<consumers).reduce(0) { $0 + late[$1 * Self.lateStride] } }

    /// Flows with at least one packet processed after a later one of theirs: the
    /// flows whose packets two consumers processed at once (a flow that moved from
    /// one consumer to the next, the first done before the second began, has none).
    /// Call after every consumer stopped.
    public var flowsReordered: Int { (0..<consumers).reduce(0) { $0 + late[$1 * Self.lateStride + 1] } }
}
