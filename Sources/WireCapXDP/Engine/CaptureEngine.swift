#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Synchronization
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

/// Engine options beyond the pool geometry.
public struct EngineOptions: Sendable {
    /// CPUs to pin capture threads to (thread t → `cpus[t % count]`); empty: unpinned.
    public var cpus: [Int] = []
    /// Capture threads; nil: one per queue. Fewer threads serve queues round-robin.
    public var captureThreads: Int?
    /// How capture threads wait (adaptive sleep by default; busy-poll is opt-in).
    public var wakePolicy: WakePolicy = .adaptive
    /// Try `MAP_HUGETLB` for the UMEMs (falls back with a warning).
    public var hugePages = false
    /// Replace an XDP program already attached to the interface.
    public var force = false
    /// Attach mode; nil: driver mode, falling back to generic with a note.
    public var attachMode: XDPAttachMode?
    /// BPF link (default: the kernel removes the program however the process ends)
    /// or netlink (the fallback; forced only to test leftover handling).
    public var attachment: XDPAttachment = .link
    /// Most rx descriptors taken per pass.
    public var batchSize = 256
    /// Nice value of the capture threads (nil: inherit). The paper dedicates cores
    /// to capture threads; on a box where they share cores with the application and
    /// the traffic source, a higher priority is the equivalent: a capture thread
    /// runs briefly once per chunk, and when it waits for a CPU the kernel runs out
    /// of posted frames. Lowering nice needs CAP_SYS_NICE; failure is ignored.
    public var captureThreadNice: Int32? = -10
    /// Suppress notes on stderr.
    public var quiet = false

    public init() {}
}

/// The live AF_XDP capture engine: WireCAP's ring-buffer pools and buddy-group
/// offload (WireCapCore) on AF_XDP sockets.
///
/// ```
///   NIC queue q ──XDP prog──▶ XSKMAP[q] ──▶ socket q ── rx ring ──▶ capture thread ──▶ capture queues
///                                              ▲                      │  (CaptureDriver)   │
///                                              └── fill ring ◀── chunks (UMEM q = pool q)  ▼
///                                                                  ◀── recycle lanes ◀── consumers
/// ```
///
/// Lifecycle (``CaptureLifecycle``): ``init(interface:queues:configuration:options:)``
/// checks privileges and the interface, creates per queue a UMEM (the pool) and
/// a socket, and loads the program; nothing captures yet (**opened**).
/// ``start()`` posts the first chunks to every fill ring, attaches the program
/// through a BPF link, runs the capture threads and inserts the sockets into the
/// XSKMAP, and returns only then (**started**: the readiness point).
/// ``stop()`` removes the sockets from the XSKMAP (redirecting stops), lets the
/// capture threads drain the rx rings and flush every partial chunk
/// (**stopping**), joins them and detaches the program (**drained**): every
/// received packet is then in a capture lane or with a consumer, and the memory
/// is still mapped for consumers and the writer to finish. ``close()`` closes the
/// sockets and frees the UMEMs (**closed**). `deinit` closes too. Because the
/// program hangs on a BPF link, the kernel removes it however the process ends.
///
/// - warning: `start`, `stop`, `close` and `consumer(_:)` from one control thread.
///   Each consumer from its own thread. Consumers must stop before `close()`.
public final class CaptureEngine: @unchecked Sendable {
    /// The interface captured from.
    public let interface: String
    /// Device rx queue per group index.
    public let queues: [Int]
    /// The pools, work queues and counters.
    public let group: BuddyGroup
    /// How the program is attached (known once started; `preferred` until then).
    public private(set) var attachMode: XDPAttachMode
    /// NUMA node of the UMEMs (nil: NUMA unavailable).
    public let numaNode: Int32?
    /// `true` when the UMEMs use huge pages.
    public let hugePages: Bool
    /// What the pools take (checked against the machine before allocating).
    public let memory: MemoryBudget
    public let options: EngineOptions

    private var program: XSKRedirectProgram?
    private var rxQueues: [RxQueue]
    /// What other threads read (``lifecycle``, ``captureLedger()``: the statistics
    /// ticker, API handles), under one lock the control thread takes to change it.
    private struct Shared {
        var lifecycle = CaptureLifecycle()
        /// `true` while COUNTS is read live (from start() until stop() froze it; the
        /// program, and so `countsFD`, stays open at least as long).
        var counting = false
        var redirectedFinal: [UInt64] = []
        /// Device drop counters at ``start()`` (the before-socket drops are deltas from here).
        var deviceBaseline = DeviceCounters.Snapshot()
        /// Device drop counters when redirecting stopped (nil until ``stop()``).
        var deviceFinal: DeviceCounters.Snapshot?
    }
    private let shared = Mutex(Shared())
    /// The program's COUNTS map (valid while `Shared.counting`).
    private let countsFD: Int32
    /// Per group index: the socket is bound zero-copy (fill-ring-empty events are then uncounted losses).
    private let zeroCopy: [Bool]

    /// Where the capture is in its life. Any thread.
    public var lifecycle: CaptureLifecycle { shared.withLock { $0.lifecycle } }
    private let captureThreads: CaptureThreadSet
    /// Futex words consumers sleep on while their capture queue is empty.
    private let wakeups: ConsumerWakeups
    private let bases: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let deviceQueues: UnsafeMutablePointer<Int>

    /// Opens `queues` of `interface` for capture (see the type's documentation).
    public init(interface: String, queues: [Int], configuration: CaptureConfiguration,
                options: EngineOptions = EngineOptions()) throws(XDPError) {
        do { try configuration.validate() } catch {
            throw XDPError("configuration", kind: .usage, message: error.message)
        }
        guard !queues.isEmpty else { throw XDPError.usage("queues", "no queue to capture from") }
        guard Set(queues).count == queues.count else { throw XDPError.usage("queues", "queue list \(queues) has duplicates") }
        try Privileges.require()
        let ifindex = try Sys.interfaceIndex(interface)
        let deviceQueueCount = InterfaceInfo.rxQueueCount(interface)
        for q in queues where q < 0 || q >= deviceQueueCount {
            throw XDPError.usage("queue \(q)", "queue \(q) is beyond \(interface)'s \(deviceQueueCount) rx queue\(deviceQueueCount == 1 ? "" : "s") (valid: 0...\(deviceQueueCount - 1))")
        }
        if let k = options.captureThreads, k < 1 {
            throw XDPError.usage("capture-threads", "--capture-threads must be at least 1, got \(k)")
        }
        // The memory, computed and checked before anything is allocated.
        memory = MemoryBudget.pools(queues: queues.count, geometry: configuration.geometry)
        try memory.check()
        Sys.raiseMemlockLimit()
        Sys.mountBPFFSIfMissing()

        self.interface = interface
        self.queues = queues
        self.options = options
        do { group = try BuddyGroup(queueCount: queues.count, configuration: configuration) } catch {
            throw XDPError("configuration", kind: .usage, message: error.message)
        }
        let geometry = configuration.geometry
        let node = NUMA.isAvailable ? NUMA.node(ofInterface: interface) : nil

        // Refuse early (before allocating UMEMs) if another program is attached,
        // saying whether a running process holds it or a dead one left it.
        if let owner = try XSKRedirectProgram.owner(ifindex: ifindex, interface: interface),
           !options.force || owner.linkID != nil {
            throw XDPError("bpf_xdp_query_id(\(interface))", kind: .busy, message: owner.describe(interface: interface))
        }
        let program = try XSKRedirectProgram(interface: interface, ifindex: ifindex, entries: deviceQueueCount)
        var built: [RxQueue] = []
        var huge = true
        for (index, q) in queues.enumerated() {
            let umem = try UMEM(frames: geometry.cellsPerPool, frameSize: geometry.frameSize,
                                fillSize: geometry.fillRingSize, completionSize: Forwarder.ringSize,
                                numaNode: node, hugePages: options.hugePages, label: "\(interface) queue \(q)")
            huge = huge && umem.hugePages
            let socket = try XSKSocket(interface: interface, queue: UInt32(q), umem: umem,
                                       rxSize: 2 * geometry.fillRingSize, txSize: 0)
            built.append(RxQueue(index: index, deviceQueue: UInt32(q), umem: umem, socket: socket, group: group,
                                 countsFD: program.countsFD))
        }
        numaNode = node
        hugePages = huge
        attachMode = options.attachMode ?? .driver
        self.program = program
        countsFD = program.countsFD
        zeroCopy = built.map { $0.socket.isZeroCopy }
        rxQueues = built

        wakeups = ConsumerWakeups(consumers: group.queueCount)
        captureThreads = CaptureThreadSet(wakeups: wakeups)
        bases = .allocate(capacity: queues.count)
        deviceQueues = .allocate(capacity: queues.count)
        for (i, rx) in built.enumerated() {
            (bases + i).initialize(to: rx.umem.area)
            (deviceQueues + i).initialize(to: queues[i])
        }
        devices = DeviceCounters(interface: interface, queues: queues)
    }

    /// The device's own counters (before-socket drops).
    private let devices: DeviceCounters

    deinit {
        close()
        bases.deallocate()
        deviceQueues.deallocate()
    }

    /// Capture threads when none are asked for: one per queue, but at most half the
    /// online CPUs (at least one). Capture threads sleep most of the time, and each
    /// one wakes about once per partial-chunk timeout: on a 2-core machine one thread
    /// serving every queue halves those wake-ups and leaves a core to the consumers.
    public static func defaultCaptureThreads(queues: Int) -> Int {
        SystemThread.defaultCaptureThreads(queues: queues)
    }

    /// Starts capturing (see the type's documentation): every fill ring posted, the
    /// program attached, capture threads running, every socket in the XSKMAP. When
    /// it returns, every packet of the captured queues reaches WireCap (readiness).
    /// On failure nothing stays attached and the engine can only be closed.
    public func start() throws(XDPError) {
        precondition(lifecycle.state == .opened, "CaptureEngine.start() in state \(lifecycle.state)")
        guard let program else { preconditionFailure("CaptureEngine: no program") }
        for rx in rxQueues { rx.refill() }   // attach: the first N/M chunks go to each fill ring
        attachMode = try program.attach(force: options.force, preferredMode: options.attachMode,
                                        attachment: options.attachment, quiet: options.quiet)
        let k = min(options.captureThreads ?? Self.defaultCaptureThreads(queues: rxQueues.count), rxQueues.count)
        let timeout = group.configuration.partialTimeoutNanoseconds
        do {
            let threads = captureThreads
            try threads.start(count: k, items: rxQueues, name: "wc-capture", cpus: options.cpus,
                              nice: options.captureThreadNice) { _, served in
                let worker = CaptureThread(queues: served, running: threads.running, stopFD: threads.stopFD, policy: options.wakePolicy,
                                           batch: options.batchSize, timeout: timeout, wakeups: wakeups)
                return { worker.run() }
            }
            let baseline = devices.read()
            shared.withLock { $0.deviceBaseline = baseline; $0.counting = true }
            for rx in rxQueues { try program.insert(socketFD: rx.socket.fd, queue: rx.deviceQueue) }
        } catch {
            for rx in rxQueues { program.remove(queue: rx.deviceQueue) }
            captureThreads.stop()
            program.detach()
            shared.withLock { $0.counting = false }
            throw error
        }
        shared.withLock { $0.lifecycle.advance(to: .started) }
    }

    /// Stops capturing without losing what was received (see the type's
    /// documentation): redirecting stops, the rx rings are drained, every partial
    /// chunk is flushed to the capture lanes, the capture threads exit and the
    /// program is detached. Consumers keep running: they still have to take what
    /// is in their lanes. Idempotent; a no-op unless started.
    public func stop() {
        guard lifecycle.needsStop, let program else { return }
        shared.withLock { $0.lifecycle.advance(to: .stopping) }
        // 1. Stop redirecting: from here on packets of these queues go to the stack.
        for rx in rxQueues { program.remove(queue: rx.deviceQueue) }
        let deviceFinal = devices.read()
        shared.withLock { $0.deviceFinal = deviceFinal }
        // 2.–3. Capture threads drain the rx rings and flush partial chunks, then exit.
        captureThreads.stop()
        // 4. Nothing is redirected any more: detach (closing the link removes the program).
        program.detach()
        // The capture threads are joined: this thread is now the counters' only writer.
        for rx in rxQueues { rx.publishKernelStatistics() }
        let redirected = rxQueues.map { program.redirectedPackets(queue: $0.deviceQueue) }
        shared.withLock {
            $0.redirectedFinal = redirected
            $0.counting = false
            $0.lifecycle.advance(to: .drained)
        }
    }

    /// The consumer endpoint of group queue `index` (0 ..< queues.count).
    public func consumer(_ index: Int) -> CaptureConsumer {
        precondition(index >= 0 && index < queues.count, "consumer index \(index) out of range")
        return CaptureConsumer(index: index, group: group, bases: bases, deviceQueues: deviceQueues, wakeups: wakeups)
    }

    /// Stops (``stop()``) if still started, then closes the sockets and frees the
    /// UMEMs. Consumers must have stopped. Idempotent.
    public func close() {
        guard lifecycle.state != .closed else { return }
        stop()
        if lifecycle.state == .opened { program?.detach() }
        // stop() ended live COUNTS reads (under the lock): the map may close now.
        program = nil
        // Dropping the queues closes each socket, then (its last reference gone) its UMEM.
        // Their counters stay readable: the group keeps them.
        rxQueues = []
        shared.withLock { $0.lifecycle.advance(to: .closed) }
    }

    /// The capture side of the loss ledger, per queue (group order): offered (what
    /// the program redirected), received, the socket drops by cause; and the
    /// device's before-socket drops as the interface row. Any thread until
    /// ``close()`` (the statistics ticker); exact once drained.
    public func captureLedger() -> (rows: [QueueLedger], interface: QueueLedger, deviceCounters: String) {
        // The socket drops first (downstream), the program's counts last (upstream).
        let stats = (0..<queues.count).map { group.statistics(queue: $0) }
        // Under the lock: stop() cannot freeze the counts (nor close() close the map)
        // half-way through this read.
        let (redirected, baseline, final): ([UInt64], DeviceCounters.Snapshot, DeviceCounters.Snapshot) = shared.withLock { s in
            let redirected = s.counting ? queues.map { XDPLib.lookupPerCPUCounter(countsFD, key: UInt32($0)) }
                           : (s.redirectedFinal.isEmpty ? Array(repeating: 0, count: queues.count) : s.redirectedFinal)
            return (redirected, s.deviceBaseline, s.deviceFinal ?? (s.counting ? devices.read() : s.deviceBaseline))
        }
        var interfaceRow = QueueLedger(queue: -1)
        interfaceRow.beforeSocket = final.drops &- baseline.drops
        interfaceRow.offered = interfaceRow.beforeSocket
        let rows = (0..<queues.count).map { i -> QueueLedger in
            let s = stats[i]
            var row = QueueLedger(queue: queues[i])
            row.offered = redirected[i]
            row.noFrame = s.dropsNoBuffer
            row.poolExhausted = s.dropsPoolExhausted
            row.rxRingFull = s.dropsRxRingFull
            row.invalidDescriptor = s.dropsInvalidDescriptor
            if zeroCopy[i] { row.uncountedLossEvents = s.fillRingEmptyEvents }
            return row
        }
        return (rows, interfaceRow, devices.description)
    }

    /// `true` until ``close()``.
    public var isOpen: Bool { lifecycle.state != .closed }

    /// The UMEM base address of each group index (pool memory: frame addresses in
    /// descriptors are offsets from it), and the device rx queue of each group index,
    /// for consumers built outside this module (the WireCap application API).
    /// Valid as long as the engine lives; the memory is unmapped by ``close()``.
    public var memoryLayout: (bases: UnsafePointer<UnsafeMutableRawPointer>, deviceQueues: UnsafePointer<Int>) {
        (UnsafePointer(bases), UnsafePointer(deviceQueues))
    }

    /// The UMEM (pool memory) of group index `index`: a ``Forwarder`` shares it with a
    /// TX socket on another device. Valid until ``close()``.
    public func umem(ofQueue index: Int) -> UMEM { rxQueues[index].umem }

    /// Per-queue statistics (group order). Any thread.
    public func statistics() -> [QueueStatistics] {
        (0..<queues.count).map { group.statistics(queue: $0) }
    }
}

extension CaptureEngine: CaptureBackend {
    public var offeredSource: OfferedSource { .xdpProgram }
    public var attachDescription: String { attachMode.rawValue }
    public var maxPacketsPerChunk: Int { group.configuration.geometry.cellsPerChunk }
    public var geometryDescription: String { group.configuration.geometry.description }
}
