import WireCapEngine
import WireCapSystem

/// The flow bypass of a ``Capture`` (issue 17): flows the application has seen
/// enough of stop being captured. The XDP program of each interface looks every
/// captured packet up in its table; a bypassed flow's packets are counted (per
/// flow here, per queue in the ledger's `bypassed`) and never take a frame, a
/// capture-thread pass or a handle's time.
///
/// Turn it on with `settings.flowBypass = FlowBypassSettings()` before
/// ``Capture/open(_:configuration:)`` (AF_XDP only), then take it from
/// ``Capture/flowBypass``. Any thread; each call is a few BPF map syscalls, so call
/// it once per flow, not per packet.
///
/// ```swift
/// if seen[key] > 10_000 { try capture.flowBypass?.bypass(key, for: .seconds(60)) }
/// ```
///
/// A request covers both directions of the flow, on every interface of the capture.
/// Packets already in a ring or a chunk when it is made are still delivered.
public final class FlowBypass: Sendable {
    /// One table per interface, in the capture's order.
    public let tables: [any FlowBypassTable]

    init?(_ engines: [any CaptureBackend]) {
        let tables = engines.compactMap(\.flowBypass)
        guard !tables.isEmpty else { return nil }
        self.tables = tables
    }

    /// Bypasses `flow` (both directions) from now on, for at most `duration` (nil:
    /// until idle) and while its packets are no more than `idle` apart (nil: the
    /// settings' ``FlowBypassSettings/idleTimeout``). A flow already bypassed gets
    /// the new limits.
    ///
    /// - Throws: ``CaptureError`` (`.system`) when a kernel table refuses the entry.
    public func bypass(_ flow: BypassKey, for duration: Duration? = nil, idle: Duration? = nil) throws(CaptureError) {
        for t in tables {
            do { try t.bypass(flow, for: duration, idle: idle) } catch { throw CaptureError(error) }
        }
    }

    /// Ends `flow`'s bypass now: its next packet is captured.
    public func end(_ flow: BypassKey) { tables.forEach { $0.end(flow) } }

    /// Every flow in the tables with what was bypassed of it (a walk of the maps).
    public func flows() -> [BypassedFlow] { tables.flatMap { $0.flows() } }
}

extension Capture {
    /// The capture's flow bypass, or nil when ``EngineSettings/flowBypass`` was not
    /// set (or on AF_PACKET, which has no XDP program).
    public var flowBypass: FlowBypass? { FlowBypass(engines) }
}
