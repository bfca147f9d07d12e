/// Packets and bytes of one flow.
@frozen
public struct FlowCounts: Hashable, Sendable, Codable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// A fixed-capacity flow table for one worker: open addressing with linear
/// probing over preallocated storage, so ``add(_:bytes:)`` never allocates.
///
/// **Merging is exact.** Counts are sums, so a flow whose packets were split
/// between workers by an offload merges to the same totals as if one worker had
/// seen them all. When the table is full, further new flows are counted in
/// ``overflow`` (packets and bytes still add up: `sum(flows) + overflow` equals
/// everything added), and the merge keeps that invariant.
///
/// A class so analyzer states holding one stay cheap to pass around; it is
/// allocated once per worker, never on the hot path.
///
/// - warning: One thread per table (the merge runs after the workers stopped).
public final class FlowTable: @unchecked Sendable {
    @usableFromInline let keys: UnsafeMutablePointer<FlowKey>
    @usableFromInline let counts: UnsafeMutablePointer<FlowCounts>
    @usableFromInline let used: UnsafeMutablePointer<Bool>
    @usableFromInline let mask: Int
    /// Flows stored.
    public private(set) var count = 0
    /// Most flows the table stores (¾ of its slots).
    public let capacity: Int
    /// Traffic of flows that did not fit.
    public var overflow = FlowCounts()

    /// Makes a table for at least `capacity` flows.
    public init(capacity: Int = 65_536) {
        var slots = 16
        while slots * 3 / 4 < capacity { slots <<= 1 }
        mask = slots - 1
        self.capacity = slots * 3 / 4
        keys = .allocate(capacity: slots)
        counts = .allocate(capacity: slots)
        counts.initialize(repeating: FlowCounts(), count: slots)
        used = .allocate(capacity: slots)
        used.initialize(repeating: false, count: slots)
    }

    deinit {
        keys.deallocate(); counts.deallocate(); used.deallocate()
    }

    /// Adds one packet of `bytes` bytes to `key`'s flow.
    public func add(_ key: FlowKey, bytes: Int) {
        add(key, FlowCounts(packets: 1, bytes: UInt64(bytes)))
    }

    /// Adds `delta` to `key`'s flow.
    public func add(_ key: FlowKey, _ delta: FlowCounts) {
        var i = Int(truncatingIfNeeded: key.hash64) & mask
        while used[i] {
            if keys[i] == key {
                counts[i].packets &+= delta.packets
                counts[i].bytes &+= delta.bytes
                return
            }
            i = (i &+ 1) & mask
        }
        guard count < capacity else {
            overflow.packets &+= delta.packets
            overflow.bytes &+= delta.bytes
            return
        }
        used[i] = true
        (keys + i).initialize(to: key)
        counts[i] = delta
        count &+= 1
    }

    /// The counts of `key`'s flow, if stored.
    public func counts(of key: FlowKey) -> FlowCounts? {
        var i = Int(truncatingIfNeeded: key.hash64) & mask
        while used[i] {
            if keys[i] == key { return counts[i] }
            i = (i &+ 1) & mask
        }
        return nil
    }

    /// Calls `body` with every stored flow (table order).
    public func forEach(_ body: (FlowKey, FlowCounts) -> Void) {
        for i in 0...mask where used[i] { body(keys[i], counts[i]) }
    }

    /// Adds every flow (and the overflow) of `other`.
    public func merge(_ other: FlowTable) {
        other.forEach { add($0, $1) }
        overflow.packets &+= other.overflow.packets
        overflow.bytes &+= other.overflow.bytes
    }

    /// Totals over all flows and the overflow.
    public var total: FlowCounts {
        var t = overflow
        forEach { _, c in t.packets &+= c.packets; t.bytes &+= c.bytes }
        return t
    }

    /// The flows as a dictionary (for tests and reports; allocates).
    public var dictionary: [FlowKey: FlowCounts] {
        var d: [FlowKey: FlowCounts] = [:]
        forEach { d[$0] = $1 }
        return d
    }
}
