/// One packet seen in place in its chunk's memory (zero-copy): the one packet
/// view of WireCap, for consumers, the writer, the API's handles and analyzers.
///
/// A `Packet` is only valid inside the closure it is passed to
/// (``CaptureConsumer/withPackets(of:_:)``, the API's `dispatch`, `loop`,
/// `Chunk.forEach`, …): the frame belongs to a chunk that goes back to the
/// kernel as soon as the closure returns. Never store `bytes` or the view; copy
/// what must outlive the call (``CopiedPacket/init(_:)``).
///
/// Why it is not `~Escapable`: in Swift 6.3 a non-escapable type with an
/// initializer needs the experimental `Lifetimes` feature (`@_lifetime`), which a
/// library should not ship, and `bytes` must stay an `UnsafeRawBufferPointer` for
/// C callers (libpcap, checksum code). The rule is documented and kept by the
/// closure-scoped API; the view becomes `~Escapable` with a `RawSpan` when
/// lifetime annotations are part of the language.
@frozen
public struct Packet {
    /// The captured bytes from the link-layer header on, at most the snapshot length.
    public let bytes: UnsafeRawBufferPointer
    /// Length of the packet on the wire (≥ `bytes.count`; larger when the snapshot length cut it).
    public let wireLength: Int
    /// Capture time, CLOCK_REALTIME nanoseconds.
    public let timestamp: UInt64
    /// The device rx queue whose consumer processes the packet (where it was delivered).
    public let queue: Int
    /// The device rx queue the packet arrived on; differs from ``queue`` after an offload.
    public let originQueue: Int
    /// LINKTYPE_* of `bytes` (1: Ethernet, the live engine's only type).
    public let linkType: UInt32

    /// Captured length in bytes (`bytes.count`).
    @inlinable public var capturedLength: Int { bytes.count }
    /// `true` when a buddy's capture thread captured this packet (advanced mode offload).
    @inlinable public var wasOffloaded: Bool { queue != originQueue }

    /// Makes a view. Only code that owns the memory for the view's lifetime may call this.
    @inlinable
    public init(bytes: UnsafeRawBufferPointer, wireLength: Int, timestamp: UInt64, queue: Int,
                originQueue: Int, linkType: UInt32 = 1) {
        self.bytes = bytes
        self.wireLength = wireLength
        self.timestamp = timestamp
        self.queue = queue
        self.originQueue = originQueue
        self.linkType = linkType
    }
}

/// A packet copied out of its chunk: safe to keep, costs an allocation
/// (what ``CaptureHandle/next()`` and the async sequence hand out).
public struct CopiedPacket: Sendable, Hashable {
    /// The captured bytes.
    public var bytes: [UInt8]
    /// Length on the wire.
    public var wireLength: Int
    /// Capture time, CLOCK_REALTIME nanoseconds.
    public var timestamp: UInt64
    /// The rx queue whose handle delivered it.
    public var queue: Int
    /// The rx queue it arrived on.
    public var originQueue: Int

    /// Copies a view.
    public init(_ packet: Packet) {
        bytes = Array(packet.bytes)
        wireLength = packet.wireLength
        timestamp = packet.timestamp
        queue = packet.queue
        originQueue = packet.originQueue
    }

    /// Calls `body` with a view of the copy (for code written against ``Packet``).
    public func withPacket<R>(_ body: (Packet) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            try body(Packet(bytes: raw, wireLength: wireLength, timestamp: timestamp, queue: queue, originQueue: originQueue))
        }
    }
}
