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

/// Reads pcap and pcapng files in pure Swift (no libpcap), record by record,
/// never reading out of bounds: a truncated or malformed record stops the read
/// with a ``TraceError`` naming the record, after every earlier packet was handed out.
public enum TraceReader {
    /// The largest captured length accepted when the snap length is smaller (libpcap's limit).
    public static let maximumCaptureLength = 262_144

    /// Reads a whole file into memory, refusing early what cannot be a capture or
    /// cannot fit: a directory; anything whose first bytes are no pcap/pcapng magic
    /// (so `/dev/zero` or a wrong pipe fails after 4 bytes, not when memory runs
    /// out); a file, device or pipe larger than half the memory available.
    public static func loadFile(_ path: String) throws(TraceError) -> [UInt8] {
        func fail(_ kind: TraceError.Kind, _ offset: Int, _ detail: String) -> TraceError {
            TraceError(file: path, kind: kind, recordIndex: nil, byteOffset: offset, detail: detail)
        }
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw fail(.unreadable, 0, "is a directory: name a pcap or pcapng file")
        }
        guard let f = fopen(path, "rb") else {
            throw fail(.unreadable, 0, "cannot open (\(String(cString: strerror(errno))))")
        }
        defer { fclose(f) }
        let budget = Self.memoryBudget
        if (info.st_mode & S_IFMT) == S_IFREG, UInt64(info.st_size) > budget {
            throw fail(.unreadable, 0, "\(info.st_size) bytes is more than half the memory available (\(budget) bytes): WireCap reads a capture into memory; split it (editcap -c) first")
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var checked = false
        while true {
            let want = checked ? chunk.count : 4
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, want, f) }
            if n > 0 { out.append(contentsOf: chunk[0..<n]) }
            if !checked && out.count >= 4 {
                checked = true
                if out.withUnsafeBytes({ detect($0) }) == nil {
                    throw fail(.unknownFormat, 0, "not a pcap or pcapng file (no known magic number)")
                }
            }
            if UInt64(out.count) > budget {
                throw fail(.unreadable, out.count, "more than half the memory available (\(budget) bytes) and not ended: WireCap reads a capture into memory")
            }
            if n < want {
                if ferror(f) != 0 { throw fail(.unreadable, out.count, "read error (\(String(cString: strerror(errno))))") }
                break
            }
        }
        return out
    }

    /// Half of `MemAvailable` (the most a capture file may take in memory); 4 GiB when unknown.
    static var memoryBudget: UInt64 {
        guard let f = fopen("/proc/meminfo", "r") else { return 4 << 30 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("MemAvailable:"), let kib = text.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) {
                return kib * 1024 / 2
            }
        }
        return 4 << 30
    }

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

    /// The link types a file declares, whether or not it holds packets: the pcap
    /// header's, or every pcapng interface description's (in order). Empty when the
    /// image is not a valid start of either.
    public static func declaredLinkTypes(in bytes: UnsafeRawBufferPointer) -> [UInt32] {
        guard let format = detect(bytes) else { return [] }
        switch format {
        case .pcap(_, let be):
            guard bytes.count >= 24 else { return [] }
            return [Fields(bytes: bytes, bigEndian: be).u32(20) & 0xFFFF]
        case .pcapng:
            var r = Fields(bytes: bytes, bigEndian: false)
            var out: [UInt32] = []
            var offset = 0
            while bytes.count - offset >= 12 {
                if bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self) == 0x0A0D_0D0A {
                    r.bigEndian = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self).littleEndian == 0x4D3C_2B1A
                }
                let length = Int(r.u32(offset + 4))
                guard length >= 12, length % 4 == 0, length <= bytes.count - offset else { break }
                if r.u32(offset) == 1, length >= 20 { out.append(UInt32(r.u16(offset + 8))) }
                offset += length
            }
            return out
        }
    }

    /// Calls `body` for every packet of a pcap or pcapng image, in file order.
    /// - Returns: the format.
    /// - Throws: ``TraceError`` at the first bad record (earlier packets were delivered).
    @discardableResult
    public static func forEachPacket(
        in bytes: UnsafeRawBufferPointer, file: String, _ body: (CapturedPacket) -> Void
    ) throws(TraceError) -> TraceFileFormat {
        guard let format = detect(bytes) else {
            throw TraceError(file: file, kind: bytes.count < 4 ? .truncatedFileHeader : .unknownFormat,
                             recordIndex: nil, byteOffset: 0, detail: "not a pcap or pcapng file (no known magic number)")
        }
        switch format {
        case .pcap(let ns, let be): try readPcap(bytes, file: file, nanosecond: ns, bigEndian: be, body)
        case .pcapng: try readPcapNG(bytes, file: file, body)
        }
        return format
    }

    // MARK: pcap

    static func readPcap(
        _ b: UnsafeRawBufferPointer, file: String, nanosecond: Bool, bigEndian: Bool, _ body: (CapturedPacket) -> Void
    ) throws(TraceError) {
        let r = Fields(bytes: b, bigEndian: bigEndian)
        guard b.count >= 24 else {
            throw TraceError(file: file, kind: .truncatedFileHeader, recordIndex: nil, byteOffset: 0,
                             detail: "pcap file header needs 24 bytes, file has \(b.count)")
        }
        // libpcap's rules (sf-pcap.c): versions 2.0 … 2.4 (and DG/UX's 543.0); the
        // link-type field's reserved bits 0x03FF0000 must be zero; its low 16 bits
        // are the link type, the top bits an optional FCS length.
        let major = r.u16(4), minor = r.u16(6)
        guard (major == 2 && minor <= 4) || (major == 543 && minor == 0) else {
            throw TraceError(file: file, kind: .unknownFormat, recordIndex: nil, byteOffset: 4,
                             detail: major < 2 ? "archaic pcap savefile format \(major).\(minor)" : "unsupported pcap savefile version \(major).\(minor)")
        }
        let snap = Int(r.u32(16))
        let rawLinkType = r.u32(20)
        guard rawLinkType & 0x03FF_0000 == 0 else {
            throw TraceError(file: file, kind: .unknownFormat, recordIndex: nil, byteOffset: 20,
                             detail: "link-type field 0x\(String(rawLinkType, radix: 16)) has reserved bits set")
        }
        let linkType = rawLinkType & 0xFFFF
        let limit = max(snap, maximumCaptureLength)
        var offset = 24
        var index = 0
        while offset < b.count {
            guard b.count - offset >= 16 else {
                throw TraceError(file: file, kind: .truncatedRecord, recordIndex: index, byteOffset: offset,
                                 detail: "record header cut short: \(b.count - offset) of 16 bytes")
            }
            let seconds = UInt64(r.u32(offset))
            let fraction = UInt64(r.u32(offset + 4))
            let captured = Int(r.u32(offset + 8))
            let original = r.u32(offset + 12)
            guard captured <= limit else {
                throw TraceError(file: file, kind: .malformedRecord, recordIndex: index, byteOffset: offset,
                                 detail: "captured length \(captured) exceeds the limit \(limit)")
            }
            guard b.count - offset - 16 >= captured else {
                throw TraceError(file: file, kind: .truncatedRecord, recordIndex: index, byteOffset: offset,
                                 detail: "packet data cut short: \(b.count - offset - 16) of \(captured) bytes")
            }
            // No range check on the sub-second field, as libpcap (tcpdump and capinfos read
            // a nanosecond field of 1,000,000,000): it is added as it stands.
            let ts = seconds &* 1_000_000_000 &+ (nanosecond ? fraction : fraction &* 1000)
            body(CapturedPacket(timestamp: ts, originalLength: max(original, UInt32(captured)), linkType: linkType,
                                data: UnsafeRawBufferPointer(rebasing: b[(offset + 16)..<(offset + 16 + captured)])))
            offset += 16 + captured
            index += 1
        }
    }

    // MARK: pcapng

    struct Interface {
        var linkType: UInt32
        var snapLength: Int
        var unitsPerSecond: UInt64 = 1_000_000
        var offsetSeconds: Int64 = 0
    }

    static func readPcapNG(_ b: UnsafeRawBufferPointer, file: String, _ body: (CapturedPacket) -> Void) throws(TraceError) {
        var r = Fields(bytes: b, bigEndian: false)
        var interfaces: [Interface] = []
        var offset = 0
        var index = 0
        var lastTimestamp: UInt64 = 0
        func fail(_ kind: TraceError.Kind, _ detail: String) -> TraceError {
            TraceError(file: file, kind: kind, recordIndex: index, byteOffset: offset, detail: detail)
        }
        while offset < b.count {
            guard b.count - offset >= 12 else { throw fail(.truncatedRecord, "block header cut short: \(b.count - offset) of 12 bytes") }
            let rawType = b.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            if rawType == 0x0A0D_0D0A {  // section header: byte order from its magic
                let bom = b.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self).littleEndian
                switch bom {
                case 0x1A2B_3C4D: r.bigEndian = false
                case 0x4D3C_2B1A: r.bigEndian = true
                default: throw fail(.malformedRecord, String(format16: bom))
                }
                interfaces = []
            } else if index == 0 {
                throw fail(.malformedRecord, "pcapng file does not start with a section header block")
            }
            let type = r.u32(offset)
            let length = Int(r.u32(offset + 4))
            guard length >= 12, length % 4 == 0 else { throw fail(.malformedRecord, "block length \(length) is not a multiple of 4 of at least 12") }
            guard length <= b.count - offset else {
                throw fail(.truncatedRecord, "block of \(length) bytes cut short: \(b.count - offset) bytes left")
            }
            guard Int(r.u32(offset + length - 4)) == length else {
                throw fail(.malformedRecord, "trailing block length \(r.u32(offset + length - 4)) differs from \(length)")
            }
            let bodyStart = offset + 8
            let bodyEnd = offset + length - 4
            switch type {
            case 0x0A0D_0D0A:
                guard bodyEnd - bodyStart >= 16 else { throw fail(.malformedRecord, "section header block too short") }
                // libpcap (sf-pcapng.c) reads versions 1.0 and 1.2 only.
                let major = r.u16(bodyStart + 4), minor = r.u16(bodyStart + 6)
                guard major == 1 && (minor == 0 || minor == 2) else {
                    throw fail(.unknownFormat, "unsupported pcapng section version \(major).\(minor)")
                }
            case 1:  // interface description
                guard bodyEnd - bodyStart >= 8 else { throw fail(.malformedRecord, "interface description block too short") }
                var iface = Interface(linkType: UInt32(r.u16(bodyStart)), snapLength: Int(r.u32(bodyStart + 4)))
                var o = bodyStart + 8
                while o + 4 <= bodyEnd {
                    let code = r.u16(o)
                    let optLength = Int(r.u16(o + 2))
                    if code == 0 { break }
                    guard o + 4 + optLength <= bodyEnd else { throw fail(.malformedRecord, "option \(code) runs past its block") }
                    if code == 9, optLength >= 1 {  // if_tsresol
                        let v = b[o + 4]
                        let exponent = UInt64(v & 0x7F)
                        if v & 0x80 != 0 {
                            guard exponent <= 63 else { throw fail(.malformedRecord, "if_tsresol 2^-\(exponent) unsupported") }
                            iface.unitsPerSecond = 1 << exponent
                        } else {
                            guard exponent <= 19 else { throw fail(.malformedRecord, "if_tsresol 10^-\(exponent) unsupported") }
                            var u: UInt64 = 1
                            for _ in 0..<exponent { u *= 10 }
                            iface.unitsPerSecond = u
                        }
                    } else if code == 14, optLength >= 8 {  // if_tsoffset, seconds
                        iface.offsetSeconds = Int64(bitPattern: r.u64(o + 4))
                    }
                    o += 4 + (optLength + 3) & ~3
                }
                interfaces.append(iface)
            case 6, 2:  // enhanced packet block, obsolete packet block
                guard bodyEnd - bodyStart >= 20 else { throw fail(.malformedRecord, "packet block too short") }
                let ifIndex = type == 6 ? Int(r.u32(bodyStart)) : Int(r.u16(bodyStart))
                guard ifIndex < interfaces.count else {
                    throw fail(.malformedRecord, "packet names interface \(ifIndex), only \(interfaces.count) described")
                }
                let iface = interfaces[ifIndex]
                let units = UInt64(r.u32(bodyStart + 4)) << 32 | UInt64(r.u32(bodyStart + 8))
                let captured = Int(r.u32(bodyStart + 12))
                let original = r.u32(bodyStart + 16)
                guard captured <= bodyEnd - bodyStart - 20 else {
                    throw fail(.malformedRecord, "captured length \(captured) exceeds the block's \(bodyEnd - bodyStart - 20) data bytes")
                }
                guard let ts = nanoseconds(units: units, perSecond: iface.unitsPerSecond, offsetSeconds: iface.offsetSeconds) else {
                    throw fail(.malformedRecord, "timestamp \(units) at \(iface.unitsPerSecond)/s (offset \(iface.offsetSeconds) s) is outside 1970 … 2554")
                }
                lastTimestamp = ts
                let start = bodyStart + 20
                body(CapturedPacket(timestamp: ts, originalLength: max(original, UInt32(captured)), linkType: iface.linkType,
                                    data: UnsafeRawBufferPointer(rebasing: b[start..<(start + captured)])))
            case 3:  // simple packet block: interface 0, no timestamp (the previous one is reused)
                guard bodyEnd - bodyStart >= 4 else { throw fail(.malformedRecord, "simple packet block too short") }
                guard let iface = interfaces.first else { throw fail(.malformedRecord, "simple packet block before any interface") }
                let original = Int(r.u32(bodyStart))
                var captured = min(original, bodyEnd - bodyStart - 4)
                if iface.snapLength > 0 { captured = min(captured, iface.snapLength) }
                let start = bodyStart + 4
                body(CapturedPacket(timestamp: lastTimestamp, originalLength: UInt32(original), linkType: iface.linkType,
                                    data: UnsafeRawBufferPointer(rebasing: b[start..<(start + captured)])))
            default:
                break  // name resolution, statistics, custom, …: skipped
            }
            offset += length
            index += 1
        }
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

extension String {
    fileprivate init(format16 bom: UInt32) {
        self = "unknown pcapng byte-order magic 0x" + String(bom, radix: 16)
    }
}

extension PacketTrace {
    /// Reads a pcap or pcapng file into a trace: timestamps relative to the first
    /// packet, 5-tuples extracted (Ethernet with VLAN tags, SLL, SLL2, raw IP) and
    /// hashed with `hasher` (`fields` decides which ports).
    ///
    /// - Throws: ``TraceError`` with ``TraceError/partial`` holding every packet read
    ///   before the bad record.
    public static func read(
        path: String, hasher: ToeplitzHasher = ToeplitzHasher(), fields: RSSHashFields = .addressesAndPorts
    ) throws(TraceError) -> PacketTrace {
        try parse(bytes: try TraceReader.loadFile(path), file: path, hasher: hasher, fields: fields)
    }

    /// Parses an in-memory pcap or pcapng image (see ``read(path:hasher:fields:)``).
    public static func parse(
        bytes: [UInt8], file: String, hasher: ToeplitzHasher = ToeplitzHasher(), fields: RSSHashFields = .addressesAndPorts
    ) throws(TraceError) -> PacketTrace {
        let result: Result<PacketTrace, TraceError> = bytes.withUnsafeBytes { raw in
            Result { () throws(TraceError) in try parse(raw, file: file, hasher: hasher, fields: fields) }
        }
        return try result.get()
    }

    /// Parses a pcap or pcapng image (see ``read(path:hasher:fields:)``).
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, file: String, hasher: ToeplitzHasher = ToeplitzHasher(),
        fields: RSSHashFields = .addressesAndPorts
    ) throws(TraceError) -> PacketTrace {
        var trace = PacketTrace(name: file)
        var index: [FiveTuple: UInt32] = [:]
        var noTuple: UInt32?
        var first: UInt64?
        var previous: UInt64 = 0
        do throws(TraceError) {
            try TraceReader.forEachPacket(in: bytes, file: file) { p in
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
