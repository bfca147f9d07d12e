import Foundation
import WireCapCore
import WireCapSystem
import WireCapEngine
import WireCapXDP
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed

extension CaptureReport {
    /// The per-queue table and loss summary the `capture` and `demo` commands print.
    public var humanDescription: String {
        var out: [String] = []
        out.append("capture on \(interface): \(mode) mode\(offload.map { " (\($0) offload)" } ?? ""), \(geometry), XDP \(attachMode) mode, x=\(consumerCost), \(String(format: "%.2f", seconds)) s (stopped by \(stoppedBy))")
        let header = ["queue", "received", "consumed", "ipv4", "no-buffer", "ring-full", "invalid", "fill-empty*",
                      "offload-out", "offload-in", "partial", "spilled", "free", "attached", "captured", "rejects"]
        var rows: [[String]] = [header]
        for q in queues {
            let s = q.statistics
            rows.append(["\(q.deviceQueue)", "\(s.packetsReceived)", "\(s.packetsConsumed)", "\(q.ipv4)",
                         "\(s.dropsNoBuffer)", "\(s.dropsRxRingFull)", "\(s.dropsInvalidDescriptor)",
                         "\(s.fillRingEmptyEvents)", "\(s.offloadedOut)", "\(s.offloadedIn)", "\(s.partialSlices)",
                         "\(s.packetsSpilled)", "\(s.freeChunks)", "\(s.attachedChunks)", "\(s.capturedChunks)", "\(s.recycleRejected)"])
        }
        let t = queues.map(\.statistics)
        rows.append(["total", "\(received)", "\(consumed)", "\(queues.reduce(0) { $0 + $1.ipv4 })",
                     "\(t.reduce(0) { $0 + $1.dropsNoBuffer })", "\(t.reduce(0) { $0 + $1.dropsRxRingFull })",
                     "\(t.reduce(0) { $0 + $1.dropsInvalidDescriptor })", "\(t.reduce(0) { $0 + $1.fillRingEmptyEvents })",
                     "\(offloads)", "\(t.reduce(0) { $0 + $1.offloadedIn })", "\(t.reduce(0) { $0 + $1.partialSlices })",
                     "\(t.reduce(0) { $0 + $1.packetsSpilled })", "", "", "", "\(t.reduce(0) { $0 + $1.recycleRejected })"])
        let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
        for r in rows {
            out.append(r.enumerated().map { c, v in String(repeating: " ", count: widths[c] - v.count) + v }.joined(separator: "  "))
        }
        out.append("  * fill-empty: the kernel's rx_fill_ring_empty_descs (per packet in copy mode; overlaps no-buffer)")
        if offload == OffloadPolicy.flow.rawValue { out.append(contentsOf: flowOffloadLines) }
        out.append(contentsOf: ledger.tableLines)
        out.append(ledger.verdict)
        if let v = verification {
            let perOrigin = v.origins.filter { $0.span > 0 || $0.unique > 0 }
                .map { "gen queue \($0.queue): \($0.unique) unique of \($0.span), \($0.missing) missing" }
                .joined(separator: "; ")
            out.append("verify: \(v.clean ? "OK" : "FAILED") — \(perOrigin); \(v.duplicates) duplicates, \(v.checksumErrors) checksum errors, \(v.outOfOrder) out of order, \(v.foreign) foreign packets")
        }
        if ledger.total.bypassed > 0 || flowsBypassed > 0 {
            out.append("bypass: \(flowsBypassed) requests (flows that reached --bypass-after; again after a bypass ended); \(ledger.total.bypassed) packets (\(ledger.total.bypassedBytes) bytes) bypassed in the XDP program")
            for f in (bypassedFlows ?? []).prefix(5) {
                out.append("  \(f.flow): \(f.packets) packets, \(f.bytes) bytes bypassed\(f.active ? "" : " (bypass ended)")")
            }
        }
        if let p = xdpProgram {
            out.append("xdp program: \(p.runs) runs, \(String(format: "%.1f", p.nanosecondsPerRun)) ns each (kernel.bpf_stats_enabled)")
        }
        if let n = forwarded {
            out.append("forwarded: \(n) packets sent zero-copy out of the --forward interface")
        }
        if let f = flows {
            out.append("flows: \(f.flowsTotal) IPv4 flows, \(f.flowsSplit) processed by more than one consumer"
                       + (f.flowsReordered.map { ": \($0) split (processed by two at once: a packet after a later one of its flow), "
                           + "\(f.flowsMovedWhole ?? 0) moved whole" } ?? "")
                       + (f.outOfOrder.map { ", \($0) generator packets out of order within their flow" } ?? "")
                       + (f.overflowed ? " (a flow set filled up: lower bounds)" : ""))
            if offload == OffloadPolicy.flow.rawValue {
                out.append("  flow offload: a flow reaches a second consumer only when its bucket moved (after the first consumer gave back all its packets: \(bucketMoves) bucket moves) or was spread (\(bucketsSpread) buckets, \(packetsSpread) packets)")
            }
        }
        return out.joined(separator: "\n")
    }

    /// The per-queue flow-offload table (issue 15): buckets moved (each bucket of each
    /// move, back home included), buckets spread and their packets, packets that
    /// waited for a move's drain, and the consumer's load from every queue (packets/s).
    var flowOffloadLines: [String] {
        let header = ["flow", "bucket-moves", "buckets-spread", "packets-spread", "packets-held", "consumer-load-pps"]
        var rows: [[String]] = [header]
        for q in queues {
            let s = q.statistics
            rows.append(["\(q.deviceQueue)", "\(s.bucketMoves)", "\(s.bucketsSpread)", "\(s.packetsSpread)",
                         "\(s.packetsHeld)", "\(s.consumerLoad)"])
        }
        let t = queues.map(\.statistics)
        rows.append(["total", "\(bucketMoves)", "\(bucketsSpread)", "\(packetsSpread)",
                     "\(t.reduce(0) { $0 + $1.packetsHeld })", "\(t.reduce(0) { $0 + $1.consumerLoad })"])
        let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
        return rows.map { r in
            r.enumerated().map { c, v in String(repeating: " ", count: widths[c] - v.count) + v }.joined(separator: "  ")
        } + ["  packets-held: waited for a move's drain (never on two consumers); consumer-load-pps: at the last scheduler tick (smoothed), 0 once traffic stopped"]
    }

    /// The report as pretty JSON.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}
