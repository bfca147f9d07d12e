#if canImport(Glibc)
import Glibc
#endif
import CXDP
import WireCapTrace

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
    /// Packets of the trace left out (too long, unknown link type).
    public var skipped: Int
    public var sent: Int { queues.reduce(0) { $0 + $1.sent } }
}

/// Sends a ``ReplayTrace`` through one AF_XDP tx socket per queue (one thread
/// each, own UMEM, no XDP program), each packet at its recorded time divided
/// by the speed factor.
///
/// Waiting for a packet's time: sleep while it is more than 100 µs away, then
/// yield the CPU until it is due (never a pure spin). Packets already due go
/// out together (up to 64 per `sendto`).
public enum Replayer {
    /// Replays `trace` and returns per-queue counts and the pacing error.
    public static func run(_ trace: ReplayTrace, _ configuration: ReplayConfiguration) throws(XDPError) -> ReplayResult {
        guard !configuration.queues.isEmpty else { throw XDPError.usage("queues", "no tx queue given") }
        guard configuration.loops >= 1 else { throw XDPError.usage("loop", "--loop must be at least 1") }
        if let s = configuration.speed, !(s > 0) { throw XDPError.usage("speed", "--speed must be > 0 or 'max'") }
        try Privileges.require()
        _ = try Sys.interfaceIndex(configuration.interface)
        Sys.raiseMemlockLimit()
        var perQueue = [[Int]](repeating: [], count: configuration.queues.count)
        for k in 0..<trace.count { perQueue[trace.queues[k] % configuration.queues.count].append(k) }
        // Common schedule origin a little ahead, so every thread exists before the first packet.
        let start = Sys.monotonicNanoseconds() &+ 20_000_000
        var senders: [ReplaySender] = []
        for (i, q) in configuration.queues.enumerated() {
            senders.append(try ReplaySender(trace: trace, packets: perQueue[i], queue: q, configuration: configuration, start: start))
        }
        var threads: [SystemThread] = []
        for (i, s) in senders.enumerated() {
            let cpus = configuration.cpus.isEmpty ? [] : [configuration.cpus[i % configuration.cpus.count]]
            threads.append(try SystemThread(name: "wc-replay-\(s.queue)", cpus: cpus) { s.run() })
        }
        threads.forEach { $0.join() }
        if let failure = senders.compactMap(\.failure).first { throw failure }
        var pacing: PacingError?
        if configuration.speed != nil {
            var all: [Int64] = []
            for s in senders { all += s.errors }
            if !all.isEmpty {
                let abs = all.map { Double($0.magnitude) }
                all.sort()
                pacing = PacingError(packets: all.count, meanAbsolute: abs.reduce(0, +) / Double(abs.count),
                                     median: Double(all[all.count / 2]), p99: Double(all[min(all.count - 1, all.count * 99 / 100)]),
                                     maximum: Double(all.last!))
            }
        }
        return ReplayResult(queues: senders.map { TransmitQueueResult(queue: $0.queue, sent: $0.sent, bytes: $0.bytes, seconds: $0.seconds) },
                            pacing: pacing, skipped: trace.skipped)
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

/// One queue's replay sender.
final class ReplaySender: @unchecked Sendable {
    let trace: ReplayTrace
    let packets: [Int]
    let queue: Int
    let speed: Double?
    let loops: Int
    let start: UInt64
    let umem: UMEM
    let socket: XSKSocket
    var errors: [Int64] = []
    var sent = 0
    var bytes = 0
    var seconds = 0.0
    var failure: XDPError?

    static let frameCount = 2048
    static let ringSize = 1024
    static let maximumErrorSamples = 1 << 20

    init(trace: ReplayTrace, packets: [Int], queue: Int, configuration: ReplayConfiguration, start: UInt64) throws(XDPError) {
        self.trace = trace
        self.packets = packets
        self.queue = queue
        speed = configuration.speed
        loops = configuration.loops
        self.start = start
        umem = try UMEM(frames: Self.frameCount, frameSize: 2048, fillSize: 64, completionSize: Self.ringSize,
                        numaNode: nil, hugePages: false, label: "replay queue \(queue)")
        socket = try XSKSocket(interface: configuration.interface, queue: UInt32(queue), umem: umem, rxSize: 0, txSize: Self.ringSize)
        if speed != nil { errors.reserveCapacity(min(packets.count * loops, Self.maximumErrorSamples)) }
    }

    func run() {
        do { try send() } catch { failure = error }
    }

    /// Loop `l` of packet `k` is due at `start + (l·period + ts[k]) / speed`.
    private func due(_ position: Int, period: UInt64) -> UInt64 {
        guard let speed else { return 0 }
        let loop = position / packets.count
        let k = packets[position % packets.count]
        let recorded = UInt64(loop) &* period &+ trace.timestamps[k]
        return start &+ UInt64(Double(recorded) / speed)
    }

    private func send() throws(XDPError) {
        let total = packets.count * loops
        guard total > 0 else { return }
        let tx = socket.tx!
        let comp = umem.completion
        let area = umem.area
        let free = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.frameCount)
        defer { free.deallocate() }
        for i in 0..<Self.frameCount { free[i] = UInt64((Self.frameCount - 1 - i) * 2048) }
        var freeCount = Self.frameCount
        let gap = trace.count > 1 ? trace.durationNanoseconds / UInt64(trace.count - 1) : 1000
        let period = trace.durationNanoseconds &+ max(gap, 1)
        var submitted = 0, completed = 0
        let ring = UInt32(Self.ringSize)
        while completed < total {
            var cidx: UInt32 = 0
            let done = xsk_ring_cons__peek(comp, ring, &cidx)
            if done > 0 {
                for i in 0..<done {
                    free[freeCount] = xsk_ring_cons__comp_addr(comp, cidx &+ i)!.pointee
                    freeCount += 1
                }
                xsk_ring_cons__release(comp, done)
                completed += Int(done)
            }
            var now = Sys.monotonicNanoseconds()
            if submitted < total {
                let next = due(submitted, period: period)
                if next > now {
                    let wait = next &- now
                    if wait > 100_000 { Sys.sleep(nanoseconds: wait &- 50_000) } else { sched_yield() }
                    if submitted > completed { _ = try Sys.kickTransmit(socket.fd) }
                    continue
                }
                // Everything due now, up to 64 and what frames and ring allow.
                var n = 0
                let limit = min(64, freeCount, total - submitted)
                while n < limit && due(submitted + n, period: period) <= now { n += 1 }
                var idx: UInt32 = 0
                let reserved = Int(xsk_ring_prod__reserve(tx, UInt32(n), &idx))
                for i in 0..<reserved {
                    freeCount -= 1
                    let addr = free[freeCount]
                    let k = packets[(submitted + i) % packets.count]
                    let length = trace.lengths[k]
                    trace.bytes.withUnsafeBytes { b in
                        (area + Int(addr)).copyMemory(from: b.baseAddress! + trace.offsets[k], byteCount: length)
                    }
                    let desc = xsk_ring_prod__tx_desc(tx, idx &+ UInt32(i))!
                    desc.pointee.addr = addr
                    desc.pointee.len = UInt32(length)
                    desc.pointee.options = 0
                    bytes += length
                }
                if reserved > 0 {
                    // Release store of the producer index after the frames and descriptors
                    // (pairs with the kernel's acquire in its tx path).
                    xsk_ring_prod__submit(tx, UInt32(reserved))
                    _ = try Sys.kickTransmit(socket.fd)
                    now = Sys.monotonicNanoseconds()
                    if speed != nil {
                        for i in 0..<reserved where errors.count < Self.maximumErrorSamples {
                            errors.append(Int64(bitPattern: now &- due(submitted + i, period: period)))
                        }
                    }
                    submitted += reserved
                    continue
                }
            }
            if submitted > completed { _ = try Sys.kickTransmit(socket.fd) }
            if done == 0 { Sys.sleep(nanoseconds: 20_000) }
        }
        // `start` is 20 ms ahead: a queue done before it (a tiny trace at --speed max) took 0 s.
        let end = Sys.monotonicNanoseconds()
        seconds = end > start ? Double(end - start) / 1e9 : 0
        sent = completed
    }
}
