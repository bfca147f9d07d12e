#if canImport(Glibc)
import Glibc
#endif
import WireCapCore
import WireCapSystem
import WireCapEngine

/// The container a capture is written in.
public enum CaptureFileFormat: String, Sendable, CaseIterable {
    /// Classic libpcap with nanosecond timestamps (magic `0xa1b23c4d`, little-endian).
    case pcap
    /// pcapng: one section, one interface description block per rx queue
    /// (`if_name` = `IF@qN`, `if_tsresol` = 9, nanoseconds, and an `opt_comment`
    /// naming the timestamp source), enhanced packet blocks
    /// whose interface id is the queue's index: tshark's `frame.interface_id`.
    case pcapng
}

/// Rotation like tcpdump's `-C`, `-G` and `-W`.
public struct RotationPolicy: Sendable, Hashable {
    /// `-C`: start a new file before one would exceed this many bytes (tcpdump's
    /// unit: 1,000,000 bytes per "MB").
    public var maximumBytes: Int?
    /// `-G`: start a new file when a packet's timestamp is this many ns after the file was opened.
    public var maximumNanoseconds: UInt64?
    /// `-W`: a ring of this many files, overwritten in turn.
    public var fileCount: Int?

    public init(maximumBytes: Int? = nil, maximumNanoseconds: UInt64? = nil, fileCount: Int? = nil) {
        self.maximumBytes = maximumBytes
        self.maximumNanoseconds = maximumNanoseconds
        self.fileCount = fileCount
    }

    /// No rotation: one file.
    public var rotates: Bool { maximumBytes != nil || maximumNanoseconds != nil }

    /// The name of file number `index` (0-based) of `base`, as tcpdump names them:
    /// without `-W`: `base`, `base1`, `base2`, …; with `-W N`: `base0` … `base(N-1)`
    /// zero-padded to the digits of N, reused in turn.
    public func path(base: String, index: Int) -> String {
        if let n = fileCount, rotates {
            let digits = String(n).count
            let k = String(index % n)
            return base + String(repeating: "0", count: max(0, digits - k.count)) + k
        }
        return index == 0 ? base : base + String(index)
    }
}

/// The counters of one pcapng Interface Statistics Block (pcapng §4.6), written for
/// each interface when a file closes, as dumpcap does. From the loss ledger.
public struct InterfaceStatistics: Sendable, Hashable {
    /// `isb_ifrecv`: packets the interface (queue) received: the ledger's `offered`.
    public var received: UInt64 = 0
    /// `isb_ifdrop`: dropped by the interface for lack of resources: `before-socket`.
    public var interfaceDropped: UInt64 = 0
    /// `isb_filteraccept`: accepted by the capture filter: received by WireCap minus `filtered`.
    public var filterAccepted: UInt64 = 0
    /// `isb_osdrop`: dropped by the kernel and WireCap (every other loss cause).
    public var systemDropped: UInt64 = 0
    /// `isb_usrdeliv`: delivered to the user: packets written to the file(s) so far.
    public var delivered: UInt64 = 0

    public init() {}
}

/// One output stream of a capture: a file, or a rotating set of files, written
/// with vectored writes straight from UMEM (headers from a preallocated area,
/// packet bytes in place).
///
/// Records are queued as iovecs and written by ``flush()`` (or when the batch is
/// full, or before a rotation); the packet memory must stay valid until then.
/// Nothing is allocated per packet.
///
/// - warning: One thread (the writer's).
@_spi(Benchmarks) public final class CaptureFile {
    static let batchRecords = 340          // 3 iovecs per record, ≤ IOV_MAX (1024)
    static let headerStride = 32

    package let base: String
    package let format: CaptureFileFormat
    package let snapLength: Int
    package let linkType: UInt32
    package let interfaceNames: [String]
    package let rotation: RotationPolicy
    private(set) var fd: Int32 = -1
    private(set) var fileIndex = -1
    private(set) var filesOpened = 0
    private var fileBytes = 0          // bytes in the current file (written + queued)
    private var fileHasPackets = false
    private var openedAt: UInt64 = 0
    private let iov: UnsafeMutablePointer<iovec>
    private var iovCount = 0
    private var records = 0
    private let headers: UnsafeMutableRawPointer
    private let fileHeader: UnsafeMutableRawPointer
    private var fileHeaderLength = 0
    /// Per queued record: its origin queue and where it ends in the batch (bytes),
    /// so a failed write keeps the whole records and blames the rest on their queues.
    private let batchOrigins: UnsafeMutablePointer<Int>
    private let batchEnds: UnsafeMutablePointer<Int>
    private var batchBytes = 0
    /// Bytes of the current file known to be on disk (a record boundary).
    private var durableBytes = 0
    /// Per origin queue: packets written / lost to a write error.
    private(set) var writtenByOrigin: [Int]
    private(set) var lostByOrigin: [Int]
    /// The first write error; once set the file takes nothing more (every later
    /// packet is lost and counted), and it ends on the last whole record.
    private(set) var failure: XDPError?
    /// pcapng: the statistics of interface id `k` when a file closes (rotation or the
    /// end); each becomes an Interface Statistics Block after the last packet.
    var statisticsAtClose: ((Int) -> InterfaceStatistics)?
    /// Packets and bytes (records) written.
    private(set) var packets = 0
    private(set) var bytes = 0

    @_spi(Benchmarks) public init(base: String, format: CaptureFileFormat, snapLength: Int, linkType: UInt32, interfaceNames: [String],
         rotation: RotationPolicy, origins: Int = 1) {
        writtenByOrigin = Array(repeating: 0, count: max(1, origins))
        lostByOrigin = Array(repeating: 0, count: max(1, origins))
        batchOrigins = .allocate(capacity: Self.batchRecords)
        batchEnds = .allocate(capacity: Self.batchRecords)
        self.base = base
        self.format = format
        self.snapLength = snapLength
        self.linkType = linkType
        self.interfaceNames = interfaceNames
        self.rotation = rotation
        iov = .allocate(capacity: Self.batchRecords * 3)
        headers = .allocate(byteCount: Self.batchRecords * Self.headerStride * 2, alignment: 8)
        // The section header and, per interface, its block with the longest name and the comment.
        fileHeader = .allocate(byteCount: 64 + interfaceNames.count * (48 + 68 + Self.timestampComment.utf8.count), alignment: 8)
    }

    /// Each pcapng interface's `opt_comment`: where its timestamps come from.
    static let timestampComment = "timestamps: the kernel's, per packet at arrival (AF_XDP: the XDP program's bpf_ktime_get_ns, CLOCK_MONOTONIC converted to wall-clock time once per batch; AF_PACKET: TPACKET_V3's), nanoseconds; a packet the kernel did not stamp carries its capture thread's time"


    deinit {
        iov.deallocate(); headers.deallocate(); fileHeader.deallocate()
        batchOrigins.deallocate(); batchEnds.deallocate()
        if fd >= 0 { Sys.close(fd) }
    }

    /// Opens the next file of the set and queues its header. `now`: CLOCK_REALTIME ns.
    @_spi(Benchmarks) public func open(now: UInt64) throws(XDPError) {
        if fd >= 0 {
            try flush()
            writeStatisticsBlocks(now: max(now, openedAt))
            Sys.close(fd)
            fd = -1
        }
        fileIndex += 1
        let path = rotation.path(base: base, index: fileIndex)
        do {
            fd = try syscall("open(\(path))") { Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        } catch {
            var e = error
            if e.errno == EACCES || e.errno == EPERM {
                // A file's permissions, not a capability: say whose.
                e.kind = .system
                e.message = "cannot create \(path): \(e.errnoDescription) (uid \(getuid()) may not write there\(getuid() != 0 ? "; after -Z that is the dropped user" : ""))"
            }
            if failure == nil { failure = e }
            throw e
        }
        filesOpened += 1
        openedAt = now
        fileHasPackets = false
        durableBytes = 0
        batchBytes = 0
        buildFileHeader()
        iov[iovCount] = iovec(iov_base: fileHeader, iov_len: fileHeaderLength)
        iovCount += 1
        batchBytes = fileHeaderLength
        fileBytes = fileHeaderLength
    }

    private func buildFileHeader() {
        var o = 0
        func u8(_ v: UInt8) { fileHeader.storeBytes(of: v, toByteOffset: o, as: UInt8.self); o += 1 }
        func u16(_ v: UInt16) { fileHeader.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt16.self); o += 2 }
        func u32(_ v: UInt32) { fileHeader.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self); o += 4 }
        switch format {
        case .pcap:
            u32(0xA1B2_3C4D); u16(2); u16(4); u32(0); u32(0); u32(UInt32(snapLength)); u32(linkType)
        case .pcapng:
            // Section header block: no options, section length unknown (-1).
            u32(0x0A0D_0D0A); u32(28); u32(0x1A2B_3C4D); u16(1); u16(0); u32(0xFFFF_FFFF); u32(0xFFFF_FFFF); u32(28)
            for name in interfaceNames {
                let utf8 = Array(name.utf8.prefix(64))
                let nameOption = 4 + (utf8.count + 3) & ~3
                let comment = Array(Self.timestampComment.utf8)
                let commentOption = 4 + (comment.count + 3) & ~3
                let length = 20 + commentOption + nameOption + 8 + 4
                u32(1); u32(UInt32(length)); u16(UInt16(truncatingIfNeeded: linkType)); u16(0); u32(UInt32(snapLength))
                u16(1); u16(UInt16(comment.count)); for b in comment { u8(b) }; while o % 4 != 0 { u8(0) }   // opt_comment
                u16(2); u16(UInt16(utf8.count)); for b in utf8 { u8(b) }; while o % 4 != 0 { u8(0) }   // if_name
                u16(9); u16(1); u8(9); u8(0); u8(0); u8(0)                                             // if_tsresol: ns
                u16(0); u16(0)                                                                          // opt_endofopt
                u32(UInt32(length))
            }
        }
        fileHeaderLength = o
    }

    /// Queues one packet (truncated to the snap length). Rotates first when the
    /// policy says so. `interface`: the pcapng interface id (queue index).
    @_spi(Benchmarks) public func append(_ packet: UnsafeRawBufferPointer, timestamp: UInt64, interface: Int,
                                         origin: Int = 0) throws(XDPError) {
        guard fd >= 0, failure == nil else {   // an open or a write failed (reported then)
            lost += 1
            lostByOrigin[origin] += 1
            return
        }
        let captured = min(packet.count, snapLength)
        let padding = format == .pcapng ? (4 - captured & 3) & 3 : 0
        let recordLength = format == .pcap ? 16 + captured : 32 + captured + padding
        do throws(XDPError) {
            if fileHasPackets {
                if let limit = rotation.maximumBytes, fileBytes + recordLength > limit { try open(now: timestamp) }
                else if let g = rotation.maximumNanoseconds, timestamp >= openedAt &+ g {
                    try open(now: timestamp - (timestamp - openedAt) % g)
                }
            }
            if records == Self.batchRecords || iovCount + 3 > Self.batchRecords * 3 { try flush() }
        } catch {
            // The rotation or the batch before this packet failed: this packet is lost too.
            lost += 1
            lostByOrigin[origin] += 1
            throw error
        }
        let h = headers + records * Self.headerStride * 2
        let t = h + Self.headerStride
        let seconds = UInt32(truncatingIfNeeded: timestamp / 1_000_000_000)
        let nanos = UInt32(timestamp % 1_000_000_000)
        switch format {
        case .pcap:
            h.storeBytes(of: seconds.littleEndian, toByteOffset: 0, as: UInt32.self)
            h.storeBytes(of: nanos.littleEndian, toByteOffset: 4, as: UInt32.self)
            h.storeBytes(of: UInt32(captured).littleEndian, toByteOffset: 8, as: UInt32.self)
            h.storeBytes(of: UInt32(packet.count).littleEndian, toByteOffset: 12, as: UInt32.self)
            iov[iovCount] = iovec(iov_base: h, iov_len: 16)
            iov[iovCount + 1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: packet.baseAddress), iov_len: captured)
            iovCount += 2
        case .pcapng:
            h.storeBytes(of: UInt32(6).littleEndian, toByteOffset: 0, as: UInt32.self)
            h.storeBytes(of: UInt32(recordLength).littleEndian, toByteOffset: 4, as: UInt32.self)
            h.storeBytes(of: UInt32(interface).littleEndian, toByteOffset: 8, as: UInt32.self)
            h.storeBytes(of: UInt32(truncatingIfNeeded: timestamp >> 32).littleEndian, toByteOffset: 12, as: UInt32.self)
            h.storeBytes(of: UInt32(truncatingIfNeeded: timestamp).littleEndian, toByteOffset: 16, as: UInt32.self)
            h.storeBytes(of: UInt32(captured).littleEndian, toByteOffset: 20, as: UInt32.self)
            h.storeBytes(of: UInt32(packet.count).littleEndian, toByteOffset: 24, as: UInt32.self)
            // Trailer: up to 3 zero bytes of padding, then the block length again.
            t.storeBytes(of: 0, toByteOffset: 0, as: UInt32.self)
            t.storeBytes(of: UInt32(recordLength).littleEndian, toByteOffset: padding, as: UInt32.self)
            iov[iovCount] = iovec(iov_base: h, iov_len: 28)
            iov[iovCount + 1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: packet.baseAddress), iov_len: captured)
            iov[iovCount + 2] = iovec(iov_base: t, iov_len: padding + 4)
            iovCount += 3
        }
        batchBytes += recordLength
        batchOrigins[records] = origin
        batchEnds[records] = batchBytes
        records += 1
        fileBytes += recordLength
        fileHasPackets = true
        packets += 1
        bytes += recordLength
        writtenByOrigin[origin] += 1
    }

    /// Records dropped because a write failed (disk full, …).
    private(set) var lost = 0

    /// Writes everything queued (`writev`, continuing after short writes).
    ///
    /// On an error (disk full, I/O error) the file is cut back (`ftruncate`) to the
    /// last record written whole, the records after it are counted as lost (per
    /// origin queue), and the file takes nothing more: its iovecs point into
    /// chunks that go back to the kernel right after, and a file with a hole in
    /// the middle would be worse than one that stops.
    @_spi(Benchmarks) public func flush() throws(XDPError) {
        var first = 0
        defer { iovCount = 0; records = 0; batchBytes = 0 }
        guard fd >= 0 else { return }
        var written = 0
        do throws(XDPError) { try writeBatch(&first, written: &written) } catch {
            // Whole records on disk: those whose end is within what was written.
            var whole = 0
            while whole < records && batchEnds[whole] <= written { whole += 1 }
            let keep = whole == 0 ? (written >= fileHeaderLength && durableBytes == 0 ? fileHeaderLength : 0)
                                  : batchEnds[whole - 1]
            _ = ftruncate(fd, off_t(durableBytes + keep))
            for k in whole..<records {
                lostByOrigin[batchOrigins[k]] += 1
                writtenByOrigin[batchOrigins[k]] -= 1
            }
            lost += records - whole
            packets -= records - whole
            if failure == nil { failure = error }
            throw error
        }
        durableBytes += batchBytes
    }

    private func writeBatch(_ first: inout Int, written: inout Int) throws(XDPError) {
        while first < iovCount {
            let n = try syscall("writev(\(rotation.path(base: base, index: fileIndex)))") {
                writev(fd, iov + first, Int32(min(iovCount - first, 1024)))
            }
            written += n
            // Skip what was written, trimming a partly written iovec.
            var left = n
            while left > 0 && first < iovCount {
                if left >= iov[first].iov_len { left -= iov[first].iov_len; first += 1 }
                else {
                    iov[first].iov_base = iov[first].iov_base! + left
                    iov[first].iov_len -= left
                    left = 0
                }
            }
            while first < iovCount && iov[first].iov_len == 0 { first += 1 }
        }
    }

    /// Flushes and closes the current file (pcapng: with its statistics blocks).
    @_spi(Benchmarks) public func close() throws(XDPError) {
        guard fd >= 0 else { return }
        defer { Sys.close(fd); fd = -1 }
        try flush()
        writeStatisticsBlocks(now: max(Sys.realtimeNanoseconds(), openedAt))
    }

    /// pcapng: one Interface Statistics Block per interface, from ``statisticsAtClose``:
    /// `isb_starttime` (the file's opening), `isb_endtime`, `isb_ifrecv`, `isb_ifdrop`,
    /// `isb_filteraccept`, `isb_osdrop`, `isb_usrdeliv`, in the interface's units (ns).
    /// Written once per file at its close (not on the packet path); skipped after a
    /// write failure (the file must end on a whole block).
    private func writeStatisticsBlocks(now: UInt64) {
        guard format == .pcapng, let statisticsAtClose, fd >= 0, failure == nil else { return }
        var block: [UInt8] = []
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { block += $0 } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { block += $0 } }
        func time(_ t: UInt64) { u32(UInt32(truncatingIfNeeded: t >> 32)); u32(UInt32(truncatingIfNeeded: t)) }
        func option(_ code: UInt16, _ value: UInt64) { u16(code); u16(8); withUnsafeBytes(of: value.littleEndian) { block += $0 } }
        for id in interfaceNames.indices {
            let s = statisticsAtClose(id)
            let start = block.count
            u32(5); u32(0); u32(UInt32(id)); time(now)
            u16(2); u16(8); time(openedAt)      // isb_starttime
            u16(3); u16(8); time(now)           // isb_endtime
            option(4, s.received)               // isb_ifrecv
            option(5, s.interfaceDropped)       // isb_ifdrop
            option(6, s.filterAccepted)         // isb_filteraccept
            option(7, s.systemDropped)          // isb_osdrop
            option(8, s.delivered)              // isb_usrdeliv
            u16(0); u16(0)                      // opt_endofopt
            let length = UInt32(block.count - start + 4)
            u32(length)
            block.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: length.littleEndian, toByteOffset: start + 4, as: UInt32.self)
            }
        }
        let written = block.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written != block.count {
            // A short write would leave half a block: cut the file back to its last packet.
            _ = ftruncate(fd, off_t(durableBytes))
        } else {
            durableBytes += block.count
        }
    }
}
