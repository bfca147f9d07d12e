#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a classic pcap file with nanosecond timestamps (magic `0xa1b23c4d`,
/// little-endian), for synthetic traces and tests.
///
/// - warning: Not thread-safe; call ``close()`` (or let it deinit) to flush.
public final class PcapWriter {
    /// The file being written.
    public let path: String
    /// Longest captured length; longer packets are truncated (their original length is kept).
    public let snapLength: Int
    private var file: UnsafeMutablePointer<FILE>?
    private var buffer: [UInt8] = []

    /// Creates (truncates) `path` and writes the file header.
    public init(path: String, linkType: LinkType = .ethernet, snapLength: Int = 65535) throws(TraceError) {
        self.path = path
        self.snapLength = snapLength
        guard let f = fopen(path, "wb") else {
            throw TraceError(file: path, kind: .unreadable, recordIndex: nil, byteOffset: 0,
                             detail: "cannot create (\(String(cString: strerror(errno))))")
        }
        file = f
        buffer.reserveCapacity(1 << 20)
        put32(0xA1B2_3C4D); put16(2); put16(4); put32(0); put32(0)
        put32(UInt32(snapLength)); put32(linkType.rawValue)
    }

    deinit { close() }

    private func put16(_ v: UInt16) { buffer.append(UInt8(v & 0xFF)); buffer.append(UInt8(v >> 8)) }
    private func put32(_ v: UInt32) { put16(UInt16(v & 0xFFFF)); put16(UInt16(v >> 16)) }

    /// Appends one record: `timestamp` ns since the epoch, the frame's bytes, and
    /// its original length (≥ `frame.count`).
    public func write(timestamp: UInt64, frame: UnsafeRawBufferPointer, originalLength: Int? = nil) {
        let captured = min(frame.count, snapLength)
        put32(UInt32(truncatingIfNeeded: timestamp / 1_000_000_000))
        put32(UInt32(timestamp % 1_000_000_000))
        put32(UInt32(captured))
        put32(UInt32(max(originalLength ?? frame.count, captured)))
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: frame[0..<captured]))
        if buffer.count >= 1 << 20 { flush() }
    }

    /// Writes buffered records to the file.
    public func flush() {
        guard let f = file, !buffer.isEmpty else { return }
        _ = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes the file. Further writes are ignored.
    public func close() {
        flush()
        if let f = file { fclose(f) }
        file = nil
    }
}

/// Builds Ethernet frames carrying a given 5-tuple (for synthetic traces written to pcap).
public enum FrameBuilder {
    /// An Ethernet II frame of `length` bytes (FCS excluded, at least 60 after
    /// padding) carrying an IPv4/IPv6 header and a UDP or TCP header for `tuple`,
    /// or an experimental EtherType (0x88B5) frame when `tuple` is nil.
    public static func frame(for tuple: FiveTuple?, length: Int) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: max(length, 60))
        // Locally administered MACs.
        f[0] = 0x02; f[5] = 0x01; f[6] = 0x02; f[11] = 0x02
        func be16(_ o: Int, _ v: UInt16) { f[o] = UInt8(v >> 8); f[o + 1] = UInt8(v & 0xFF) }
        func be32(_ o: Int, _ v: UInt32) { be16(o, UInt16(v >> 16)); be16(o + 2, UInt16(v & 0xFFFF)) }
        func be64(_ o: Int, _ v: UInt64) { be32(o, UInt32(v >> 32)); be32(o + 4, UInt32(v & 0xFFFF_FFFF)) }
        guard let t = tuple else { be16(12, 0x88B5); return f }
        var l4: Int
        if t.version == 6 {
            be16(12, 0x86DD)
            let need = 14 + 40 + 20
            if f.count < need { f += [UInt8](repeating: 0, count: need - f.count) }
            f[14] = 0x60
            be16(18, UInt16(clamping: f.count - 54))
            f[20] = t.proto; f[21] = 64
            be64(22, t.source.high); be64(30, t.source.low)
            be64(38, t.destination.high); be64(46, t.destination.low)
            l4 = 54
        } else {
            be16(12, 0x0800)
            let need = 14 + 20 + 20
            if f.count < need { f += [UInt8](repeating: 0, count: need - f.count) }
            f[14] = 0x45
            be16(16, UInt16(clamping: f.count - 14))
            f[22] = 64; f[23] = t.proto
            be32(26, t.source.v4); be32(30, t.destination.v4)
            // IPv4 header checksum.
            var sum: UInt32 = 0
            for o in stride(from: 14, to: 34, by: 2) { sum += UInt32(f[o]) << 8 | UInt32(f[o + 1]) }
            while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
            be16(24, ~UInt16(sum))
            l4 = 34
        }
        if t.hasPorts {
            be16(l4, t.sourcePort); be16(l4 + 2, t.destinationPort)
            if t.proto == 17 { be16(l4 + 4, UInt16(clamping: f.count - l4)) }
            if t.proto == 6 { f[l4 + 12] = 0x50; f[l4 + 13] = 0x10 }  // data offset 5, ACK
        }
        return f
    }
}

extension PacketTrace {
    /// Writes the trace as a nanosecond pcap of Ethernet frames built from the flow
    /// tuples, starting at ``startNanoseconds``; frames longer than `snapLength` are
    /// truncated with their original length kept.
    public func writePcap(path: String, snapLength: Int = 65535) throws(TraceError) {
        let w = try PcapWriter(path: path, snapLength: snapLength)
        for k in 0..<count {
            let length = Int(lengths[k])
            let frame = FrameBuilder.frame(for: flowTuples[Int(flows[k])], length: min(length, snapLength))
            frame.withUnsafeBytes { w.write(timestamp: startNanoseconds &+ timestamps[k], frame: $0, originalLength: length) }
        }
        w.close()
    }
}
