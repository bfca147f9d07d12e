import WireCapCore

extension CaptureHandle {
    // MARK: pcap_dispatch

    /// Processes the packets of at most one chunk (pcap_dispatch).
    ///
    /// Takes the chunk in progress or the next one (waiting up to the read timeout
    /// in blocking mode) and calls `body` for each of its packets that passes the
    /// filter, at most `maxPackets` of them (≤ 0: the whole chunk). Packets left in
    /// the chunk are processed by the next call. The chunk is recycled when its
    /// last packet was processed.
    ///
    /// - Returns: ``DispatchResult/processed(_:)`` with the number of packets passed
    ///   to `body` (0 on a timeout, or at once in non-blocking mode when nothing
    ///   waits); ``DispatchResult/broken`` when ``breakLoop()`` was called before a
    ///   packet was processed (the request is cleared); ``DispatchResult/finished``
    ///   when the source will deliver nothing more.
    /// - Throws: what `body` throws; the packet it threw on counts as processed.
    @inlinable
    public func dispatch<E: Error>(maxPackets: Int = 0, _ body: (Packet) throws(E) -> Void) throws(E) -> DispatchResult {
        try dispatch(maxPackets: maxPackets, wait: !isNonBlocking, body)
    }

    @inlinable
    func dispatch<E: Error>(maxPackets: Int, wait: Bool, _ body: (Packet) throws(E) -> Void) throws(E) -> DispatchResult {
        if breakRequestFlag { clearBreak(); return .broken }
        let (acquired, why) = acquire(wait: wait)
        guard let handle = acquired else {
            switch why {
            case .broken: clearBreak(); return .broken
            case .finished: return .finished
            default: return .processed(0)
            }
        }
        let packets = consumer.packets(of: handle)
        let limit = maxPackets <= 0 ? Int.max : maxPackets
        // Per-packet state in locals, written back once per call: no class property
        // is modified per packet (each would cost a dynamic exclusivity check).
        var next = position
        var rejected: UInt64 = 0
        var n = 0
        defer {
            position = next
            filteredCount &+= rejected
            processedCount &+= UInt64(n)
            if next >= packets.count { releaseCurrent() }
        }
        let snap = snapLength
        let matcher = self.matcher
        while next < packets.count, n < limit {
            if breakRequestFlag {
                if n == 0 { clearBreak(); return .broken }
                break
            }
            let packet = packets.packet(next, snapLength: snap)
            next &+= 1
            if let matcher, !matcher(packet.bytes, packet.wireLength) { rejected &+= 1; continue }
            n &+= 1
            try body(packet)
        }
        return .processed(n)
    }

    // MARK: pcap_loop

    /// Processes packets until `count` were passed to `body` (≤ 0: forever),
    /// ``breakLoop()`` is called, or the source finishes (pcap_loop).
    ///
    /// Timeouts do not end the loop; it always waits (sleeping, never spinning),
    /// also in non-blocking mode. A loop that stops in the middle of a chunk leaves
    /// the rest of the chunk to the next call.
    @inlinable
    public func loop<E: Error>(count: Int = 0, _ body: (Packet) throws(E) -> Void) throws(E) -> LoopResult {
        var remaining = count
        while true {
            let result = try dispatch(maxPackets: count > 0 ? remaining : 0, wait: true, body)
            switch result {
            case .broken: return .broken
            case .finished: return .finished
            case .processed(let n):
                if count > 0 {
                    remaining -= n
                    if remaining <= 0 { return .completed }
                }
            }
        }
    }

    // MARK: pcap_next_ex

    /// The next packet, copied (pcap_next_ex, but the packet is yours to keep).
    ///
    /// Allocates an array per packet: the convenient path. For zero-copy use
    /// ``withNext(_:)`` or ``dispatch(maxPackets:_:)``.
    public func next() -> NextResult<CopiedPacket> {
        withNext { CopiedPacket($0) }
    }

    /// Calls `body` with the next packet, in place (pcap_next_ex without a copy):
    /// the view is valid only inside `body`.
    ///
    /// - Returns: what `body` returned, or ``NextResult/timeout`` (nothing within the
    ///   read timeout, or nothing waiting in non-blocking mode),
    ///   ``NextResult/broken`` (breakLoop, cleared), ``NextResult/finished``.
    public func withNext<R, E: Error>(_ body: (Packet) throws(E) -> R) throws(E) -> NextResult<R> {
        var value: R?
        let result = try dispatch(maxPackets: 1, wait: !isNonBlocking) { (p: Packet) throws(E) in value = try body(p) }
        switch result {
        case .broken: return .broken
        case .finished: return .finished
        case .processed: return value.map { .packet($0) } ?? .timeout
        }
    }

    // MARK: Chunks (zero-copy batches)

    /// Calls `body` with the next chunk (or the rest of the one in progress), then
    /// recycles it to its owner. Blocking like ``dispatch(maxPackets:_:)``.
    ///
    /// The fastest path: one capture-queue operation per chunk, packets visited in
    /// place. The ``Chunk`` is borrowed: it cannot be stored or outlive `body`.
    public func withNextChunk<R, E: Error>(_ body: (borrowing Chunk) throws(E) -> R) throws(E) -> NextResult<R> {
        if breakRequestFlag { clearBreak(); return .broken }
        let (acquired, why) = acquire(wait: !isNonBlocking)
        guard let handle = acquired else {
            switch why {
            case .broken: clearBreak(); return .broken
            case .finished: return .finished
            default: return .timeout
            }
        }
        defer { releaseCurrent() }
        let chunk = Chunk(handle: self, packets: consumer.packets(of: handle).dropFirst(position))
        return .packet(try body(chunk))
    }
}

/// A captured chunk (or slice of one) lent to ``CaptureHandle/withNextChunk(_:)``.
///
/// Noncopyable and only borrowed: it cannot leave the closure, and neither can the
/// packets it shows. Filter and snap length apply as in `dispatch`.
public struct Chunk: ~Copyable {
    @usableFromInline let handle: CaptureHandle
    @usableFromInline let packets: ChunkPackets

    init(handle: CaptureHandle, packets: ChunkPackets) {
        self.handle = handle
        self.packets = packets
    }

    /// Packets in the chunk, before the filter.
    public var count: Int { packets.count }
    /// The device rx queue whose pool holds the chunk.
    public var originQueue: Int { packets.originQueue }
    /// `true` when a buddy offloaded this chunk to the handle's queue.
    public var wasOffloaded: Bool { originQueue != handle.queue }

    /// Calls `body` for each packet that passes the filter, in receive order.
    /// - Returns: packets passed to `body`.
    @inlinable
    @discardableResult
    public func forEach<E: Error>(_ body: (Packet) throws(E) -> Void) throws(E) -> Int {
        var n = 0
        var rejected: UInt64 = 0
        defer {
            handle.processedCount &+= UInt64(n)
            handle.filteredCount &+= rejected
        }
        let snap = handle.snapLength
        let matcher = handle.matcher
        for i in 0..<packets.count {
            let packet = packets.packet(i, snapLength: snap)
            if let matcher, !matcher(packet.bytes, packet.wireLength) { rejected &+= 1; continue }
            n &+= 1
            try body(packet)
        }
        return n
    }
}
