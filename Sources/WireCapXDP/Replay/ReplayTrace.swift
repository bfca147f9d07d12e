import WireCapTrace

/// A trace file loaded for replay: every packet as an Ethernet frame in one
/// contiguous buffer, with its recorded timestamp and its tx queue.
///
/// Non-Ethernet link types get a synthetic Ethernet header (02:00:00:00:00:01 →
/// 02:00:00:00:00:02, EtherType from the SLL/SLL2 protocol field or the IP
/// version nibble); frames longer than `maximumFrame` are left out and counted.
public struct ReplayTrace: Sendable {
    /// How packets are spread over the tx queues.
    public enum Steering: Sendable, Hashable {
        /// `queue = (toeplitz(key, tuple) & 127) mod n` (an 82599-style 128-entry
        /// table filled round-robin); packets without a 5-tuple go to queue 0.
        case toeplitz(key: [UInt8])
        /// Packet k to queue k mod n.
        case roundRobin
    }

    public let file: String
    /// All frames back to back.
    public let bytes: [UInt8]
    /// Per packet: offset into `bytes`, length, ns since the first packet, tx queue index.
    public let offsets: [Int]
    public let lengths: [Int]
    public let timestamps: [UInt64]
    public let queues: [Int]
    /// Packets left out (too long for the link, or of an unknown link type).
    public let skipped: Int
    /// The trace's link type (LINKTYPE_*).
    public let linkType: UInt32

    public var count: Int { offsets.count }
    /// Recorded duration, first to last packet.
    public var durationNanoseconds: UInt64 { timestamps.last ?? 0 }

    /// Set when the file ended in the middle of a record: the packets before the cut were kept.
    public private(set) var truncation: TraceError?

    /// Reads `path` (pcap or pcapng) and steers it over `queueCount` queues.
    /// - Throws: ``TraceError`` (file and record index) for unreadable or malformed files.
    public init(path: String, queueCount: Int, steering: Steering, maximumFrame: Int = 1514) throws(TraceError) {
        file = path
        let image = try TraceReader.loadFile(path)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(image.count)
        var offsets: [Int] = [], lengths: [Int] = [], timestamps: [UInt64] = [], queues: [Int] = []
        var skipped = 0
        var first: UInt64?
        var link: UInt32 = 1
        let hasher: ToeplitzHasher? = { if case .toeplitz(let key) = steering { return ToeplitzHasher(key: key) } else { return nil } }()
        let result: Result<Void, TraceError> = image.withUnsafeBytes { raw in
            Result { () throws(TraceError) in
                try TraceReader.forEachPacket(in: raw, file: path) { p in
                    link = p.linkType
                    guard let (header, payload) = Self.ethernetParts(linkType: p.linkType, data: p.data),
                          header.count + payload.count <= maximumFrame, header.count + payload.count >= 14
                    else { skipped += 1; return }
                    let start = bytes.count
                    bytes.append(contentsOf: header)
                    bytes.append(contentsOf: payload)
                    let frameLength = bytes.count - start
                    let ts = p.timestamp
                    if first == nil { first = ts }
                    // Out-of-order stamps (merged captures) keep file order: clamp to the previous one.
                    let relative = max(ts >= first! ? ts - first! : 0, timestamps.last ?? 0)
                    let queue: Int
                    if queueCount <= 1 {
                        queue = 0
                    } else if let hasher {
                        let tuple = bytes.withUnsafeBytes {
                            FiveTuple.extract(linkType: 1, frame: UnsafeRawBufferPointer(rebasing: $0[start..<(start + frameLength)]))
                        }
                        queue = tuple.map { WireCapTrace.Steering.rssQueue(hash: hasher.hash($0), queues: queueCount) } ?? 0
                    } else {
                        queue = offsets.count % queueCount
                    }
                    offsets.append(start); lengths.append(frameLength); timestamps.append(relative); queues.append(queue)
                }
            }
        }
        self.bytes = bytes; self.offsets = offsets; self.lengths = lengths
        self.timestamps = timestamps; self.queues = queues; self.skipped = skipped; linkType = link
        // A file cut short keeps the whole packets before the cut (``truncation`` says so).
        do throws(TraceError) { try result.get() } catch where error.isCutShort { truncation = error }
    }

    static let syntheticMACs: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]

    /// The Ethernet header to put in front of `data` (empty for Ethernet) and the rest.
    static func ethernetParts(linkType: UInt32, data: UnsafeRawBufferPointer) -> ([UInt8], UnsafeRawBufferPointer)? {
        func ether(_ type: UInt16, _ skip: Int) -> ([UInt8], UnsafeRawBufferPointer)? {
            guard data.count >= skip else { return nil }
            return (syntheticMACs + [UInt8(type >> 8), UInt8(type & 0xFF)], UnsafeRawBufferPointer(rebasing: data[skip...]))
        }
        func ipType(_ o: Int) -> UInt16? {
            guard data.count > o else { return nil }
            switch data[o] >> 4 { case 4: return 0x0800; case 6: return 0x86DD; default: return nil }
        }
        switch linkType {
        case 1: return ([], data)
        case 113:  // SLL: protocol at 14, header 16
            guard data.count >= 16 else { return nil }
            return ether(UInt16(data[14]) << 8 | UInt16(data[15]), 16)
        case 276:  // SLL2: protocol at 0, header 20
            guard data.count >= 20 else { return nil }
            return ether(UInt16(data[0]) << 8 | UInt16(data[1]), 20)
        case 101, 12, 14, 228, 229:
            guard let t = ipType(0) else { return nil }
            return ether(t, 0)
        default:
            return nil
        }
    }
}
