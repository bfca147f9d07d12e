#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import WireCap
import WireCapAnalyzer

/// Analyzer states under flow offload (issue 15), on ``SyntheticCapture`` (whose
/// packets get the AF_XDP capture thread's ``FlowHash`` as bucket): per-flow
/// counts merge exactly, a flow reaches a second worker only through a move of
/// its bucket (after the first worker gave back every packet of it) or a spread,
/// and moves keep each flow in order.
@Suite("Analyzer exactness under flow offload")
struct FlowOffloadExactnessTests {
    static let geometry = PoolGeometry(cellsPerChunk: 8, chunksPerPool: 64, fillRingSize: 32)
    static let buckets = 64

    static func configuration(threshold: Int = 60) -> CaptureConfiguration {
        CaptureConfiguration(geometry: geometry, mode: .advanced, offloadThresholdPercent: threshold,
                             partialTimeoutNanoseconds: 1_000_000, offload: .flow, flowBuckets: buckets)
    }

    /// A UDP/IPv4 frame of connection `connection`: 10.0.<c>.1:<2000+c> → 10.9.0.1:53
    /// (`reply`: the other way), carrying `sequence` (u32 BE) after the UDP header.
    /// `fragment`: the IPv4 flags/offset field (0x4000: DF, a whole datagram).
    static func frame(connection c: Int, sequence: UInt32, reply: Bool = false, fragment: UInt16 = 0x4000,
                      id: UInt16 = 0) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 64)
        f[12] = 0x08; f[13] = 0x00
        f[14] = 0x45; f[18] = UInt8(id >> 8); f[19] = UInt8(id & 0xFF)
        f[20] = UInt8(fragment >> 8); f[21] = UInt8(fragment & 0xFF); f[22] = 64; f[23] = 17
        let client: [UInt8] = [10, 0, UInt8(c), 1], server: [UInt8] = [10, 9, 0, 1]
        let (src, dst) = reply ? (server, client) : (client, server)
        f[26..<30] = src[...]; f[30..<34] = dst[...]
        let cp = UInt16(2000 + c), sp: UInt16 = 53
        let (a, b) = reply ? (sp, cp) : (cp, sp)
        f[34] = UInt8(a >> 8); f[35] = UInt8(a & 0xFF); f[36] = UInt8(b >> 8); f[37] = UInt8(b & 0xFF)
        for k in 0..<4 { f[42 + k] = UInt8(truncatingIfNeeded: sequence >> (24 - 8 * k)) }
        return f
    }

    static func sequence(_ b: UnsafeRawBufferPointer) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(b[42 + $1]) }
    }

    /// The bucket a frame lands in (what the capture thread computes).
    static func bucket(_ frame: [UInt8]) -> Int { Int(frame.withUnsafeBytes { FlowHash.hash($0) }) & (buckets - 1) }

    /// One worker's analysis of every frame in sending order: what the merge must equal.
    static func reference<A: Analyzer>(_ analyzer: A, _ frames: [[UInt8]]) -> A.State {
        var s = analyzer.makeState(worker: 0)
        for f in frames {
            f.withUnsafeBytes { s.process(packet: Packet(bytes: $0, wireLength: $0.count, timestamp: 0, queue: 0, originQueue: 0)) }
        }
        return s
    }

    /// One worker step by hand: the packets of at most one chunk of `handle` through `state`.
    @discardableResult
    static func step<S: AnalyzerState>(_ handle: CaptureHandle, _ state: inout S) -> DispatchResult {
        handle.dispatch { state.process(packet: $0) }
    }

    /// Runs `handle` without blocking until no chunk waits (or the source finished).
    static func drain<S: AnalyzerState>(_ handle: CaptureHandle, _ state: inout S) {
        handle.isNonBlocking = true
        while case .processed(let n) = step(handle, &state), n > 0 {}
    }

    @Test("no move: every flow (both directions, every fragment) on one worker; merged tables equal one worker's analysis")
    func noMoveOneWorkerPerFlow() throws {
        let capture = try SyntheticCapture(queues: 2, configuration: Self.configuration(), readTimeoutNanoseconds: 1_000_000)
        var sent: [[UInt8]] = []
        for i in 0..<480 {
            let c = i % 12
            var f = Self.frame(connection: c, sequence: UInt32(i), reply: i % 3 == 0)
            // Connection 5 sends fragmented datagrams: a first fragment (MF, ports), then a later one.
            if c == 5 { f = Self.frame(connection: c, sequence: UInt32(i), fragment: (i / 12) % 2 == 0 ? 0x2000 : 0x0003, id: UInt16(i / 24)) }
            let q = c >= 10 ? 1 : 0   // a connection on one queue, as RSS does: 5/6 of the packets on queue 0
            // Virtual time inside one scheduler tick: nothing moves.
            #expect(capture.receive(queue: q, packet: f, timestamp: UInt64(i) * 1_000))
            sent.append(f)
        }
        #expect(capture.finish())
        let schedulers = capture.group.schedulers
        #expect(schedulers.count == 2 && schedulers.allSatisfy { $0.bucketMoves == 0 && $0.packetsSpread == 0 },
                "the scenario must not move or spread a bucket")
        let analyzer = TopFlows(limit: 3)
        var states = (0..<2).map { analyzer.makeState(worker: $0) }
        for w in 0..<2 { Self.drain(capture.handles[w], &states[w]) }
        let tables = states.map(\.table.dictionary)
        #expect(!tables[0].isEmpty && !tables[1].isEmpty, "both workers had flows")
        #expect(Set(tables[0].keys).isDisjoint(with: tables[1].keys), "no flow on two workers")
        var merged = states[0]
        merged.merge(states[1])
        let expected = Self.reference(analyzer, sent)
        #expect(merged.table.dictionary == expected.table.dictionary, "per-flow counts exact, fragments attributed")
        #expect(merged.unattributedFragments == 0 && merged.fragments == expected.fragments && merged.fragments > 0)
        // Both directions of a connection share a worker.
        for c in 0..<12 where c != 5 {
            let there = (0..<2).filter { w in tables[w].keys.contains { $0.sourcePort == UInt16(2000 + c) || $0.destinationPort == UInt16(2000 + c) } }
            #expect(there.count == 1, "connection \(c) on workers \(there)")
        }
    }

    @Test("a move drains first: the bucket's later packets wait, reach the new worker after the old one finished, in order; counts exact")
    func forcedMoveIsOrderedAndExact() throws {
        let capture = try SyntheticCapture(queues: 2, configuration: Self.configuration(), readTimeoutNanoseconds: 1_000_000)
        let analyzer = SequenceLog()
        var states = (0..<2).map { analyzer.makeState(worker: $0) }
        var sent: [[UInt8]] = []
        var t: UInt64 = 0
        // Full chunks (8 packets) on queue 0 only, within one scheduler tick: they are
        // delivered at once, and only the move below changes a route.
        func send(_ range: Range<Int>) {
            for i in range {
                let f = Self.frame(connection: i % 6, sequence: UInt32(i), reply: i % 4 == 1)
                t += 500
                #expect(capture.receive(queue: 0, packet: f, timestamp: t))
                sent.append(f)
            }
        }
        send(0..<64)
        // Worker 0 takes two of its eight slices; connection 0's other packets stay with it.
        for _ in 0..<2 { Self.step(capture.handles[0], &states[0]) }
        let moved = Self.bucket(Self.frame(connection: 0, sequence: 0))
        let scheduler = capture.group.schedulers[0]
        scheduler.move([moved], to: 1)
        #expect(scheduler.isMoving && !scheduler.readyToRelease, "worker 0 still holds packets of the bucket")
        send(64..<128)
        #expect(scheduler.packetsHeld > 0, "the bucket's new packets wait for the drain")
        Self.drain(capture.handles[1], &states[1])
        #expect(!states[1].flows.keys.contains { Self.bucketOf($0) == moved }, "worker 1 sees nothing of the bucket before the drain")
        Self.drain(capture.handles[0], &states[0])   // the old worker finishes and gives back every packet
        send(128..<192)                              // the capture thread reclaims them: the move ends
        #expect(!scheduler.isMoving && scheduler.route(of: UInt16(moved)) == 1 && scheduler.bucketMoves == 1, "moves \(scheduler.bucketMoves)")
        #expect(capture.finish())
        for w in 0..<2 { Self.drain(capture.handles[w], &states[w]) }
        #expect(scheduler.packetsSpread == 0)
        // Exact: every packet once, per flow.
        var merged = states[0]
        merged.merge(states[1])
        let expected = Self.reference(analyzer, sent)
        #expect(merged.counts == expected.counts)
        // Only flows of the moved bucket were on both workers (connection 0 certainly), and
        // all of a flow's packets on worker 0 came before all of them on worker 1.
        let both = Set(states[0].flows.keys).intersection(states[1].flows.keys)
        #expect(!both.isEmpty && both.allSatisfy { Self.bucketOf($0) == moved }, "\(both)")
        for key in both {
            #expect(states[0].flows[key]!.max()! < states[1].flows[key]!.min()!, "\(key): worker 0's packets first")
        }
        for s in states { for (key, seqs) in s.flows { #expect(seqs == seqs.sorted(), "\(key) in order on its worker") } }
    }

    @Test("workers running, the scheduler moving buckets (strict affinity): exact, never reordered, a flow on two workers only after moves")
    func concurrentMovesStrict() throws {
        let clock = EventClock()
        let analyzer = SequenceLog(clock: clock, slowWorker: 0)
        // The analyzer library asks for strict affinity; the capture takes it from the settings.
        var settings = CaptureSettings()
        // The API's default: flow offload, 1,024 buckets, spread allowed (the engine settings' fields, through the settings).
        #expect(settings.offload == .flow && settings.flowBuckets == 1024 && !settings.strictFlowAffinity)
        settings.core = Self.configuration()
        settings.prepare(for: analyzer)
        #expect(settings.core.strictFlowAffinity && settings.core.offload == .flow)
        let capture = try SyntheticCapture(queues: 2, configuration: settings.core, readTimeoutNanoseconds: 1_000_000)
        let runner = AnalyzerRunner(analyzer: analyzer, handles: capture.handles)
        try runner.start()
        var sent: [[UInt8]] = []
        for i in 0..<12_000 {
            let c = i % 10 == 0 ? 16 + (i / 10) % 2 : i % 16   // connections 0-15 on queue 0, 16-17 on queue 1
            let f = Self.frame(connection: c, sequence: UInt32(i), reply: i % 5 == 2)
            let q = c >= 16 ? 1 : 0
            // Virtual time: 5 µs apart (200 scheduler ticks). A full pool pushes back: the
            // packet is offered again (counted as a drop each time, delivered once).
            while !capture.receive(queue: q, packet: f, timestamp: UInt64(i + 1) * 5_000) { sched_yield() }
            sent.append(f)
        }
        while !capture.finish() { sched_yield() }
        let merged = runner.wait()
        let moves = capture.group.schedulers.reduce(0) { $0 + $1.bucketMoves }
        let spread = capture.group.schedulers.reduce(0) { $0 + $1.packetsSpread }
        print("flow offload, concurrent workers: \(moves) bucket moves, \(spread) packets spread, "
              + "\(capture.group.schedulers[0].packetsHeld) packets held")
        #expect(spread == 0, "strict affinity never spreads")
        // Whether the scheduler moved depends on how far the real worker threads got (a
        // loaded machine slows both): the moves are shown, not asserted. Forced moves are
        // checked deterministically above; the scheduler's own in the core's random runs.
        #expect(merged.counts == Self.reference(SequenceLog(), sent).counts, "every packet once, per flow")
        // Per flow, in the order the workers processed them (one clock for all): in sequence.
        var perFlow: [FlowKey: [(at: UInt64, sequence: UInt32, worker: Int)]] = [:]
        for e in merged.events { perFlow[e.key, default: []].append((e.at, e.sequence, e.worker)) }
        var onTwo = 0
        var bucketsOnTwo = Set<Int>()
        for (key, events) in perFlow {
            let ordered = events.sorted { $0.at < $1.at }.map(\.sequence)
            #expect(ordered == ordered.sorted(), "\(key) processed out of order across workers")
            if Set(events.map(\.worker)).count > 1 { onTwo += 1; bucketsOnTwo.insert(Self.bucketOf(key)) }
        }
        print("flows processed by both workers, one after the other: \(onTwo) of \(perFlow.count), in \(bucketsOnTwo.count) buckets")
        // A bucket whose flows reached both workers moved at least once (each move counts each bucket).
        #expect(UInt64(bucketsOnTwo.count) <= moves)
    }

    static func bucketOf(_ key: FlowKey) -> Int {
        // Rebuild a frame of the key's connection (either direction hashes alike).
        let c = Int(key.sourcePort == 53 ? key.destinationPort : key.sourcePort) - 2000
        return bucket(frame(connection: c, sequence: 0))
    }
}

/// A logical clock every worker reads for each packet: one total order of processing.
final class EventClock: Sendable {
    let ticks = Atomic<UInt64>(0)
    func next() -> UInt64 { ticks.add(1, ordering: .relaxed).newValue }
}

/// Logs, per worker, every flow's sequence numbers in processing order, and
/// counts packets per flow (the exact part of the merge).
struct SequenceLog: Analyzer {
    var name: String { "sequence-log" }
    var clock: EventClock? = nil
    /// A worker that works 200 µs more every 8 packets (a slow consumer, spinning: it
    /// orders nothing); nil: none.
    var slowWorker: Int? = nil
    var flowAffinity: FlowAffinity { .strict }

    struct State: AnalyzerState {
        let worker: Int
        let clock: EventClock?
        let slow: Bool
        var flows: [FlowKey: [UInt32]] = [:]
        var counts: [FlowKey: Int] = [:]
        var events: [(key: FlowKey, sequence: UInt32, at: UInt64, worker: Int)] = []
        var seen = 0

        mutating func process(packet: Packet) {
            guard let key = FlowKey.parse(packet.bytes) else { return }
            let sequence = FlowOffloadExactnessTests.sequence(packet.bytes)
            flows[key, default: []].append(sequence)
            counts[key, default: 0] += 1
            if let clock { events.append((key, sequence, clock.next(), worker)) }
            seen += 1
            if slow && seen % 8 == 0 {
                func now() -> Int { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1_000_000_000 + t.tv_nsec }
                let until = now() + 200_000
                while now() < until {}
            }
        }

        mutating func merge(_ o: State) {
            for (k, v) in o.flows { flows[k, default: []] += v }
            for (k, v) in o.counts { counts[k, default: 0] += v }
            events += o.events
        }
    }

    func makeState(worker: Int) -> State { State(worker: worker, clock: clock, slow: worker == slowWorker) }
    func report(_ merged: State) -> AnalysisReport { AnalysisReport(name: name, lines: ["\(merged.counts.count) flows"]) }
}
