import ArgumentParser
import Foundation
import WireCapCore
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

    @Option(help: "Stop after this many packets consumed.")
    var count: Int?

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    @Option(help: "Stop once this many seconds pass without a packet after the first one (all consumed).")
    var idleExit: Double?

    @Option(help: "Per-packet consumer cost X: BPF filter runs per packet.")
    var consumerCost = 0

    @Option(help: "Capture threads serving the queues (default: one per queue).")
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

    func validate() throws {
        do { _ = try captureConfiguration() } catch { CLI.usage(error.description) }
        if let q = queues, parseIndexList(q) == nil { CLI.usage("invalid queue list '\(q)' (use e.g. 0,1 or 0-3)") }
        if let c = cpus, parseIndexList(c) == nil { CLI.usage("invalid CPU list '\(c)'") }
        if let c = consumerCpus, parseIndexList(c) == nil { CLI.usage("invalid CPU list '\(c)'") }
        if let c = count, c < 1 { CLI.usage("--count must be at least 1") }
        if let d = duration, !(d > 0) { CLI.usage("--duration must be > 0 seconds") }
        if consumerCost < 0 { CLI.usage("--consumer-cost must be ≥ 0") }
        if let k = captureThreads, k < 1 { CLI.usage("--capture-threads must be at least 1") }
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
        let session = CaptureSession(engine: engine, consumerCost: consumerCost, verify: verify,
                                     consumerCPUs: consumerCpus.flatMap(parseIndexList) ?? [])
        if !json {
            CLI.note("capturing on \(interface) queues \(queueList.map(String.init).joined(separator: ",")) (\(engine.attachMode) XDP, \(configuration.mode) mode); Ctrl-C to stop")
        }
        try session.start()
        let report = session.run(until: StopCondition(count: count, duration: duration, idle: idleExit, signals: true))
        print(json ? report.json : report.humanDescription)
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
