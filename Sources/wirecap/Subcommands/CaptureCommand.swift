import ArgumentParser
import Foundation
import WireCapCore
import WireCapFilter
import WireCapXDP

/// `wirecap capture`: live capture with one consumer per queue.
struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Capture from an interface's rx queues with ring-buffer pools (and buddy-group offload in advanced mode).",
        discussion: """
        One consumer thread per queue touches every packet (reads bytes 12-13, counts IPv4) and, with \
        --consumer-cost X, runs a BPF filter X times per packet (the paper's x). Stops after --count \
        packets, after --duration seconds, or on SIGINT/SIGTERM; then detaches the XDP program and prints \
        per-queue statistics. Exit status: 0 ok, 1 runtime failure, 2 usage error.
        """)

    @Option(name: .short, help: "Interface to capture from.")
    var interface: String

    @Option(name: .short, help: "Rx queues, e.g. 0,1 or 0-3 (default: all of the device's rx queues).")
    var queues: String?

    @Option(name: .customShort("M"), help: "Cells per chunk (M).")
    var cellsPerChunk = PoolGeometry.default.cellsPerChunk

    @Option(name: .customShort("R"), help: "Chunks per pool (R).")
    var chunksPerPool = PoolGeometry.default.chunksPerPool

    @Option(name: .customShort("N"), help: "Fill ring size (N, power of two).")
    var fillRingSize = PoolGeometry.default.fillRingSize

    @Option(name: .customShort("T"), help: "Offload threshold, percent of the capture queue (advanced mode).")
    var threshold = 60

    @Option(help: "basic or advanced.")
    var mode: String = "advanced"

    @Option(help: "Partial-chunk timeout in milliseconds.")
    var timeout: Double = 1

    @Option(name: [.customShort("c"), .long], help: "Stop after this many packets delivered (and write exactly that many).")
    var count: Int?

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    @Option(help: "Stop once this many seconds pass without a packet after the first one (all consumed).")
    var idleExit: Double?

    @Option(help: "Per-packet consumer cost X: BPF filter runs per packet.")
    var consumerCost = 0

    @Option(help: "Capture threads serving the queues (default: one per queue, at most half the online CPUs).")
    var captureThreads: Int?

    @Option(help: "CPUs to pin capture threads to, e.g. 0,1.")
    var cpus: String?

    @Option(help: "CPUs to pin consumer threads to.")
    var consumerCpus: String?

    @Flag(help: "Busy-poll the rings instead of sleeping when idle (one core per capture thread).")
    var busyPoll = false

    @Flag(help: "Back the pools with huge pages (falls back with a warning).")
    var hugePages = false

    @Flag(help: "Force generic (SKB) XDP mode.")
    var skbMode = false

    @Flag(help: "Replace an XDP program already attached to the interface.")
    var force = false

    @Flag(help: "Check sequence numbers and checksums of `wirecap generate` packets.")
    var verify = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(name: .customShort("w"), help: ArgumentHelp("Write delivered packets to this file (off the capture path).", valueName: "file"))
    var writeFile: String?

    @Option(help: "File format with -w: pcap (ns timestamps) or pcapng.")
    var format: String = "pcap"

    @Option(name: .customShort("s"), help: ArgumentHelp("Snap length: bytes written of each packet.", valueName: "snaplen"))
    var snapLength = 262_144

    @Option(name: .customShort("C"), help: ArgumentHelp("Rotate -w files before they exceed this many MB (1,000,000 bytes).", valueName: "MB"))
    var rotateMegabytes: Int?

    @Option(name: .customShort("G"), help: ArgumentHelp("Rotate -w files every this many seconds of packet time.", valueName: "seconds"))
    var rotateSeconds: Double?

    @Option(name: .customShort("W"), help: ArgumentHelp("With -C/-G: a ring of this many files.", valueName: "N"))
    var fileCount: Int?

    @Flag(help: "With -w: one file (set) per rx queue (FILE.qN.EXT) instead of one merged in timestamp order.")
    var perQueueFiles = false

    @Option(help: "Deliver 1 packet in N (the others are counted).")
    var sample = 1

    @Argument(help: "Filter expression in tcpdump syntax (packets it rejects are counted, not delivered).")
    var expression: [String] = []

    func validate() throws {
        do { _ = try captureConfiguration() } catch { CLI.usage(error.description) }
        if let q = queues, parseIndexList(q) == nil { CLI.usage("invalid queue list '\(q)' (use e.g. 0,1 or 0-3)") }
        if let c = cpus, parseIndexList(c) == nil { CLI.usage("invalid CPU list '\(c)'") }
        if let c = consumerCpus, parseIndexList(c) == nil { CLI.usage("invalid CPU list '\(c)'") }
        if let c = count, c < 1 { CLI.usage("--count must be at least 1") }
        if let d = duration, !(d > 0) { CLI.usage("--duration must be > 0 seconds") }
        if consumerCost < 0 { CLI.usage("--consumer-cost must be ≥ 0") }
        if let k = captureThreads, k < 1 { CLI.usage("--capture-threads must be at least 1") }
        if CaptureFileFormat(rawValue: format) == nil { CLI.usage("--format must be pcap or pcapng, got '\(format)'") }
        if !(1...262_144).contains(snapLength) { CLI.usage("-s must be 1...262144") }
        if let c = rotateMegabytes, c < 1 { CLI.usage("-C must be at least 1 (MB)") }
        if let g = rotateSeconds, !(g > 0) { CLI.usage("-G must be > 0 seconds") }
        if let w = fileCount, w < 1 { CLI.usage("-W must be at least 1") }
        if writeFile == nil && (rotateMegabytes != nil || rotateSeconds != nil || fileCount != nil || perQueueFiles) {
            CLI.usage("-C, -G, -W and --per-queue-files need -w FILE")
        }
        if sample < 1 { CLI.usage("--sample must be at least 1") }
        do { _ = try packetFilter() } catch { CLI.usage(error.description) }
    }

    /// The compiled trailing expression (Ethernet, the snap length), or nil without one.
    func packetFilter() throws(FilterError) -> PacketFilter? {
        let text = expression.joined(separator: " ")
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return nil }
        return try PacketFilter(expression: text, linkType: 1, snapLength: snapLength)
    }

    func captureOutput() -> CaptureOutput? {
        guard let path = writeFile else { return nil }
        var o = CaptureOutput(path: path)
        o.format = CaptureFileFormat(rawValue: format) ?? .pcap
        o.snapLength = snapLength
        o.rotation = RotationPolicy(maximumBytes: rotateMegabytes.map { $0 * 1_000_000 },
                                    maximumNanoseconds: rotateSeconds.map { UInt64($0 * 1e9) }, fileCount: fileCount)
        o.perQueueFiles = perQueueFiles
        o.packetLimit = count
        return o
    }

    func captureConfiguration() throws(ConfigurationError) -> CaptureConfiguration {
        guard let m = CaptureMode(rawValue: mode) else {
            throw ConfigurationError(.other, "--mode must be basic or advanced, got '\(mode)'")
        }
        guard timeout > 0 else { throw ConfigurationError(.partialTimeout, "--timeout must be > 0 ms") }
        let config = CaptureConfiguration(
            geometry: PoolGeometry(cellsPerChunk: cellsPerChunk, chunksPerPool: chunksPerPool, fillRingSize: fillRingSize),
            mode: m, offloadThresholdPercent: threshold, partialTimeoutNanoseconds: UInt64(timeout * 1e6))
        try config.validate()
        return config
    }

    func run() throws {
        Signals.block()   // before any thread exists: every thread inherits the mask
        let configuration = try! captureConfiguration()
        var options = EngineOptions()
        options.cpus = cpus.flatMap(parseIndexList) ?? []
        options.captureThreads = captureThreads
        options.wakePolicy = busyPoll ? .busyPoll : .adaptive
        options.hugePages = hugePages
        options.force = force
        options.attachMode = skbMode ? .generic : nil
        let passed: Bool
        do { passed = try capture(configuration, options) } catch { CLI.fail(error) }
        if !passed { throw ExitCode(1) }
    }

    /// - Returns: `false` when --verify found a problem.
    private func capture(_ configuration: CaptureConfiguration, _ options: EngineOptions) throws(XDPError) -> Bool {
        try Privileges.require()
        guard InterfaceInfo.exists(interface) else {
            throw XDPError("if_nametoindex(\(interface))", kind: .usage, message: "unknown interface \(interface)")
        }
        let queueList = queues.flatMap(parseIndexList) ?? Array(0..<InterfaceInfo.rxQueueCount(interface))
        let engine = try CaptureEngine(interface: interface, queues: queueList, configuration: configuration, options: options)
        let filter = try? packetFilter()   // compiled in validate()
        let writer = try captureOutput().map { o throws(XDPError) in try CaptureWriter(output: o, engine: engine) }
        let session = CaptureSession(engine: engine, consumerCost: consumerCost, verify: verify,
                                     consumerCPUs: consumerCpus.flatMap(parseIndexList) ?? [],
                                     filter: filter?.predicate, sampleEvery: sample, writer: writer)
        if !json {
            CLI.note("capturing on \(interface) queues \(queueList.map(String.init).joined(separator: ",")) (\(engine.attachMode) XDP, \(configuration.mode) mode); Ctrl-C to stop")
        }
        try session.start()
        let report = session.run(until: StopCondition(count: count, duration: duration, idle: idleExit, signals: true))
        print(json ? report.json : report.humanDescription)
        if !json, filter != nil || sample > 1 {
            print("filtered out \(report.filteredOut), sampled out \(report.sampledOut)")
        }
        if !json, let o = report.output {
            print("wrote \(o.packets) packets (\(o.bytes) bytes) to \(o.files) file(s)"
                  + (o.overLimit > 0 ? ", \(o.overLimit) over -c" : "") + (o.late > 0 ? ", \(o.late) late for the merge" : "")
                  + (o.error.map { "; write error: \($0)" } ?? ""))
        }
        return !verify || report.verification?.clean == true
    }
}

/// One-line errors and exit codes shared by the engine's subcommands.
enum CLI {
    /// Prints `wirecap: error: …` and exits 2 (usage error).
    static func usage(_ message: String) -> Never {
        FileHandle.standardError.write(Data("wirecap: error: \(message)\n".utf8))
        exit(2)
    }

    /// Prints the error on one line and exits 2 for usage errors, 1 otherwise.
    static func fail(_ error: XDPError) -> Never {
        let line = error.description.replacingOccurrences(of: "\n", with: " ")
        FileHandle.standardError.write(Data("wirecap: error: \(line)\n".utf8))
        exit(error.kind == .usage ? 2 : 1)
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("wirecap: \(message)\n".utf8))
    }
}
