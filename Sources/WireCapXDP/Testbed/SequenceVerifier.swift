import Atomics

/// Checks captured test packets (``TestPacket``) across all consumers: every
/// sequence number of every generator queue seen exactly once, checksums valid,
/// and each consumer's view of each origin in increasing order.
///
/// Seen sequence numbers live in one bitmap per generator queue, shared by all
/// consumers (an offloaded chunk of queue 0 may be checked by consumer 1), set
/// with a relaxed atomic OR: relaxed is enough because the bit is its own datum
/// and the final report is read after the consumers were joined. Everything
/// else is per consumer (``Tally``) and merged at the end. Sequence numbers at
/// or beyond ``capacity`` are counted but not checked for duplicates.
public final class SequenceVerifier: @unchecked Sendable {
    /// Generator queues tracked (payload queue field 0 ..< origins).
    public let origins: Int
    /// Sequence numbers tracked per origin.
    public let capacity: Int
    @usableFromInline let words: Int
    @usableFromInline let bitmap: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>

    /// Per-consumer counts (plain values, owned by one consumer thread).
    public struct Tally: Sendable {
        public var packets = 0
        public var foreign = 0
        public var checksumErrors = 0
        public var duplicates = 0
        public var outOfOrder = 0
        public var untracked = 0
        public var wrongQueue = 0
        public var perOrigin: [Int]
        public var maxSequence: [Int64]
        @usableFromInline var lastSequence: [Int64]

        public init(origins: Int) {
            perOrigin = Array(repeating: 0, count: origins)
            maxSequence = Array(repeating: -1, count: origins)
            lastSequence = Array(repeating: -1, count: origins)
        }
    }

    public init(origins: Int, capacity: Int = 1 << 24) {
        self.origins = origins
        self.capacity = capacity
        words = (capacity + 63) / 64
        bitmap = .allocate(capacity: origins * words)
        bitmap.initialize(repeating: .init(0), count: origins * words)
    }

    deinit { bitmap.deallocate() }

    /// Checks one packet. Called by the consumer that owns `tally`.
    @inlinable
    public func check(_ packet: PacketView, _ tally: inout Tally) {
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
        if seq <= tally.lastSequence[q] { tally.outOfOrder &+= 1 }
        tally.lastSequence[q] = seq
        if seq > tally.maxSequence[q] { tally.maxSequence[q] = seq }
        guard seq >= 0, seq < Int64(capacity) else {
            tally.untracked &+= 1
            return
        }
        let bit: UInt64 = 1 << UInt64(seq & 63)
        let word = UnsafeAtomic<UInt64>(at: bitmap + (q &* words &+ Int(seq >> 6)))
        // Relaxed: see the type's documentation.
        if word.loadThenBitwiseOr(with: bit, ordering: .relaxed) & bit != 0 { tally.duplicates &+= 1 }
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
        for q in 0..<origins {
            var unique = 0
            for w in 0..<words {
                // Relaxed: consumers are joined (see the type's documentation).
                unique += UnsafeAtomic<UInt64>(at: bitmap + (q * words + w)).load(ordering: .relaxed).nonzeroBitCount
            }
            let span = Int(min(maxSeq[q] + 1, Int64(capacity)))
            r.origins.append(.init(queue: q, unique: unique, span: span, missing: max(0, span - unique)))
        }
        return r
    }
}
