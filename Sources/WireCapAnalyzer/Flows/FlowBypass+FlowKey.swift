import WireCap
import WireCapEngine

extension BypassKey {
    /// The bypass key of `flow` (the direction it names; a bypass covers both).
    public init(_ flow: FlowKey) {
        self.init(version: flow.version, proto: flow.proto, sourceHigh: flow.sourceHigh, sourceLow: flow.sourceLow,
                  destinationHigh: flow.destinationHigh, destinationLow: flow.destinationLow,
                  sourcePort: flow.sourcePort, destinationPort: flow.destinationPort, vlan: flow.vlan)
    }
}

extension FlowBypass {
    /// Bypasses `flow` (both directions) from now on: its later packets are counted
    /// in the kernel as `bypassed` and no worker sees them (see ``FlowBypass``). The
    /// kernel never bypasses IP fragments or IPv6 packets with extension headers: those
    /// of the flow still arrive.
    ///
    /// - Parameters:
    ///   - duration: at most this long (nil: until idle).
    ///   - idle: ends once no packet came for this long (nil: the settings' idle timeout).
    /// - Throws: ``CaptureError`` when a kernel table refuses the entry.
    public func bypass(flow: FlowKey, for duration: Duration? = nil, idle: Duration? = nil) throws(CaptureError) {
        try bypass(BypassKey(flow), for: duration, idle: idle)
    }
}
