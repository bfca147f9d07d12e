import WireCapCore
import WireCapSystem

/// How an engine's flow bypass is set up (issue 17, ``EngineSettings/flowBypass``).
///
/// A bypassed flow is one the application has seen enough of (an elephant after
/// its first megabytes, an encrypted stream an IDS cannot inspect): the XDP
/// program looks every captured packet up in a table of such flows and, on a hit,
/// counts the packet for its flow and its queue (the ledger's `bypassed`, not a
/// loss) and does not redirect it. It takes no frame, no pool cell and no
/// capture-thread or consumer time.
public struct FlowBypassSettings: Sendable, Hashable {
    /// What becomes of a bypassed packet in the XDP program.
    public enum Action: String, Sendable, Hashable {
        /// `XDP_DROP` (the default): the cheapest. A captured queue's packets never
        /// reach the kernel stack anyway (AF_XDP takes them), so dropping changes
        /// nothing for the host.
        case drop
        /// `XDP_PASS`: on to the kernel stack, as if the queue were not captured.
        case pass
    }

    /// Table entries (each bypassed flow takes two: one per direction). The kernel
    /// evicts the least recently used entries when it needs room (an LRU hash map,
    /// which keeps some free entries per CPU, so eviction can begin a little before
    /// the table is full): an evicted direction comes back into capture, so a flow
    /// may for a while be bypassed one way only. At least 1,024.
    public var capacity = 65_536
    /// See ``Action``.
    public var action = Action.drop
    /// How long a bypassed flow may be silent before its bypass ends (its next
    /// packet is captured again), unless a request names its own.
    public var idleTimeout: Duration = .seconds(30)

    public init(capacity: Int = 65_536, action: Action = .drop, idleTimeout: Duration = .seconds(30)) {
        self.capacity = capacity
        self.action = action
        self.idleTimeout = idleTimeout
    }

    /// Checks the settings. - Throws: a `.usage` error naming the bad value.
    public func validate() throws(XDPError) {
        guard capacity >= 1024 && capacity <= 1 << 24 else {
            throw XDPError.usage("flow bypass", "the bypass table takes 1,024 to 16,777,216 entries, got \(capacity)")
        }
        guard idleTimeout > .zero else {
            throw XDPError.usage("flow bypass", "the bypass idle timeout must be positive, got \(idleTimeout)")
        }
    }
}

/// One flow of the bypass table, both directions summed.
public struct BypassedFlow: Sendable, Hashable {
    /// The flow (``BypassKey/canonical``).
    public var key: BypassKey
    /// Packets and bytes the XDP program bypassed for it (both directions), since
    /// its entry was made. Bytes are whole packet lengths.
    public var packets: UInt64
    public var bytes: UInt64
    /// `false` once its deadline or idle timeout passed: its packets are captured
    /// again (the entry stays until evicted or ``FlowBypassTable/end(_:)``).
    public var isActive: Bool

    public init(key: BypassKey, packets: UInt64, bytes: UInt64, isActive: Bool) {
        self.key = key
        self.packets = packets
        self.bytes = bytes
        self.isActive = isActive
    }
}

/// An engine's table of bypassed flows, in its XDP program (AF_XDP only; see
/// ``FlowBypassSettings``). Any thread: each call is one or a few BPF map syscalls,
/// never on a packet path (a consumer calls it once per flow it bypasses).
public protocol FlowBypassTable: AnyObject, Sendable {
    /// The table's settings.
    var settings: FlowBypassSettings { get }

    /// Bypasses `flow` (both directions) from now on: for at most `duration` (nil:
    /// until it is idle for `idle`, or for ``FlowBypassSettings/idleTimeout`` when
    /// `idle` is nil), and while no packet of it is more than `idle` apart. A flow
    /// already in the table gets the new limits and keeps its counts. TCP segments
    /// with FIN or RST are never bypassed: the application sees every flow end.
    /// No event says when a bypass ended; ``flows()`` shows it (`isActive`).
    ///
    /// - Throws: `XDPError` — `.usage` for a duration or idle time that is not
    ///   positive, otherwise the kernel's refusal (then neither direction is in the table).
    func bypass(_ flow: BypassKey, for duration: Duration?, idle: Duration?) throws(XDPError)

    /// Ends `flow`'s bypass now (both directions); its next packet is captured.
    func end(_ flow: BypassKey)

    /// Every flow in the table, with its counts (a walk of the map: a statistics read).
    func flows() -> [BypassedFlow]

    /// Requests made so far (``bypass(_:for:idle:)`` calls that succeeded).
    var requests: Int { get }
}

extension Duration {
    /// Whole nanoseconds, saturated to `UInt64` (zero or negative: 0).
    package var nanoseconds: UInt64 {
        guard self > .zero else { return 0 }
        let (s, a) = components
        let (whole, over) = UInt64(s).multipliedReportingOverflow(by: 1_000_000_000)
        return over ? .max : whole &+ UInt64(a / 1_000_000_000)
    }
}
