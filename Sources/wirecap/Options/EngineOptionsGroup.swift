import ArgumentParser
import WireCap
import WireCapCore

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
        // On afpacket the ring replaces the pool and --buffer sizes the ring (engineSettings).
        let budget = try budgetBytes()
        let bytes = afpacket ? try poolBytes() : budget
        do {
            return try CaptureConfiguration.buffered(
                bytes: bytes, cellsPerChunk: cellsPerChunk, fillRingSize: fillRingSize,
                spill: spill == "on" && !forwarding && !afpacket,
                mode: m, offloadThresholdPercent: threshold, partialTimeoutNanoseconds: UInt64(timeout * 1e6))
        } catch {
            throw CaptureError(.usage, error.message)
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

