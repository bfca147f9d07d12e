import ArgumentParser
import Foundation
import WireCap
import WireCapCore

/// `wirecap exec`: runs an unmodified libpcap program with WireCap's libpcap
/// library preloaded, so its live captures run on WireCap's engine.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run an unmodified libpcap program (tcpdump, tshark, dumpcap and others) capturing through WireCap.",
        discussion: """
        The program runs with libwirecap-pcap.so preloaded (LD_PRELOAD) and these capture options in \
        WIRECAP_PCAP. Each interface it opens is captured on every rx queue (or -q) through WireCap's \
        pools and presented as one pcap stream; pcap_stats comes from the loss ledger (received, \
        dropped by WireCap, dropped by the interface). Interfaces WireCap cannot take (the 'any' \
        pseudo-device, loopback, non-Ethernet links, a kernel without AF_XDP) go to the system's \
        libpcap, with one line on stderr saying so; so does everything that is not live capture \
        (savefiles, pcap_compile, dump files). The program's own buffer size (tcpdump -B) is ignored: \
        the memory per queue is --buffer or -R here. Example: wirecap exec --buffer 512MiB -- tcpdump -i eth0 -w out.pcap
        """)

    @OptionGroup var engine: EngineOptionsGroup

    @Option(help: ArgumentHelp("Write the final loss ledger (JSON) of each capture here when the program closes it.", valueName: "file"))
    var ledger: String?

    @Flag(help: "No notes from the library on stderr (the readiness line, fallbacks).")
    var quiet = false

    @Option(help: ArgumentHelp("Append the library's notes (readiness, fallbacks) to this file instead of stderr (tshark's dumpcap child has no stderr of its own: its notes are dropped without --log).", valueName: "file"))
    var log: String?

    @Option(help: ArgumentHelp("The library to preload (default: libwirecap-pcap.so next to wirecap, else PREFIX/lib/wirecap/).", valueName: "path"))
    var library: String?

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The program and its arguments (after --).", valueName: "program"))
    var command: [String] = []

    /// The program's argv: `command` without a leading `--`.
    var argv: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

    func validate() throws {
        if argv.isEmpty { throw ValidationError("name the program to run after --, e.g. wirecap exec -- tcpdump -i eth0") }
        if !engine.interfaces.isEmpty { throw ValidationError("-i belongs to the program (after --): the program names the interfaces it opens") }
        if engine.user != nil { throw ValidationError("-Z belongs to the program: tcpdump has its own -Z") }
    }

    /// The settings handed to the library (the engine option group's validation included).
    func preloadSettings() throws(CaptureError) -> PreloadSettings {
        // Basic unless asked: the program is one reader of every queue, so offload
        // would not add a reader, only interleave a queue's chunks.
        let core = try engine.configuration(defaultMode: .basic)
        var p = PreloadSettings()
        p.bufferBytes = try engine.budgetBytes()
        p.cellsPerChunk = engine.cellsPerChunk
        p.fillRingSize = engine.fillRingSize
        p.spill = core.spill != nil
        p.mode = core.mode
        p.offload = core.offload
        p.flowBuckets = core.flowBuckets
        p.strictFlowAffinity = core.strictFlowAffinity
        p.offloadThresholdPercent = core.offloadThresholdPercent
        p.partialTimeoutNanoseconds = core.partialTimeoutNanoseconds
        p.queues = engine.queues.flatMap(IndexList.parse)
        p.captureCPUs = engine.cpus.flatMap(IndexList.parse) ?? []
        p.busyPoll = engine.busyPoll
        p.hugePages = engine.hugepages
        p.force = engine.force
        p.promiscuousOff = engine.noPromiscuous
        p.ledgerPath = ledger.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        p.quiet = quiet
        p.logPath = log.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        return p
    }

    /// The library: `--library`, else next to this executable, else PREFIX/lib/wirecap/.
    func libraryPath() -> String? {
        if let library { return FileManager.default.fileExists(atPath: library) ? URL(fileURLWithPath: library).standardizedFileURL.path : nil }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for candidate in [dir.appendingPathComponent("libwirecap-pcap.so"),
                          dir.deletingLastPathComponent().appendingPathComponent("lib/wirecap/libwirecap-pcap.so")] {
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate.standardizedFileURL.path }
        }
        return nil
    }

    func run() throws {
        let settings: PreloadSettings
        do { settings = try preloadSettings() } catch { CLI.fail(error) }
        guard let lib = libraryPath() else {
            CLI.fail(library.map { "no library at \($0)" }
                     ?? "libwirecap-pcap.so is neither next to wirecap nor in PREFIX/lib/wirecap: build it (swift build) or install it (make install)")
        }
        let existing = ProcessInfo.processInfo.environment["LD_PRELOAD"].map { $0.isEmpty ? "" : ":" + $0 } ?? ""
        setenv("LD_PRELOAD", lib + existing, 1)
        setenv(PreloadSettings.variable, settings.encoded, 1)
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        // The program starts with no signal blocked, as from a shell: a blocked mask
        // survives execve (a parent's worker thread may have spawned us with one),
        // and tcpdump's Ctrl-C handler (pcap_breakloop) must be able to run.
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
        execvp(argv[0], &cargs)
        let reason = String(cString: strerror(errno))
        FileHandle.standardError.write(Data("wirecap: error: cannot run '\(argv[0])': \(reason)\n".utf8))
        Foundation.exit(127)
    }
}
