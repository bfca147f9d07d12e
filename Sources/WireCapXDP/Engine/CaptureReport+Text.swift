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
        out.append("  * fill-empty counts times the kernel found the fill ring empty (events, not packets)")
        if drops == 0 {
            out.append("no packets lost")
        } else {
            let nb = t.reduce(0) { $0 + $1.dropsNoBuffer }, rf = t.reduce(0) { $0 + $1.dropsRxRingFull }
            let inv = t.reduce(0) { $0 + $1.dropsInvalidDescriptor }, pe = t.reduce(0) { $0 + $1.dropsPoolExhausted }
            var causes: [String] = []
            let episodes = t.reduce(0) { $0 + $1.exhaustionEpisodes }
            if nb > 0 {
                causes.append(episodes > 0
                    ? "\(nb) with no frame in the fill ring (pool exhausted \(episodes) times: consumers too slow)"
                    : "\(nb) with no frame in the fill ring (pool had free chunks: capture thread late, try a larger -N)")
            }
            if rf > 0 { causes.append("\(rf) with the rx ring full (capture thread too slow)") }
            if inv > 0 { causes.append("\(inv) invalid descriptors") }
            if pe > 0 { causes.append("\(pe) pool exhausted") }
            out.append("LOST \(drops) packets: " + causes.joined(separator: ", "))
        }
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

/// Parses "0,1,3" / "0-3" lists (queues, CPUs).
public func parseIndexList(_ text: String) -> [Int]? {
    var out: [Int] = []
    for part in text.split(separator: ",") {
        let bounds = part.split(separator: "-")
        if bounds.count == 2, let a = Int(bounds[0]), let b = Int(bounds[1]), a <= b, a >= 0 {
            out.append(contentsOf: a...b)
        } else if bounds.count == 1, let a = Int(bounds[0]), a >= 0 {
            out.append(a)
        } else {
            return nil
        }
    }
    return out.isEmpty ? nil : out
}
