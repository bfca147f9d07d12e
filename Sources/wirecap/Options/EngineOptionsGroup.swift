import ArgumentParser
import WireCap
import WireCapCore
import WireCapSystem

/// Engine options shared by the live subcommands (`@OptionGroup`): interfaces,
/// queues, pool geometry, mode, placement.
struct EngineOptionsGroup: ParsableArguments {
    @Option(name: .customShort("i"), help: ArgumentHelp("Interface to capture from; repeat for several (each gets its own engine and buddy group: no offload across interfaces).", valueName: "interface"))
    var interfaces: [String] = []

    @Option(name: [.customShort("q"), .long], help: ArgumentHelp("Rx queues of every -i, e.g. 0,1 or 0-3 (default: all of the device's rx queues).", valueName: "list"))
    var queues: String?

    @Option(name: .customShort("M"), parsing: .unconditional, help: ArgumentHelp("M: packet cells (2 KiB frames) per chunk; must divide N.", valueName: "cells"))
    var cellsPerChunk = PoolGeometry.default.cellsPerChunk

    @Option(name: .customShort("R"), parsing: .unconditional, help: ArgumentHelp("R: chunks of M 2 KiB frames per queue (default 500), > N/M: the memory per queue, spill on or off (spill blocks are lent by free chunks).", valueName: "chunks"))
    var chunksPerPool: Int?

    @Option(name: .long, help: ArgumentHelp("Memory per queue, e.g. 256MiB or 2GiB (units are powers of 1024): R = SIZE / (M · 2 KiB) chunks of frames, which lend themselves to spill blocks under pressure (default: R·M·2 KiB). On afpacket: blocks per socket = SIZE / block size.", valueName: "size"))
    var buffer: String?

    @Option(help: ArgumentHelp("on: when consumers fall behind, copy full chunks of packets up to ~1,000 B into dense spill blocks (in free chunks) and give their frames back at once (a 64-byte packet then takes 88 bytes instead of 2 KiB); larger packets stay zero-copy. off: the paper's pools alone (needed by --forward).", valueName: "on|off"))
    var spill: String = "on"

    @Option(name: .customShort("N"), parsing: .unconditional, help: ArgumentHelp("N: fill-ring descriptors per queue, a power of two (default: 16384; with spill, at most a quarter of the buffer's frames).", valueName: "descriptors"))
    var fillRingSize: Int?

    @Option(name: .customShort("T"), parsing: .unconditional, help: ArgumentHelp("T: offload when the own capture queue holds more than T percent of R, 1...100 (advanced mode).", valueName: "percent"))
    var threshold = 60

    @Option(help: "basic (no offload) or advanced (buddy-group offload). Default: advanced; `wirecap exec`: basic (one reader takes every queue, so offload could only reorder a queue's chunks).")
    var mode: String?

    @Option(help: ArgumentHelp("Advanced mode: what an overloaded queue offloads to a less busy buddy. flow (the default): flow buckets, each moved only once its old consumer has finished its packets, so a flow is processed by one consumer at a time and in order (AF_XDP with at most \(EngineSettings.maxFlowOffloadQueues) queues per interface; more queues: chunk, with a note; afpacket: always chunk). chunk: whole chunks, the paper's WireCAP-A (a flow can then be processed by two consumers at once).", valueName: "flow|chunk"))
    var offload: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Flow offload: buckets per queue, a power of two, 64 ... 65536 (default 1024).", valueName: "count"))
    var flowBuckets: Int?

    @Flag(help: "Flow offload: never spread a flow over consumers, not even one heavier than a consumer can take; its excess is dropped and counted instead (what an IDS wants; default: spread it, counted).")
    var strictAffinity = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Partial-chunk timeout in milliseconds: a partly filled chunk is delivered after it.", valueName: "ms"))
    var timeout: Double = 1

    @Option(help: ArgumentHelp("CPUs for the capture threads, e.g. 0,1 (default: unpinned).", valueName: "list"))
    var cpus: String?

    @Flag(help: "Busy-poll the rings instead of sleeping when idle (costs one core per capture thread; default: off).")
    var busyPoll = false

    @Flag(name: [.customLong("hugepages"), .customLong("huge-pages")], help: "Back the pools with huge pages (falls back with a warning; default: off).")
    var hugepages = false

    @Flag(help: "Replace an XDP program already attached to the interface (default: refuse).")
    var force = false

    @Flag(name: [.customShort("p"), .customLong("no-promiscuous-mode")], help: "Do not put the interface into promiscuous mode (default: on while capturing, restored at exit however the process ends, as with tcpdump).")
    var noPromiscuous = false

    @Option(name: .customShort("Z"), help: ArgumentHelp("Drop privileges to USER once sockets and the XDP program are set up, keeping only CAP_NET_ADMIN+CAP_BPF for teardown (default: stay root).", valueName: "user"))
    var user: String?

    /// `--buffer` in bytes (nil when not given), or a one-line usage error.
    func bufferBytes() throws(CaptureError) -> Int? {
        guard let text = buffer else { return nil }
        guard let bytes = ByteCount.parse(text) else {
            throw CaptureError(.usage, "--buffer '\(text)': expected a size such as 256MiB or 2GiB")
        }
        return bytes
    }

    /// -R × M frames of 2 KiB: the memory -R names (the default R without it).
    func poolBytes() throws(CaptureError) -> Int {
        let chunks = chunksPerPool ?? PoolGeometry.default.chunksPerPool
        let product = chunks.multipliedReportingOverflow(by: max(1, cellsPerChunk) * 2048)
        guard chunks >= 1, !product.overflow else { throw CaptureError(.usage, "-R \(chunks) × M=\(cellsPerChunk) frames is no memory size") }
        return product.partialValue
    }

    /// The memory per queue: `--buffer`, or -R × M × 2 KiB (one of them, not both).
    func budgetBytes() throws(CaptureError) -> Int {
        if buffer != nil && chunksPerPool != nil {
            throw CaptureError(.usage, "-R and --buffer both size the memory per queue: give one of them")
        }
        if let bytes = try bufferBytes() { return bytes }
        return try poolBytes()
    }

    /// The core configuration, or a one-line usage error. The memory per queue is
    /// `--buffer`, or R·M·2 KiB: R chunks of frames (``BufferPlan``), which lend
    /// themselves to spill blocks with spill on.
    /// - Parameter defaultMode: the mode without `--mode` (the subcommand's).
    func configuration(forwarding: Bool = false, afpacket: Bool = false,
                       defaultMode: CaptureMode = .advanced) throws(CaptureError) -> CaptureConfiguration {
        guard let m = mode.map({ CaptureMode(rawValue: $0) }) ?? defaultMode else {
            throw CaptureError(.usage, "--mode must be basic or advanced, got '\(mode ?? "")'")
        }
        guard timeout > 0 else { throw CaptureError(.usage, "--timeout must be > 0 ms, got \(timeout)") }
        guard spill == "on" || spill == "off" else { throw CaptureError(.usage, "--spill must be on or off, got '\(spill)'") }
        let policy = try offloadPolicy(mode: m)
        // On afpacket the ring replaces the pool and --buffer sizes the ring (engineSettings).
        let budget = try budgetBytes()
        let bytes = afpacket ? try poolBytes() : budget
        do {
            var c = try CaptureConfiguration.buffered(
                bytes: bytes, cellsPerChunk: cellsPerChunk, fillRingSize: fillRingSize,
                spill: spill == "on" && !forwarding && !afpacket,
                mode: m, offloadThresholdPercent: threshold, partialTimeoutNanoseconds: UInt64(timeout * 1e6))
            c.offload = policy
            c.flowBuckets = flowBuckets ?? CaptureConfiguration.defaultFlowBuckets
            c.strictFlowAffinity = strictAffinity
            try c.validate()
            return c
        } catch {
            throw CaptureError(.usage, error.message)
        }
    }

    /// `--offload` (default flow in advanced mode), with `--flow-buckets` and
    /// `--strict-affinity` checked against it: one usage line each.
    func offloadPolicy(mode: CaptureMode) throws(CaptureError) -> OffloadPolicy {
        // The flow-only options given, named as the user wrote them.
        let flowOnly = [flowBuckets != nil ? "--flow-buckets" : nil, strictAffinity ? "--strict-affinity" : nil].compactMap { $0 }
        let needs = flowOnly.joined(separator: " and ") + (flowOnly.count == 1 ? " needs" : " need")
        guard let text = offload else {
            if mode == .basic && !flowOnly.isEmpty {
                throw CaptureError(.usage, "\(needs) flow offload, which needs --mode advanced")
            }
            if let b = flowBuckets { try Self.checkBuckets(b) }
            return .flow
        }
        guard let policy = OffloadPolicy(rawValue: text) else {
            throw CaptureError(.usage, "--offload must be flow or chunk, got '\(text)'")
        }
        if mode == .basic { throw CaptureError(.usage, "--offload needs --mode advanced: basic mode never offloads") }
        if policy == .chunk && !flowOnly.isEmpty {
            throw CaptureError(.usage, "\(needs) --offload flow (chunk offload moves whole chunks, not flows)")
        }
        if let b = flowBuckets { try Self.checkBuckets(b) }
        return policy
    }

    private static func checkBuckets(_ b: Int) throws(CaptureError) {
        guard (64...65536).contains(b), b & (b - 1) == 0 else {
            throw CaptureError(.usage, "--flow-buckets must be a power of two in 64...65536, got \(b)")
        }
    }

    /// Checks flow offload against what each interface's group will be (after the
    /// engine settings are made): with `--offload flow` given, a group where flow
    /// offload cannot run (AF_PACKET; more than
    /// ``EngineSettings/maxFlowOffloadQueues`` queues) is a usage error; by default
    /// those groups offload chunks, and a note says so once.
    func checkFlowOffload(_ settings: EngineSettings, _ selections: [InterfaceSelection]) throws(CaptureError) {
        var fallbacks: [String] = []
        for s in selections {
            let queues = s.queues?.count ?? InterfaceInfo.rxQueueCount(s.name)
            guard let reason = settings.flowOffloadRefusal(queues: queues) else { continue }
            if offload == OffloadPolicy.flow.rawValue {
                throw CaptureError(.usage, "--offload flow on \(s.name): \(reason) (use --offload chunk)")
            }
            // AF_PACKET offloads blocks whatever the default: nothing to note.
            if settings.backend == .xdp { fallbacks.append("\(s.name) (\(queues) queues)") }
        }
        if !fallbacks.isEmpty {
            CLI.note("note: chunk offload on \(fallbacks.joined(separator: ", ")): flow offload supports at most \(EngineSettings.maxFlowOffloadQueues) queues per interface")
        }
    }

    /// The one ``EngineSettings`` of a live subcommand: this group's fields and the
    /// backend's; a subcommand sets what only it has (threads, attach mode) on top.
    func engineSettings(_ backend: BackendOptionsGroup, forwarding: Bool = false) throws(CaptureError) -> EngineSettings {
        var s = EngineSettings()
        s.core = try configuration(forwarding: forwarding, afpacket: backend.isAFPacket)
        s.backend = backend.choice
        s.afpacketGeometry = backend.geometry(budget: try bufferBytes())
        s.captureCPUs = cpus.flatMap(IndexList.parse) ?? []
        s.wakePolicy = busyPoll ? .busyPoll : .adaptive
        s.hugePages = hugepages
        s.force = force
        s.promiscuous = !noPromiscuous
        return s
    }

    /// What each `-i` captures. AF_PACKET: `-q N` is a socket count, a list one
    /// socket per entry (the selection's queues give the sockets).
    func selections(_ backend: BackendOptionsGroup) -> [InterfaceSelection] {
        interfaces.map { name in
            backend.isAFPacket
                ? InterfaceSelection(name, queues: Array(0..<BackendOptionsGroup.sockets(queues: queues, interface: name)))
                : InterfaceSelection(name, queues: queues.flatMap(IndexList.parse))
        }
    }

    func validate() throws {
        do { _ = try configuration() } catch { throw ValidationError(error.message) }
        if let q = queues, IndexList.parse(q) == nil { throw ValidationError("invalid queue list '\(q)': use e.g. 0,1 or 0-3") }
        if let c = cpus, IndexList.parse(c) == nil { throw ValidationError("invalid CPU list '\(c)': use e.g. 0,1 or 0-3") }
        if let u = user, PrivilegeDrop.lookup(u) == nil { throw ValidationError("unknown user '\(u)' for -Z: name an existing account (e.g. nobody)") }
    }
}

/// Output and run-control options shared by the live subcommands.
struct RunOptionsGroup: ParsableArguments {
    @Option(name: [.customShort("c"), .long], parsing: .unconditional, help: ArgumentHelp("Stop after this many packets processed (default: no limit).", valueName: "packets"))
    var count: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after this many seconds (default: run until Ctrl-C / SIGTERM).", valueName: "seconds"))
    var duration: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds between live statistics lines on stderr (off with --json); 0 turns them off.", valueName: "seconds"))
    var statsInterval: Double = 1

    @Flag(help: "Print the final summary as JSON on stdout (default: text).")
    var json = false

    @Option(help: ArgumentHelp("Serve Prometheus metrics on HOST:PORT over HTTP (default: off; loopback unless a host is given, e.g. 127.0.0.1:9108).", valueName: "host:port"))
    var metrics: String?

    func validate() throws {
        if let c = count, c < 1 { throw ValidationError("--count must be at least 1, got \(c)") }
        if let d = duration, !(d > 0) { throw ValidationError("--duration must be > 0 seconds") }
        if !(statsInterval >= 0) { throw ValidationError("--stats-interval must be ≥ 0 seconds") }
        if let m = metrics, MetricsServer.parse(m) == nil { throw ValidationError("--metrics '\(m)': expected HOST:PORT, e.g. 127.0.0.1:9108") }
    }
}

