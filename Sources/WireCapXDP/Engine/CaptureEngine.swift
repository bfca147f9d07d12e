#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Synchronization
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

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
/// Lifecycle (``CaptureLifecycle``, run by the shared ``EngineShell``): ``init(interface:queues:settings:)``
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
public final class CaptureEngine: CaptureBackend, @unchecked Sendable {
    public let shell: EngineShell
    /// How the program is attached (known once started; `preferred` until then).
    public private(set) var attachMode: XDPAttachMode
    /// NUMA node of the UMEMs (nil: NUMA unavailable).
    public let numaNode: Int32?
    /// `true` when the UMEMs use huge pages.
    public let hugePages: Bool
    /// What the pools take (checked against the machine before allocating).
    public let memory: MemoryBudget

    private var program: XSKRedirectProgram?
    private var rxQueues: [RxQueue]
    /// What other threads read (``captureLedger()``: the statistics ticker, API
    /// handles), under one lock the control thread takes to change it.
    private struct Shared {
        /// `true` while COUNTS is read live (from start() until stop() froze it; the
        /// program, and so its COUNTS map, stays open at least as long).
        var counting = false
        /// Per queue (group order), the program's counts when it was detached (empty until then).
        var countsFinal: [ProgramQueueCounts] = []
        /// The program's run statistics when it was detached.
        var programRuns: (runs: UInt64, nanoseconds: UInt64) = (0, 0)
        /// Device drop counters at ``start()`` (the before-socket drops are deltas from here).
        var deviceBaseline = DeviceCounters.Snapshot()
        /// Device drop counters when redirecting stopped (nil until ``stop()``).
        var deviceFinal: DeviceCounters.Snapshot?
    }
    private let shared = Mutex(Shared())
    /// The program's COUNTS map (valid while `Shared.counting`).
    private let counters: ProgramCounters
    /// The filter running in the XDP program (nil: none, or the user-space filter).
    public let kernelFilter: KernelFilter?
    /// The program's flow-bypass table (nil: ``EngineSettings/flowBypass`` not set).
    public let flowBypass: (any FlowBypassTable)?
    /// Per group index: the socket is bound zero-copy (fill-ring-empty events are then uncounted losses).
    private let zeroCopy: [Bool]
    /// The device's own counters (before-socket drops).
    private let devices: DeviceCounters
    /// Longest wait, after redirecting stopped, for packets still in flight in the
    /// kernel (a NAPI poll that looked the socket up before the XSKMAP entry went)
    /// to land in the rx ring or in a drop counter.
    private static let drainTimeout: UInt64 = 500_000_000

    /// Opens `queues` of `interface` for capture (see the type's documentation).
    ///
    /// Flow offload falls back to chunk offload for groups larger than
    /// ``EngineSettings/maxFlowOffloadQueues`` (``EngineSettings/effectiveCore(queues:)``);
    /// ``shell``'s settings and the group's configuration say what runs.
    public init(interface: String, queues: [Int], settings requested: EngineSettings = EngineSettings()) throws(XDPError) {
        var settings = requested
        settings.core = requested.effectiveCore(queues: queues.count)
        let configuration = settings.core
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
        if let k = settings.captureThreads, k < 1 {
            throw XDPError.usage("capture-threads", "--capture-threads must be at least 1, got \(k)")
        }
        // The memory, computed and checked before anything is allocated.
        memory = MemoryBudget.pools(queues: queues.count, geometry: configuration.geometry, spill: configuration.spill)
        try memory.check()
        Sys.raiseMemlockLimit()
        Sys.mountBPFFSIfMissing()
        let geometry = configuration.geometry
        let node = NUMA.isAvailable ? NUMA.node(ofInterface: interface) : nil

        // Refuse early (before allocating UMEMs) if another program is attached,
        // saying whether a running process holds it or a dead one left it.
        if let owner = try XSKRedirectProgram.owner(ifindex: ifindex, interface: interface),
           !settings.force || owner.linkID != nil {
            throw XDPError("bpf_xdp_query_id(\(interface))", kind: .busy, message: owner.describe(interface: interface))
        }
        let bypass = try settings.flowBypass.map { s throws(XDPError) in try FlowBypassMap(settings: s) }
        let program = try XSKRedirectProgram(interface: interface, ifindex: ifindex, entries: deviceQueueCount,
                                             filter: settings.kernelFilter, bypass: bypass)
        // Each queue's memory first, so the group's pools know where their frames
        // are (spilled packets are copied within it).
        var umems: [UMEM] = []
        var huge = true
        for q in queues {
            let umem = try UMEM(frames: geometry.cellsPerPool, frameSize: geometry.frameSize,
                                fillSize: geometry.fillRingSize, completionSize: Forwarder.ringSize,
                                numaNode: node, hugePages: settings.hugePages, label: "\(interface) queue \(q)")
            huge = huge && umem.hugePages
            umems.append(umem)
        }
        let group: BuddyGroup
        do { group = try BuddyGroup(queueCount: queues.count, configuration: configuration, memory: umems.map(\.area)) } catch {
            throw XDPError("configuration", kind: .usage, message: error.message)
        }
        var built: [RxQueue] = []
        for (index, q) in queues.enumerated() {
            let socket = try XSKSocket(interface: interface, queue: UInt32(q), umem: umems[index],
                                       rxSize: 2 * geometry.fillRingSize, txSize: 0)
            built.append(RxQueue(index: index, deviceQueue: UInt32(q), umem: umems[index], socket: socket, group: group,
                                 programCounts: program.counters, batch: settings.batchSize))
        }
        numaNode = node
        hugePages = huge
        attachMode = settings.attachMode ?? .driver
        self.program = program
        counters = program.counters
        kernelFilter = settings.kernelFilter
        flowBypass = bypass
        zeroCopy = built.map { $0.socket.isZeroCopy }
        rxQueues = built
        devices = DeviceCounters(interface: interface, queues: queues)
        shell = EngineShell(interface: interface, queues: queues, group: group, settings: settings,
                            bases: built.map { $0.umem.area },
                            promiscuous: EngineShell.promiscuousMode(interface, settings))
    }

    deinit { close() }

    /// Starts capturing (see the type's documentation): every fill ring posted, the
    /// program attached, capture threads running, every socket in the XSKMAP. When
    /// it returns, every packet of the captured queues reaches WireCap (readiness).
    /// On failure nothing stays attached and the engine can only be closed.
    public func start() throws(XDPError) {
        precondition(lifecycle.state == .opened, "CaptureEngine.start() in state \(lifecycle.state)")
        guard let program else { preconditionFailure("CaptureEngine: no program") }
        for rx in rxQueues { rx.refill() }   // attach: the first N/M chunks go to each fill ring
        attachMode = try program.attach(force: settings.force, preferredMode: settings.attachMode,
                                        attachment: settings.attachment, quiet: settings.quiet)
        let rxQueues = self.rxQueues, devices = self.devices, wake = settings.wakePolicy
        let timeout = settings.core.partialTimeoutNanoseconds
        try shell.start(rxQueues, threads: shell.captureThreadCount(queues: rxQueues.count), name: "wc-capture",
                        policy: { AdaptiveWaitPolicy(policy: wake, partialTimeoutNanoseconds: timeout) }, drainTimeout: Self.drainTimeout,
                        openIntake: { () throws(XDPError) in
                            let baseline = devices.read()
                            shared.withLock { $0.deviceBaseline = baseline; $0.counting = true }
                            for rx in rxQueues { try program.insert(socketFD: rx.socket.fd, queue: rx.deviceQueue) }
                        },
                        undo: { stopRedirecting(program) },
                        afterUndo: { finishCounting(program) })
    }

    /// Stops capturing without losing what was received (see the type's
    /// documentation): redirecting stops, the rx rings are drained, every partial
    /// chunk is flushed to the capture lanes, the capture threads exit and the
    /// program is detached. Consumers keep running: they still have to take what
    /// is in their lanes. Idempotent; a no-op unless started.
    public func stop() {
        guard let program else { return }
        shell.stop(closeIntake: { stopRedirecting(program) }, afterJoin: { finishCounting(program) })
    }

    /// Stop step 1: from here on packets of these queues go to the stack.
    private func stopRedirecting(_ program: XSKRedirectProgram) {
        for rx in rxQueues { program.remove(queue: rx.deviceQueue) }
        let deviceFinal = devices.read()
        shared.withLock { $0.deviceFinal = deviceFinal }
    }

    /// After the capture threads drained, flushed and exited: nothing is redirected
    /// any more, so detach (closing the link removes the program), then freeze the
    /// counts. This thread is now the counters' only writer.
    private func finishCounting(_ program: XSKRedirectProgram) {
        program.detach()
        for rx in rxQueues { rx.publishKernelStatistics() }
        let counts = rxQueues.map { program.counters.read(queue: $0.deviceQueue) }
        let runs = program.runStatistics
        shared.withLock {
            $0.programRuns = runs
            $0.countsFinal = counts
            $0.counting = false
        }
    }

    /// Stops (``stop()``) if still started, then closes the sockets and frees the
    /// UMEMs. Consumers must have stopped. Idempotent.
    public func close() {
        let program = self.program
        shell.close(closeIntake: { if let program { stopRedirecting(program) } },
                    afterJoin: { if let program { finishCounting(program) } },
                    release: {
                        if lifecycle.state == .opened { program?.detach() }
                        // stop() ended live COUNTS reads (under the lock): the map may close now.
                        self.program = nil
                        // Dropping the queues closes each socket, then (its last reference gone)
                        // its UMEM. Their counters stay readable: the group keeps them.
                        rxQueues = []
                    })
    }
    /// Runs of the XDP program and their nanoseconds while capturing, counted by the
    /// kernel only with `sysctl kernel.bpf_stats_enabled=1` ((0, 0) otherwise);
    /// known once stopped.
    public var programRunStatistics: (runs: UInt64, nanoseconds: UInt64) { shared.withLock { $0.programRuns } }

    public func bypassedPackets() -> UInt64 {
        guard flowBypass != nil else { return 0 }
        return shared.withLock { s in
            s.counting ? queues.reduce(0) { $0 &+ counters.read(.bypassedPackets, queue: UInt32($1)) }
                       : s.countsFinal.reduce(0) { $0 &+ $1.bypassedPackets }
        }
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
        let (counts, baseline, final): ([ProgramQueueCounts], DeviceCounters.Snapshot, DeviceCounters.Snapshot) = shared.withLock { s in
            let counts = s.counting ? queues.map { counters.read(queue: UInt32($0)) }
                       : (s.countsFinal.isEmpty ? queues.map { _ in ProgramQueueCounts() } : s.countsFinal)
            return (counts, s.deviceBaseline, s.deviceFinal ?? (s.counting ? devices.read() : s.deviceBaseline))
        }
        var interfaceRow = QueueLedger(queue: -1)
        interfaceRow.beforeSocket = final.drops &- baseline.drops
        interfaceRow.offered = interfaceRow.beforeSocket
        let rows = (0..<queues.count).map { i -> QueueLedger in
            let s = stats[i]
            var row = QueueLedger(queue: queues[i])
            // Offered: steered to the socket, or rejected by the kernel filter or bypassed on the way.
            let c = counts[i]
            row.offered = c.offered
            row.filtered = c.filtered
            row.filteredInKernel = c.filtered
            row.bypassed = c.bypassedPackets
            row.bypassedBytes = c.bypassedBytes
            row.noFrame = s.dropsNoBuffer
            row.poolExhausted = s.dropsPoolExhausted
            row.rxRingFull = s.dropsRxRingFull
            row.invalidDescriptor = s.dropsInvalidDescriptor
            if zeroCopy[i] { row.uncountedLossEvents = s.fillRingEmptyEvents }
            return row
        }
        return (rows, interfaceRow, devices.description)
    }

    /// The UMEM (pool memory) of group index `index`: a ``Forwarder`` shares it with a
    /// TX socket on another device. Valid until ``close()``.
    public func umem(ofQueue index: Int) -> UMEM { rxQueues[index].umem }
}

extension CaptureEngine {
    public var offeredSource: OfferedSource { .xdpProgram }
    public var attachDescription: String { attachMode.rawValue }
    public var maxPacketsPerChunk: Int {
        group.configuration.maxPacketsPerHandle
    }
    public var geometryDescription: String {
        let c = group.configuration
        guard let spill = c.spill else { return c.geometry.description + ", spill off" }
        return "\(c.geometry) + \(spill) = \(ByteCount(c.queueBytes)) per queue"
    }
}
