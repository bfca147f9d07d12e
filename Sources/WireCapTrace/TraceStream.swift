#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a pcap or pcapng file, pipe or device record by record with bounded
/// memory, whatever its size: a window of at least 1 MiB that grows only to the
/// largest record the formats allow (libpcap's limits: a pcap record of at most
/// ``TraceReader/maximumCaptureLength`` bytes, or the snap length up to 16 MiB; a
/// pcapng block of at most ``TraceReader/maximumBlockLength``).
///
/// ```
/// var stream = try TraceStream(path: "in.pcapng")
/// while let packet = try stream.next() { … packet.data is valid until the next call … }
/// ```
///
/// The one parser of the project: ``TraceReader/forEachPacket(in:file:_:)`` (an
/// in-memory image, read in place without copying), ``PacketTrace/read(path:hasher:fields:)``,
/// the offline analyzer, `trace info` and replay all read through it.
///
/// A damaged record stops the read with a ``TraceError`` naming the record and its
/// absolute byte offset, after every earlier packet was handed out. A stream that
/// ends in the middle of a record is ``TraceError/isCutShort``.
public struct TraceStream: ~Copyable {
    /// The name errors carry (the path as given).
    public let file: String
    /// The container format, from the first bytes.
    public private(set) var format: TraceFileFormat
    /// The link type of every interface declared so far, in order (pcap: the header's
    /// one; pcapng: each interface description block read so far, over all sections).
    public private(set) var declaredLinkTypes: [UInt32] = []
    /// Packets handed out so far.
    public private(set) var packetsRead = 0
    /// Bytes of the window now allocated (0 for an image read in place): never more
    /// than the largest record plus ``TraceStream/windowBytes``.
    public var windowCapacity: Int { owned ? capacity : 0 }

    /// The window size that input is read in.
    public static let windowBytes = 1 << 20

    // The window: `base[head..<tail]` holds input bytes not yet consumed; `base[head]`
    // is at absolute offset `offset` of the input.
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private var head = 0
    private var tail = 0
    private var offset = 0
    private var ended: Bool
    private let owned: Bool
    private var source: Source
    // Parse state.
    private var recordIndex = 0
    private var bigEndian = false
    private var nanosecond = false
    private var pcapLinkType: UInt32 = 1
    private var pcapLimit = 0
    private var interfaces: [PcapNGInterface] = []
    private var lastTimestamp: UInt64 = 0

    private enum Source {
        /// An open file descriptor this stream closes.
        case descriptor(Int32)
        /// An image read in place (`base` is the image; nothing to refill).
        case image
        /// An image copied in `piece`-byte reads, as a pipe would deliver it (tests, fuzzing).
        case pieces(UnsafeRawBufferPointer, position: Int, piece: Int)
    }

    /// Opens `path` and reads its file header (pcap) or first section header (pcapng).
    ///
    /// Refuses within the first read what cannot be a capture: a directory, or a
    /// stream whose first four bytes are no pcap/pcapng magic (so `/dev/zero` or a
    /// wrong pipe fails at once).
    public init(path: String) throws(TraceError) {
        var info = stat()
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw TraceError(file: path, kind: .unreadable, recordIndex: nil, byteOffset: 0,
                             detail: "is a directory: name a pcap or pcapng file")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TraceError(file: path, kind: .unreadable, recordIndex: nil, byteOffset: 0,
                             detail: "cannot open (\(String(cString: strerror(errno))))")
        }
        try self.init(file: path, source: .descriptor(fd))
    }

    /// Reads an in-memory image in place (no copy); `bytes` must outlive the stream.
    public init(bytes: UnsafeRawBufferPointer, file: String) throws(TraceError) {
        try self.init(file: file, source: .image, image: bytes)
    }

    /// Reads an in-memory image through the window in reads of at most `piece` bytes,
    /// exactly as a pipe delivering it that way would be read (for tests and fuzzing).
    public init(bytes: UnsafeRawBufferPointer, file: String, piece: Int) throws(TraceError) {
        try self.init(file: file, source: .pieces(bytes, position: 0, piece: max(1, piece)))
    }

    private init(file: String, source: Source, image: UnsafeRawBufferPointer? = nil) throws(TraceError) {
        self.file = file
        self.source = source
        format = .pcapng
        if let image {
            // Reading never writes through `base` for an image: the mutable type is the window's.
            base = UnsafeMutableRawPointer(mutating: image.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
            capacity = image.count
            tail = image.count
            ended = true
            owned = false
        } else {
            base = .allocate(byteCount: Self.windowBytes, alignment: 16)
            capacity = Self.windowBytes
            ended = false
            owned = true
        }
        try readFileHeader()
    }

    deinit {
        if owned { base.deallocate() }
        if case .descriptor(let fd) = source { close(fd) }
    }

    /// Whether ``rewind()`` can read the input again (a file or an image; not a pipe).
    public var canRewind: Bool {
        switch source {
        case .descriptor(let fd): return lseek(fd, 0, SEEK_CUR) >= 0
        case .image, .pieces: return true
        }
    }

    /// Starts again at the first packet (for `replay --loop`).
    /// - Throws: ``TraceError`` when the input cannot seek (a pipe or a device).
    public mutating func rewind() throws(TraceError) {
        switch source {
        case .descriptor(let fd):
            guard lseek(fd, 0, SEEK_SET) == 0 else {
                throw TraceError(file: file, kind: .unreadable, recordIndex: nil, byteOffset: offset,
                                 detail: "cannot read it again (\(String(cString: strerror(errno)))): loop over a file, not a pipe")
            }
            head = 0; tail = 0; ended = false
        case .image:
            head = 0
        case .pieces(let bytes, _, let piece):
            source = .pieces(bytes, position: 0, piece: piece)
            head = 0; tail = 0; ended = false
        }
        offset = 0; recordIndex = 0; packetsRead = 0; interfaces = []; lastTimestamp = 0; declaredLinkTypes = []
        try readFileHeader()
    }

    // MARK: The window

    /// Makes `count` bytes from `head` readable; `false` when the input ends first.
    private mutating func fill(_ count: Int) throws(TraceError) -> Bool {
        if tail - head >= count { return true }
        if ended { return false }
        if head + count > capacity {
            (base).copyMemory(from: base + head, byteCount: tail - head)
            tail -= head
            head = 0
            if count > capacity {
                // Grows only to the record in hand (its length was checked against the limits).
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
                bigger.copyMemory(from: base, byteCount: tail)
                base.deallocate()
                base = bigger
                capacity = count
            }
        }
        while tail - head < count {
            let room = capacity - tail
            let got: Int
            switch source {
            case .descriptor(let fd):
                let n = read(fd, base + tail, room)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw TraceError(file: file, kind: .unreadable, recordIndex: nil, byteOffset: offset + tail - head,
                                     detail: "read error (\(String(cString: strerror(errno))))")
                }
                got = n
            case .image:
                got = 0
            case .pieces(let bytes, let position, let piece):
                got = min(piece, room, bytes.count - position)
                if got > 0 { (base + tail).copyMemory(from: bytes.baseAddress! + position, byteCount: got) }
                source = .pieces(bytes, position: position + got, piece: piece)
            }
            if got == 0 { ended = true; return false }
            tail += got
        }
        return true
    }

    /// Bytes readable from `head` (after a failed ``fill(_:)``: all that is left).
    private var available: Int { tail - head }

    private var fields: TraceReader.Fields {
        TraceReader.Fields(bytes: UnsafeRawBufferPointer(start: base + head, count: available), bigEndian: bigEndian)
    }

    private mutating func consume(_ count: Int) {
        head += count
        offset += count
    }

    private func failure(_ kind: TraceError.Kind, _ detail: String, record: Bool = true) -> TraceError {
        TraceError(file: file, kind: kind, recordIndex: record ? recordIndex : nil, byteOffset: offset, detail: detail)
    }

    // MARK: Headers

    private mutating func readFileHeader() throws(TraceError) {
        guard try fill(4) else {
            throw failure(.truncatedFileHeader, "not a pcap or pcapng file (\(available) bytes, no magic number)", record: false)
        }
        guard let detected = TraceReader.detect(UnsafeRawBufferPointer(start: base + head, count: 4)) else {
            throw failure(.unknownFormat, "not a pcap or pcapng file (no known magic number)", record: false)
        }
        format = detected
        guard case .pcap(let ns, let be) = detected else { return }  // pcapng: the first block is the section header
        nanosecond = ns
        bigEndian = be
        guard try fill(24) else {
            throw failure(.truncatedFileHeader, "pcap file header needs 24 bytes, file has \(available)", record: false)
        }
        let r = fields
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
        pcapLinkType = rawLinkType & 0xFFFF
        declaredLinkTypes = [pcapLinkType]
        // libpcap accepts records up to the link type's maximum even above the snap
        // length; WireCap's bound is that maximum or the snap length, at most 16 MiB.
        pcapLimit = max(min(snap, TraceReader.maximumBlockLength), TraceReader.maximumCaptureLength)
        consume(24)
    }

    // MARK: Records

    /// The next packet, or `nil` at the end of the input. Its `data` is valid until
    /// the next call (the window may move).
    /// - Throws: ``TraceError`` at a damaged or cut-short record.
    public mutating func next() throws(TraceError) -> CapturedPacket? {
        switch format {
        case .pcap: return try nextPcap()
        case .pcapng: return try nextPcapNG()
        }
    }

    private mutating func nextPcap() throws(TraceError) -> CapturedPacket? {
        guard try fill(16) else {
            if available == 0 { return nil }
            throw failure(.truncatedRecord, "record header cut short: \(available) of 16 bytes")
        }
        var r = fields
        let seconds = UInt64(r.u32(0))
        let fraction = UInt64(r.u32(4))
        let captured = Int(r.u32(8))
        let original = r.u32(12)
        guard captured <= pcapLimit else {
            throw failure(.malformedRecord, "captured length \(captured) exceeds the limit \(pcapLimit)")
        }
        guard try fill(16 + captured) else {
            throw failure(.truncatedRecord, "packet data cut short: \(available - 16) of \(captured) bytes")
        }
        r = fields
        // No range check on the sub-second field, as libpcap (tcpdump and capinfos read
        // a nanosecond field of 1,000,000,000): it is added as it stands.
        let ts = seconds &* 1_000_000_000 &+ (nanosecond ? fraction : fraction &* 1000)
        let packet = CapturedPacket(timestamp: ts, originalLength: max(original, UInt32(captured)), linkType: pcapLinkType,
                                    data: UnsafeRawBufferPointer(rebasing: r.bytes[16..<(16 + captured)]))
        consume(16 + captured)
        recordIndex += 1
        packetsRead += 1
        return packet
    }

    private mutating func nextPcapNG() throws(TraceError) -> CapturedPacket? {
        while true {
            guard try fill(12) else {
                if available == 0 {
                    if recordIndex == 0 { throw failure(.truncatedFileHeader, "pcapng file has no section header block") }
                    return nil
                }
                throw failure(.truncatedRecord, "block header cut short: \(available) of 12 bytes")
            }
            let raw = UnsafeRawBufferPointer(start: base + head, count: available)
            if raw.loadUnaligned(as: UInt32.self) == 0x0A0D_0D0A {  // section header: byte order from its magic
                switch raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian {
                case 0x1A2B_3C4D: bigEndian = false
                case 0x4D3C_2B1A: bigEndian = true
                case let bom: throw failure(.malformedRecord, "unknown pcapng byte-order magic 0x" + String(bom, radix: 16))
                }
                interfaces = []
            } else if recordIndex == 0 {
                throw failure(.malformedRecord, "pcapng file does not start with a section header block")
            }
            var r = fields
            let type = r.u32(0)
            let length = Int(r.u32(4))
            guard length >= 12, length % 4 == 0 else { throw failure(.malformedRecord, "block length \(length) is not a multiple of 4 of at least 12") }
            guard length <= TraceReader.maximumBlockLength else {
                throw failure(.malformedRecord, "block length \(length) exceeds the limit \(TraceReader.maximumBlockLength) (libpcap's)")
            }
            guard try fill(length) else {
                throw failure(.truncatedRecord, "block of \(length) bytes cut short: \(available) bytes left")
            }
            r = fields
            guard Int(r.u32(length - 4)) == length else {
                throw failure(.malformedRecord, "trailing block length \(r.u32(length - 4)) differs from \(length)")
            }
            let packet = try block(type: type, r, bodyStart: 8, bodyEnd: length - 4)
            consume(length)
            recordIndex += 1
            if let packet {
                packetsRead += 1
                return packet
            }
        }
    }

    /// Interprets one whole block (`r.bytes` starts at it); a packet for packet blocks.
    private mutating func block(type: UInt32, _ r: TraceReader.Fields, bodyStart: Int, bodyEnd: Int) throws(TraceError) -> CapturedPacket? {
        let b = r.bytes
        switch type {
        case 0x0A0D_0D0A:
            guard bodyEnd - bodyStart >= 16 else { throw failure(.malformedRecord, "section header block too short") }
            // libpcap (sf-pcapng.c) reads versions 1.0 and 1.2 only.
            let major = r.u16(bodyStart + 4), minor = r.u16(bodyStart + 6)
            guard major == 1 && (minor == 0 || minor == 2) else {
                throw failure(.unknownFormat, "unsupported pcapng section version \(major).\(minor)")
            }
            return nil
        case 1:  // interface description
            guard bodyEnd - bodyStart >= 8 else { throw failure(.malformedRecord, "interface description block too short") }
            var iface = PcapNGInterface(linkType: UInt32(r.u16(bodyStart)), snapLength: Int(r.u32(bodyStart + 4)))
            var o = bodyStart + 8
            while o + 4 <= bodyEnd {
                let code = r.u16(o)
                let optLength = Int(r.u16(o + 2))
                if code == 0 { break }
                guard o + 4 + optLength <= bodyEnd else { throw failure(.malformedRecord, "option \(code) runs past its block") }
                if code == 9, optLength >= 1 {  // if_tsresol
                    let v = b[o + 4]
                    let exponent = UInt64(v & 0x7F)
                    if v & 0x80 != 0 {
                        guard exponent <= 63 else { throw failure(.malformedRecord, "if_tsresol 2^-\(exponent) unsupported") }
                        iface.unitsPerSecond = 1 << exponent
                    } else {
                        guard exponent <= 19 else { throw failure(.malformedRecord, "if_tsresol 10^-\(exponent) unsupported") }
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
            declaredLinkTypes.append(iface.linkType)
            return nil
        case 6, 2:  // enhanced packet block, obsolete packet block
            guard bodyEnd - bodyStart >= 20 else { throw failure(.malformedRecord, "packet block too short") }
            let ifIndex = type == 6 ? Int(r.u32(bodyStart)) : Int(r.u16(bodyStart))
            guard ifIndex < interfaces.count else {
                throw failure(.malformedRecord, "packet names interface \(ifIndex), only \(interfaces.count) described")
            }
            let iface = interfaces[ifIndex]
            let units = UInt64(r.u32(bodyStart + 4)) << 32 | UInt64(r.u32(bodyStart + 8))
            let captured = Int(r.u32(bodyStart + 12))
            let original = r.u32(bodyStart + 16)
            guard captured <= bodyEnd - bodyStart - 20 else {
                throw failure(.malformedRecord, "captured length \(captured) exceeds the block's \(bodyEnd - bodyStart - 20) data bytes")
            }
            guard let ts = TraceReader.nanoseconds(units: units, perSecond: iface.unitsPerSecond, offsetSeconds: iface.offsetSeconds) else {
                throw failure(.malformedRecord, "timestamp \(units) at \(iface.unitsPerSecond)/s (offset \(iface.offsetSeconds) s) is outside 1970 … 2554")
            }
            lastTimestamp = ts
            let start = bodyStart + 20
            return CapturedPacket(timestamp: ts, originalLength: max(original, UInt32(captured)), linkType: iface.linkType,
                                  data: UnsafeRawBufferPointer(rebasing: b[start..<(start + captured)]))
        case 3:  // simple packet block: interface 0, no timestamp (the previous one is reused)
            guard bodyEnd - bodyStart >= 4 else { throw failure(.malformedRecord, "simple packet block too short") }
            guard let iface = interfaces.first else { throw failure(.malformedRecord, "simple packet block before any interface") }
            let original = Int(r.u32(bodyStart))
            var captured = min(original, bodyEnd - bodyStart - 4)
            if iface.snapLength > 0 { captured = min(captured, iface.snapLength) }
            let start = bodyStart + 4
            return CapturedPacket(timestamp: lastTimestamp, originalLength: UInt32(original), linkType: iface.linkType,
                                  data: UnsafeRawBufferPointer(rebasing: b[start..<(start + captured)]))
        default:
            return nil  // name resolution, statistics, custom, …: skipped
        }
    }
}

/// A pcapng interface as its description block declares it.
struct PcapNGInterface {
    var linkType: UInt32
    var snapLength: Int
    var unitsPerSecond: UInt64 = 1_000_000
    var offsetSeconds: Int64 = 0
}
