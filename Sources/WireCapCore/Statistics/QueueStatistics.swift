/// Counters a queue's capture thread publishes (one ``CounterBlock`` per queue).
public enum CaptureCounter: Int, CaseIterable, Sendable {
    case packetsReceived, bytesReceived
    case packetsDelivered, fullChunks, partialSlices, completingSlices
    case recycled, recycleRejected, invalidDescriptors, exhaustionEpisodes
    case offloadedOut
    case freeChunks, attachedChunks, capturedChunks, outstandingItems
    // Kernel-side drop causes, filled in by a live backend (zero in the core).
    /// Packets the kernel dropped because no frame was posted (AF_XDP `rx_dropped`).
    case dropsNoBuffer
    /// Packets dropped because the receive ring was full (`rx_ring_full`).
    case dropsRxRingFull
    /// Invalid descriptors the kernel saw (`rx_invalid_descs`).
    case dropsInvalidDescriptor
    /// The kernel's `rx_fill_ring_empty_descs`: in zero-copy mode the times it found
    /// the fill ring empty; in copy mode (veth, generic XDP) once per packet that
    /// found it empty, so it overlaps `rx_dropped`. Not a drop cause of its own.
    case fillRingEmptyEvents
    /// Packets the backend dropped while the pool had no free chunk (simulator and
    /// backends that can attribute drops to pool exhaustion).
    case dropsPoolExhausted
    /// Packets the kernel offered to the queue's socket, drops included (AF_PACKET's
    /// `tp_packets`; 0 where the backend counts offered elsewhere).
    case kernelOffered
    // Spill (issue 14; see ChunkPool), published by the capture thread.
    /// Packets copied into spill blocks, and their bytes.
    case packetsSpilled, bytesSpilled
    /// Spill blocks delivered; times pressure began; chunks that found no block to open.
    case spillBlocksDelivered, spillEpisodes, spillArenaFull
    /// Spill blocks in user space now (a gauge).
    case spillBlocksOut
    /// Frame chunks lent to spill blocks now (a gauge).
    case lentChunks
    /// Packets the kernel did not stamp at arrival (AF_XDP: no metadata, or a stamp
    /// out of order), stamped by the capture thread instead.
    case unstampedPackets
    // Flow offload (issue 15; see FlowScheduler), published by the capture thread.
    /// Buckets moved between consumers (each bucket of each move); buckets spread;
    /// packets delivered from spread buckets; packets that waited for a move's drain.
    case bucketMoves, bucketsSpread, packetsSpread, packetsHeld
    /// Packets waiting in the held queue now (a gauge).
    case heldPackets
}

/// Counters a queue's consumer publishes (one ``CounterBlock`` per consumer).
public enum ConsumerCounter: Int, CaseIterable, Sendable {
    /// Handles taken from the capture queue.
    case itemsConsumed
    /// Packets in those handles.
    case packetsConsumed
    /// Handles that came from a buddy's pool (offloaded in).
    case offloadedIn
    /// Packets the application discarded after delivery (e.g. a full writer).
    case deliveryDrops
    /// Recycles refused before they reached the owner (not a queue of this group).
    case recycleRefused
}

/// What consumers did with the packets of each origin pool (one block per
/// consumer, one row per origin; ``BuddyGroup/count(_:_:origin:consumer:)``).
/// The loss ledger reads them per origin, so that a packet offloaded to a buddy
/// is still accounted to the queue it arrived on.
public enum OriginCounter: Int, CaseIterable, Sendable {
    /// Packets in handles taken from the capture queue.
    case consumed
    /// Packets handed to the application (consumer loop, API callback).
    case delivered
    /// Packets the capture filter rejected.
    case filtered
    /// Packets `--sample` skipped.
    case sampled
    /// Packets dropped after delivery (a full writer hand-off, …).
    case deliveryDrops
    /// Packets handed to the writer (it counts what it wrote).
    case toWriter
    /// Forwarding: packets not sent, or whose frames the kernel still held for TX
    /// when the capture ended (their chunk was never recycled).
    case txStalled

    /// Counters per origin row.
    public static let count = allCases.count
}

/// A snapshot of one queue's counters, for people and programs.
public struct QueueStatistics: Sendable, Hashable, Codable {
    public var queue: Int
    public var packetsReceived: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    public var packetsDelivered: UInt64 = 0
    public var chunksCaptured: UInt64 = 0
    public var partialSlices: UInt64 = 0
    public var offloadedOut: UInt64 = 0
    public var offloadedIn: UInt64 = 0
    public var recycled: UInt64 = 0
    public var recycleRejected: UInt64 = 0
    public var invalidDescriptors: UInt64 = 0
    public var exhaustionEpisodes: UInt64 = 0
    public var freeChunks: UInt64 = 0
    public var attachedChunks: UInt64 = 0
    public var capturedChunks: UInt64 = 0
    /// Frame chunks lent to spill blocks (open or delivered).
    public var lentChunks: UInt64 = 0
    public var outstandingItems: UInt64 = 0
    public var captureQueueLength: Int = 0
    public var itemsConsumed: UInt64 = 0
    public var packetsConsumed: UInt64 = 0
    public var deliveryDrops: UInt64 = 0
    public var dropsNoBuffer: UInt64 = 0
    public var dropsRxRingFull: UInt64 = 0
    public var dropsInvalidDescriptor: UInt64 = 0
    public var dropsPoolExhausted: UInt64 = 0
    public var fillRingEmptyEvents: UInt64 = 0
    public var kernelOffered: UInt64 = 0
    /// Packets copied into spill blocks (delivered like the others once their block is).
    public var packetsSpilled: UInt64 = 0
    public var bytesSpilled: UInt64 = 0
    /// Spill blocks delivered.
    public var spillBlocks: UInt64 = 0
    /// Times the pool came under pressure and began to spill.
    public var spillEpisodes: UInt64 = 0
    /// Times a chunk under pressure found no block to open (no free slot or chunk) and went zero-copy.
    public var spillArenaFull: UInt64 = 0
    /// Spill blocks in user space now.
    public var spillBlocksOut: UInt64 = 0
    /// Packets stamped by the capture thread because the kernel did not stamp them (AF_XDP).
    public var unstampedPackets: UInt64 = 0
    /// Flow offload: this queue's buckets moved to another consumer (or back), each counted.
    public var bucketMoves: UInt64 = 0
    /// Flow offload: times one of this queue's buckets was spread over consumers
    /// (a flow heavier than one consumer; its flows may be split).
    public var bucketsSpread: UInt64 = 0
    /// Flow offload: packets delivered from spread buckets.
    public var packetsSpread: UInt64 = 0
    /// Flow offload: packets that waited for a move's drain (they were never on two consumers).
    public var packetsHeld: UInt64 = 0
    /// Flow offload: packets per second of the buckets settled on this queue's consumer, every
    /// queue's (smoothed; offered, not only recorded: each queue's rates are scaled up by its
    /// losses before recording, ``FlowScheduler/offeredScale``; spread buckets, which go wherever
    /// the backlog is shortest, are not in it).
    public var consumerLoad: UInt64 = 0

    public init(queue: Int) { self.queue = queue }

    /// Packets lost before they reached user space, all causes.
    public var captureDrops: UInt64 { dropsNoBuffer &+ dropsRxRingFull &+ dropsInvalidDescriptor &+ dropsPoolExhausted }
    /// All packets lost, capture and delivery.
    public var totalDrops: UInt64 { captureDrops &+ deliveryDrops }
}
