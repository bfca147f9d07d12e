import WireCapCore
import WireCapSystem

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
    /// What both engines share: group, lifecycle, capture threads, consumers.
    var shell: EngineShell { get }
    /// How the backend is attached, for the report (`native`, `generic`, `afpacket/hash`, …).
    var attachDescription: String { get }
    /// The most packets one chunk can hold (bitmaps sized per chunk).
    var maxPacketsPerChunk: Int { get }
    /// The buffer shape, for the report (pool geometry, or ring blocks).
    var geometryDescription: String { get }
    /// **opened → started** (``CaptureLifecycle``): returns once every socket receives (readiness).
    func start() throws(XDPError)
    /// **started → drained**: stops receiving, drains what the kernel holds, flushes
    /// partial chunks, joins the capture threads. Consumers keep running and memory
    /// stays mapped. Idempotent.
    func stop()
    /// Stops if needed, then releases every kernel resource (**closed**). Idempotent.
    func close()
    /// Where `offered` comes from on this backend.
    var offeredSource: OfferedSource { get }
    /// The capture side of the ledger: per queue `offered` and the kernel's drops by
    /// cause, and an interface-wide row of device drops. Any thread until `close()`.
    func captureLedger() -> (rows: [QueueLedger], interface: QueueLedger, deviceCounters: String)
    /// The flow-bypass table in the kernel (AF_XDP with ``EngineSettings/flowBypass``;
    /// nil otherwise). Valid until ``close()``.
    var flowBypass: (any FlowBypassTable)? { get }
    /// Packets of bypassed flows the program has counted so far, all queues (0 without
    /// a table): arrivals that never reach the capture threads, for idle checks.
    func bypassedPackets() -> UInt64
}

extension CaptureBackend {
    /// None, unless the backend has one (``CaptureEngine`` with ``EngineSettings/flowBypass``).
    public var flowBypass: (any FlowBypassTable)? { nil }
    public func bypassedPackets() -> UInt64 { 0 }
    /// The interface captured from.
    public var interface: String { shell.interface }
    /// The label of each group index (AF_XDP: device rx queue; AF_PACKET: socket number).
    public var queues: [Int] { shell.queues }
    /// The lanes, offload policy and counters.
    public var group: BuddyGroup { shell.group }
    /// The settings the engine was opened with.
    public var settings: EngineSettings { shell.settings }
    /// Where the capture is in its life (``CaptureLifecycle``). Any thread.
    public var lifecycle: CaptureLifecycle { shell.lifecycle }
    /// `true` until ``close()``.
    public var isOpen: Bool { shell.lifecycle.state != .closed }
    /// Per group index: the base address that descriptor addresses are offsets from,
    /// and the queue label (``queues``). Valid until the engine is released.
    public var memoryLayout: (bases: UnsafePointer<UnsafeMutableRawPointer>, deviceQueues: UnsafePointer<Int>) {
        shell.memoryLayout
    }
    /// Per-queue statistics (group order). Any thread.
    public func statistics() -> [QueueStatistics] { shell.statistics() }
    /// The consumer endpoint of group index `index`, handed out once (a second claim traps).
    public func consumer(_ index: Int) -> CaptureConsumer { shell.consumer(index) }
    /// Wakes consumer `index` if it sleeps for a chunk, so it sees a stop at once. Any thread.
    public func interruptConsumer(_ index: Int) { shell.interruptConsumer(index) }
    /// `true` when the group moves flow buckets between consumers (advanced mode,
    /// ``OffloadPolicy/flow``, more than one queue, a backend that can split chunks).
    public var offloadsFlows: Bool { group.configuration.offloadsFlows(queues: group.queueCount) }
    /// What the group offloads: `flow`, `chunk`, or nil when it never offloads
    /// (basic mode, one queue). For reports.
    public var offloadPolicy: OffloadPolicy? {
        guard group.configuration.mode == .advanced, group.queueCount > 1 else { return nil }
        return offloadsFlows ? .flow : .chunk
    }
}
