import ArgumentParser
import Foundation
import WireCap
import WireCapCore
import WireCapFilter
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// `wirecap capture`: live capture with one consumer per queue.
struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Capture from an interface's rx queues with ring-buffer pools (and buddy-group offload in advanced mode).",
        discussion: """
        One consumer thread per queue touches every packet (reads bytes 12-13, counts IPv4) and, with \
        --consumer-cost X, runs a BPF filter X times per packet (the paper's x). Stops after --count \
        packets, after --duration seconds, or on SIGINT/SIGTERM; then detaches the XDP program and prints \
        per-queue statistics. Several -i: each interface gets its own engine and buddy group (offload never \
        crosses interfaces) and its own report. Live statistics (one line per queue every \
        --stats-interval seconds, on stderr): per queue the receive rate, drops by cause (nb: no posted \
        frame, rf: rx ring full, px: pool exhausted), chunks offloaded out/in (with flow offload: slices, and mv: \
        the queue's bucket moves, spr: its buckets spread), pool occupancy (% of R). \
        Exit status: 0 ok, 1 runtime failure, 2 usage error.
        """)

    @OptionGroup var engineOptions: EngineOptionsGroup
    @OptionGroup var runOptions: RunOptionsGroup

    @Option(help: ArgumentHelp("Stop once this many seconds pass without a packet (captured or bypassed) after the first one, all consumed (default: off).", valueName: "seconds"))
    var idleExit: Double?

    @Option(help: ArgumentHelp("Per-packet consumer cost X: BPF filter runs per packet (0: none).", valueName: "runs"))
    var consumerCost = 0

    @Option(help: ArgumentHelp("A consumer stalled on purpose: after each chunk, sleep this many ns per packet in it (a slow consumer of known rate that burns no CPU; for tests and demonstrations; default 0).", valueName: "ns"))
    var consumerDelay: UInt64 = 0

    @Option(help: ArgumentHelp("Capture threads per interface serving its queues (default: one per queue, at most half the online CPUs).", valueName: "threads"))
    var captureThreads: Int?

    @Option(help: ArgumentHelp("CPUs to pin consumer threads to, e.g. 2,3 (default: unpinned).", valueName: "list"))
    var consumerCpus: String?

    @Option(help: .hidden)
    var xdpAttach: String = "link"

    @Flag(help: "Force generic (SKB) XDP mode (default: native when the driver supports it).")
    var skbMode = false

    @Flag(help: "Check sequence numbers and checksums of `wirecap generate` packets (default: off).")
    var verify = false

    @Flag(help: "Count the IPv4 flows whose packets were processed by more than one consumer (the cost of offload; default: off).")
    var flows = false

    @Option(help: ArgumentHelp("Forward every captured packet out of this interface, zero-copy from the pool (AF_XDP backend; needs one tx queue per captured queue; default: off).", valueName: "interface"))
    var forward: String?

    @Option(name: .customShort("w"), help: ArgumentHelp("Write delivered packets to this file, off the capture path (default: no file; one -i only).", valueName: "file"))
    var writeFile: String?

    @Option(help: ArgumentHelp("File format with -w: pcap (ns timestamps) or pcapng.", valueName: "format"))
    var format: String = "pcap"

    @Option(name: .customShort("s"), help: ArgumentHelp("Snap length: bytes written of each packet, 1...262144.", valueName: "snaplen"))
    var snapLength = 262_144

    @Option(name: .customShort("C"), help: ArgumentHelp("Rotate -w files before they exceed this many MB of 1,000,000 bytes (default: no size limit).", valueName: "MB"))
    var rotateMegabytes: Int?

    @Option(name: .customShort("G"), help: ArgumentHelp("Rotate -w files every this many seconds of packet time (default: no time limit).", valueName: "seconds"))
    var rotateSeconds: Double?

    @Option(name: .customShort("W"), help: ArgumentHelp("With -C/-G: a ring of this many files (default: unlimited).", valueName: "N"))
    var fileCount: Int?

    @Flag(help: "With -w: one file (set) per rx queue (FILE.qN.EXT) instead of one merged in timestamp order (default: merged).")
    var perQueueFiles = false

    @Option(help: ArgumentHelp("Deliver 1 packet in N, the others are counted (1: every packet).", valueName: "N"))
    var sample = 1

    @Option(help: ArgumentHelp("Where the filter expression runs: kernel (translated into the XDP program: rejected packets never take a frame; falls back to user space, with a note, when it does not translate) or user (after capture, as libpcap's bpf_filter). AF_PACKET: always user.", valueName: "kernel|user"))
    var filterIn = "kernel"

    @Option(help: ArgumentHelp("What the kernel filter does with packets it rejects: pass (on to the kernel stack, as without WireCap) or drop.", valueName: "pass|drop"))
    var filterRejected = "pass"

    @Option(help: ArgumentHelp("Bypass a flow in the XDP program once this many of its bytes, both directions, reached the consumers (e.g. 1MiB; before the user-space filter and -w): its later packets are counted as bypassed, not captured; TCP FIN and RST always are (AF_XDP; default: off).", valueName: "bytes"))
    var bypassAfter: String?

    @Option(help: ArgumentHelp("With --bypass-after: a bypassed flow silent this long is captured again, as a new flow (default: 30).", valueName: "seconds"))
    var bypassIdle: Double = 30

    @Option(help: ArgumentHelp("With --bypass-after: a bypass lasts at most this long, then the flow is captured again for another --bypass-after bytes (default: until idle).", valueName: "seconds"))
    var bypassTimeout: Double?

    @Option(help: ArgumentHelp("With --bypass-after: entries of the kernel's bypass table, two per flow (when it is full, the least recently used flows come back into capture).", valueName: "entries"))
    var bypassEntries = 65_536

    @Option(help: ArgumentHelp("What the XDP program does with a bypassed packet: drop (a captured queue's packets never reach the stack anyway) or pass (on to the kernel stack).", valueName: "drop|pass"))
    var bypassAction = "drop"

    @OptionGroup var backendOptions: BackendOptionsGroup

    /// `true` with `--backend afpacket`.
    var isAFPacket: Bool { backendOptions.isAFPacket }

    @Argument(help: "Filter expression in tcpdump syntax; packets it rejects are counted, not delivered (default: every packet).")
    var expression: [String] = []

    func validate() throws {
        if engineOptions.interfaces.isEmpty { throw ValidationError("name an interface with -i (repeat -i for several)") }
        if let c = consumerCpus, IndexList.parse(c) == nil { CLI.usage("invalid CPU list '\(c)'") }
        if writeFile != nil && engineOptions.interfaces.count > 1 { throw ValidationError("-w takes one -i: run one capture per interface to write files") }
        if verify && engineOptions.interfaces.count > 1 { throw ValidationError("--verify takes one -i") }
        if forward != nil && (writeFile != nil || !expression.isEmpty || sample > 1 || engineOptions.interfaces.count > 1) {
            throw ValidationError("--forward takes one -i and no -w, filter or --sample")
        }
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
        if filterIn != "kernel" && filterIn != "user" { CLI.usage("--filter-in must be kernel or user, got '\(filterIn)'") }
        if KernelFilter.Rejected(rawValue: filterRejected) == nil { CLI.usage("--filter-rejected must be pass or drop, got '\(filterRejected)'") }
        if isAFPacket, let q = engineOptions.queues, let n = Int(q), n < 1 { CLI.usage("-q with --backend afpacket: at least 1 socket") }
        do { _ = try packetFilter() } catch { CLI.usage(error.description) }
        if let text = bypassAfter {
            if forward != nil { CLI.usage("--bypass-after and --forward: a bypassed packet would not be forwarded") }
            guard (ByteCount.parse(text) ?? 0) >= 1 else { CLI.usage("--bypass-after '\(text)': expected a size of at least 1 byte, such as 1MiB") }
            if isAFPacket { CLI.usage("--bypass-after needs the AF_XDP backend: the bypass table is in WireCap's XDP program") }
            if verify { CLI.usage("--bypass-after and --verify: the verifier checks every packet, and bypassed ones are not captured") }
        } else if bypassTimeout != nil || bypassIdle != 30 || bypassEntries != 65_536 || bypassAction != "drop" {
            CLI.usage("--bypass-idle, --bypass-timeout, --bypass-entries and --bypass-action need --bypass-after")
        }
        // A year at most: the limits become nanoseconds in the program.
        if !(bypassIdle > 0 && bypassIdle <= 31_536_000) { CLI.usage("--bypass-idle must be > 0 seconds and at most a year (31536000), got \(bypassIdle)") }
        if let t = bypassTimeout, !(t > 0 && t <= 31_536_000) { CLI.usage("--bypass-timeout must be > 0 seconds and at most a year (31536000), got \(t)") }
        if FlowBypassSettings.Action(rawValue: bypassAction) == nil { CLI.usage("--bypass-action must be drop or pass, got '\(bypassAction)'") }
        do { try bypassSettings()?.validate() } catch { CLI.usage(error.message) }
    }

    /// The kernel bypass table `--bypass-after` needs (nil without it).
    func bypassSettings() -> FlowBypassSettings? {
        guard bypassAfter != nil else { return nil }
        return FlowBypassSettings(capacity: bypassEntries, action: FlowBypassSettings.Action(rawValue: bypassAction) ?? .drop,
                                  idleTimeout: .seconds(bypassIdle))
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
        o.packetLimit = runOptions.count
        return o
    }

    func run() throws {
        Signals.block()   // before any thread exists: every thread inherits the mask
        var settings: EngineSettings
        do {
            settings = try engineOptions.engineSettings(backendOptions, forwarding: forward != nil)
            try engineOptions.checkFlowOffload(settings, engineOptions.selections(backendOptions))
        } catch { CLI.usage(error.message) }
        settings.captureThreads = captureThreads
        settings.attachMode = skbMode ? .generic : nil
        guard let attachment = XDPAttachment(rawValue: xdpAttach) else { CLI.usage("--xdp-attach must be link or netlink") }
        settings.attachment = attachment
        settings.flowBypass = bypassSettings()
        let passed: Bool
        do { passed = try capture(settings) } catch let error as CaptureError {
            CLI.fail(error)
        } catch let error as XDPError {
            CLI.fail(error)
        } catch {
            CLI.fail("\(error)")
        }
        if !passed { throw ExitCode(1) }
    }

    /// Opens one interface's engine; when the kernel refuses the translated filter
    /// (the verifier), the filter runs in user space from then on, with a note.
    private func openEngine(_ selection: InterfaceSelection, _ settings: inout EngineSettings,
                            _ userFilter: inout (@Sendable (UnsafeRawBufferPointer) -> Bool)?,
                            _ filter: PacketFilter?) throws(CaptureError) -> any CaptureBackend {
        do {
            return try Capture.openEngine(selection, settings: settings)
        } catch {
            // The verifier's refusals are EINVAL or EACCES; anything else is not the filter's doing.
            let m = error.message
            guard settings.kernelFilter != nil, m.hasPrefix("bpf_prog_load"),
                  m.contains("Invalid argument") || m.contains("Permission denied") else { throw error }
            Sys.printError("wirecap: note: the filter runs in user space: the kernel refused its translation (\(m.prefix(200))…)\n")
            settings.kernelFilter = nil
            userFilter = filter?.predicate
            return try Capture.openEngine(selection, settings: settings)
        }
    }

    /// - Returns: `false` when --verify found a problem or a file write failed.
    private func capture(_ settings: EngineSettings) throws -> Bool {
        var settings = settings
        let configuration = settings.core
        let filter = try? packetFilter()   // compiled in validate()
        // The filter in the XDP program when it translates (AF_XDP), else in user space.
        var userFilter = filter?.predicate
        if filter != nil, filterIn == "kernel", !isAFPacket, verify {
            // The verifier must see every generator packet, rejected ones too.
            Sys.printError("wirecap: note: the filter runs in user space: --verify checks every packet\n")
        }
        if let filter, filterIn == "kernel", !isAFPacket, !verify {
            do {
                settings.kernelFilter = try KernelFilter(
                    expression: filter.expression, classic: filter.packedInstructions.map(ClassicInstruction.init(packed:)),
                    rejected: KernelFilter.Rejected(rawValue: filterRejected) ?? .pass)
                userFilter = nil
            } catch {
                Sys.printError("wirecap: note: the filter runs in user space: \(error.reason)\n")
            }
        }
        // One engine (one buddy group) and one session per interface, each engine
        // built by the API's one engine factory.
        var sessions: [CaptureSession] = []
        do {
            for selection in engineOptions.selections(backendOptions) {
                let engine = try openEngine(selection, &settings, &userFilter, filter)
                // The writer reads either backend's chunks the same way (descriptors + memory bases).
                let writer: CaptureWriter?
                do { writer = try captureOutput().map { o throws(XDPError) in try CaptureWriter(output: o, engine: engine) } } catch {
                    engine.close()
                    throw error
                }
                var forwarder: Forwarder?
                if let egress = forward {
                    guard let xdp = engine as? CaptureEngine else {
                        engine.close()
                        CLI.usage("--forward needs the AF_XDP backend (frames are sent from its UMEM)")
                    }
                    do { forwarder = try Forwarder(engine: xdp, interface: egress) } catch {
                        engine.close()
                        throw error
                    }
                }
                sessions.append(CaptureSession(engine: engine, consumerCost: consumerCost, verify: verify,
                                               consumerCPUs: consumerCpus.flatMap(IndexList.parse) ?? [],
                                               packetDelayNanoseconds: consumerDelay,
                                               filter: userFilter, sampleEvery: sample, writer: writer,
                                               trackFlows: flows, forwarder: forwarder,
                                               bypassAfter: bypassAfter.flatMap(ByteCount.parse).map {
                                                   (UInt64($0), bypassTimeout.map { .seconds($0) })
                                               }))
            }
        } catch {
            sessions.forEach { $0.engine.close() }
            throw error
        }
        let json = runOptions.json
        var server: MetricsServer?
        let exporter = MetricsExporter()
        if let m = runOptions.metrics {
            do { server = try MetricsServer(listen: m, exporter: exporter) } catch {
                sessions.forEach { $0.engine.close() }
                CLI.fail(error)
            }
            CLI.note("metrics on http://\(server!.address)/metrics")
        }
        do throws(XDPError) {
            for s in sessions { try s.start() }
        } catch {
            sessions.forEach { _ = $0.stop() }
            server?.stop()
            throw error
        }
        // Readiness: every socket is in its map and every fill ring is posted.
        for s in sessions {
            let queues = s.engine.queues.map(String.init).joined(separator: ",")
            if json {
                // Written straight to fd 1 (unbuffered): a reader waiting for it sees it now.
                FileHandle.standardOutput.write(Data("{\"event\":\"ready\",\"interface\":\"\(s.engine.interface)\",\"queues\":[\(queues)],\"attach\":\"\(s.engine.attachDescription)\",\"pid\":\(getpid())}\n".utf8))
            } else {
                let memory = (s.engine as? CaptureEngine).map { ", \(ByteCount(Int(clamping: $0.memory.totalBytes))) of pools" } ?? ""
                CLI.note("capturing on \(s.engine.interface) queues \(queues) (\(s.engine is CaptureEngine ? "\(s.engine.attachDescription) XDP" : s.engine.attachDescription), \(configuration.mode) mode\(s.engine.offloadPolicy.map { ", \($0) offload" } ?? "")\(memory)); Ctrl-C to stop")
            }
        }
        if let user = engineOptions.user {
            do { try PrivilegeDrop.drop(to: user) } catch {
                sessions.forEach { _ = $0.stop() }
                server?.stop()
                CLI.fail(error)
            }
            CLI.note("dropped privileges to \(user) (uid \(getuid()), gid \(getgid()))")
        }
        let ticker = StatisticsTicker(sessions: sessions, chunksPerPool: configuration.geometry.chunksPerPool,
                                      interval: runOptions.statsInterval, printLines: runOptions.statsInterval > 0 && !json,
                                      json: json, exporter: server == nil ? nil : exporter)
        try ticker.start()
        let condition = StopCondition(count: runOptions.count, duration: runOptions.duration, idle: idleExit, signals: true)
        let reason = sessions.count == 1 ? sessions[0].waitForStop(condition)
                                         : Self.wait(for: condition, engines: sessions.map(\.engine))
        // The ticker reads the engines: it stops before they do.
        ticker.stop()
        let reports = sessions.map { $0.stop(reason: reason) }
        // The final ledger on the endpoint too (a last scrape sees the true end).
        for r in reports { exporter.update(ledger: r.ledger) }
        server?.stop()
        if json {
            print(reports.count == 1 ? reports[0].json : "[\n" + reports.map(\.json).joined(separator: ",\n") + "\n]")
        }
        for report in reports where !json {
            print(report.humanDescription)
            if filter != nil || sample > 1 {
                print("filtered out \(report.filteredOut), sampled out \(report.sampledOut)")
            }
            if let o = report.output {
                print("wrote \(o.packets) packets (\(o.bytes) bytes) to \(o.files) file(s)"
                      + (o.overLimit > 0 ? ", \(o.overLimit) over -c" : "") + (o.late > 0 ? ", \(o.late) late for the merge" : "")
                      + (o.error.map { "; write error: \($0)" } ?? ""))
            }
        }
        // A failed write is a failed capture (tcpdump exits 1 too): the file is incomplete.
        if reports.contains(where: { $0.output?.error != nil }) { return false }
        return !verify || reports.allSatisfy { $0.verification?.clean == true }
    }

    /// The stop condition over several engines (-c counts consumed packets of all of
    /// them); every deadline on the monotonic clock.
    private static func wait(for c: StopCondition, engines: [any CaptureBackend]) -> String {
        let started = MonotonicInstant.now()
        var lastArrived: UInt64 = 0
        var lastChange = started
        while true {
            let stats = engines.flatMap { $0.statistics() }
            let received = stats.reduce(0) { $0 + $1.packetsReceived }
            let consumed = stats.reduce(0) { $0 + $1.packetsConsumed }
            // Bypassed packets are arrivals too (see CaptureSession.waitForStop).
            let arrived = engines.reduce(received) { $0 &+ $1.bypassedPackets() }
            if let count = c.count, consumed >= UInt64(count) { return "count" }
            if let d = c.duration, MonotonicInstant.now().seconds(since: started) >= d { return "duration" }
            if arrived != lastArrived { lastArrived = arrived; lastChange = MonotonicInstant.now() }
            if let idle = c.idle, arrived > 0, consumed == received,
               MonotonicInstant.now().seconds(since: lastChange) >= idle { return "idle" }
            if let s = Signals.wait(milliseconds: 20) { return Signals.name(s) }
        }
    }
}
