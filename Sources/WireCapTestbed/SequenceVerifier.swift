import WireCapCore
import WireCapSystem
import WireCapEngine
import WireCapXDP
/// Checks captured test packets (``TestPacket``) across all consumers: every
/// sequence number of every generator queue seen exactly once, checksums valid,
/// and each consumer's view of each origin in increasing order (``perFlow``: of
/// each flow of each origin, what flow offload guarantees: a moving bucket's
/// packets wait for the move, so a consumer may see them after later packets of
/// other flows of the same origin).
///
/// Each consumer owns a ``Tally``: counters and one bitmap of seen sequence
/// numbers per generator queue. Nothing is shared while packets flow (no atomics,
/// no locks); ``report(_:)`` merges the tallies after the consumers stopped: a
/// number set in two consumers' bitmaps, or twice in one, is a duplicate (an
/// offloaded chunk of queue 0 may be checked by consumer 1). Sequence numbers at
/// or beyond ``capacity`` are counted but not tracked.
public final class SequenceVerifier: @unchecked Sendable {
    /// Generator queues tracked (payload queue field 0 ..< origins).
    public let origins: Int
    /// Sequence numbers tracked per origin.
    public let capacity: Int
    /// Order is checked per (origin, flow) instead of per origin.
    public let perFlow: Bool

    /// One consumer's counts and bitmaps. Owned by that consumer's thread until the report.
    ///
    /// The counters live in one small block behind a pointer, not in stored `var`s:
    /// a class's stored property is checked for exclusive access at run time on
    /// every write (seven `swift_beginAccess` calls per packet, measured).
    public final class Tally: @unchecked Sendable {
        @usableFromInline let counters: UnsafeMutablePointer<Int>
        @usableFromInline static let counterCount = 7
        public var packets: Int { get { counters[0] } set { counters[0] = newValue } }
        public var foreign: Int { get { counters[1] } set { counters[1] = newValue } }
        public var checksumErrors: Int { get { counters[2] } set { counters[2] = newValue } }
        public var duplicates: Int { get { counters[3] } set { counters[3] = newValue } }
        public var outOfOrder: Int { get { counters[4] } set { counters[4] = newValue } }
        public var untracked: Int { get { counters[5] } set { counters[5] = newValue } }
        public var wrongQueue: Int { get { counters[6] } set { counters[6] = newValue } }
        @usableFromInline let origins: Int
        @usableFromInline let words: Int
        @usableFromInline let bitmap: UnsafeMutablePointer<UInt64>      // origins × words
        @usableFromInline let lastSequence: UnsafeMutablePointer<Int64>   // per origin (per flow: × 65536), -1 = none
        @usableFromInline let perFlow: Bool
        @usableFromInline let maxSequence: UnsafeMutablePointer<Int64>
        @usableFromInline let perOrigin: UnsafeMutablePointer<Int>

        init(origins: Int, capacity: Int, perFlow: Bool) {
            self.origins = origins
            self.perFlow = perFlow
            counters = .allocate(capacity: Self.counterCount)
            counters.initialize(repeating: 0, count: Self.counterCount)
            words = (capacity + 63) / 64
            bitmap = .allocate(capacity: origins * words)
            bitmap.initialize(repeating: 0, count: origins * words)
            let orderSlots = origins * (perFlow ? TestPacket.flowsPerOrigin : 1)
            lastSequence = .allocate(capacity: orderSlots)
            lastSequence.initialize(repeating: -1, count: orderSlots)
            maxSequence = .allocate(capacity: origins)
            maxSequence.initialize(repeating: -1, count: origins)
            perOrigin = .allocate(capacity: origins)
            perOrigin.initialize(repeating: 0, count: origins)
        }

        deinit {
            bitmap.deallocate(); lastSequence.deallocate(); maxSequence.deallocate(); perOrigin.deallocate()
            counters.deallocate()
        }
    }

    /// - Parameter perFlow: check order per flow of each origin (a capture with flow
    ///   offload) rather than per origin.
    public init(origins: Int, capacity: Int = 1 << 24, perFlow: Bool = false) {
        self.origins = origins
        self.capacity = capacity
        self.perFlow = perFlow
    }

    /// A fresh tally for one consumer (allocates its bitmaps: call before capture starts).
    public func makeTally() -> Tally { Tally(origins: origins, capacity: capacity, perFlow: perFlow) }

    /// Checks one packet. Called by the consumer that owns `tally`; allocates nothing.
    @inlinable
    public func check(_ packet: Packet, _ tally: Tally) {
        tally.packets &+= 1
        guard let f = TestPacket.parse(packet.bytes), f.queue < origins else {
            tally.foreign &+= 1
            return
        }
        if !f.checksumValid { tally.checksumErrors &+= 1 }
        if f.queue != packet.originQueue { tally.wrongQueue &+= 1 }
        let q = f.queue
        tally.perOrigin[q] &+= 1
        let seq = Int64(truncatingIfNeeded: f.sequence)
        let order = tally.perFlow ? q &* TestPacket.flowsPerOrigin &+ (f.flow & (TestPacket.flowsPerOrigin &- 1)) : q
        if seq <= tally.lastSequence[order] { tally.outOfOrder &+= 1 }
        tally.lastSequence[order] = seq
        if seq > tally.maxSequence[q] { tally.maxSequence[q] = seq }
        guard seq >= 0, seq < Int64(capacity) else {
            tally.untracked &+= 1
            return
        }
        let bit: UInt64 = 1 << UInt64(seq & 63)
        let word = tally.bitmap + (q &* tally.words &+ Int(seq >> 6))
        if word.pointee & bit != 0 { tally.duplicates &+= 1 }
        word.pointee |= bit
    }

    /// What the verifier found, per generator queue and in total.
    public struct Report: Sendable, Codable {
        public struct Origin: Sendable, Codable {
            public var queue: Int
            /// Distinct sequence numbers seen.
            public var unique: Int
            /// Highest sequence number seen + 1 (the generator numbers from 0).
            public var span: Int
            /// Sequence numbers below `span` never seen.
            public var missing: Int
        }
        public var packets: Int
        public var foreign: Int
        public var checksumErrors: Int
        public var duplicates: Int
        public var outOfOrder: Int
        public var wrongQueue: Int
        public var untracked: Int
        public var origins: [Origin]

        /// `true` when nothing was duplicated, corrupted, reordered or missing.
        public var clean: Bool {
            checksumErrors == 0 && duplicates == 0 && outOfOrder == 0 && origins.allSatisfy { $0.missing == 0 }
        }

        /// Distinct packets seen of generator queue `q`.
        public func unique(queue q: Int) -> Int { origins.first { $0.queue == q }?.unique ?? 0 }
    }

    /// Merges the tallies. Call after every consumer stopped.
    public func report(_ tallies: [Tally]) -> Report {
        var r = Report(packets: 0, foreign: 0, checksumErrors: 0, duplicates: 0, outOfOrder: 0,
                       wrongQueue: 0, untracked: 0, origins: [])
        var maxSeq = Array(repeating: Int64(-1), count: origins)
        for t in tallies {
            r.packets += t.packets; r.foreign += t.foreign; r.checksumErrors += t.checksumErrors
            r.duplicates += t.duplicates; r.outOfOrder += t.outOfOrder; r.wrongQueue += t.wrongQueue
            r.untracked += t.untracked
            for q in 0..<origins { maxSeq[q] = max(maxSeq[q], t.maxSequence[q]) }
        }
        let words = (capacity + 63) / 64
        for q in 0..<origins {
            var unique = 0
            for w in 0..<words {
                var union: UInt64 = 0
                for t in tallies {
                    let v = t.bitmap[q * words + w]
                    r.duplicates += (union & v).nonzeroBitCount   // seen by two consumers
                    union |= v
                }
                unique += union.nonzeroBitCount
            }
            let span = Int(min(maxSeq[q] + 1, Int64(capacity)))
            r.origins.append(.init(queue: q, unique: unique, span: span, missing: max(0, span - unique)))
        }
        return r
    }
}
