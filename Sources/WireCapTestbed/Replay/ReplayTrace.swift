import WireCapTrace
import WireCapCore
import WireCapSystem
import WireCapEngine
import WireCapXDP

/// A trace file read for replay as a stream: each packet as an Ethernet frame,
/// with its time since the first packet and its tx queue. Memory stays bounded
/// whatever the file's size (the file is read through a ``TraceStream``).
///
/// Non-Ethernet link types get a synthetic Ethernet header (02:00:00:00:00:01 →
/// 02:00:00:00:00:02, EtherType from the SLL/SLL2 protocol field or the IP
/// version nibble); frames longer than `maximumFrame` are left out and counted.
/// Used by one thread at a time.
public final class ReplayTrace: @unchecked Sendable {
    /// How packets are spread over the tx queues.
    public enum Steering: Sendable, Hashable {
        /// `queue = (toeplitz(key, tuple) & 127) mod n` (an 82599-style 128-entry
        /// table filled round-robin); packets without a 5-tuple go to queue 0.
        case toeplitz(key: [UInt8])
        /// Packet k to queue k mod n.
        case roundRobin
    }

    public let file: String
    /// Tx queues the packets are steered over.
    public let queueCount: Int
    /// Frames handed out in this pass.
    public private(set) var count = 0
    /// Packets left out in this pass (too long for the link, or of an unknown link type).
    public private(set) var skipped = 0
    /// The link type (LINKTYPE_*) of the last packet read (the header's before any).
    public private(set) var linkType: UInt32
    /// Time since the first packet of the last frame handed out.
    public private(set) var durationNanoseconds: UInt64 = 0
    /// Set when the file ended in the middle of a record: the packets before the cut were handed out.
    public private(set) var truncation: TraceError?

    private var stream: TraceStream
    private let hasher: ToeplitzHasher?
    private let maximumFrame: Int
    private var first: UInt64?

    private let steering: Steering

    /// Opens `path` (pcap or pcapng, a file or a pipe) and reads its header.
    /// - Throws: ``TraceError`` for unreadable files or a bad header.
    public init(path: String, queueCount: Int, steering: Steering, maximumFrame: Int = 1514) throws(TraceError) {
        file = path
        self.steering = steering
        self.queueCount = max(1, queueCount)
        self.maximumFrame = maximumFrame
        stream = try TraceStream(path: path)
        linkType = stream.declaredLinkTypes.first ?? 1
        if case .toeplitz(let key) = steering { hasher = ToeplitzHasher(key: key) } else { hasher = nil }
    }

    /// The next frame to send, or `nil` at the end (a cut-short end sets ``truncation``).
    /// Its bytes are valid until the next call.
    /// - Throws: ``TraceError`` at a damaged record (the frames before it were handed out).
    public func next() throws(TraceError) -> ReplayFrame? {
        while true {
            let packet: CapturedPacket
            do throws(TraceError) {
                guard let p = try stream.next() else { return nil }
                packet = p
            } catch where error.isCutShort {
                truncation = error
                return nil
            }
            linkType = packet.linkType
            guard let (etherType, payload) = Self.ethernetParts(linkType: packet.linkType, data: packet.data) else {
                skipped += 1
                continue
            }
            let length = (etherType == nil ? 0 : 14) + payload.count
            guard length <= maximumFrame, length >= 14 else { skipped += 1; continue }
            let ts = packet.timestamp
            let origin = first ?? ts
            first = origin
            // Out-of-order stamps (merged captures) keep file order: clamp to the previous one.
            durationNanoseconds = max(ts >= origin ? ts - origin : 0, durationNanoseconds)
            let queue: Int
            if queueCount <= 1 {
                queue = 0
            } else if let hasher {
                // The 5-tuple of the frame as sent: Ethernet as it is, or the IP packet behind a synthetic header.
                let tuple = etherType == nil ? FiveTuple.extract(linkType: 1, frame: payload)
                    : FiveTuple.extract(linkType: 101, frame: payload)
                queue = tuple.map { WireCapTrace.Steering.rssQueue(hash: hasher.hash($0), queues: queueCount) } ?? 0
            } else {
                queue = count % queueCount
            }
            count += 1
            return ReplayFrame(etherType: etherType, payload: payload, timestamp: durationNanoseconds, queue: queue)
        }
    }

    /// The same file opened again from its start (another reader of a file; not for a pipe).
    public func reopened() throws(TraceError) -> ReplayTrace {
        try ReplayTrace(path: file, queueCount: queueCount, steering: steering, maximumFrame: maximumFrame)
    }

    /// Whether ``rewind()`` can work (the input is a file, not a pipe).
    public var canRewind: Bool { stream.canRewind }

    /// Starts a new pass at the first packet (for `--loop`); the counts start again.
    /// - Throws: ``TraceError`` when the input cannot be read again (a pipe).
    public func rewind() throws(TraceError) {
        try stream.rewind()
        count = 0; skipped = 0; durationNanoseconds = 0; first = nil; truncation = nil
    }
}

/// One frame of a ``ReplayTrace``, valid until the trace's next `next()`.
public struct ReplayFrame {
    /// The EtherType of the synthetic Ethernet header put in front of `payload`
    /// (`nil`: `payload` is the whole Ethernet frame).
    public var etherType: UInt16?
    /// The captured bytes after the link-layer header (or the whole Ethernet frame).
    public var payload: UnsafeRawBufferPointer
    /// Time since the first packet, ns (non-decreasing).
    public var timestamp: UInt64
    /// The tx queue index (into the replay's queue list).
    public var queue: Int

    /// Frame length on the wire.
    public var length: Int { (etherType == nil ? 0 : 14) + payload.count }

    /// Writes the frame to `destination` (``length`` bytes).
    public func write(to destination: UnsafeMutableRawPointer) {
        var at = destination
        if let etherType {
            ReplayTrace.syntheticMACs.withUnsafeBytes { at.copyMemory(from: $0.baseAddress!, byteCount: 12) }
            at.storeBytes(of: etherType.bigEndian, toByteOffset: 12, as: UInt16.self)
            at += 14
        }
        if payload.count > 0 { at.copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
    }

    /// The frame as bytes (for tests and tools; allocates).
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: length) { b, n in write(to: UnsafeMutableRawPointer(b.baseAddress!)); n = length }
    }
}

extension ReplayTrace {
    static let syntheticMACs: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]

    /// The EtherType of the synthetic Ethernet header to put in front of `data`
    /// (`nil` for Ethernet, which is sent as it is) and the rest; `nil` for what
    /// cannot be sent as Ethernet.
    package static func ethernetParts(linkType: UInt32, data: UnsafeRawBufferPointer) -> (UInt16?, UnsafeRawBufferPointer)? {
        guard let h = PacketHeaders.parse(data, linkType: linkType) else { return nil }
        if linkType == 1 { return (nil, data) }
        guard h.etherType != 0 else { return nil }
        return (h.etherType, UnsafeRawBufferPointer(rebasing: data[h.networkOffset...]))
    }
}
