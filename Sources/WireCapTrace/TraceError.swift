/// A trace file that could not be read completely.
///
/// Names the file, the record (0-based; a pcap record or a pcapng block) and the
/// byte offset where reading stopped, and keeps every packet read before it in
/// ``partial``, so a truncated capture is still usable.
public struct TraceError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Sendable, Hashable {
        /// The file could not be opened or read.
        case unreadable
        /// Neither pcap nor pcapng magic.
        case unknownFormat
        /// The file header is shorter than the format requires.
        case truncatedFileHeader
        /// A record header or block is cut short by the end of the file.
        case truncatedRecord
        /// A length or field is impossible (e.g. a captured length over the limit).
        case malformedRecord
    }
    /// The file (as given to the reader).
    public var file: String
    /// The category.
    public var kind: Kind
    /// 0-based index of the failing record (pcap record or pcapng block), when known.
    public var recordIndex: Int?
    /// Byte offset of the failing record's start.
    public var byteOffset: Int
    /// One line for people.
    public var detail: String
    /// Packets read before the failure.
    public var partial: PacketTrace?

    public init(file: String, kind: Kind, recordIndex: Int?, byteOffset: Int, detail: String, partial: PacketTrace? = nil) {
        self.file = file
        self.kind = kind
        self.recordIndex = recordIndex
        self.byteOffset = byteOffset
        self.detail = detail
        self.partial = partial
    }

    /// `file: record 12 (byte 1234): detail (N packets read before)`.
    public var description: String {
        var s = file + ": "
        if let r = recordIndex { s += "record \(r) (byte \(byteOffset)): " }
        s += detail
        if let p = partial { s += " (\(p.count) packets read before)" }
        return s
    }
}

extension TraceError {
    /// `true` when the file simply ends in the middle of a record (a capture cut off
    /// by a full disk or a kill): every packet before the cut is whole, and readers
    /// keep them, as tcpdump does, with one warning.
    public var isCutShort: Bool { kind == .truncatedRecord }

    /// The warning printed for a cut-short file.
    public func cutShortWarning(packetsRead: Int) -> String {
        "\(description); the \(packetsRead) complete packet\(packetsRead == 1 ? "" : "s") before the cut were read"
    }
}

