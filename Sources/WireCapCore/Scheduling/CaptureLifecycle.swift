/// The life of a capture, the same for every backend and for the API:
///
/// ```
///   opened ──start()──▶ started ──stop()──▶ stopping ──(drained)──▶ drained ──close()──▶ closed
///      │                                                                                  ▲
///      └──────────────────────────────── close() ─────────────────────────────────────────┘
/// ```
///
/// - **opened**: resources exist (pools, sockets, the loaded program) but nothing
///   captures: no frame is posted, no socket is in the XSKMAP, no program is
///   attached, no AF_PACKET socket lets packets in.
/// - **started**: every fill ring is posted, every socket receives, capture
///   threads run. ``CaptureLifecycle/start()`` returns only then (readiness).
/// - **stopping**: redirecting has stopped (XSKMAP entries removed; AF_PACKET
///   sockets filter everything); capture threads drain the rx rings and flush
///   every partial chunk.
/// - **drained**: capture threads have exited; every received packet sits in a
///   capture lane or with a consumer. Consumers and the writer finish their
///   work now; the memory is still mapped.
/// - **closed**: sockets closed, memory unmapped; nothing of the capture remains
///   in the kernel.
///
/// The type only checks the transitions (a wrong one is a programming error and
/// traps, with both states named); the engines do the work between them.
///
/// - warning: One control thread.
public struct CaptureLifecycle: Sendable, Hashable {
    /// The states, in the order a capture passes them.
    public enum State: Int, Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
        case opened, started, stopping, drained, closed

        public static func < (a: State, b: State) -> Bool { a.rawValue < b.rawValue }

        public var description: String {
            switch self {
            case .opened: "opened"
            case .started: "started"
            case .stopping: "stopping"
            case .drained: "drained"
            case .closed: "closed"
            }
        }
    }

    /// The current state.
    public private(set) var state: State = .opened

    public init() {}

    /// Whether `from → to` is a transition of the diagram.
    public static func allows(_ from: State, _ to: State) -> Bool {
        switch (from, to) {
        case (.opened, .started), (.started, .stopping), (.stopping, .drained), (.drained, .closed),
             (.opened, .closed):
            true
        default:
            false
        }
    }

    /// Moves to `next`; traps on a transition the diagram does not have.
    public mutating func advance(to next: State) {
        precondition(Self.allows(state, next), "capture lifecycle: \(state) → \(next) is not a transition")
        state = next
    }

    /// `true` when a stop is due: the capture started and has not begun stopping.
    public var needsStop: Bool { state == .started }
}
