/// The paper's per-packet application cost x (§4): each packet is run through a
/// classic BPF filter x times, with libpcap's own `bpf_filter`, the very call the
/// C baselines of the end-to-end harness make (`Benchmarks/baselines/wc_cost.c`),
/// so x is the same work in every engine that is compared.
///
/// The filter is `udp and dst port 9` (compiled optimised, as the baselines do),
/// which matches every generator packet. ``apply(_:)`` allocates nothing.
///
/// The x runs cannot be folded into one: `bpf_filter` is an opaque C call, which
/// the optimiser may not assume pure (a Swift interpreter of the same program once
/// was, and x = 300 cost what x = 1 did). The `ConsumerCost` micro benchmark shows
/// the cost per packet at x = 1 and x = 300.
public final class ConsumerCost: Sendable {
    /// x: filter runs per packet.
    public let runs: Int
    /// The filter each run applies.
    public let filter: PacketFilter

    /// The generator's packets match this (UDP to the discard port).
    public static let expression = "udp and dst port 9"

    public init(runs: Int) {
        self.runs = runs
        // A constant expression libpcap always compiles.
        do { filter = try PacketFilter(expression: Self.expression, snapLength: 65_535) } catch {
            preconditionFailure("ConsumerCost: \(error)")
        }
    }

    /// Runs the filter ``runs`` times over the packet. - Returns: times it matched.
    @inline(__always)
    public func apply(_ bytes: UnsafeRawBufferPointer) -> Int {
        var matched = 0
        for _ in 0..<runs where filter.matches(bytes) { matched &+= 1 }
        return matched
    }
}
