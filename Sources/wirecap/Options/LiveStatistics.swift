import Foundation
import Atomics
import Synchronization
import WireCap
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// The live statistics lines printed every --stats-interval seconds, one per queue:
///
/// ```
/// [   3.0s] cap0 q0 812.3k pps lost 0 px 0 ?0 | off out 3 in 0 mv 7 | pool 12%
/// [   3.0s] cap0 q1  95.0k pps lost 0 px 0 ?0 | off out 0 in 3 mv 0 | pool 4%
/// ```
///
/// Per queue: receive rate, the ledger's losses (every cause; px: of them pool
/// exhausted; ?: unexplained, never hidden), chunks (with flow offload: slices)
/// offloaded out/in, with flow offload the queue's bucket moves (mv) and, once
/// any, its spread buckets (spr), pool occupancy (chunks not free, percent of R). Counts above 99,999 are abbreviated (123.4k, 5.67M) so a
/// line stays within 80 columns for interface names up to 10 characters.
struct LiveStatistics {
    private var last: [String: UInt64] = [:]
    private var lastTime = MonotonicInstant.now()
    private let start = MonotonicInstant.now()

    /// - Parameter groups: per engine; `flowOffload`: its group moves flow buckets.
    mutating func lines(_ groups: [(interface: String, queues: [Int], stats: [QueueStatistics], chunksPerPool: Int,
                                    ledger: CaptureLedger, flowOffload: Bool)]) -> [String] {
        let now = MonotonicInstant.now()
        let dt = max(now.seconds(since: lastTime), 1e-3)
        lastTime = now
        let t = String(format: "[%7.1fs]", now.seconds(since: start))
        return groups.flatMap { g in
            g.stats.enumerated().map { i, s -> String in
                let key = "\(g.interface)/\(i)"
                let rate = Double(s.packetsReceived &- (last[key] ?? 0)) / dt
                last[key] = s.packetsReceived
                let used = Double(Int(s.attachedChunks + s.capturedChunks + s.lentChunks)) / Double(max(1, g.chunksPerPool)) * 100
                let c = Self.count
                let row = g.ledger.queues[i]
                // Packets spilled so far, only once there are any (the line must fit a terminal).
                let spill = s.packetsSpilled > 0 ? " sp \(c(s.packetsSpilled))" : ""
                // Flow offload: bucket moves, and spread buckets once there are any.
                let moves = g.flowOffload
                    ? " mv \(c(s.bucketMoves))" + (s.bucketsSpread > 0 ? " spr \(c(s.bucketsSpread))" : "") : ""
                return "\(t) \(g.interface) q\(g.queues[i]) \(Self.rate(rate)) lost \(c(row.lost)) px \(c(row.poolExhausted)) ?\(row.unexplained) | off out \(c(s.offloadedOut)) in \(c(s.offloadedIn))\(moves) | pool \(Int(used))%\(spill)"
            }
        }
    }

    /// A counter in at most 6 characters: exact up to 99,999, then 123.4k / 5.67M / 1.23G.
    static func count(_ n: UInt64) -> String {
        let d = Double(n)
        if n < 100_000 { return String(n) }
        if d < 1e6 { return String(format: "%.1fk", d / 1e3) }
        if d < 1e9 { return String(format: "%.2fM", d / 1e6) }
        return String(format: "%.2fG", d / 1e9)
    }

    static func rate(_ pps: Double) -> String {
        if pps >= 1e6 { return String(format: "%.2fM pps", pps / 1e6) }
        if pps >= 1e3 { return String(format: "%5.1fk pps", pps / 1e3) }
        return String(format: "%6.0f pps", pps)
    }
}

/// Runs the live statistics line (or, with `--json`, one `{"event":"stats",…}`
/// line with the ledger) and the metrics exporter on a thread of its own, reading
/// each session's counters and ledger every interval, so the capture path and
/// `CaptureSession.run(until:)` need no periodic hook.
final class StatisticsTicker: Sendable {
    private let sessions: [CaptureSession]
    private var engines: [any CaptureBackend] { sessions.map(\.engine) }
    private let json: Bool
    private let chunksPerPool: Int
    private let interval: Double
    private let printLines: Bool
    private let exporter: MetricsExporter?
    private let stopping = ManagedAtomic<Bool>(false)
    private let thread = Mutex<SystemThread?>(nil)

    /// - Parameters:
    ///   - interval: seconds between lines; 0 prints none (the exporter is then updated every 0.5 s).
    ///   - exporter: updated every tick when metrics are served.
    init(sessions: [CaptureSession], chunksPerPool: Int, interval: Double, printLines: Bool, json: Bool,
         exporter: MetricsExporter?) {
        self.sessions = sessions
        self.json = json
        self.chunksPerPool = chunksPerPool
        self.interval = interval
        self.printLines = printLines
        self.exporter = exporter
    }

    /// Starts the thread (nothing to do without lines or an exporter).
    func start() throws(XDPError) {
        guard printLines || (json && interval > 0) || exporter != nil else { return }
        let t = try SystemThread(name: "wc-stats") { [self] in self.tick() }
        thread.withLock { $0 = t }
    }

    /// Stops and joins the thread (within 20 ms), after one last exporter update.
    func stop() {
        // Relaxed: the flag carries no data; the join orders everything after it.
        stopping.store(true, ordering: .relaxed)
        let t = thread.withLock { t in defer { t = nil }; return t }
        t?.join()
    }

    private func tick() {
        var live = LiveStatistics()
        let started = MonotonicInstant.now()
        let encoder = JSONEncoder()
        let period = (printLines || json) && interval > 0 ? interval : 0.5
        var next = MonotonicInstant.now().adding(period)
        while !stopping.load(ordering: .relaxed) {
            usleep(useconds_t(min(20_000, period * 250_000)))  // a quarter of the period, 20 ms at most
            guard MonotonicInstant.now() >= next else { continue }
            next = next.adding(period)
            let groups = sessions.map { s in
                (interface: s.engine.interface, queues: s.engine.queues, stats: s.engine.statistics(),
                 chunksPerPool: s.engine.group.configuration.geometry.chunksPerPool, ledger: s.ledger(),
                 flowOffload: s.engine.offloadsFlows)
            }
            if let exporter {
                for g in groups {
                    exporter.update(interface: g.interface, g.stats, deviceQueues: g.queues)
                    exporter.update(ledger: g.ledger)
                }
            }
            if printLines { for line in live.lines(groups) { FileHandle.standardError.write(Data("wirecap: \(line)\n".utf8)) } }
            if json && interval > 0 {
                // A timeline for whoever reads the lines (the e2e harness's --timeline): the
                // seconds since start, the ledger, and every queue's counters and gauges
                // (backlog, consumer load, bucket moves, drops) at this instant.
                let t = String(format: "%.3f", MonotonicInstant.now().seconds(since: started))
                for g in groups {
                    let queues = (try? encoder.encode(g.stats)).flatMap { String(data: $0, encoding: .utf8) } ?? "[]"
                    let line = "{\"event\":\"stats\",\"t\":\(t),\"ledger\":" + g.ledger.compactJSON + ",\"queues\":" + queues + "}\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
            }
        }
        if let exporter {
            for s in sessions {
                exporter.update(interface: s.engine.interface, s.engine.statistics(), deviceQueues: s.engine.queues)
            }
        }
    }
}

/// A point on CLOCK_MONOTONIC (through Dispatch's uptime clock), for every
/// deadline and interval of the CLI: a step of the wall clock moves none of them.
struct MonotonicInstant: Comparable {
    let nanoseconds: UInt64

    static func now() -> MonotonicInstant { MonotonicInstant(nanoseconds: DispatchTime.now().uptimeNanoseconds) }

    func adding(_ seconds: Double) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: nanoseconds &+ UInt64(max(0, seconds) * 1e9))
    }

    func seconds(since earlier: MonotonicInstant) -> Double {
        Double(Int64(bitPattern: nanoseconds &- earlier.nanoseconds)) / 1e9
    }

    static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }
}
