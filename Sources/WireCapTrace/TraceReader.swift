#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One packet as a reader hands it out; `data` is valid only during the callback.
public struct CapturedPacket {
    /// Capture time, ns since the Unix epoch.
    public var timestamp: UInt64
    /// Length on the wire (may exceed `data.count` when the capture was truncated by the snap length).
    public var originalLength: UInt32
    /// LINKTYPE_* of the packet's interface.
    public var linkType: UInt32
    /// The captured bytes.
    public var data: UnsafeRawBufferPointer
}

/// The container formats a trace file can have.
public enum TraceFileFormat: Sendable, Hashable, CustomStringConvertible {
    /// Classic libpcap: µs or ns timestamps, either byte order.
    case pcap(nanosecond: Bool, bigEndian: Bool)
    /// pcapng (sections, interfaces with their own `if_tsresol`).
    case pcapng

    public var description: String {
        switch self {
        case .pcap(let ns, let be): "pcap(\(ns ? "ns" : "µs"), \(be ? "big" : "little")-endian)"
        case .pcapng: "pcapng"
        }
    }
}

/// Entry points over ``TraceStream`` (the one pcap/pcapng parser) and the format's
/// shared rules: magic numbers, limits, timestamp conversion, field access.
public enum TraceReader {
    /// The largest captured length accepted when the snap length is smaller (libpcap's limit).
    public static let maximumCaptureLength = 262_144
    /// The largest pcapng block accepted (libpcap's initial maximum block size, 16 MiB).
    public static let maximumBlockLength = 16 << 20

    /// The format of a file from its first bytes, or `nil`.
    public static func detect(_ bytes: UnsafeRawBufferPointer) -> TraceFileFormat? {
        guard bytes.count >= 4 else { return nil }
        let le = bytes.loadUnaligned(as: UInt32.self).littleEndian
        switch le {
        case 0xA1B2_C3D4: return .pcap(nanosecond: false, bigEndian: false)
        case 0xA1B2_3C4D: return .pcap(nanosecond: true, bigEndian: false)
        case 0xD4C3_B2A1: return .pcap(nanosecond: false, bigEndian: true)
        case 0x4D3C_B2A1: return .pcap(nanosecond: true, bigEndian: true)
        case 0x0A0D_0D0A: return .pcapng
        default: return nil
        }
    }

    /// The link types an image declares, whether or not it holds packets: the pcap
    /// header's, or every pcapng interface description's (in order) up to the first
    /// damaged record. Empty when the image is not a valid start of either.
    public static func declaredLinkTypes(in bytes: UnsafeRawBufferPointer) -> [UInt32] {
        guard var stream = try? TraceStream(bytes: bytes, file: "") else { return [] }
        while (try? stream.next()).flatMap({ $0 }) != nil {}
        return stream.declaredLinkTypes
    }

    /// Calls `body` for every packet of a pcap or pcapng image, in file order (read in place).
    /// - Returns: the format.
    /// - Throws: ``TraceError`` at the first bad record (earlier packets were delivered).
    @discardableResult
    public static func forEachPacket(
        in bytes: UnsafeRawBufferPointer, file: String, _ body: (CapturedPacket) -> Void
    ) throws(TraceError) -> TraceFileFormat {
        var stream = try TraceStream(bytes: bytes, file: file)
        while let p = try stream.next() { body(p) }
        return stream.format
    }

    /// Calls `body` for every packet of the file (or pipe) at `path`, streaming it.
    /// - Returns: the format.
    /// - Throws: ``TraceError`` at the first bad record (earlier packets were delivered).
    @discardableResult
    public static func forEachPacket(path: String, _ body: (CapturedPacket) -> Void) throws(TraceError) -> TraceFileFormat {
        var stream = try TraceStream(path: path)
        while let p = try stream.next() { body(p) }
        return stream.format
    }

    /// `units / perSecond` seconds as ns, plus an offset, for any resolution; nil when
    /// the time is before 1970 or past what 64-bit nanoseconds hold (year 2554), which
    /// only a damaged file can say (found by the fuzzer: it used to trap).
    static func nanoseconds(units: UInt64, perSecond: UInt64, offsetSeconds: Int64) -> UInt64? {
        let seconds = units / perSecond
        let rest = units % perSecond
        let fraction = rest.multipliedFullWidth(by: 1_000_000_000)
        let (ns, _) = perSecond.dividingFullWidth((high: fraction.high, low: fraction.low))
        guard let whole = Int64(exactly: seconds) else { return nil }
        let (shifted, o1) = whole.addingReportingOverflow(offsetSeconds)
        guard !o1, shifted >= 0 else { return nil }
        let (scaled, o2) = UInt64(shifted).multipliedReportingOverflow(by: 1_000_000_000)
        let (total, o3) = scaled.addingReportingOverflow(ns)
        return o2 || o3 ? nil : total
    }

    /// Integer fields of either byte order at byte offsets.
    struct Fields {
        let bytes: UnsafeRawBufferPointer
        var bigEndian: Bool
        func u16(_ o: Int) -> UInt16 {
            let v = bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self)
            return bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
        }
        func u32(_ o: Int) -> UInt32 {
            let v = bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)
            return bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
        }
        func u64(_ o: Int) -> UInt64 {
            let v = bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self)
            return bigEndian ? UInt64(bigEndian: v) : UInt64(littleEndian: v)
        }
    }
}

extension PacketTrace {
    /// Reads a pcap or pcapng file into a trace, streaming it (the file may be far
    /// larger than memory: the trace keeps 16 bytes per packet, never the packets):
    /// timestamps relative to the first packet, 5-tuples extracted (Ethernet with
    /// VLAN tags, SLL, SLL2, raw IP) and hashed with `hasher` (`fields` decides which ports).
    ///
    /// - Parameter maximumPackets: stop after this many packets (the simulator's
    ///   `--packets`); the rest of the file is not read.
    /// - Throws: ``TraceError`` with ``TraceError/partial`` holding every packet read
    ///   before the bad record.
    public static func read(
        path: String, hasher: ToeplitzHasher = ToeplitzHasher(), fields: RSSHashFields = .addressesAndPorts,
        maximumPackets: Int = .max
    ) throws(TraceError) -> PacketTrace {
        var stream = try TraceStream(path: path)
        return try read(&stream, hasher: hasher, fields: fields, maximumPackets: maximumPackets)
    }

    /// Parses an in-memory pcap or pcapng image (see ``read(path:hasher:fields:maximumPackets:)``).
    public static func parse(
        bytes: [UInt8], file: String, hasher: ToeplitzHasher = ToeplitzHasher(), fields: RSSHashFields = .addressesAndPorts
    ) throws(TraceError) -> PacketTrace {
        let result: Result<PacketTrace, TraceError> = bytes.withUnsafeBytes { raw in
            Result { () throws(TraceError) in
                var stream = try TraceStream(bytes: raw, file: file)
                return try read(&stream, hasher: hasher, fields: fields, maximumPackets: .max)
            }
        }
        return try result.get()
    }

    /// Reads the packets of `stream` into a trace.
    public static func read(
        _ stream: inout TraceStream, hasher: ToeplitzHasher = ToeplitzHasher(), fields: RSSHashFields = .addressesAndPorts,
        maximumPackets: Int = .max
    ) throws(TraceError) -> PacketTrace {
        var trace = PacketTrace(name: stream.file)
        var index: [FiveTuple: UInt32] = [:]
        var noTuple: UInt32?
        var first: UInt64?
        var previous: UInt64 = 0
        do throws(TraceError) {
            while trace.count < maximumPackets, let p = try stream.next() {
                let flow: UInt32
                if let tuple = FiveTuple.extract(linkType: p.linkType, frame: p.data) {
                    if let f = index[tuple] {
                        flow = f
                    } else {
                        flow = trace.addFlow(tuple, hash: hasher.hash(tuple, includePorts: fields.includesPorts(tuple)))
                        index[tuple] = flow
                    }
                } else {
                    if noTuple == nil { noTuple = trace.addFlow(nil, hash: 0) }
                    flow = noTuple!
                }
                let start = first ?? p.timestamp
                if first == nil { first = start; trace.startNanoseconds = start }
                // Out-of-order timestamps (merged captures) are clamped: replay order is file order.
                let relative = p.timestamp >= start ? p.timestamp - start : 0
                previous = max(previous, relative)
                trace.append(timestamp: previous, length: p.originalLength, flow: flow)
            }
        } catch {
            var e = error
            e.partial = trace
            throw e
        }
        return trace
    }
}
