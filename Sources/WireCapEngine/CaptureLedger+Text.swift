import Foundation
import WireCapCore
import WireCapSystem

extension CaptureLedger {
    /// The ledger as a table: a row per queue (and the interface row when it has
    /// counts), a total, and where `offered` comes from.
    public var tableLines: [String] {
        let header = ["ledger", "offered", "delivered", "filtered", "sampled", "beyond-c", "bypassed", "before-sock", "no-frame",
                      "pool-exh", "ring-full", "invalid", "delivery", "writer", isFinal ? "abandoned" : "in-flight",
                      "tx-stall", "unexplained"]
        func cells(_ label: String, _ r: QueueLedger) -> [String] {
            [label, "\(r.offered)", "\(r.delivered)", "\(r.filtered)", "\(r.sampled)", "\(r.beyondCount)", "\(r.bypassed)",
             "\(r.beforeSocket)", "\(r.noFrame)", "\(r.poolExhausted)", "\(r.rxRingFull)", "\(r.invalidDescriptor)",
             "\(r.delivery)", "\(r.writer)", "\(isFinal ? r.abandoned : r.inFlight)", "\(r.txStalled)", "\(r.unexplained)"]
        }
        var rows = [header] + queues.map { cells("q\($0.queue)", $0) }
        if interfaceRow.offered != 0 || interfaceRow.lost != 0 { rows.append(cells("device", interfaceRow)) }
        rows.append(cells("total", total))
        let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
        var out = rows.map { r in
            r.enumerated().map { c, v in String(repeating: " ", count: widths[c] - v.count) + v }.joined(separator: "  ")
        }
        out.append("  offered: \(offeredSource.explanation); device drops: \(deviceCounters)")
        if total.filteredInKernel > 0 {
            out.append("  filtered: \(total.filteredInKernel) of them by the filter in the XDP program (they never took a frame)")
        }
        if total.bypassed > 0 {
            out.append("  bypassed: \(total.bypassed) packets (\(total.bypassedBytes) bytes) of flows the application bypassed, counted in the XDP program and not captured, as asked")
        }
        if total.spilled > 0 {
            out.append("  spilled: \(total.spilled) packets were copied into spill blocks while consumers were behind (counted in their fates above)")
        }
        return out
    }

    /// "no packets lost" only when true; otherwise every cause with its count and
    /// the unexplained remainder.
    public var verdict: String {
        let t = total
        if t.isLossless { return isFinal ? "no packets lost" : "no packets lost so far" }
        var parts = t.causes.filter { $0.packets > 0 }.map { "\($0.packets) \($0.name)" }
        if t.unexplained != 0 {
            parts.append("\(t.unexplained) unexplained (offered minus every counted fate: a path no counter sees)")
        }
        if t.uncountedLossEvents > 0 {
            parts.append("and an unknown number more: \(t.uncountedLossEvents) times the NIC found the fill ring empty in zero-copy mode (see ethtool -S)")
        }
        return "LOST \(t.lost) of \(t.offered) packets: " + parts.joined(separator: ", ")
    }
}

extension CaptureLedger {
    /// The ledger as one line of JSON (the `--json` statistics events).
    public var compactJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

extension OfferedSource {
    /// One phrase for the report.
    public var explanation: String {
        switch self {
        case .xdpProgram: "packets WireCap's XDP program redirected to each queue's socket (plus device drops)"
        case .packetStatistics: "each socket's PACKET_STATISTICS tp_packets (drops included)"
        case .received: "packets the capture threads received (no kernel counter)"
        }
    }
}
