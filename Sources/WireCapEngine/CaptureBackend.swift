import WireCapCore
import WireCapSystem

/// The consumer end of one queue of a capture backend: chunks in, packets shown
/// in place, chunks recycled. ``CaptureConsumer`` implements it for both
/// backends: AF_XDP chunks and AF_PACKET blocks are read the same way
/// (the group's descriptors plus a per-queue memory base).
///
/// ``CaptureSession`` drives consumers through this protocol with generic code
/// that the compiler specializes per concrete consumer (the session dispatches
/// once, per consumer thread, on the backend's concrete type): the per-packet
/// path has no existential, witness-table call or ARC traffic.
///
/// - warning: One thread per consumer.
public protocol ChunkConsumer: Sendable {
    /// The consumer's index in its backend's buddy group.
    var index: Int { get }
    /// The next chunk, or `nil` at once when none waits.
    func nextChunk() -> ChunkHandle?
    /// The next chunk, sleeping up to `timeoutNanoseconds` while none waits.
    func waitChunk(timeoutNanoseconds: UInt64) -> ChunkHandle?
    /// Like ``waitChunk(timeoutNanoseconds:)``, returning `nil` as soon as `stop()`
    /// is true (checked before sleeping and after each wake-up; see ``interruptWait()``).
    func waitChunk(timeoutNanoseconds: UInt64, unless stop: () -> Bool) -> ChunkHandle?
    /// Wakes the consumer if it sleeps in ``waitChunk(timeoutNanoseconds:unless:)``. Any thread.
    func interruptWait()
    /// Calls `body` with each packet of `handle`, in receive order; views must not escape.
    func withPackets(of handle: ChunkHandle, _ body: (PacketView) throws -> Void) rethrows
    /// Gives the chunk back to its owner.
    func recycle(_ handle: ChunkHandle)
    /// Records what became of `packets` packets of `handle`, accounted to the queue
    /// they arrived on (the ledger's per-origin counters). Once per chunk.
    func count(_ counter: OriginCounter, _ packets: Int, of handle: ChunkHandle)
}

/// A live capture engine as a ``CaptureSession``, the ``CaptureWriter`` and the
/// WireCap API see it: queues with consumers, the buddy group whose lanes carry
/// the chunks, where packets live, and its counters. ``CaptureEngine`` (AF_XDP)
/// and ``AFPacketEngine`` implement it.
///
/// **One packet-access path.** On both backends the packets of a handle are
/// `group.descriptors(of: handle)` (address, length, timestamp per packet) read
/// against `memoryLayout.bases[Int(handle.queue)]`: the UMEM area on AF_XDP, the
/// socket's TPACKET_V3 ring on AF_PACKET (whose capture thread writes the
/// descriptors when it places a block). Code that reads packets outside a
/// consumer (the writer thread, a ``CaptureHandle``) needs nothing else.
///
/// - warning: `start`, `close` and `consumer(_:)` from one control thread.
public protocol CaptureBackend: AnyObject, Sendable {
    associatedtype Consumer: ChunkConsumer
    /// The interface captured from.
    var interface: String { get }
    /// The label of each group index (AF_XDP: device rx queue; AF_PACKET: socket number).
    var queues: [Int] { get }
    /// The lanes, offload policy and counters.
    var group: BuddyGroup { get }
    /// How the backend is attached, for the report (`native`, `generic`, `afpacket/hash`, …).
    var attachDescription: String { get }
    /// Per group index: the base address that descriptor addresses are offsets from,
    /// and the queue label (``queues``). Valid until the engine is released.
    var memoryLayout: (bases: UnsafePointer<UnsafeMutableRawPointer>, deviceQueues: UnsafePointer<Int>) { get }
    /// The most packets one chunk can hold (bitmaps sized per chunk).
    var maxPacketsPerChunk: Int { get }
    /// The buffer shape, for the report (pool geometry, or ring blocks).
    var geometryDescription: String { get }
    /// Where the capture is in its life (``CaptureLifecycle``).
    var lifecycle: CaptureLifecycle { get }
    /// Starts capturing; returns once every socket receives (readiness).
    func start() throws(XDPError)
    /// Stops receiving, drains what the kernel holds, flushes partial chunks, joins
    /// the capture threads (``CaptureLifecycle/State/drained``). Consumers keep
    /// running and memory stays mapped. Idempotent.
    func stop()
    /// Stops if needed, then releases every kernel resource. Idempotent.
    func close()
    /// Where `offered` comes from on this backend.
    var offeredSource: OfferedSource { get }
    /// The capture side of the ledger: per queue `offered` and the kernel's drops by
    /// cause, and an interface-wide row of device drops. Any thread until `close()`.
    func captureLedger() -> (rows: [QueueLedger], interface: QueueLedger, deviceCounters: String)
    /// Per-queue statistics (group order). Any thread.
    func statistics() -> [QueueStatistics]
    /// The consumer endpoint of group index `index`.
    func consumer(_ index: Int) -> Consumer
}

extension CaptureConsumer: ChunkConsumer {}

extension CaptureBackend {
    /// Wakes consumer `j` if it sleeps for a chunk, so it sees a stop at once.
    public func interruptConsumer(_ j: Int) { consumer(j).interruptWait() }
}
