#if canImport(Glibc)
import Glibc
#endif
import CXDP
import WireCapTrace
import WireCapCore
import WireCapSystem
import WireCapEngine
import WireCapXDP

/// How a trace is replayed.
public struct ReplayConfiguration: Sendable {
    /// The interface to send on (in the thread's network namespace).
    public var interface: String
    /// Tx queues; trace queue index i is sent on `queues[i]`.
    public var queues: [Int]
    /// Speed factor over the recorded timing (1.0 = recorded gaps); nil = as fast as possible.
    public var speed: Double? = 1.0
    /// Times the trace is sent (each loop starts one mean gap after the previous one ends).
    public var loops = 1
    /// CPUs to pin sender threads to.
    public var cpus: [Int] = []

    public init(interface: String, queues: [Int]) {
        self.interface = interface
        self.queues = queues
    }
}

/// How far actual send times were from the schedule: `sent − due`, per packet,
/// measured after the `sendto` that handed the packet to the kernel returned.
public struct PacingError: Sendable, Codable {
    public var packets: Int
    /// Mean of |error|, median, 99th percentile and maximum, ns.
    public var meanAbsolute: Double
    public var median: Double
    public var p99: Double
    public var maximum: Double
}

/// The result of a replay.
public struct ReplayResult: Sendable, Codable {
    public var queues: [TransmitQueueResult]
    /// nil at `--speed max`.
    public var pacing: PacingError?
    /// Packets of the trace left out (too long, unknown link type), over all loops.
    public var skipped: Int
    /// Frames read from the trace (and sent), over all loops.
    public var read: Int
    public var sent: Int { queues.reduce(0) { $0 + $1.sent } }
}

/// Sends a ``ReplayTrace`` through one AF_XDP tx socket per queue (own UMEM each,
/// no XDP program), each packet at its recorded time divided by the speed factor.
///
/// The file is read as a stream, so memory stays bounded whatever its size: from a
/// file, one thread per queue reads it (each sends its own queue's packets); from
/// a pipe, one thread feeds every queue in file order. Waiting for a packet's time: sleep while it is
/// more than 100 µs away, then yield the CPU until it is due (never a pure spin).
/// Packets already due go out together (up to 64 per queue per `sendto`).
public enum Replayer {
    /// Replays `trace` and returns per-queue counts and the pacing error.
    /// - Throws: ``XDPError`` for usage, privilege and socket failures; `.trace`
    ///   for a record damaged mid-file (the packets before it were sent).
    public static func run(_ trace: ReplayTrace, _ configuration: ReplayConfiguration) throws(XDPError) -> ReplayResult {
        guard !configuration.queues.isEmpty else { throw XDPError.usage("queues", "no tx queue given") }
        guard configuration.loops >= 1 else { throw XDPError.usage("loop", "--loop must be at least 1") }
        if let s = configuration.speed, !(s > 0) { throw XDPError.usage("speed", "--speed must be > 0 or 'max'") }
        if configuration.loops > 1 && !trace.canRewind {
            throw XDPError.usage("loop", "--loop \(configuration.loops) reads the trace again: give a file, not a pipe")
        }
        try Privileges.require()
        _ = try Sys.interfaceIndex(configuration.interface)
        Sys.raiseMemlockLimit()
        var senders: [TransmitQueue] = []
        for q in configuration.queues {
            senders.append(try TransmitQueue(interface: configuration.interface, queue: q, frames: 2048, ringSize: 1024,
                                             label: "replay queue \(q)"))
        }
        // A file is read by one thread per queue (each its own stream, sending its
        // queue's packets and skipping the others); a pipe, which can be read only
        // once, by one thread feeding every queue.
        let start = Sys.monotonicNanoseconds() &+ 20_000_000
        var loops: [ReplayLoop] = []
        if senders.count > 1 && trace.canRewind {
            for (i, sender) in senders.enumerated() {
                let own: ReplayTrace
                do throws(TraceError) { own = i == 0 ? trace : try trace.reopened() } catch { throw XDPError.trace(error.description) }
                var mine = [TransmitQueue?](repeating: nil, count: senders.count)
                mine[i] = sender
                loops.append(ReplayLoop(trace: own, senders: mine, start: start, configuration: configuration))
            }
        } else {
            loops.append(ReplayLoop(trace: trace, senders: senders, start: start, configuration: configuration))
        }
        var threads: [SystemThread] = []
        for (i, loop) in loops.enumerated() {
            let cpus = configuration.cpus.isEmpty ? [] : [configuration.cpus[i % configuration.cpus.count]]
            threads.append(try SystemThread(name: "wc-replay-\(i)", cpus: cpus) { loop.run() })
        }
        threads.forEach { $0.join() }
        if let failure = loops.compactMap(\.failure).first { throw failure }
        var pacing: PacingError?
        var all = loops.flatMap(\.errors)
        if configuration.speed != nil, !all.isEmpty {
            let abs = all.map { Double($0.magnitude) }
            all.sort()
            pacing = PacingError(packets: all.count, meanAbsolute: abs.reduce(0, +) / Double(abs.count),
                                 median: Double(all[all.count / 2]), p99: Double(all[min(all.count - 1, all.count * 99 / 100)]),
                                 maximum: Double(all.last!))
        }
        let seconds = loops.map(\.seconds).max() ?? 0
        return ReplayResult(queues: senders.map { TransmitQueueResult(queue: $0.queue, sent: $0.completed, bytes: $0.bytes, seconds: seconds) },
                            pacing: pacing, skipped: loops[0].skipped, read: loops[0].read)
    }

    /// Runs ``run(_:_:)`` on a thread that first enters network namespace `namespace`.
    public static func run(_ trace: ReplayTrace, _ configuration: ReplayConfiguration,
                           inNamespace namespace: String) throws(XDPError) -> ReplayResult {
        final class Outcome: @unchecked Sendable { var result: Result<ReplayResult, XDPError>? }
        let outcome = Outcome()
        let thread = try SystemThread(name: "wc-replay-main") {
            do throws(XDPError) {
                try Generator.enterNamespace(namespace)
                outcome.result = .success(try run(trace, configuration))
            } catch {
                outcome.result = .failure(error)
            }
        }
        thread.join()
        return try outcome.result!.get()
    }
}

/// One replay thread's loop: reads the trace, waits for each packet's time, stages
/// it on its queue (packets of queues this loop does not own are skipped),
/// submits batches, and records the pacing error.
package final class ReplayLoop: @unchecked Sendable {
    package let trace: ReplayTrace
    /// Per queue index: the sender this loop owns, or nil.
    package let senders: [TransmitQueue?]
    package let owned: [TransmitQueue]
    /// Per queue index: the due times of the frames staged and not yet submitted.
    private let dueTimes: [UnsafeMutablePointer<UInt64>]
    package let speed: Double?
    package let loops: Int
    package let start: UInt64
    var errors: [Int64] = []
    var seconds = 0.0
    var read = 0
    var skipped = 0
    var failure: XDPError?

    static let maximumErrorSamples = 1 << 20
    /// Frames staged per queue before they are submitted together.
    static let batch = 64

    deinit { dueTimes.forEach { $0.deallocate() } }

    package init(trace: ReplayTrace, senders: [TransmitQueue?], start: UInt64, configuration: ReplayConfiguration) {
        self.trace = trace
        self.senders = senders
        owned = senders.compactMap { $0 }
        dueTimes = senders.map { _ in .allocate(capacity: Self.batch) }
        self.start = start
        speed = configuration.speed
        loops = configuration.loops
    }

    package func run() {
        do { try replay() } catch { failure = error }
    }

    private func submit(_ q: Int) throws(XDPError) {
        guard let s = senders[q] else { return }
        let n = try s.submit()
        guard n > 0, speed != nil else { return }
        let now = Sys.monotonicNanoseconds()
        for i in 0..<n where errors.count < Self.maximumErrorSamples {
            errors.append(Int64(bitPattern: now &- dueTimes[q][i]))
        }
    }

    private func submitAll() throws(XDPError) {
        for q in senders.indices where (senders[q]?.staged ?? 0) > 0 { try submit(q) }
    }

    private func replay() throws(XDPError) {
        if speed != nil { errors.reserveCapacity(1 << 16) }
        var loopBase: UInt64 = 0
        for loop in 0..<loops {
            if loop > 0 {
                // Loop l starts one mean gap after loop l−1's last packet.
                let n = trace.count
                let duration = trace.durationNanoseconds
                let gap = n > 1 ? duration / UInt64(n - 1) : 1000
                loopBase &+= duration &+ max(gap, 1)
                do throws(TraceError) { try trace.rewind() } catch { throw XDPError.trace(error.description) }
            }
            while true {
                let frame: ReplayFrame
                do throws(TraceError) {
                    guard let f = try trace.next() else { break }
                    frame = f
                } catch {
                    try submitAll()
                    throw XDPError.trace(error.description + " (\(read + trace.count) packets read before)")
                }
                let q = frame.queue % senders.count
                guard let sender = senders[q] else { continue }
                var due: UInt64 = 0
                if let speed {
                    due = start &+ UInt64(Double(loopBase &+ frame.timestamp) / speed)
                    var now = Sys.monotonicNanoseconds()
                    if due > now {
                        // Not due yet: what is staged goes out now, then wait.
                        try submitAll()
                        while due > now {
                            let wait = due &- now
                            if wait > 100_000 { Sys.sleep(nanoseconds: wait &- 50_000) } else { sched_yield() }
                            for s in owned { s.reap() }
                            now = Sys.monotonicNanoseconds()
                        }
                    }
                }
                while sender.staged >= Self.batch
                        || sender.stage(upTo: 1, { area, _ in frame.write(to: area); return frame.length }) == 0 {
                    // A full batch, or no frame or slot free: send what is staged and reclaim.
                    try submit(q)
                    if sender.reap() == 0 && sender.freeFrames == 0 { Sys.sleep(nanoseconds: 20_000) }
                }
                dueTimes[q][sender.staged - 1] = due
            }
            try submitAll()
            read += trace.count
            skipped += trace.skipped
        }
        // Wait for every frame to complete.
        while owned.contains(where: { $0.inFlight > 0 }) {
            var progress = 0
            for s in owned where s.inFlight > 0 {
                _ = try s.submit()
                progress += s.reap()
            }
            if progress == 0 { Sys.sleep(nanoseconds: 20_000) }
        }
        let end = Sys.monotonicNanoseconds()
        seconds = end > start ? Double(end - start) / 1e9 : 0
    }
}
