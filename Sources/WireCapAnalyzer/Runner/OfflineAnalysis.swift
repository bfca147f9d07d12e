import WireCap
import WireCapTrace

/// Runs an ``Analyzer`` over a pcap or pcapng file with the same code as live.
///
/// Packets are dealt to `workers` states in runs of `chunkSize` (as the engine
/// would hand out chunks), processed in file order on the calling thread, and
/// merged like the live runner's — so a report over a trace exercises the same
/// merge as a live capture with several queues. Worker `w` sees ``Packet/queue``
/// = `w`.
public enum OfflineAnalysis {
    /// The result of an offline run.
    public struct Result<State> {
        /// The merged state.
        public var state: State
        /// Packets read.
        public var packets: Int
        /// The file's format.
        public var format: String
        /// Set when the file was cut short: the packets before the cut were analysed.
        public var truncation: String?
    }

    /// A capture filter per link type: the same expression compiled for each link type a
    /// file (or each pcapng interface) has, as tcpdump compiles it for the file's.
    public typealias FilterCompiler = (_ linkType: UInt32) throws(CaptureError) -> PacketPredicate

    /// Analyzes the file (or pipe) at `path`, streaming it: memory stays bounded
    /// whatever the file's size.
    /// - Throws: ``CaptureError`` `.system` naming the file and the bad record.
    public static func run<A: Analyzer>(_ analyzer: A, path: String, workers: Int = 1, chunkSize: Int = 256,
                                        filter: FilterCompiler? = nil) throws(CaptureError) -> Result<A.State> {
        // Unreadable or damaged input is a runtime failure (exit 1), as in `trace info` and `replay`.
        var stream: TraceStream
        do { stream = try TraceStream(path: path) } catch { throw CaptureError(.system, "\(error.description)") }
        return try run(analyzer, stream: &stream, workers: workers, chunkSize: chunkSize, filter: filter)
    }

    /// Analyzes an in-memory pcap/pcapng image.
    public static func run<A: Analyzer>(_ analyzer: A, bytes: [UInt8], file: String, workers: Int = 1, chunkSize: Int = 256,
                                        filter: FilterCompiler? = nil) throws(CaptureError) -> Result<A.State> {
        let outcome: Swift.Result<Result<A.State>, CaptureError> = bytes.withUnsafeBytes { raw in
            Swift.Result { () throws(CaptureError) in
                var stream: TraceStream
                do throws(TraceError) { stream = try TraceStream(bytes: raw, file: file) } catch { throw CaptureError(.system, "\(error.description)") }
                return try run(analyzer, stream: &stream, workers: workers, chunkSize: chunkSize, filter: filter)
            }
        }
        return try outcome.get()
    }

    /// Analyzes the packets of `stream`.
    public static func run<A: Analyzer>(_ analyzer: A, stream: inout TraceStream, workers: Int = 1, chunkSize: Int = 256,
                                        filter: FilterCompiler? = nil) throws(CaptureError) -> Result<A.State> {
        let k = max(1, workers)
        var states = (0..<k).map { analyzer.makeState(worker: $0) }
        var n = 0
        // One compiled program per link type seen (a pcapng file may mix them).
        var compiled: [UInt32: PacketPredicate] = [:]
        var truncation: String?
        var compileError: CaptureError?
        do throws(TraceError) {
            while let p = try stream.next() {
                let w = (n / max(1, chunkSize)) % k
                n += 1
                let packet = Packet(bytes: p.data, wireLength: Int(p.originalLength), timestamp: p.timestamp,
                                    queue: w, originQueue: w, linkType: p.linkType)
                if let filter {
                    let predicate: PacketPredicate
                    if let known = compiled[p.linkType] {
                        predicate = known
                    } else {
                        do throws(CaptureError) { predicate = try filter(p.linkType) } catch { compileError = error; break }
                        compiled[p.linkType] = predicate
                    }
                    if !predicate.matchesWire(packet.bytes, packet.wireLength) { continue }
                }
                states[w].process(packet: packet)
            }
        } catch where error.isCutShort {
            truncation = error.cutShortWarning(packetsRead: n)
        } catch {
            throw CaptureError(.system, "\(error.description)")
        }
        if let compileError { throw compileError }
        var merged = states[0]
        for s in states.dropFirst() { merged.merge(s) }
        return Result(state: merged, packets: n, format: stream.format.description, truncation: truncation)
    }
}
