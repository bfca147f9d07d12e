import Foundation
import WireCap

/// The live statistics line printed every --stats-interval seconds:
///
/// ```
/// [  3.0s] cap0 q0 812.3k pps drop nb 0 rf 0 px 0 | off out 3 in 0 | pool 12% · q1 …
/// ```
///
/// Per queue: receive rate, drops by cause (nb: no posted frame, rf: rx ring
/// full, px: pool exhausted), chunks offloaded out/in, pool occupancy (chunks not
/// free, percent of R). Several queues share one line; one line per interface.
struct LiveStatistics {
    private var last: [String: UInt64] = [:]
    private var lastTime = Date()
    private let start = Date()

    mutating func lines(_ groups: [(interface: String, queues: [Int], stats: [QueueStatistics], chunksPerPool: Int)]) -> [String] {
        let now = Date()
        let dt = max(now.timeIntervalSince(lastTime), 1e-3)
        lastTime = now
        let t = String(format: "[%6.1fs]", now.timeIntervalSince(start))
        return groups.map { g in
            let parts = g.stats.enumerated().map { i, s -> String in
                let key = "\(g.interface)/\(i)"
                let rate = Double(s.packetsReceived &- (last[key] ?? 0)) / dt
                last[key] = s.packetsReceived
                let used = Double(Int(s.attachedChunks + s.capturedChunks)) / Double(max(1, g.chunksPerPool)) * 100
                return "q\(g.queues[i]) \(Self.rate(rate)) drop nb \(s.dropsNoBuffer) rf \(s.dropsRxRingFull) px \(s.dropsPoolExhausted) | off out \(s.offloadedOut) in \(s.offloadedIn) | pool \(Int(used))%"
            }
            return "\(t) \(g.interface) " + parts.joined(separator: " · ")
        }
    }

    static func rate(_ pps: Double) -> String {
        if pps >= 1e6 { return String(format: "%.2fM pps", pps / 1e6) }
        if pps >= 1e3 { return String(format: "%.1fk pps", pps / 1e3) }
        return String(format: "%.0f pps", pps)
    }
}
