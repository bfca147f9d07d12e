#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import WireCapCore
import Logging
import WireCap
import WireCapAnalyzer
import WireCapFilter
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// `wirecap analyze`: the built-in analyzers, live on interfaces (one pinned
/// worker per queue) or offline on a pcap/pcapng file, with the same code.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Run analyzers (counters, top flows, pkt_handler load, IPv4 counter) live with -i or on a trace with -r.",
        discussion: """
        Live: one worker per queue, pinned with --worker-cpus, run to completion over the WireCap handles; \
        per-worker flow tables merge exactly even when offload splits a flow between workers (flow offload, \
        the default of advanced mode, keeps a flow on one worker at a time and in order; --strict-affinity \
        never spreads one, not even a flow heavier than a worker). --backend \
        afpacket runs the same workers over AF_PACKET TPACKET_V3 sockets (-q N: N fanout sockets). Offline: the \
        same analyzers over -r FILE. Exit status: 0 ok, 1 runtime failure, 2 usage error.
        """)

    @OptionGroup var engine: EngineOptionsGroup
    @OptionGroup var runOptions: RunOptionsGroup
    @OptionGroup var backendOptions: BackendOptionsGroup

    @Option(name: .customShort("r"), help: ArgumentHelp("Analyze this pcap/pcapng file instead of capturing.", valueName: "file"))
    var readFile: String?

    @Option(help: "Workers for -r (packets dealt in runs of 256, as chunks).")
    var workers = 1

    @Option(help: "Show the top N flows by bytes and by packets; 0 turns the flow table off.")
    var top = 10

    @Option(help: "Flows each worker's table holds.")
    var flowCapacity = 65_536

    @Option(help: "pkt_handler load x: BPF filter runs per packet, the paper's x; 0 is off.")
    var load = 0

    @Flag(help: "Count IPv4 packets from bytes 12-13 (the Fastnet benchmark's consumer; default: off).")
    var ipv4Counter = false

    @Option(name: .customShort("s"), help: "Snap length: bytes of each packet the analyzers see.")
    var snapLength = 262_144

    @Option(help: "CPUs for the analyzer workers, e.g. 1 (default: unpinned).")
    var workerCpus: String?

    @Argument(help: "Filter expression in tcpdump syntax (default: every packet).")
    var filter: [String] = []

    func validate() throws {
        if readFile == nil && engine.interfaces.isEmpty { throw ValidationError("name an interface with -i or a trace file with -r") }
        if readFile != nil && !engine.interfaces.isEmpty { throw ValidationError("-i and -r exclude each other: capture live or read a file") }
        if backendOptions.isAFPacket, let q = engine.queues, let n = Int(q), n < 1 { throw ValidationError("-q with --backend afpacket: at least 1 socket") }
        if top < 0 { throw ValidationError("--top must be ≥ 0, got \(top)") }
        if load < 0 { throw ValidationError("--load must be ≥ 0, got \(load)") }
        if workers < 1 { throw ValidationError("--workers must be at least 1, got \(workers)") }
        if snapLength < 1 { throw ValidationError("-s must be at least 1 byte, got \(snapLength)") }
        if let c = workerCpus, IndexList.parse(c) == nil { throw ValidationError("invalid CPU list '\(c)': use e.g. 0,1") }
        if !filterText.isEmpty {
            do { _ = try PacketFilter(expression: filterText) } catch { throw ValidationError("\(error.description): fix the expression (tcpdump syntax)") }
        }
    }

    @Flag(help: "With -r: a file cut short in the middle of a packet is an error (exit 1); without it the complete packets are analysed and one warning printed.")
    var strict = false

    var filterText: String { filter.joined(separator: " ") }

    var analyzers: BuiltinAnalyzers {
        BuiltinAnalyzers(counters: TrafficCounters(), ipv4: ipv4Counter ? IPv4Counter() : nil,
                         topFlows: top > 0 ? TopFlows(limit: top, capacity: flowCapacity) : nil,
                         load: load > 0 ? PacketHandlerLoad(runs: load) : nil,
                         flowAffinity: engine.strictAffinity ? .strict : .preferred)
    }

    func predicate(linkType: UInt32 = 1) throws(CaptureError) -> PacketPredicate? {
        guard !filterText.isEmpty else { return nil }
        do {
            let f = try PacketFilter(expression: filterText, linkType: linkType, snapLength: snapLength)
            return PacketPredicate(expression: filterText, matchesWire: f.wirePredicate)
        } catch { throw CaptureError(.usage, "\(error.description): fix the expression (tcpdump syntax)") }
    }

    func run() throws {
        do {
            if let file = readFile { try offline(file) } else { try live() }
        } catch {
            CLI.fail(error)
        }
    }

    private func offline(_ path: String) throws(CaptureError) {
        let a = analyzers
        // Compiled for each link type the file has (Linux cooked, raw IP, …), as tcpdump does.
        _ = try predicate()   // a bad expression is a usage error before the file is read
        let compile: OfflineAnalysis.FilterCompiler? = filterText.isEmpty ? nil : { (linkType: UInt32) throws(CaptureError) -> PacketPredicate in
            guard let p = try predicate(linkType: linkType) else { throw CaptureError(.usage, "no filter") }
            return p
        }
        let result = try OfflineAnalysis.run(a, path: path, workers: workers, filter: compile)
        if let warning = result.truncation, strict { throw CaptureError(.system, "\(warning) (--strict)") }
        print(report(a.reports(result.state), header: "\(path) (\(result.format)): \(result.packets) packets read", queues: nil))
        if let warning = result.truncation { CLI.note("warning: \(warning)") }
    }

    private func live() throws(CaptureError) {
        Signals.block()
        let log = Logger(label: "wirecap.analyze")
        var settings = CaptureSettings()
        settings.engine = try engine.engineSettings(backendOptions)
        // The analysis says what it needs of flow offload (--strict-affinity: never split a flow).
        settings.prepare(for: analyzers)
        try engine.checkFlowOffload(settings.engine, engine.selections(backendOptions))
        settings.quiet = true
        settings.filter = try predicate()
        settings.snapLength = snapLength
        let core = settings.core
        let capture = try Capture.open(engine.selections(backendOptions), configuration: settings)
        var server: MetricsServer?
        let exporter = MetricsExporter()
        if let m = runOptions.metrics {
            do { server = try MetricsServer(listen: m, exporter: exporter) } catch { capture.close(); throw error }
            log.info("serving Prometheus metrics", metadata: ["address": "\(server!.address)"])
            CLI.note("metrics on http://\(server!.address)/metrics")
        }
        try capture.start()
        if let user = engine.user {
            do { try PrivilegeDrop.drop(to: user) } catch { capture.close(); throw error }
            CLI.note("dropped privileges to \(user) (uid \(getuid()), gid \(getgid()))")
        }
        let runner = AnalyzerRunner(analyzer: analyzers, handles: capture.handles, cpus: workerCpus.flatMap(IndexList.parse) ?? [])
        do { try runner.start() } catch { capture.close(); throw error }
        CLI.note("capturing on \(engine.interfaces.joined(separator: ",")) for analysis (\(capture.handles.count) queue\(capture.handles.count == 1 ? "" : "s"), \(backendOptions.isAFPacket ? capture.engines[0].attachDescription + ", " : "")\(core.mode) mode); Ctrl-C to stop")
        let started = MonotonicInstant.now()
        var live = LiveStatistics()
        var nextStats = MonotonicInstant.now().adding(runOptions.statsInterval)
        var reason = "stop"
        while true {
            if let s = Signals.wait(milliseconds: 20) { reason = Signals.name(s); break }
            if let d = runOptions.duration, MonotonicInstant.now().seconds(since: started) >= d { reason = "duration"; break }
            if let c = runOptions.count, capture.handles.reduce(0, { $0 + $1.stats().queue.packetsConsumed }) >= UInt64(c) { reason = "count"; break }
            if MonotonicInstant.now() >= nextStats {
                nextStats = MonotonicInstant.now().adding(runOptions.statsInterval)
                let groups = capture.engines.map { (interface: $0.interface, queues: $0.queues, stats: $0.statistics(), chunksPerPool: $0.group.configuration.geometry.chunksPerPool,
                                                    ledger: $0.ledger(final: false), flowOffload: $0.offloadsFlows) }
                for g in groups { exporter.update(interface: g.interface, g.stats, deviceQueues: g.queues) }
                if runOptions.statsInterval > 0 && !runOptions.json { for line in live.lines(groups) { CLI.note(line) } }
            } else if server != nil && runOptions.statsInterval == 0 {
                for e in capture.engines { exporter.update(interface: e.interface, e.statistics(), deviceQueues: e.queues) }
            }
        }
        // The lifecycle's order: stop capturing (rings drained, partial chunks flushed
        // into the queues), let the workers finish what is queued, then close.
        capture.stop()
        let merged = runner.wait()
        let seconds = MonotonicInstant.now().seconds(since: started)
        capture.close()
        server?.stop()
        let stats = capture.engines.map { ($0.interface, $0.queues, $0.statistics()) }
        let analyzers = self.analyzers
        let header = String(format: "%@: %.2f s, stopped by %@", engine.interfaces.joined(separator: ","), seconds, reason)
        print(report(analyzers.reports(merged), header: header, queues: stats,
                     flowOffload: Set(capture.engines.filter(\.offloadsFlows).map(\.interface))))
        if !runOptions.json {
            for l in capture.ledger() { print((l.tableLines + [l.verdict]).joined(separator: "\n")) }
        }
    }

    /// - Parameter flowOffload: interfaces whose groups offload flows (their queues' lines show the flow figures).
    private func report(_ reports: [AnalysisReport], header: String, queues: [(String, [Int], [QueueStatistics])]?,
                        flowOffload: Set<String> = []) -> String {
        if runOptions.json {
            struct Doc: Encodable { var summary: String; var analyzers: [AnalysisReport]; var queues: [Q]? }
            struct Q: Encodable { var interface: String; var queue: Int; var statistics: QueueStatistics }
            let qs = queues.map { $0.flatMap { i in i.2.enumerated().map { Q(interface: i.0, queue: i.1[$0.offset], statistics: $0.element) } } }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            return (try? String(decoding: enc.encode(Doc(summary: header, analyzers: reports, queues: qs)), as: UTF8.self)) ?? "{}"
        }
        var lines = [header]
        for (interface, numbers, stats) in queues ?? [] {
            for (i, s) in stats.enumerated() {
                lines.append("  \(interface) q\(numbers[i]): received \(s.packetsReceived), consumed \(s.packetsConsumed), drops \(s.captureDrops) (no buffer \(s.dropsNoBuffer), ring full \(s.dropsRxRingFull), pool exhausted \(s.dropsPoolExhausted)), offloaded out \(s.offloadedOut) in \(s.offloadedIn)"
                             + (flowOffload.contains(interface) ? ", \(s.flowOffloadSummary)" : ""))
            }
        }
        for r in reports { lines.append("[\(r.name)]"); lines += r.lines.map { "  " + $0 } }
        return lines.joined(separator: "\n")
    }
}
