import WireCapSystem

/// `--bypass-after BYTES`: a consumer's count of each flow's bytes, which asks the
/// engine's ``FlowBypassTable`` to bypass a flow once it has delivered `limit`
/// bytes (Time Machine's "cutoff": the first bytes of every flow are kept, an
/// elephant's bulk is not). One per consumer thread (not thread-safe); allocated
/// once, no lock, no allocation and no syscall per packet (a few map syscalls per
/// flow cut off).
///
/// **Flows.** Both directions of a flow count together (``BypassKey/canonical``).
/// Packets the XDP program cannot bypass (``BypassKey``: fragments, IPv6 extension
/// headers, non-IP) are not counted. In advanced mode an offload can hand part of
/// a flow to another consumer: each consumer counts what it sees, so a flow may
/// deliver up to twice `limit` before it is cut off.
///
/// **When a bypass ends.** A packet of a cut-off flow that still arrives was either
/// in flight (in a ring or chunk when the entry was made: its timestamp, taken in
/// the XDP program, is older than the request) or came after the bypass ended (its
/// deadline or idle time passed, or the kernel evicted the entry). In the second
/// case, a stamp more than ``grace`` newer than the request, the flow starts
/// counting again from zero, as a new flow, and is cut off again after `limit`.
/// Stamps are wall-clock time, so a step of the clock (or a packet the program
/// could not stamp, which gets its batch's time) can blur that line: whatever the
/// stamps say, a cut-off flow that delivers `limit` more bytes is asked again.
///
/// **Table.** `capacity` slots (a power of two), open addressing with at most 8
/// probes; when all 8 are taken, the smallest of them gives its slot up (a flow
/// forgotten that way starts counting again).
public final class FlowCutoff {
    private struct Slot {
        var key = BypassKey()
        var bytes: UInt64 = 0
        /// CLOCK_REALTIME of the bypass request, 0 while counting.
        var cutAt: UInt64 = 0
        /// Bytes delivered since the request (in flight, or the bypass ended unseen).
        var since: UInt64 = 0
        var used = false
    }

    /// Bytes a flow delivers before it is bypassed.
    public let limit: UInt64
    /// How long each bypass lasts at most (nil: until idle).
    public let duration: Duration?
    /// A packet stamped later than its flow's request by more than this starts the flow anew.
    public static let grace: UInt64 = 1_000_000
    private let table: any FlowBypassTable
    private let slots: UnsafeMutablePointer<Slot>
    private let mask: Int
    /// Flows this consumer cut off (successful requests).
    public private(set) var cut = 0

    /// - Parameters:
    ///   - limit: bytes after which a flow is bypassed (≥ 1).
    ///   - capacity: flows tracked at once, rounded up to a power of two.
    public init(limit: UInt64, duration: Duration? = nil, table: any FlowBypassTable, capacity: Int = 16_384) {
        self.limit = max(1, limit)
        self.duration = duration
        self.table = table
        var n = 8
        while n < capacity { n <<= 1 }
        mask = n - 1
        slots = .allocate(capacity: n)
        slots.initialize(repeating: Slot(), count: n)
    }

    deinit { slots.deallocate() }

    /// Counts `packet` for its flow; makes the bypass request when the flow reaches the limit.
    @inline(__always)
    public func record(_ packet: Packet) {
        guard let raw = BypassKey(parsing: packet.bytes, linkType: packet.linkType) else { return }
        let key = raw.canonical
        let s = slot(for: key)
        if slots[s].cutAt != 0 {
            slots[s].since &+= UInt64(packet.wireLength)
            // In flight when the request was made: delivered, nothing to count, unless
            // a whole limit's worth came since (the stamps cannot be trusted then).
            if packet.timestamp <= slots[s].cutAt &+ Self.grace && slots[s].since < limit { return }
            slots[s].cutAt = 0
            slots[s].since = 0
            slots[s].bytes = 0
        }
        slots[s].bytes &+= UInt64(packet.wireLength)
        if slots[s].bytes >= limit { request(s) }
    }

    /// The slot of `key`: its own, a free one, or the smallest of the 8 probed.
    @inline(__always)
    private func slot(for key: BypassKey) -> Int {
        let start = Int(truncatingIfNeeded: key.hash64) & mask
        var smallest = start
        for i in 0..<8 {
            let s = (start &+ i) & mask
            if !slots[s].used {
                slots[s] = Slot(key: key, used: true)
                return s
            }
            if slots[s].key == key { return s }
            if slots[s].bytes < slots[smallest].bytes { smallest = s }
        }
        slots[smallest] = Slot(key: key, used: true)
        return smallest
    }

    @inline(never)
    private func request(_ s: Int) {
        // A refused request is not retried per packet: the flow is counted anew
        // (its next packets come after the grace) and asked again at the limit.
        if (try? table.bypass(slots[s].key, for: duration, idle: nil)) != nil { cut &+= 1 }
        // Taken after the entry exists: a packet stamped later met it in the program.
        slots[s].cutAt = Sys.realtimeNanoseconds()
    }
}
