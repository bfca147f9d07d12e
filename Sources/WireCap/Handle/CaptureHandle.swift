#if canImport(Glibc)
import Glibc
#endif
import Atomics
import WireCapCore
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket

/// What a source of chunks tells a handle beyond its buddy group.
public protocol ChunkSourceState: AnyObject, Sendable {
    /// `true` once no chunk will ever arrive again (engine closed, replay finished).
    var isFinished: Bool { get }
}

/// A compiled capture filter, as a predicate over a packet's captured bytes.
///
/// This module cannot import libpcap (its `struct bpf_insn` clashes with the
/// kernel's one that WireCapXDP's libbpf needs, in one Clang module context), so
/// the caller compiles the expression with WireCapFilter's `PacketFilter` and
/// passes `PacketPredicate(expression: f.expression, matches: f.predicate)`.
public struct PacketPredicate: Sendable {
    /// The expression, for reports.
    public var expression: String
    /// Whether a packet's captured bytes pass (wire length = captured length).
    public var matches: @Sendable (UnsafeRawBufferPointer) -> Bool
    /// Whether a packet passes given its captured bytes and its length on the wire
    /// (tcpdump's `greater`/`less` and `len` test the wire length, not the snapped one).
    public var matchesWire: @Sendable (UnsafeRawBufferPointer, Int) -> Bool

    public init(expression: String, matches: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool) {
        self.expression = expression
        self.matches = matches
        matchesWire = { bytes, _ in matches(bytes) }
    }

    /// A predicate that sees each packet's wire length (`PacketFilter.wirePredicate`).
    public init(expression: String, matchesWire: @escaping @Sendable (UnsafeRawBufferPointer, Int) -> Bool) {
        self.expression = expression
        self.matchesWire = matchesWire
        matches = { bytes in matchesWire(bytes, bytes.count) }
    }
}

/// The result of ``CaptureHandle/dispatch(maxPackets:_:)``: libpcap's return value as an enum.
public enum DispatchResult: Sendable, Hashable {
    /// Packets passed to the callback (pcap_dispatch's count ≥ 0; 0 on a timeout
    /// or, in non-blocking mode, when nothing waits).
    case processed(Int)
    /// ``CaptureHandle/breakLoop()`` was called before any packet was processed
    /// (pcap's `PCAP_ERROR_BREAK`, -2). The request is cleared.
    case broken
    /// The source will deliver nothing more (engine closed, replay finished, all
    /// delivered chunks processed): pcap's 0 at the end of a savefile.
    case finished
}

/// The result of ``CaptureHandle/loop(count:_:)``.
public enum LoopResult: Sendable, Hashable {
    /// `count` packets were processed (pcap_loop returns 0).
    case completed
    /// ``CaptureHandle/breakLoop()`` stopped the loop (pcap's -2). The request is cleared.
    case broken
    /// The source finished before `count` packets (pcap_loop's 0 at end of file).
    case finished
}

/// The result of ``CaptureHandle/next()`` and ``CaptureHandle/withNext(_:)``
/// (pcap_next_ex's 1 / 0 / -2 / PCAP_ERROR_BREAK).
public enum NextResult<Value> {
    /// A packet (pcap_next_ex returns 1).
    case packet(Value)
    /// No packet within the read timeout, or none waiting in non-blocking mode (0).
    case timeout
    /// ``CaptureHandle/breakLoop()`` was called (cleared).
    case broken
    /// Nothing more will come (-2 at end of file).
    case finished
}

extension NextResult: Sendable where Value: Sendable {}

/// pcap_stats for one handle, plus the engine's full counters for its queue.
public struct HandleStatistics: Sendable, Hashable, Codable {
    /// Packets the queue captured into its pool (pcap's `ps_recv`).
    public var received: UInt64
    /// Packets lost, every cause of the ledger (pcap's `ps_drop`).
    public var dropped: UInt64
    /// Packets the device dropped before WireCap saw them (pcap's `ps_ifdrop`; the
    /// ledger's before-socket drops of this queue).
    public var interfaceDropped: UInt64
    /// Packets this handle passed to callbacks (after the filter).
    public var processed: UInt64
    /// Packets this handle consumed but the filter rejected.
    public var filteredOut: UInt64
    /// The queue's counters (offloads, pool occupancy, drops by cause).
    public var queue: QueueStatistics
    /// The queue's row of the loss ledger (offered, delivered, every drop cause,
    /// unexplained), accounted by the queue packets arrived on; nil without an engine.
    public var ledger: QueueLedger?
}

/// One rx queue's consumer with libpcap's calls (a `pcap_t` for one queue).
///
/// The handle takes chunks from its queue's capture queue, which holds its own
/// queue's chunks and, in advanced mode, chunks its buddies offloaded to it
/// (``Packet/originQueue`` tells them apart). Packets are views into the chunk;
/// a chunk is recycled to its owner as soon as its last packet was processed.
///
/// Blocking: in blocking mode (the default) a call waits up to the read timeout
/// for a chunk, never spinning. A handle of a live ``Capture`` sleeps on the
/// engine's futex (``CaptureConsumer/waitChunk(timeoutNanoseconds:)``): the capture
/// thread wakes it once when a chunk arrives, and while chunks keep coming nobody
/// sleeps; ``breakLoop()`` wakes it at once. The wait is cut into slices of
/// ``breakCheckNanoseconds`` so that ``Capture/finish()`` is seen within 100 ms. Handles without an
/// engine (``SyntheticCapture``) sleep with backoff (100 µs → 1 ms). In
/// non-blocking mode a call returns at once when nothing waits.
///
/// - warning: One thread uses a handle, except ``breakLoop()``, which any
///   thread may call. Stop using handles before closing their ``Capture``.
public final class CaptureHandle: @unchecked Sendable {
    /// The interface this handle's queue belongs to.
    public let interface: String
    /// The device rx queue (AF_PACKET backend: the fanout socket's number, 0 ..< sockets).
    public let queue: Int
    /// The queue's index in its buddy group.
    public let index: Int
    /// The capture filter (nil: every packet).
    public let filter: PacketPredicate?
    @usableFromInline let matcher: (@Sendable (UnsafeRawBufferPointer, Int) -> Bool)?
    /// Bytes of each packet shown to callbacks at most (pcap's snaplen).
    public let snapLength: Int
    /// How long a blocking call waits for a chunk before returning a timeout, in nanoseconds.
    public let readTimeoutNanoseconds: UInt64

    /// The queue's consumer endpoint, owned by this handle: chunks are taken,
    /// read and recycled through it, and blocking waits sleep on its futex.
    @usableFromInline let consumer: CaptureConsumer
    @usableFromInline let source: any ChunkSourceState
    /// The longest single futex sleep of a blocking wait: how late ``Capture/finish()``
    /// may be seen (``breakLoop()`` wakes the wait at once).
    public static let breakCheckNanoseconds: UInt64 = 100_000_000
    private let breakRequest = ManagedAtomic<Bool>(false)
    private let nonBlocking = ManagedAtomic<Bool>(false)
    /// The chunk being processed and the next packet in it (a dispatch with
    /// `maxPackets` smaller than the chunk leaves the rest for the next call).
    @usableFromInline var current: ChunkHandle?
    @usableFromInline var position = 0
    @usableFromInline var processedCount: UInt64 = 0
    @usableFromInline var filteredCount: UInt64 = 0
    /// `filteredCount` when the chunk in progress was taken.
    @usableFromInline var filteredAtTake: UInt64 = 0
    /// The capture's ledger of this handle's interface (nil without an engine).
    let ledgerSource: (@Sendable () -> CaptureLedger)?

    /// Makes the handle of `consumer`'s queue; the handle owns the endpoint.
    /// `source` must keep the queue's memory alive. Capture and SyntheticCapture call this.
    package init(interface: String, consumer: consuming CaptureConsumer, source: any ChunkSourceState,
                 filter: PacketPredicate?, snapLength: Int, readTimeoutNanoseconds: UInt64,
                 ledger: (@Sendable () -> CaptureLedger)? = nil) {
        ledgerSource = ledger
        self.interface = interface
        index = consumer.index
        queue = consumer.deviceQueue
        self.consumer = consumer
        self.source = source
        self.filter = filter
        matcher = filter?.matchesWire
        self.snapLength = max(1, snapLength)
        self.readTimeoutNanoseconds = readTimeoutNanoseconds
    }

    /// The buddy group the handle's queue belongs to.
    @inlinable var group: BuddyGroup { consumer.group }

    // MARK: Modes

    /// Non-blocking mode (pcap_setnonblock): calls return at once when no chunk waits.
    public var isNonBlocking: Bool {
        // Relaxed both ways: a mode flag that orders no data.
        get { nonBlocking.load(ordering: .relaxed) }
        set { nonBlocking.store(newValue, ordering: .relaxed) }
    }

    /// Asks the running (or next) ``dispatch(maxPackets:_:)``, ``loop(count:_:)`` or
    /// ``next()`` to return (pcap_breakloop). Any thread.
    ///
    /// The flag is checked before each packet, and a blocking wait is woken at once. As with libpcap: if packets were already processed, that call
    /// returns their count and leaves the flag set, so the following call returns
    /// ``DispatchResult/broken`` and clears it.
    public func breakLoop() {
        // Relaxed: the flag orders no other data; interruptWait's fence orders this store
        // before it looks whether the consumer sleeps (see ConsumerWakeups).
        breakRequest.store(true, ordering: .relaxed)
        consumer.interruptWait()
    }

    @inlinable var breakRequested: Bool { breakRequestFlag }
    // Relaxed: the flag orders no data (the futex wake in breakLoop() does the waking).
    @usableFromInline var breakRequestFlag: Bool { breakRequest.load(ordering: .relaxed) }
    @usableFromInline func clearBreak() { breakRequest.store(false, ordering: .relaxed) }

    // MARK: Chunks

    /// Takes the next chunk: the one in progress, else one from the capture queue,
    /// waiting in blocking mode. `nil`: timeout, break, or finished (see `why`).
    @usableFromInline
    func acquire(wait: Bool) -> (ChunkHandle?, Why) {
        if let current { return (current, .none) }
        if let h = consumer.nextChunk() { take(h); return (h, .none) }
        if !wait || readTimeoutNanoseconds == 0 {
            return (nil, source.isFinished ? .finished : .timeout)
        }
        let deadline = Sys.monotonicNanoseconds() &+ readTimeoutNanoseconds
        while true {
            if breakRequestFlag { return (nil, .broken) }
            if source.isFinished {
                // Re-check: chunks delivered before the source finished still count.
                if let h = consumer.nextChunk() { take(h); return (h, .none) }
                return (nil, .finished)
            }
            let now = Sys.monotonicNanoseconds()
            if now >= deadline { return (nil, .timeout) }
            // The futex sleep: woken by the capture thread (or the synthetic NIC) when
            // a chunk lands on this queue's capture queue, or by breakLoop()
            // (interruptWait). A slice ends early enough to see Capture.finish(),
            // which wakes nobody.
            let slice = min(Self.breakCheckNanoseconds, deadline &- now)
            let source = self.source
            if let h = consumer.waitChunk(timeoutNanoseconds: slice, unless: {
                self.breakRequestFlag || source.isFinished
            }) { take(h); return (h, .none) }
        }
    }

    @usableFromInline enum Why { case none, timeout, broken, finished }

    /// Makes `h` the chunk in progress.
    @usableFromInline
    func take(_ h: ChunkHandle) {
        current = h
        position = 0
        filteredAtTake = filteredCount
    }

    /// Recycles the chunk in progress, after accounting its packets to the queue
    /// they arrived on (the ledger): those the filter rejected, the rest delivered
    /// (every packet of a released chunk was shown to the application).
    @usableFromInline
    func releaseCurrent() { release(shown: nil) }

    /// Recycles the chunk in progress after accounting its packets: of the first
    /// `shown` (nil: all), those the filter rejected as filtered and the rest as
    /// delivered; the packets after them as delivery drops. - Returns: those dropped.
    @usableFromInline @discardableResult
    func release(shown: Int?) -> Int {
        defer { current = nil; position = 0 }
        guard let h = current else { return 0 }
        let count = Int(h.count)
        let seen = min(shown ?? count, count)
        let rejected = Int(filteredCount &- filteredAtTake)
        consumer.count(.filtered, rejected, of: h)
        consumer.count(.delivered, seen &- rejected, of: h)
        if seen < count { consumer.count(.deliveryDrops, count &- seen, of: h) }
        consumer.recycle(h)
        return count &- seen
    }

    // MARK: pcap_stats

    /// pcap_stats: counters of this handle and its queue. Any thread may read
    /// the queue part; `processed`/`filteredOut` are exact on the handle's thread.
    public func stats() -> HandleStatistics {
        let s = group.statistics(queue: index)
        let row = ledgerSource?().queues[index]
        return HandleStatistics(received: s.packetsReceived, dropped: row?.lost ?? s.captureDrops,
                                interfaceDropped: row?.beforeSocket ?? s.dropsInvalidDescriptor, processed: processedCount,
                                filteredOut: filteredCount, queue: s, ledger: row)
    }
}

