#if canImport(Glibc)
import Glibc
#endif
import CXDP
import Foundation
import WireCapCore
import WireCapSystem
import WireCapEngine
import WireCapXDP

/// What the generator sends.
public struct GeneratorConfiguration: Sendable {
    /// The interface to send on (in the caller's current network namespace).
    public var interface: String
    /// Tx queues to send on; packets of queue `queues[i]` carry generator queue id `queues[i]`.
    public var queues: [Int]
    /// Total packets over all queues.
    public var count: Int
    /// Total packets per second, or nil for as fast as possible.
    public var rate: Double?
    /// Fraction of the traffic per queue (normalised); empty: equal shares.
    public var share: [Double] = []
    /// Frame sizes in bytes (each 64...1514): one size or a mix (``FrameSizes``).
    public var sizes = FrameSizes(fixed: 64)
    /// Distinct flows per queue (source address/port pairs; queue q's are q·K ..< q·K+K),
    /// spread over each queue's packets.
    public var flows: Int = 16
    /// An elephant: flow 0 of the first queue carries this percentage (0 ... 100) of
    /// that queue's packets, the rest going round-robin over its other flows. One
    /// 5-tuple, so no flow hash can spread it (the harness's elephant case). 0: off.
    public var elephantPercent = 0
    /// Burst mode: `burst` packets (total, split by share) at full speed, then `idleNanoseconds` of silence.
    public var burst: Int?
    public var idleNanoseconds: UInt64 = 0
    /// CPUs to pin sender threads to (thread i → cpus[i % count]).
    public var cpus: [Int] = []

    public init(interface: String, queues: [Int], count: Int, rate: Double? = nil) {
        self.interface = interface
        self.queues = queues
        self.count = count
        self.rate = rate
    }

    /// Packets queue index `i` sends: its share of `count`, the remainder to the last queue.
    public func packets(forQueueAt i: Int) -> Int {
        let shares = normalizedShares
        if i == queues.count - 1 {
            return count - (0..<(queues.count - 1)).reduce(0) { $0 + packets(forQueueAt: $1) }
        }
        return Int((Double(count) * shares[i]).rounded(.down))
    }

    var normalizedShares: [Double] {
        let raw = share.isEmpty ? Array(repeating: 1.0, count: queues.count) : share
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    package func validate() throws(XDPError) {
        guard !queues.isEmpty else { throw XDPError.usage("queues", "no tx queue given") }
        guard count >= 0 else { throw XDPError.usage("count", "--count must be ≥ 0") }
        for size in sizes.distinct where !(TestPacket.minimumSize...TestPacket.maximumSize).contains(size) {
            throw XDPError.usage("size", "--size must be \(TestPacket.minimumSize)...\(TestPacket.maximumSize) bytes, got \(size)")
        }
        guard flows >= 1 && flows <= 65535 else { throw XDPError.usage("flows", "--flows must be 1...65535") }
        guard (0...100).contains(elephantPercent) else {
            throw XDPError.usage("elephant", "--elephant must be a percentage, 0...100, got \(elephantPercent)")
        }
        if elephantPercent > 0 && elephantPercent < 100 && flows < 2 {
            throw XDPError.usage("elephant", "--elephant \(elephantPercent) needs --flows 2 or more (the elephant and the rest)")
        }
        if !share.isEmpty {
            guard share.count == queues.count else {
                throw XDPError.usage("share", "--share has \(share.count) values for \(queues.count) queues")
            }
            guard share.allSatisfy({ $0 >= 0 }), share.reduce(0, +) > 0 else {
                throw XDPError.usage("share", "--share values must be ≥ 0 and not all 0")
            }
        }
        if let r = rate, !(r > 0) { throw XDPError.usage("rate", "--rate must be > 0 or 'max'") }
        if let b = burst, b < 1 { throw XDPError.usage("burst", "--burst must be ≥ 1") }
    }
}

/// Per-queue result of a transmit run (``Generator`` and ``Replayer``).
public struct TransmitQueueResult: Sendable, Codable {
    public var queue: Int
    public var sent: Int
    public var bytes: Int
    public var seconds: Double
}

/// The result of a generator run.
public struct GeneratorResult: Sendable, Codable {
    public var queues: [TransmitQueueResult]
    public var sent: Int { queues.reduce(0) { $0 + $1.sent } }
    public var seconds: Double { queues.map(\.seconds).max() ?? 0 }
    public var packetsPerSecond: Double { seconds > 0 ? Double(sent) / seconds : 0 }
}

/// A per-queue AF_XDP transmitter of ``TestPacket``s (one thread per queue).
///
/// Each sender owns a ``TransmitQueue`` (tx only, no XDP program: sockets are
/// created with program loading inhibited). Per iteration: take completed
/// frames back, write as many packets as rate, burst schedule, free frames and
/// tx ring allow, submit them and call `sendto` — and keep calling it while
/// completions are outstanding, since copy-mode transmit handles a bounded
/// batch per call.
public enum Generator {
    /// Sends everything and returns per-queue counts. Must run in the namespace
    /// of `configuration.interface` (see ``Sys/enterNetworkNamespace(_:)`` via ``enterNamespace(_:)``).
    public static func run(_ configuration: GeneratorConfiguration) throws(XDPError) -> GeneratorResult {
        try configuration.validate()
        try Privileges.require()
        _ = try Sys.interfaceIndex(configuration.interface)
        // sysfs shows the namespace it was mounted in, so after setns() the count may be unknown.
        let deviceQueues = InterfaceInfo.txQueueCount(configuration.interface) ?? Int.max
        for q in configuration.queues where q < 0 || q >= deviceQueues {
            throw XDPError.usage("queue \(q)", "queue \(q) is beyond \(configuration.interface)'s \(deviceQueues) tx queues")
        }
        Sys.raiseMemlockLimit()
        let shares = configuration.normalizedShares
        var senders: [Sender] = []
        for (i, q) in configuration.queues.enumerated() {
            let packets = configuration.packets(forQueueAt: i)
            let rate = configuration.rate.map { $0 * shares[i] }
            let burst = configuration.burst.map { max(1, Int((Double($0) * shares[i]).rounded())) }
            senders.append(try Sender(configuration: configuration, queue: q, packets: packets, rate: rate, burst: burst))
        }
        var threads: [SystemThread] = []
        for (i, s) in senders.enumerated() {
            let cpus = configuration.cpus.isEmpty ? [] : [configuration.cpus[i % configuration.cpus.count]]
            threads.append(try SystemThread(name: "wc-gen-\(s.queue)", cpus: cpus) { s.run() })
        }
        threads.forEach { $0.join() }
        if let failure = senders.compactMap(\.failure).first { throw failure }
        return GeneratorResult(queues: senders.map {
            TransmitQueueResult(queue: $0.queue, sent: $0.sent, bytes: configuration.sizes.bytes(packets: $0.sent), seconds: $0.seconds)
        })
    }

    /// Moves the calling thread into network namespace `name` (`/var/run/netns/NAME`)
    /// before any socket or thread is created (threads created later inherit it).
    public static func enterNamespace(_ name: String) throws(XDPError) {
        try Sys.enterNetworkNamespace(name.hasPrefix("/") ? name : "/var/run/netns/\(name)")
    }
}

/// One queue's transmitter: ``TestPacket``s through a ``TransmitQueue``, at a
/// rate, in bursts, or as fast as frames and ring allow.
package final class Sender: @unchecked Sendable {
    package let queue: Int
    package let target: Int
    package let rate: Double?
    /// Shortest pacing sleep of a rate-limited sender (see the run loop).
    static let pacingQuantum: UInt64 = 200_000
    package let burst: Int?
    package let idle: UInt64
    package let sizes: FrameSizes
    package let flows: Int
    /// Percentage of this queue's packets on flow 0 (0: every flow alike).
    package let elephant: Int
    package let transmit: TransmitQueue
    /// The 42-byte header of every (flow, size) pair: `headers + (flow · sizeSlots + slot) · 42`,
    /// slot = the size's index in the cycle (a header holds the IP and UDP lengths).
    package let headers: UnsafeMutableRawPointer
    private let sizeSlots: Int
    var sent = 0
    var seconds = 0.0
    var failure: XDPError?

    static let frameCount = 4096
    static let ringSize = 2048

    package init(configuration c: GeneratorConfiguration, queue: Int, packets: Int, rate: Double?, burst: Int?) throws(XDPError) {
        self.queue = queue
        target = packets
        self.rate = rate
        self.burst = burst
        idle = c.idleNanoseconds
        sizes = c.sizes
        flows = c.flows
        elephant = queue == c.queues.first ? c.elephantPercent : 0
        transmit = try TransmitQueue(interface: c.interface, queue: queue, frames: Self.frameCount, ringSize: Self.ringSize,
                                     label: "generator queue \(queue)")
        sizeSlots = c.sizes.pattern.count
        headers = .allocate(byteCount: c.flows * sizeSlots * 42, alignment: 8)
        // Flows are per queue, as RSS would make them: queue q sends flows q·K ..< q·K+K,
        // so no 5-tuple is ever split across rx queues by the generator itself.
        for f in 0..<c.flows {
            for (slot, size) in c.sizes.pattern.enumerated() {
                let h = TestPacket.header(flow: queue * c.flows + f, size: size)
                h.withUnsafeBytes {
                    (headers + (f * sizeSlots + slot) * 42).copyMemory(from: $0.baseAddress!, byteCount: 42)
                }
            }
        }
    }

    deinit { headers.deallocate() }

    /// The flow of packet `seq`: round-robin over `flows`, or with an elephant,
    /// flow 0 for `elephant`% of the packets (`seq mod 100 < elephant`) and the
    /// others round-robin over flows 1 ..< `flows`.
    @inline(__always)
    package static func flow(of seq: Int, flows: Int, elephant: Int) -> Int {
        if elephant == 0 { return seq % flows }
        if seq % 100 < elephant || flows == 1 { return 0 }
        return 1 + seq % (flows - 1)
    }

    package func run() {
        do { try send() } catch { failure = error }
    }

    private func send() throws(XDPError) {
        let start = Sys.monotonicNanoseconds()
        var burstLeft = burst ?? Int.max
        var idleUntil: UInt64 = 0
        var stalls = 0
        let tx = transmit

        while tx.completed < target {
            // 1. Completions: frames the kernel has sent.
            var progress = tx.reap() > 0
            // 2. How many may go now.
            let now = Sys.monotonicNanoseconds()
            var allowed = min(target - tx.submitted, 256)
            if let r = rate {
                let due = Int(Double(now &- start) * r / 1e9) + 1
                allowed = min(allowed, max(0, due - tx.submitted))
            }
            if burst != nil {
                if now < idleUntil { allowed = 0 } else { allowed = min(allowed, burstLeft) }
            }
            if allowed > 0 {
                let first = tx.submitted
                let n = tx.stage(upTo: allowed) { frame, i in
                    let seq = first + i
                    let flow = Self.flow(of: seq, flows: flows, elephant: elephant)
                    let slot = seq % sizeSlots
                    let size = sizes.pattern[slot]
                    TestPacket.write(into: frame, size: size, header: headers + (flow * sizeSlots + slot) * 42,
                                     queue: UInt16(queue), flow: UInt16(flow), sequence: UInt64(seq))
                    return size
                }
                if n > 0 {
                    progress = true
                    if burst != nil {
                        burstLeft -= n
                        if burstLeft <= 0 { burstLeft = burst!; idleUntil = now &+ idle }
                    }
                }
            }
            // 3. Submit, and kick while anything is unsent or uncompleted.
            _ = try tx.submit()
            if progress {
                stalls = 0
                continue
            }
            // 4. Nothing moved: wait without spinning.
            stalls += 1
            if tx.submitted < target, let r = rate, tx.inFlight < Self.frameCount / 2 {
                // Pace in batches: sleep at least `pacingQuantum`, so at 100 kpps the
                // sender wakes 5,000 times a second (20 packets each), not once per
                // packet: a generator that wakes per packet would itself eat both cores
                // of the testbed and distort every CPU measurement taken beside it.
                let nextDue = start &+ UInt64(Double(tx.submitted + 1) * 1e9 / r)
                if nextDue > now {
                    Sys.sleep(nanoseconds: min(max(nextDue &- now, Self.pacingQuantum), 1_000_000))
                    continue
                }
            }
            if burst != nil && now < idleUntil {
                Sys.sleep(nanoseconds: min(idleUntil &- now, 1_000_000))
                continue
            }
            if stalls < 8 { sched_yield() } else { Sys.sleep(nanoseconds: 20_000) }
        }
        seconds = Double(Sys.monotonicNanoseconds() &- start) / 1e9
        sent = tx.completed
    }
}


extension Generator {
    /// Runs the generator on a new thread that first enters network namespace
    /// `namespace` (setns affects only the calling thread, and the sender threads
    /// it creates inherit it), so the caller's namespace is untouched.
    public static func run(_ configuration: GeneratorConfiguration, inNamespace namespace: String) throws(XDPError) -> GeneratorResult {
        final class Outcome: @unchecked Sendable { var result: Result<GeneratorResult, XDPError>? }
        let outcome = Outcome()
        let thread = try SystemThread(name: "wc-gen-main") {
            do throws(XDPError) {
                try enterNamespace(namespace)
                outcome.result = .success(try run(configuration))
            } catch {
                outcome.result = .failure(error)
            }
        }
        thread.join()
        return try outcome.result!.get()
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
