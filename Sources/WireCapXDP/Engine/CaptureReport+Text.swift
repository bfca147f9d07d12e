import Foundation
import WireCapCore

extension CaptureReport {
    /// The per-queue table and loss summary the `capture` and `demo` commands print.
    public var humanDescription: String {
        var out: [String] = []
        out.append("capture on \(interface): \(mode) mode, \(geometry), XDP \(attachMode) mode, x=\(consumerCost), \(String(format: "%.2f", seconds)) s (stopped by \(stoppedBy))")
        let header = ["queue", "received", "consumed", "ipv4", "no-buffer", "ring-full", "invalid", "fill-empty*",
                      "offload-out", "offload-in", "partial", "free", "attached", "captured", "rejects"]
        var rows: [[String]] = [header]
        for q in queues {
            let s = q.statistics
            rows.append(["\(q.deviceQueue)", "\(s.packetsReceived)", "\(s.packetsConsumed)", "\(q.ipv4)",
                         "\(s.dropsNoBuffer)", "\(s.dropsRxRingFull)", "\(s.dropsInvalidDescriptor)",
                         "\(s.fillRingEmptyEvents)", "\(s.offloadedOut)", "\(s.offloadedIn)", "\(s.partialSlices)",
                         "\(s.freeChunks)", "\(s.attachedChunks)", "\(s.capturedChunks)", "\(s.recycleRejected)"])
        }
        let t = queues.map(\.statistics)
        rows.append(["total", "\(received)", "\(consumed)", "\(queues.reduce(0) { $0 + $1.ipv4 })",
                     "\(t.reduce(0) { $0 + $1.dropsNoBuffer })", "\(t.reduce(0) { $0 + $1.dropsRxRingFull })",
                     "\(t.reduce(0) { $0 + $1.dropsInvalidDescriptor })", "\(t.reduce(0) { $0 + $1.fillRingEmptyEvents })",
                     "\(offloads)", "\(t.reduce(0) { $0 + $1.offloadedIn })", "\(t.reduce(0) { $0 + $1.partialSlices })",
                     "", "", "", "\(t.reduce(0) { $0 + $1.recycleRejected })"])
        let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
        for r in rows {
            out.append(r.enumerated().map { c, v in String(repeating: " ", count: widths[c] - v.count) + v }.joined(separator: "  "))
        }
        out.append("  * fill-empty: the kernel's rx_fill_ring_empty_descs (per packet in copy mode; overlaps no-buffer)")
        out.append(contentsOf: ledger.tableLines)
        out.append(ledger.verdict)
        if let v = verification {
            let perOrigin = v.origins.filter { $0.span > 0 || $0.unique > 0 }
                .map { "gen queue \($0.queue): \($0.unique) unique of \($0.span), \($0.missing) missing" }
                .joined(separator: "; ")
            out.append("verify: \(v.clean ? "OK" : "FAILED") — \(perOrigin); \(v.duplicates) duplicates, \(v.checksumErrors) checksum errors, \(v.outOfOrder) out of order, \(v.foreign) foreign packets")
        }
        if let n = forwarded {
            out.append("forwarded: \(n) packets sent zero-copy out of the --forward interface")
        }
        if let f = flows {
            out.append("flows: \(f.flowsTotal) IPv4 flows, \(f.flowsSplit) processed by more than one consumer"
                       + (f.overflowed ? " (a flow set filled up: lower bounds)" : ""))
        }
        return out.joined(separator: "\n")
    }

    /// The report as pretty JSON.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

extension CaptureLedger {
    /// The ledger as a table: a row per queue (and the interface row when it has
    /// counts), a total, and where `offered` comes from.
    public var tableLines: [String] {
        let header = ["ledger", "offered", "delivered", "filtered", "sampled", "beyond-c", "before-sock", "no-frame",
                      "pool-exh", "ring-full", "invalid", "delivery", "writer", isFinal ? "abandoned" : "in-flight",
                      "tx-stall", "unexplained"]
        func cells(_ label: String, _ r: QueueLedger) -> [String] {
            [label, "\(r.offered)", "\(r.delivered)", "\(r.filtered)", "\(r.sampled)", "\(r.beyondCount)",
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

extension GeneratorResult {
    /// One line per queue and a total.
    public var humanDescription: String {
        var lines = queues.map { q in
            "gen queue \(q.queue): sent \(q.sent) packets in \(String(format: "%.3f", q.seconds)) s (\(Int(q.seconds > 0 ? Double(q.sent) / q.seconds : 0)) pps)"
        }
        lines.append("total: sent \(sent) packets in \(String(format: "%.3f", seconds)) s (\(Int(packetsPerSecond)) pps)")
        return lines.joined(separator: "\n")
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}
