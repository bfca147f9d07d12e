#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine
import WireCapXDP
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapFilter

/// When a ``CaptureSession`` stops (whichever comes first).
public struct StopCondition: Sendable {
    /// Packets consumed over all queues.
    public var count: Int?
    /// Seconds since start.
    public var duration: Double?
    /// Seconds without a received packet once at least one arrived, with every
    /// received packet delivered and consumed (a drained engine).
    public var idle: Double?
    /// Stop on SIGINT, SIGTERM, SIGHUP or SIGPIPE (the caller blocked them with ``Signals/block()``).
    public var signals = false

    public init(count: Int? = nil, duration: Double? = nil, idle: Double? = nil, signals: Bool = false) {
        self.count = count
        self.duration = duration
        self.idle = idle
        self.signals = signals
    }
}

/// Per-queue results of a capture.
public struct QueueReport: Sendable, Codable {
    /// The device rx queue.
    public var deviceQueue: Int
    /// The core's counters (group index in `statistics.queue`).
    public var statistics: QueueStatistics
    /// IPv4 packets the queue's consumer saw (EtherType at bytes 12-13).
    public var ipv4: Int
    /// Filter matches of the consumer cost (x runs per packet).
    public var filterMatches: Int
    /// Packets the capture filter rejected (counted, not delivered), in the XDP
    /// program (``QueueLedger/filteredInKernel``, never received) or on the consumer.
    public var filteredOut = 0
    /// Packets `--sample N` skipped (counted, not delivered).
    public var sampledOut = 0
    /// Bypass requests this queue's consumer made (`--bypass-after`): one per flow
    /// cut off, and one more each time a flow came back after its bypass ended.
    public var flowsBypassed = 0
}

/// What the XDP program cost, as the kernel measured it (with `sysctl
/// kernel.bpf_stats_enabled=1`; the report has none otherwise).
public struct XDPProgramCost: Sendable, Codable {
    /// Program runs (one per packet of the interface while attached) and their time.
    public var runs: UInt64
    public var nanoseconds: UInt64
    public var nanosecondsPerRun: Double { runs == 0 ? 0 : Double(nanoseconds) / Double(runs) }
}

/// One flow of the kernel's bypass table at the end of a capture (`--bypass-after`).
public struct BypassedFlowReport: Sendable, Codable {
    /// The flow, both directions (`udp 10.2.0.0:10000 > 10.1.0.1:9`).
    public var flow: String
    /// Packets and bytes the XDP program bypassed for it.
    public var packets: UInt64
    public var bytes: UInt64
    /// Whether its bypass was still in force.
    public var active: Bool
}

/// The result of a capture session.
public struct CaptureReport: Sendable, Codable {
    public var interface: String
    public var mode: String
    /// What advanced mode offloaded: `flow` (flow buckets, issue 15) or `chunk`;
    /// nil when the group never offloads (basic mode, one queue).
    public var offload: String? = nil
    public var geometry: String
    public var attachMode: String
    public var seconds: Double
    public var consumerCost: Int
    public var stoppedBy: String
    public var queues: [QueueReport]
    public var verification: SequenceVerifier.Report?
    /// What the capture writer (`-w`) wrote, when there was one.
    public var output: CaptureWriterReport?
    /// Flows processed by more than one consumer (`--flows`), when tracked.
    public var flows: FlowSplitReport?
    /// Packets sent out of the `--forward` interface (zero-copy), when forwarding.
    public var forwarded: Int?
    /// Where every offered packet went (per queue, exactly): the loss ledger.
    public var ledger: CaptureLedger
    /// The bypass table's flows, most bytes first (at most ``bypassReportLimit``), with `--bypass-after`.
    public var bypassedFlows: [BypassedFlowReport]?
    /// The XDP program's measured cost (AF_XDP with kernel BPF statistics on).
    public var xdpProgram: XDPProgramCost?
    /// Flows listed in ``bypassedFlows`` at most.
    public static let bypassReportLimit = 20
    /// Packets the filter rejected / the sampler skipped, all queues.
    public var filteredOut: Int { queues.reduce(0) { $0 + $1.filteredOut } }
    public var sampledOut: Int { queues.reduce(0) { $0 + $1.sampledOut } }

    /// Bypass requests of every consumer (`--bypass-after`).
    public var flowsBypassed: Int { queues.reduce(0) { $0 + $1.flowsBypassed } }

    /// Packets the capture threads received into the pools (a kernel filter's rejects never are).
    public var received: UInt64 { queues.reduce(0) { $0 + $1.statistics.packetsReceived } }
    public var consumed: UInt64 { queues.reduce(0) { $0 + $1.statistics.packetsConsumed } }
    public var drops: UInt64 { queues.reduce(0) { $0 + $1.statistics.captureDrops } }
    public var offloads: UInt64 { queues.reduce(0) { $0 + $1.statistics.offloadedOut } }
    /// Flow offload: buckets moved, buckets spread and packets of spread buckets, all queues.
    public var bucketMoves: UInt64 { queues.reduce(0) { $0 + $1.statistics.bucketMoves } }
    public var bucketsSpread: UInt64 { queues.reduce(0) { $0 + $1.statistics.bucketsSpread } }
    public var packetsSpread: UInt64 { queues.reduce(0) { $0 + $1.statistics.packetsSpread } }
}

/// An engine plus one consumer thread per queue doing what the `capture`
/// command does: touch every packet (bytes 12-13, count IPv4), apply the
/// consumer cost x, optionally verify test packets, recycle.
///
/// Backend-agnostic: `engine` is any ``CaptureBackend`` (AF_XDP ``CaptureEngine``
/// or ``AFPacketEngine``). The consumer loops are generic over the consumer type
/// and entered once per thread with the concrete type (see ``start()``), so they
/// are specialized: no existential or witness call per packet.
public final class CaptureSession: @unchecked Sendable {
    public let engine: any CaptureBackend
    public let cost: ConsumerCost
    public let verifier: SequenceVerifier?
    /// Flow-split tracking (`--flows`), when asked for.
    public let flowTracker: FlowSplitTracker?
    /// Order within each generator flow (`--flows`, test packets only), when asked for.
    public let flowOrder: FlowOrder?
    /// Zero-copy forwarding of every consumed chunk (`--forward IF`), when asked for.
    public let forwarder: Forwarder?
    private let forwarded: UnsafeMutablePointer<Int>
    private let stopping: UnsafeAtomic<Bool>
    private var consumers: [SystemThread] = []
    // One slot per consumer, written by that consumer when it stops, read after the join.
    private let tallies: [SequenceVerifier.Tally]
    private let ipv4: UnsafeMutablePointer<Int>
    private let matches: UnsafeMutablePointer<Int>
    private let consumerCPUs: [Int]
    private let packetDelay: UInt64
    private var started: UInt64 = 0
    /// The capture filter (tcpdump syntax compiled by WireCapFilter, which this module
    /// cannot import): runs on the consumer thread, before the packet is delivered.
    public let filter: (@Sendable (UnsafeRawBufferPointer) -> Bool)?
    /// `--sample N`: 1 packet in N (after the filter) is delivered.
    public let sampleEvery: Int
    /// Where delivered packets are written (`-w`), if anywhere.
    public let writer: CaptureWriter?
    // Per consumer: packets delivered (relaxed: a statistic the control thread polls),
    // filtered out and sampled out (plain, read after the join).
    private let delivered: [UnsafeAtomic<Int>]
    private let rejected: UnsafeMutablePointer<Int>
    private let skipped: UnsafeMutablePointer<Int>
    /// `--bypass-after`: bytes a flow delivers before it is bypassed, and how long
    /// each bypass lasts at most (needs ``CaptureBackend/flowBypass``).
    public let bypassAfter: (bytes: UInt64, duration: Duration?)?
    // Per consumer: flows it had bypassed (plain, written when it stops, read after the join).
    private let cut: UnsafeMutablePointer<Int>

    /// - Parameters:
    ///   - consumerCost: x, BPF filter runs per packet.
    ///   - verify: check sequence numbers and checksums of ``TestPacket``s, whose
    ///     generator queues are numbered like the device queues.
    ///   - packetDelayNanoseconds: after each chunk, a sleep of this much per packet
    ///     in it: a slow consumer with a known rate that does not burn the CPU the
    ///     capture threads and the generator need (one sleep per chunk).
    ///   - filter: packets it rejects are counted (``QueueReport/filteredOut``), not delivered.
    ///   - sampleEvery: deliver 1 packet in N.
    ///   - writer: writes the delivered packets (the session starts and finishes it).
    public init(engine: any CaptureBackend, consumerCost: Int = 0, verify: Bool = false, consumerCPUs: [Int] = [],
                packetDelayNanoseconds: UInt64 = 0, filter: (@Sendable (UnsafeRawBufferPointer) -> Bool)? = nil,
                sampleEvery: Int = 1, writer: CaptureWriter? = nil, trackFlows: Bool = false,
                forwarder: Forwarder? = nil, bypassAfter: (bytes: UInt64, duration: Duration?)? = nil) {
        precondition(bypassAfter == nil || engine.flowBypass != nil, "--bypass-after needs an engine with a bypass table")
        self.bypassAfter = bypassAfter
        cut = .allocate(capacity: engine.queues.count)
        cut.initialize(repeating: 0, count: engine.queues.count)
        precondition(forwarder == nil || (filter == nil && sampleEvery <= 1 && writer == nil),
                     "forwarding goes with the plain consumer loop (no filter, sampler or writer)")
        self.forwarder = forwarder
        forwarded = .allocate(capacity: engine.queues.count)
        forwarded.initialize(repeating: 0, count: engine.queues.count)
        packetDelay = packetDelayNanoseconds
        flowTracker = trackFlows ? FlowSplitTracker(workers: engine.queues.count) : nil
        flowOrder = trackFlows ? FlowOrder(origins: (engine.queues.max() ?? 0) + 1, consumers: engine.queues.count) : nil
        self.filter = filter
        self.sampleEvery = max(1, sampleEvery)
        self.writer = writer
        delivered = engine.queues.map { _ in UnsafeAtomic<Int>.create(0) }
        rejected = .allocate(capacity: engine.queues.count)
        rejected.initialize(repeating: 0, count: engine.queues.count)
        skipped = .allocate(capacity: engine.queues.count)
        skipped.initialize(repeating: 0, count: engine.queues.count)
        self.engine = engine
        cost = ConsumerCost(runs: consumerCost)
        let origins = (engine.queues.max() ?? 0) + 1
        // Flow offload keeps order per flow, not per queue (a moving bucket's packets wait).
        let verifier = verify ? SequenceVerifier(origins: origins, perFlow: engine.offloadsFlows) : nil
        self.verifier = verifier
        stopping = .create(false)
        let n = engine.queues.count
        tallies = verifier.map { v in (0..<n).map { _ in v.makeTally() } } ?? []
        ipv4 = .allocate(capacity: n)
        ipv4.initialize(repeating: 0, count: n)
        matches = .allocate(capacity: n)
        matches.initialize(repeating: 0, count: n)
        self.consumerCPUs = consumerCPUs
    }

    deinit {
        stopping.destroy()
        ipv4.deallocate(); matches.deallocate()
        delivered.forEach { $0.destroy() }
        rejected.deallocate(); skipped.deallocate(); cut.deallocate()
        forwarded.deallocate()
    }

    /// Starts the writer and the consumers, then the engine (``CaptureBackend/start()``).
    /// When it returns the capture is ready: every socket receives and every fill
    /// ring is posted. On failure everything started is stopped again.
    public func start() throws(XDPError) {
        try writer?.start()
        do {
            try startConsumers()
            started = Sys.monotonicNanoseconds()
            try engine.start()
        } catch {
            _ = stop(reason: "failed to start")
            throw error
        }
    }

    /// One thread per queue, each with the queue's consumer endpoint (both
    /// backends hand out the same concrete ``CaptureConsumer``: the loops below
    /// have no existential or witness call per packet).
    private func startConsumers() throws(XDPError) {
        for j in 0..<engine.queues.count {
            let consumer = engine.consumer(j)
            let cpus = consumerCPUs.isEmpty ? [] : [consumerCPUs[j % consumerCPUs.count]]
            consumers.append(try SystemThread(name: "wc-consume-\(j)", cpus: cpus) { [self] in
                if self.filter == nil && self.sampleEvery == 1 && self.writer == nil {
                    self.consume(consumer, slot: j)
                } else {
                    self.consumeSelecting(consumer, slot: j)
                }
            })
        }
    }

    /// The per-packet work of consumer `slot`, with its own cutoff table.
    private func packetWork(slot: Int) -> SessionPacketWork {
        let cutoff = bypassAfter.flatMap { b in
            engine.flowBypass.map { FlowCutoff(limit: b.bytes, duration: b.duration, table: $0) }
        }
        return SessionPacketWork(cost: cost, verifier: verifier, tally: verifier == nil ? nil : tallies[slot],
                                 flowTracker: flowTracker, flowOrder: flowOrder, cutoff: cutoff, slot: slot)
    }

    private func consume(_ consumer: borrowing CaptureConsumer, slot: Int) {
        var work = packetWork(slot: slot)
        let forwarder = self.forwarder
        let group = engine.group
        var sent = 0
        // Forwarded chunks whose frames the kernel still holds (at most R per pool: no
        // allocation once the capacity is reserved).
        var parked: [(ChunkHandle, Int)] = []
        parked.reserveCapacity(group.configuration.geometry.chunksPerPool * group.queueCount)
        let stopping = self.stopping
        while true {
            if let forwarder, !parked.isEmpty { sent &+= settleParked(&parked, forwarder, consumer) }
            // (S2) acquire: pairs with (S1) in stop(). Read BEFORE looking at the lanes:
            // once it is true the capture threads have exited, so an empty capture
            // queue seen after it stays empty and the consumer may leave.
            let ending = stopping.load(ordering: .acquiring)
            guard let handle = consumer.nextChunk() ?? (ending ? nil : consumer.waitChunk(
                timeoutNanoseconds: 10_000_000, unless: { stopping.load(ordering: .acquiring) }))
            else {
                if ending { break }
                continue
            }
            consumer.withPackets(of: handle) { work.visit($0) }
            // Forwarding returns once the kernel completed every frame, so the chunk may go back.
            if let forwarder {
                // A chunk goes back to the fill ring only once the kernel completed every
                // one of its frames; until then it waits here, its frames the kernel's.
                let outcome = forwarder.forward(handle, descriptors: group.descriptors(of: handle))
                if outcome.complete {
                    sent &+= Self.settle(handle, posted: outcome.posted, consumer)
                } else {
                    parked.append((handle, outcome.posted))
                }
                sent &+= settleParked(&parked, forwarder, consumer)
                continue
            }
            consumer.count(.delivered, Int(handle.count), of: handle)
            consumer.recycle(handle)
            if packetDelay > 0 { Sys.sleep(nanoseconds: packetDelay &* UInt64(handle.count)) }
        }
        if let forwarder {
            // The end: give the kernel a last moment for what it still holds, then count
            // the rest as tx-stalled and leave those chunks unrecycled.
            let deadline = Sys.monotonicNanoseconds() &+ Forwarder.completionTimeout
            while !parked.isEmpty && Sys.monotonicNanoseconds() < deadline {
                sent &+= settleParked(&parked, forwarder, consumer)
                if !parked.isEmpty { Sys.sleep(nanoseconds: 100_000) }
            }
            for (handle, _) in parked { consumer.count(.txStalled, Int(handle.count), of: handle) }
        }
        ipv4[slot] = work.ipv4
        matches[slot] = work.matched
        cut[slot] = work.cutoffOwner?.cut ?? 0
        forwarded[slot] = sent
    }

    /// Accounts a forwarded chunk whose posted frames all completed (posted packets
    /// delivered, the rest tx-stalled) and recycles it. - Returns: packets sent.
    private static func settle(_ handle: ChunkHandle, posted: Int, _ consumer: borrowing CaptureConsumer) -> Int {
        consumer.count(.delivered, posted, of: handle)
        consumer.count(.txStalled, Int(handle.count) &- posted, of: handle)
        consumer.recycle(handle)
        return posted
    }

    /// Recycles every parked chunk whose frames the kernel has completed since.
    private func settleParked(_ parked: inout [(ChunkHandle, Int)], _ forwarder: Forwarder,
                              _ consumer: borrowing CaptureConsumer) -> Int {
        var sent = 0
        let group = engine.group
        var i = 0
        while i < parked.count {
            let (handle, posted) = parked[i]
            if forwarder.isComplete(handle, descriptors: group.descriptors(of: handle), posted: posted) {
                sent &+= Self.settle(handle, posted: posted, consumer)
                parked.swapAt(i, parked.count - 1)
                parked.removeLast()
            } else {
                i += 1
            }
        }
        return sent
    }

    /// The consumer loop with a filter, a sampler or a writer: each packet is
    /// tested (filter, then sampler) and its keep bit stored in the writer's
    /// handoff entry; the chunk goes to the writer (which hands it back for
    /// recycling) or, when the writer is behind, is dropped at once and counted
    /// as delivery drops. No allocation, lock or syscall per packet.
    private func consumeSelecting(_ consumer: borrowing CaptureConsumer, slot: Int) {
        var work = packetWork(slot: slot)
        var rejectedHere = 0, skippedHere = 0
        var countdown = 0
        let filter = self.filter, every = self.sampleEvery
        let writer = self.writer
        let scratchWords = (engine.maxPacketsPerChunk + 63) / 64
        let scratch = UnsafeMutablePointer<UInt64>.allocate(capacity: scratchWords)
        defer { scratch.deallocate() }
        let stopping = self.stopping
        let wait: UInt64 = writer == nil ? 10_000_000 : 2_000_000
        while true {
            // (S2) acquire: see consume(_:slot:).
            let ending = stopping.load(ordering: .acquiring)
            guard let handle = consumer.nextChunk() ?? (ending ? nil : consumer.waitChunk(
                timeoutNanoseconds: wait, unless: { stopping.load(ordering: .acquiring) }))
            else {
                if ending { break }
                continue
            }
            let rejectedBefore = rejectedHere, skippedBefore = skippedHere
            let entry = writer?.reserve(slot)
            let mask = entry?.mask ?? scratch
            var kept = 0
            var i = 0
            consumer.withPackets(of: handle) { packet in
                work.visit(packet)
                let b = packet.bytes
                var keep = true
                if let filter, !filter(b) { keep = false; rejectedHere &+= 1 }
                if keep && every > 1 {
                    if countdown == 0 { countdown = every &- 1 } else { countdown &-= 1; keep = false; skippedHere &+= 1 }
                }
                let bit: UInt64 = 1 << UInt64(i & 63)
                if i & 63 == 0 { mask[i >> 6] = 0 }
                if keep { mask[i >> 6] |= bit; kept &+= 1 }
                i &+= 1
            }
            // Relaxed: a statistic; the control thread only compares it with -c.
            delivered[slot].wrappingIncrement(by: kept, ordering: .relaxed)
            consumer.count(.filtered, rejectedHere &- rejectedBefore, of: handle)
            consumer.count(.sampled, skippedHere &- skippedBefore, of: handle)
            if let writer {
                if let entry {
                    entry.handle.pointee = handle
                    entry.kept.pointee = kept
                    entry.filtered.pointee = kept != Int(handle.count)
                    entry.published.pointee = Sys.monotonicNanoseconds()
                    consumer.count(.toWriter, kept, of: handle)
                    // The writer recycles the chunk itself once written (its own lane).
                    writer.publish(slot)
                    continue
                }
                consumer.count(.deliveryDrops, kept, of: handle)
            } else {
                consumer.count(.delivered, kept, of: handle)
            }
            consumer.recycle(handle)
            if packetDelay > 0 { Sys.sleep(nanoseconds: packetDelay &* UInt64(handle.count)) }
        }
        writer?.closeQueue(slot)
        ipv4[slot] = work.ipv4
        matches[slot] = work.matched
        rejected[slot] = rejectedHere
        skipped[slot] = skippedHere
        cut[slot] = work.cutoffOwner?.cut ?? 0
    }

    /// Waits (on the calling thread) until `condition` holds, then stops consumers
    /// and closes the engine (program detached first). - Returns: the report.
    public func run(until condition: StopCondition) -> CaptureReport {
        stop(reason: waitForStop(condition))
    }

    /// Waits (on the calling thread) until `condition` holds. - Returns: why
    /// (`count`, `duration`, `idle`, a signal's name), for ``stop(reason:)``.
    public func waitForStop(_ c: StopCondition) -> String {
        var lastArrived: UInt64 = 0
        var lastChange = Sys.monotonicNanoseconds()
        while true {
            let now = Sys.monotonicNanoseconds()
            let stats = engine.statistics()
            let received = stats.reduce(0) { $0 + $1.packetsReceived }
            let consumed = stats.reduce(0) { $0 + $1.packetsConsumed }
            // A bypassed packet is traffic too: idle means nothing arrived, captured or not.
            let arrived = received &+ engine.bypassedPackets()
            if let count = c.count {
                // With a filter or sampler, -c counts delivered packets (relaxed: a statistic).
                let selecting = filter != nil || sampleEvery > 1
                let done = selecting ? delivered.reduce(0) { $0 + $1.load(ordering: .relaxed) } : Int(consumed)
                if done >= count { return "count" }
            }
            if let d = c.duration, Double(now - started) / 1e9 >= d { return "duration" }
            if arrived != lastArrived { lastArrived = arrived; lastChange = now }
            if let idle = c.idle, arrived > 0, consumed == received,
               Double(now - lastChange) / 1e9 >= idle {
                return "idle"
            }
            if c.signals {
                if let s = Signals.wait(milliseconds: 20) { return Signals.name(s) }
            } else {
                Sys.sleep(nanoseconds: 20_000_000)
            }
        }
    }

    /// Stops the capture in the lifecycle's order and builds the report:
    ///
    /// 1. the engine stops redirecting, drains its rx rings, flushes every partial
    ///    chunk and detaches its program (``CaptureBackend/stop()``: drained);
    /// 2. consumers take everything left in their capture queues, then exit;
    /// 3. the writer writes everything handed to it and closes its files;
    /// 4. the final ledger is read, then the engine closes (sockets, memory).
    ///
    /// Nothing received is dropped on the way: the ledger's `abandoned` counts
    /// what would be. Idempotent in effect.
    public func stop(reason: String = "stop") -> CaptureReport {
        engine.stop()
        // (S1) release: pairs with (S2) in the consumer loops; ordered after the
        // capture threads' join inside engine.stop(), so every chunk they placed
        // is visible to a consumer that sees the flag.
        stopping.store(true, ordering: .releasing)
        for j in 0..<engine.queues.count { engine.interruptConsumer(j) }
        consumers.forEach { $0.join() }
        consumers = []
        let output = writer?.finish()
        let seconds = Double(Sys.monotonicNanoseconds() &- started) / 1e9
        let ledger = self.ledger(final: true)
        let bypassedFlows = engine.flowBypass.map { table in
            table.flows().prefix(CaptureReport.bypassReportLimit).map {
                BypassedFlowReport(flow: $0.key.description, packets: $0.packets, bytes: $0.bytes, active: $0.isActive)
            }
        }
        engine.close()
        let stats = engine.statistics()
        let config = engine.group.configuration
        return CaptureReport(
            interface: engine.interface, mode: config.mode.rawValue, offload: engine.offloadPolicy?.rawValue,
            geometry: engine.geometryDescription,
            attachMode: engine.attachDescription, seconds: seconds, consumerCost: cost.runs, stoppedBy: reason,
            queues: stats.enumerated().map { i, s in
                QueueReport(deviceQueue: engine.queues[i], statistics: s, ipv4: ipv4[i], filterMatches: matches[i],
                            filteredOut: rejected[i] + Int(ledger.queues[i].filteredInKernel), sampledOut: skipped[i],
                            flowsBypassed: cut[i])
            },
            verification: verifier?.report(tallies), output: output, flows: flowTracker?.report(outOfOrder: flowOrder?.outOfOrder, flowsReordered: flowOrder?.flowsReordered),
            forwarded: forwarder.map { _ in (0..<engine.queues.count).reduce(0) { $0 + forwarded[$1] } },
            ledger: ledger, bypassedFlows: bypassedFlows,
            xdpProgram: (engine as? CaptureEngine).map(\.programRunStatistics).flatMap {
                $0.runs > 0 ? XDPProgramCost(runs: $0.runs, nanoseconds: $0.nanoseconds) : nil
            })
    }

    /// The loss ledger now (live: packets on their way are `inFlight`, and with a
    /// writer, packets handed to it count as delivered) or at the end (`final`,
    /// after ``stop(reason:)``'s steps 1–3: what was received and not delivered is
    /// `abandoned`, and the writer's own counts replace the hand-off counts).
    /// Any thread while the capture runs (the statistics ticker).
    public func ledger(final: Bool = false) -> CaptureLedger {
        engine.ledger(final: final, writer: writer)
    }
}

/// What every session consumer does with each packet before deciding its fate:
/// count IPv4, run the consumer cost (the paper's x), check the generator's
/// sequence numbers, record flow splits and order, count flows for `--bypass-after`.
/// One per consumer thread; no allocation.
///
/// The checkers are held ``Unretained``: the session (or, for the cutoff, this
/// value) owns them and outlives the consumer. A strong optional bound per packet
/// cost a retain and a release of objects both consumers share (measured in a
/// profile of the 1.8 elephant: `swift_retain` of `FlowOrder` around every
/// packet's check, on a refcount two cores wrote per packet).
struct SessionPacketWork {
    let cost: Unretained<ConsumerCost>
    let verifier: Unretained<SequenceVerifier>?
    let tally: Unretained<SequenceVerifier.Tally>?
    let flowTracker: Unretained<FlowSplitTracker>?
    let flowOrder: Unretained<FlowOrder>?
    let cutoff: Unretained<FlowCutoff>?
    /// The consumer's own cutoff (nothing else holds it), kept alive here.
    let cutoffOwner: FlowCutoff?
    let slot: Int
    var ipv4 = 0
    var matched = 0

    init(cost: ConsumerCost, verifier: SequenceVerifier?, tally: SequenceVerifier.Tally?, flowTracker: FlowSplitTracker?,
         flowOrder: FlowOrder?, cutoff: FlowCutoff?, slot: Int) {
        self.cost = Unretained(cost)
        self.verifier = verifier.map(Unretained.init)
        self.tally = tally.map(Unretained.init)
        self.flowTracker = flowTracker.map(Unretained.init)
        self.flowOrder = flowOrder.map(Unretained.init)
        self.cutoff = cutoff.map(Unretained.init)
        cutoffOwner = cutoff
        self.slot = slot
    }

    @inline(__always)
    mutating func visit(_ packet: Packet) {
        let b = packet.bytes
        if b.count >= 14, b[12] == 0x08, b[13] == 0x00 { ipv4 &+= 1 }
        matched &+= cost.use { $0.apply(b) }
        if let verifier, let tally { tally.use { t in verifier.use { $0.check(packet, t) } } }
        let slot = self.slot
        if let flowTracker { flowTracker.use { $0.record(b, worker: slot) } }
        if let flowOrder { flowOrder.use { $0.check(b, consumer: slot) } }
        if let cutoff { cutoff.use { $0.record(packet) } }
    }
}
