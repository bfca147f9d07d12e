import WireCapCore
import WireCapEngine

/// The capture options `wirecap exec` hands to the preloaded libpcap library
/// (`libwirecap-pcap.so`) through one environment variable, ``variable``.
///
/// The CLI parses and validates its options once (its engine option group);
/// what crosses the `execve` is this small `key=value;…` text, which the library
/// turns back into ``EngineSettings`` with the same
/// `CaptureConfiguration.buffered` the CLI uses. Everything not given keeps the
/// library's default (250 MiB per queue, basic mode, all rx queues).
public struct PreloadSettings: Sendable, Hashable {
    /// The environment variable: `WIRECAP_PCAP`.
    public static let variable = "WIRECAP_PCAP"
    /// Memory per queue in bytes (`--buffer`, or R·M·2 KiB).
    public var bufferBytes: Int = PoolGeometry.default.poolBytes
    /// M, cells per chunk.
    public var cellsPerChunk: Int = PoolGeometry.default.cellsPerChunk
    /// N, fill-ring descriptors (nil: the engine's rule).
    public var fillRingSize: Int?
    /// Spill blocks on (the default) or off.
    public var spill = true
    /// Basic (the default) or advanced. One reader (the program) takes every
    /// queue's chunks, so offload adds no reader; in basic mode each queue's
    /// packets reach the program in arrival order, in advanced mode a queue's
    /// chunks can interleave once the program fell behind by T% of R.
    public var mode = CaptureMode.basic
    /// Advanced mode: flow buckets (the default) or whole chunks (issue 15).
    public var offload = OffloadPolicy.flow
    /// Flow offload: buckets per queue.
    public var flowBuckets = CaptureConfiguration.defaultFlowBuckets
    /// Flow offload: never spread a flow over consumers.
    public var strictFlowAffinity = false
    /// T, the offload threshold in percent.
    public var offloadThresholdPercent = 60
    /// The partial-chunk timeout.
    public var partialTimeoutNanoseconds: UInt64 = 1_000_000
    /// The rx queues to capture (nil: every queue of the interface).
    public var queues: [Int]?
    /// CPUs for the capture threads (empty: unpinned).
    public var captureCPUs: [Int] = []
    /// Busy-poll instead of sleeping.
    public var busyPoll = false
    /// Huge pages for the pools.
    public var hugePages = false
    /// Replace an XDP program already attached.
    public var force = false
    /// Never promiscuous (`-p`), whatever the program asks (`pcap_set_promisc`).
    public var promiscuousOff = false
    /// Where the library writes each handle's final loss ledger as JSON when the
    /// program closes it (nil: nowhere).
    public var ledgerPath: String?
    /// No notes from the library on stderr (readiness, fallbacks).
    public var quiet = false
    /// Where the library's notes go instead of stderr (appended; nil: stderr).
    public var logPath: String?

    public init() {}

    /// The engine settings these options describe (quiet engine, as the API's).
    /// - Throws: `.usage` when the geometry is refused (the CLI checked it already).
    public func engineSettings() throws(CaptureError) -> EngineSettings {
        var s = EngineSettings()
        do {
            s.core = try CaptureConfiguration.buffered(
                bytes: bufferBytes, cellsPerChunk: cellsPerChunk, fillRingSize: fillRingSize, spill: spill,
                mode: mode, offloadThresholdPercent: offloadThresholdPercent,
                partialTimeoutNanoseconds: partialTimeoutNanoseconds)
            s.core.offload = offload
            s.core.flowBuckets = flowBuckets
            s.core.strictFlowAffinity = strictFlowAffinity
            try s.core.validate()
        } catch { throw CaptureError(.usage, error.message) }
        s.captureCPUs = captureCPUs
        s.wakePolicy = busyPoll ? .busyPoll : .adaptive
        s.hugePages = hugePages
        s.force = force
        s.quiet = true
        return s
    }

    /// `key=value` pairs separated by `;` (paths with `%` and `;` escaped as `%25`, `%3B`).
    public var encoded: String {
        var pairs = ["buffer=\(bufferBytes)", "M=\(cellsPerChunk)", "spill=\(spill ? "on" : "off")",
                     "mode=\(mode.rawValue)", "offload=\(offload.rawValue)", "buckets=\(flowBuckets)",
                     "T=\(offloadThresholdPercent)", "timeout=\(partialTimeoutNanoseconds)"]
        if strictFlowAffinity { pairs.append("strict=1") }
        if let n = fillRingSize { pairs.append("N=\(n)") }
        if let q = queues { pairs.append("queues=\(q.map(String.init).joined(separator: ","))") }
        if !captureCPUs.isEmpty { pairs.append("cpus=\(captureCPUs.map(String.init).joined(separator: ","))") }
        if busyPoll { pairs.append("busy-poll=1") }
        if hugePages { pairs.append("hugepages=1") }
        if force { pairs.append("force=1") }
        if promiscuousOff { pairs.append("no-promisc=1") }
        if quiet { pairs.append("quiet=1") }
        if let l = ledgerPath { pairs.append("ledger=\(Self.escape(l))") }
        if let l = logPath { pairs.append("log=\(Self.escape(l))") }
        return pairs.joined(separator: ";")
    }

    /// Reads ``encoded`` text.
    /// - Throws: `.usage` naming the first key or value it does not understand.
    public init(decoding text: String) throws(CaptureError) {
        var rest = Substring(text)
        while !rest.isEmpty {
            let pair: Substring
            if let semi = rest.firstIndex(of: ";") {
                pair = rest[..<semi]
                rest = rest[rest.index(after: semi)...]
            } else {
                pair = rest
                rest = ""
            }
            if pair.isEmpty { continue }
            guard let eq = pair.firstIndex(of: "=") else {
                throw CaptureError(.usage, "\(Self.variable): '\(pair)' is no key=value pair")
            }
            let key = String(pair[..<eq]), value = String(pair[pair.index(after: eq)...])
            func int() throws(CaptureError) -> Int {
                guard let v = Int(value) else { throw CaptureError(.usage, "\(Self.variable): \(key)='\(value)' is not a number") }
                return v
            }
            func list() throws(CaptureError) -> [Int] {
                guard let l = IndexList.parse(value) else { throw CaptureError(.usage, "\(Self.variable): \(key)='\(value)' is not a list such as 0,1") }
                return l
            }
            switch key {
            case "buffer": bufferBytes = try int()
            case "M": cellsPerChunk = try int()
            case "N": fillRingSize = try int()
            case "spill": spill = value == "on"
            case "mode":
                guard let m = CaptureMode(rawValue: value) else { throw CaptureError(.usage, "\(Self.variable): mode='\(value)': basic or advanced") }
                mode = m
            case "offload":
                guard let o = OffloadPolicy(rawValue: value) else { throw CaptureError(.usage, "\(Self.variable): offload='\(value)': flow or chunk") }
                offload = o
            case "buckets": flowBuckets = try int()
            case "strict": strictFlowAffinity = value == "1"
            case "T": offloadThresholdPercent = try int()
            case "timeout": partialTimeoutNanoseconds = UInt64(try int())
            case "queues": queues = try list()
            case "cpus": captureCPUs = try list()
            case "busy-poll": busyPoll = value == "1"
            case "hugepages": hugePages = value == "1"
            case "force": force = value == "1"
            case "no-promisc": promiscuousOff = value == "1"
            case "quiet": quiet = value == "1"
            case "ledger": ledgerPath = Self.unescape(value)
            case "log": logPath = Self.unescape(value)
            default: throw CaptureError(.usage, "\(Self.variable): unknown key '\(key)'")
            }
        }
    }

    private static func escape(_ path: String) -> String {
        path.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: ";", with: "%3B")
    }

    private static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "%3B", with: ";").replacingOccurrences(of: "%25", with: "%")
    }
}
