#if canImport(Glibc)
import Glibc
#endif
import Atomics
import Synchronization
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

/// Options of the AF_PACKET backend.
public struct AFPacketOptions: Sendable {
    /// Ring shape per socket.
    public var geometry = AFPacketGeometry.default
    /// How the fanout group spreads packets over the sockets.
    public var fanout: FanoutMode = .hash
    /// PACKET_FANOUT_FLAG_ROLLOVER: when a socket's ring is full the kernel moves
    /// the packet to another socket (the kernel's own per-packet offload).
    public var rollover = false
    /// CPUs to pin capture threads to (thread t → `cpus[t % count]`); empty: unpinned.
    public var cpus: [Int] = []
    /// Capture threads; nil: ``CaptureEngine/defaultCaptureThreads(queues:)``.
    public var captureThreads: Int?
    /// Nice value of the capture threads (see ``EngineOptions/captureThreadNice``).
    public var captureThreadNice: Int32? = -10
    /// Suppress notes on stderr.
    public var quiet = false

    public init() {}
}

/// WireCAP's buddy-group scheduling on stock Linux: Q AF_PACKET sockets, each
/// with a TPACKET_V3 RX_RING, joined in one PACKET_FANOUT group. The fallback for
/// interfaces or kernels without AF_XDP, and the stock-Linux baseline.
///
/// ```
///  interface ──PACKET_FANOUT (hash|cpu|lb|qm)──▶ socket i ── RX_RING blocks ──▶ capture thread ──place──▶ capture lanes
///                                                   ▲                                                         │
///                                                   └── block_status = KERNEL ◀── validate ◀── recycle lanes ◀─ consumers
/// ```
///
/// **A block is a chunk.** TPACKET_V3 already does what WireCAP's chunks do: the
/// kernel packs packets into a block and hands the whole block to user space
/// when it is full or when `tp_retire_blk_tov` expires (a partial chunk). The
/// block travels as `ChunkHandle(queue: socket, chunk: block, generation: low 32
/// bits of the block's tp_seq_num, start: 0, count: num_pkts)` through the same
/// ``BuddyGroup`` lanes as AF_XDP chunks, so basic/advanced mode and offload
/// between consumers are the very same code. The group's ``ChunkPool``s hold no
/// frames (the ring is the pool): the group is built with the geometry
/// ``AFPacketGeometry/poolGeometry``, R = blocks per socket and M = N = the most
/// packets a block can hold, so (i) each lane holds 2·R ≥ blocks handles, and a
/// socket never has more than `blocks` handles out, so ``BuddyGroup/place(_:from:)``
/// cannot fail; (ii) the offload threshold T is a percentage of the socket's
/// blocks, as it is of R on AF_XDP; (iii) each block has a descriptor table of M
/// cells in its socket's pool.
///
/// **Descriptors: one packet-access path for both backends.** When the capture
/// thread places a retired block it walks the block's `tpacket3_hdr` chain once
/// and writes one ``CellDescriptor`` per packet into the block's table
/// (``BuddyGroup/withDescriptorTable(queue:chunk:_:)``): address = offset of the
/// frame's first byte (`tp_mac`) from the socket ring's mmap base, length =
/// `tp_snaplen`, timestamp = `tp_sec`·10⁹ + `tp_nsec`. Consumers, the capture
/// writer and the pcap-style handles then read a block exactly as an AF_XDP chunk:
/// ``BuddyGroup/descriptors(of:)`` plus the per-group-index base address of
/// ``memoryLayout`` (here: the ring's mmap base). The walk was already needed for
/// the byte counter, and it replaces the walk each consumer did before; the cost
/// is a 24-byte store per packet on the capture thread, and M·28 bytes of table
/// per block (≈ 44% of the ring at the 64-byte bound). Measured on a model of both
/// walks (synthetic 256 KiB blocks, `swiftc -O`, this 2-core VM): the capture walk
/// went from ≈ 7 to 8–12 ns per packet at 64-byte frames (14–18 ns at 1500 bytes),
/// the consumer walk from ≈ 7.5 to 5.5–6 ns (≈ 20 to 3–5 ns at 1500 bytes): the
/// work moves from consumers to the capture thread, the total stays about the same.
///
/// **What differs from AF_XDP.** A block cannot be handed out in slices (the
/// kernel owns it until it retires), and blocks come back to the kernel in any
/// order but the kernel fills them in ring order: a block still held by a slow
/// consumer stops the ring ("freezes" it) even when later blocks are free. Drops
/// then happen per socket ring, as with AF_XDP's fill ring, and buddy offload
/// is what keeps a socket's blocks moving.
///
/// - warning: `start`, `close` and `consumer(_:)` from one control thread. Each
///   consumer from its own thread. Consumers must stop before `close()`.
public final class AFPacketEngine: CaptureBackend, @unchecked Sendable {
    public let interface: String
    /// Socket labels 0 ..< Q (the "queues" of this backend).
    public let queues: [Int]
    public let group: BuddyGroup
    public let options: AFPacketOptions
    /// The fanout group id the kernel assigned.
    public let fanoutGroup: UInt16

    private var rings: [AFPacketRing]
    private let captureThreads: CaptureThreadSet
    package let wakeups: ConsumerWakeups
    /// Ring mmap base per socket (the per-group-index base of ``memoryLayout``).
    private let bases: UnsafeMutablePointer<UnsafeMutableRawPointer>
    /// Socket label per group index (``queues``).
    private let labels: UnsafeMutablePointer<Int>
    /// Where the capture is in its life; read by other threads (the API's ledger), so under a lock.
    private let lifecycleState = Mutex(CaptureLifecycle())
    /// Where the capture is in its life. Any thread.
    public var lifecycle: CaptureLifecycle { lifecycleState.withLock { $0 } }
    /// The drain's longest wait for the kernel's last partial block to retire.
    private let drainTimeout: UInt64

    /// Opens `sockets` AF_PACKET sockets on `interface` in one fanout group.
    ///
    /// - Parameters:
    ///   - configuration: mode, offload threshold and partial-chunk timeout are used;
    ///     the pool geometry is replaced by the ring's (see the type's documentation).
    ///     The block retire timeout is the partial-chunk timeout rounded up to whole
    ///     milliseconds (the kernel's unit; at least 1 ms).
    public init(interface: String, sockets: Int, configuration: CaptureConfiguration,
                options: AFPacketOptions = AFPacketOptions()) throws(XDPError) {
        guard (1...1024).contains(sockets) else {
            throw XDPError.usage("sockets", "the AF_PACKET backend needs 1...1024 sockets, got \(sockets)")
        }
        try options.geometry.validate()
        if let k = options.captureThreads, k < 1 {
            throw XDPError.usage("capture-threads", "--capture-threads must be at least 1, got \(k)")
        }
        guard Sys.isRoot || Self.hasNetRaw() else {
            throw XDPError("privileges", kind: .permission, message: "the AF_PACKET backend needs root or CAP_NET_RAW")
        }
        try MemoryBudget.rings(sockets: sockets, geometry: options.geometry).check()
        let ifindex = try Sys.interfaceIndex(interface)
        var config = configuration
        config.geometry = options.geometry.poolGeometry
        do { group = try BuddyGroup(queueCount: sockets, configuration: config) } catch {
            throw XDPError("configuration", kind: .usage, message: error.message)
        }
        self.interface = interface
        self.options = options
        queues = Array(0..<sockets)
        precondition(TPacketBlock.firstOffset == 16, "tpacket_hdr_v1 layout changed: the block walk reads offset_to_first_pkt at 16")
        let retire = UInt32(max(1, (configuration.partialTimeoutNanoseconds + 999_999) / 1_000_000))

        var built: [AFPacketRing] = []
        var fanoutID: UInt16 = 0
        for i in 0..<sockets {
            let socket = try AFPacketSocket(ifindex: ifindex, interface: interface, geometry: options.geometry,
                                            retireMilliseconds: retire)
            fanoutID = try socket.joinFanout(id: i == 0 ? 0 : fanoutID, mode: options.fanout, rollover: options.rollover,
                                             unique: i == 0)
            built.append(AFPacketRing(index: i, socket: socket, group: group))
        }
        // Every socket is in the group; packets are let in by start().
        fanoutGroup = fanoutID
        drainTimeout = 3 * UInt64(retire) * 1_000_000 + 200_000_000
        rings = built
        wakeups = ConsumerWakeups(consumers: sockets)
        captureThreads = CaptureThreadSet(wakeups: wakeups)
        bases = .allocate(capacity: sockets)
        labels = .allocate(capacity: sockets)
        for (i, r) in built.enumerated() {
            (bases + i).initialize(to: r.socket.ring)
            (labels + i).initialize(to: i)
        }
    }

    deinit {
        close()
        bases.deallocate()
        labels.deallocate()
    }

    /// CAP_NET_RAW (bit 13) in the effective set.
    private static func hasNetRaw() -> Bool { Sys.effectiveCapabilities() & (1 << 13) != 0 }

    /// Where packets live, per group index: the socket's ring mmap base (descriptor
    /// addresses are offsets from it) and the socket label. Valid until the engine
    /// is released (``close()`` unmaps the rings: read no packet after it).
    public var memoryLayout: (bases: UnsafePointer<UnsafeMutableRawPointer>, deviceQueues: UnsafePointer<Int>) {
        (UnsafePointer(bases), UnsafePointer(labels))
    }

    public var attachDescription: String { "afpacket/\(options.fanout.rawValue)\(options.rollover ? "+rollover" : "")" }
    public var maxPacketsPerChunk: Int { options.geometry.maxPacketsPerBlock }
    public var geometryDescription: String { "TPACKET_V3 \(options.geometry)" }

    /// Starts the capture threads, then opens every socket's filter: when it returns
    /// every socket of the fanout group receives (readiness).
    public func start() throws(XDPError) {
        precondition(lifecycle.state == .opened, "AFPacketEngine.start() in state \(lifecycle.state)")
        let k = min(options.captureThreads ?? SystemThread.defaultCaptureThreads(queues: rings.count), rings.count)
        let sleep = min(1_000_000, max(100_000, group.configuration.partialTimeoutNanoseconds))
        do {
            let threads = captureThreads
            try threads.start(count: k, items: rings, name: "wc-afp", cpus: options.cpus,
                              nice: options.captureThreadNice) { _, served in
                let worker = AFPacketCaptureThread(rings: served, running: threads.running, stopFD: threads.stopFD, heldSleep: sleep,
                                                   wakeups: wakeups, group: group, drainTimeout: drainTimeout)
                return { worker.run() }
            }
            for r in rings {
                // Start the socket's PACKET_STATISTICS (reset by a read) from zero at the
                // capture window's opening: `offered` counts from here.
                _ = r.socket.readStatistics()
                try r.socket.openFilter()
            }
        } catch {
            for r in rings { try? r.socket.closeFilter() }
            captureThreads.stop()
            throw error
        }
        lifecycleState.withLock { $0.advance(to: .started) }
    }

    /// The consumer of socket `index`. It is the AF_XDP engine's ``CaptureConsumer``:
    /// the capture thread writes each block's descriptors into the group's table, so
    /// packets are read the same way (descriptors + the socket ring's base address).
    public func consumer(_ index: Int) -> CaptureConsumer {
        precondition(index >= 0 && index < queues.count, "consumer index \(index) out of range")
        return CaptureConsumer(index: index, group: group, bases: UnsafePointer(bases), deviceQueues: UnsafePointer(labels),
                               wakeups: wakeups)
    }

    /// Stops receiving (every socket filters everything again), lets the capture
    /// threads wait for the kernel to retire its last partial blocks and place them,
    /// and joins them (``CaptureLifecycle/State/drained``). Idempotent.
    public func stop() {
        guard lifecycle.needsStop else { return }
        lifecycleState.withLock { $0.advance(to: .stopping) }
        for r in rings { try? r.socket.closeFilter() }
        captureThreads.stop()
        // The capture threads are joined: this thread is now the counters' only writer.
        for r in rings { r.publishKernelStatistics() }
        lifecycleState.withLock { $0.advance(to: .drained) }
    }

    /// Stops if needed, then closes the sockets (unmapping their rings). Idempotent.
    public func close() {
        guard lifecycle.state != .closed else { return }
        stop()
        rings = []
        lifecycleState.withLock { $0.advance(to: .closed) }
    }

    public var offeredSource: OfferedSource { .packetStatistics }

    /// Per socket: offered = PACKET_STATISTICS `tp_packets` (drops included), the
    /// drops split into pool-exhausted (the ring's next block was held by a
    /// consumer) and no-frame (it waited for the capture thread). No device row:
    /// a fanout group's sockets see packets after the device's own drops, which
    /// the AF_XDP backend reads; here the row stays 0.
    public func captureLedger() -> (rows: [QueueLedger], interface: QueueLedger, deviceCounters: String) {
        let rows = (0..<queues.count).map { i -> QueueLedger in
            let s = group.statistics(queue: i)
            var row = QueueLedger(queue: i)
            row.offered = s.kernelOffered
            row.noFrame = s.dropsNoBuffer
            row.poolExhausted = s.dropsPoolExhausted
            return row
        }
        return (rows, QueueLedger(queue: -1), "none (AF_PACKET)")
    }

    public var isOpen: Bool { lifecycle.state != .closed }

    public func statistics() -> [QueueStatistics] {
        (0..<queues.count).map { group.statistics(queue: $0) }
    }
}

/// One socket's ring as its capture thread sees it: which blocks are in user
/// space, the next block the kernel will retire, and the socket's counters.
///
/// - warning: Only the capture thread serving it (and, after that thread is
///   joined, the engine's control thread) touches it.
package final class AFPacketRing: @unchecked Sendable {
    package let index: Int
    package let socket: AFPacketSocket
    package let group: BuddyGroup
    package let counters: CounterBlock
    package let blocks: Int
    /// Bytes per block (block b starts at `ring + b · blockSize`).
    package let blockSize: Int
    /// The descriptor table's cells per block (M): packets in a block never exceed it.
    package let maxPackets: Int
    /// Per block: 1 while the block is handed out (placed, not yet recycled).
    package let outstanding: UnsafeMutablePointer<UInt8>
    /// The next block the kernel retires (it fills blocks in ring order).
    var cursor = 0
    var outstandingCount = 0
    var recycled: UInt64 = 0
    var rejected: UInt64 = 0
    var lastStatisticsRead: UInt64 = 0

    package init(index: Int, socket: AFPacketSocket, group: BuddyGroup) {
        self.index = index
        self.socket = socket
        self.group = group
        counters = group.captureCounters(index)
        blocks = socket.geometry.blocks
        blockSize = socket.geometry.blockSize
        maxPackets = group.configuration.geometry.cellsPerChunk
        outstanding = .allocate(capacity: blocks)
        outstanding.initialize(repeating: 0, count: blocks)
        publishGauges()
    }

    deinit { outstanding.deallocate() }

    /// Takes recycles back, then places every newly retired block.
    /// - Returns: blocks placed.
    package func pass() -> Int {
        drainRecycles()
        var placed = 0
        while outstanding[cursor] == 0 {
            let block = socket.block(cursor)
            // (A) acquire: pairs with the kernel's smp_wmb() before it stores
            // TP_STATUS_USER in prb_close_block(): once we see USER, the block's
            // header and packets are complete.
            let status = TPacketBlock.status(block).load(ordering: .acquiring)
            guard status & TPacketBlock.user != 0 else { break }
            let count = TPacketBlock.count(block)
            let sequence = TPacketBlock.sequence(block)
            if count == 0 {
                // The kernel retires no empty block; should one appear, give it back.
                TPacketBlock.status(block).store(TPacketBlock.kernel, ordering: .releasing)
                cursor = cursor &+ 1 == blocks ? 0 : cursor &+ 1
                continue
            }
            // One walk over the packet headers (a cache line each; the frames are
            // left to the consumers): the block's descriptor table and the bytes.
            // Plain stores, published by the capture lane's release in place().
            precondition(Int(count) <= maxPackets, "AF_PACKET: block of \(count) packets > bound \(maxPackets)")
            let blockOffset = UInt64(cursor &* blockSize)
            let bytes = group.withDescriptorTable(queue: index, chunk: cursor) { cells -> UInt64 in
                var offset = TPacketBlock.firstPacket(block)
                var bytes: UInt64 = 0
                for c in 0..<Int(count) {
                    let header = UnsafeRawPointer(block + offset).assumingMemoryBound(to: tpacket3_hdr.self)
                    let h = header.pointee
                    bytes &+= UInt64(h.tp_len)
                    cells[c] = CellDescriptor(address: blockOffset &+ UInt64(offset &+ Int(h.tp_mac)), length: h.tp_snaplen,
                                              timestamp: UInt64(h.tp_sec) &* 1_000_000_000 &+ UInt64(h.tp_nsec))
                    offset &+= Int(h.tp_next_offset)
                }
                return bytes
            }
            let handle = ChunkHandle(queue: UInt16(index), chunk: UInt32(cursor),
                                     generation: UInt32(truncatingIfNeeded: sequence), start: 0, count: count,
                                     group: group.identity)
            outstanding[cursor] = 1
            outstandingCount &+= 1
            // Never fails: lanes hold 2·R ≥ blocks handles and at most `blocks` are out.
            let ok = group.place(handle, from: index)
            precondition(ok, "AF_PACKET: capture lane full with \(outstandingCount) of \(blocks) blocks out — a WireCap bug")
            counters.add(CaptureCounter.packetsReceived.rawValue, UInt64(count))
            counters.add(CaptureCounter.packetsDelivered.rawValue, UInt64(count))
            counters.add(CaptureCounter.bytesReceived.rawValue, bytes)
            counters.add(status & TPacketBlock.retiredByTimer != 0 ? CaptureCounter.partialSlices.rawValue
                                                                   : CaptureCounter.fullChunks.rawValue, 1)
            cursor = cursor &+ 1 == blocks ? 0 : cursor &+ 1
            placed &+= 1
        }
        if placed > 0 { publishGauges() }
        return placed
    }

    /// Validates each recycled handle and gives its block back to the kernel.
    ///
    /// A handle is accepted only if its block index is in range, the block is
    /// handed out now (its outstanding bit is set: a second recycle of the same
    /// handle is refused), and its generation and count match the block's
    /// tp_seq_num (low 32 bits) and num_pkts, which the kernel does not touch
    /// while the block is ours: a stale handle of an earlier turn of the block is
    /// refused. Refusals are counted (``CaptureCounter/recycleRejected``).
    package func drainRecycles() {
        var any = false
        while let handle = group.nextRecycled(owner: index) {
            any = true
            let b = Int(handle.chunk)
            guard handle.group == group.identity, b < blocks, outstanding[b] != 0, handle.start == 0 else {
                rejected &+= 1
                continue
            }
            let block = socket.block(b)
            guard UInt32(truncatingIfNeeded: TPacketBlock.sequence(block)) == handle.generation,
                  TPacketBlock.count(block) == handle.count else { rejected &+= 1; continue }
            outstanding[b] = 0
            outstandingCount &-= 1
            recycled &+= 1
            // (B) release: pairs with the kernel's read of block_status before it
            // writes into the block (prb_dispatch_next_block / prb_queue_frozen).
            // Every read of the block — by a consumer, ordered before this store by
            // the recycle lane's release/acquire pair — happens before the kernel
            // may overwrite it.
            TPacketBlock.status(block).store(TPacketBlock.kernel, ordering: .releasing)
        }
        if any { publishGauges() }
    }

    package func publishGauges() {
        counters.set(CaptureCounter.recycled.rawValue, recycled)
        counters.set(CaptureCounter.recycleRejected.rawValue, rejected)
        counters.set(CaptureCounter.attachedChunks.rawValue, UInt64(blocks - outstandingCount))
        counters.set(CaptureCounter.freeChunks.rawValue, 0)
        counters.set(CaptureCounter.capturedChunks.rawValue, UInt64(outstandingCount))
        counters.set(CaptureCounter.outstandingItems.rawValue, UInt64(outstandingCount))
    }

    /// Adds PACKET_STATISTICS (reset by the kernel on every read) to the counters:
    /// `tp_drops` — packets lost because the socket's next block was still in user
    /// space (no buffer to write into: the TPACKET_V3 peer of AF_XDP's `rx_dropped`,
    /// a posted-frame shortage) → ``CaptureCounter/dropsNoBuffer``; `tp_freeze_q_cnt`
    /// — times the ring froze on such a block (events, like AF_XDP's fill-ring-empty
    /// events) → ``CaptureCounter/fillRingEmptyEvents``.
    ///
    /// Drops are attributed when read (every 10 ms and at the transitions of the
    /// drain): to pool exhaustion when the block the kernel waits for is held by a
    /// consumer, else to the capture thread being late. `tp_packets` (drops
    /// included) → ``CaptureCounter/kernelOffered``.
    package func publishKernelStatistics() {
        let s = socket.readStatistics()
        if s.packets > 0 { counters.add(CaptureCounter.kernelOffered.rawValue, s.packets) }
        if s.drops > 0 {
            let cause: CaptureCounter = outstanding[cursor] != 0 ? .dropsPoolExhausted : .dropsNoBuffer
            counters.add(cause.rawValue, s.drops)
        }
        if s.freezes > 0 { counters.add(CaptureCounter.fillRingEmptyEvents.rawValue, s.freezes) }
    }

    /// `true` when every packet PACKET_STATISTICS offered is received or counted as a
    /// drop (reads the statistics, a getsockopt).
    package func isBalanced() -> Bool {
        publishKernelStatistics()
        let offered = counters.load(CaptureCounter.kernelOffered.rawValue)
        let received = counters.load(CaptureCounter.packetsReceived.rawValue)
        let drops = counters.load(CaptureCounter.dropsNoBuffer.rawValue) &+ counters.load(CaptureCounter.dropsPoolExhausted.rawValue)
        return offered == received &+ drops
    }

    /// `true` when the kernel holds no packet for this socket: the block it would
    /// fill next is held by user space, or it is the kernel's and still empty.
    package func kernelHoldsNothing() -> Bool {
        if outstanding[cursor] != 0 { return true }
        let block = socket.block(cursor)
        // (A) acquire: see pass().
        let status = TPacketBlock.status(block).load(ordering: .acquiring)
        return status & TPacketBlock.user == 0 && TPacketBlock.count(block) == 0
    }
}

/// A capture thread serving one or more AF_PACKET rings.
///
/// **Waiting.** `poll()` on a TPACKET_V3 socket reports POLLIN while the block
/// before the kernel's current one is not TP_STATUS_KERNEL — which is also true
/// while a consumer still holds that block. So:
/// - with no block of its rings in user space, the thread blocks in `poll()` on
///   every socket and the stop eventfd (bounded at 10 ms for the counters): it
///   wakes exactly when a block retires (full, or after `tp_retire_blk_tov`);
/// - while consumers hold blocks, POLLIN would fire at once forever, so the thread
///   sleeps `heldSleep` (the partial-chunk timeout, 0.1…1 ms) between passes
///   instead: recycles come back through lanes that signal nothing, and no
///   wait is ever a spin.
package final class AFPacketCaptureThread: @unchecked Sendable {
    package let rings: [AFPacketRing]
    package let running: UnsafeAtomic<Bool>
    package let stopFD: Int32
    package let heldSleep: UInt64
    package let wakeups: ConsumerWakeups
    package let group: BuddyGroup
    /// How often PACKET_STATISTICS is read (a getsockopt per socket).
    package let statisticsInterval: UInt64 = 10_000_000

    /// Longest wait, once stopping, for the kernel to retire its last partial blocks.
    package let drainTimeout: UInt64

    package init(rings: [AFPacketRing], running: UnsafeAtomic<Bool>, stopFD: Int32, heldSleep: UInt64,
         wakeups: ConsumerWakeups, group: BuddyGroup, drainTimeout: UInt64) {
        self.drainTimeout = drainTimeout
        self.rings = rings
        self.running = running
        self.stopFD = stopFD
        self.heldSleep = heldSleep
        self.wakeups = wakeups
        self.group = group
    }

    package func run() {
        let fds = UnsafeMutablePointer<pollfd>.allocate(capacity: rings.count + 1)
        defer { fds.deallocate() }
        for (i, r) in rings.enumerated() { fds[i] = pollfd(fd: r.socket.fd, events: Int16(POLLIN), revents: 0) }
        fds[rings.count] = pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)
        // Relaxed: the flag carries no data; close() joins the thread afterwards.
        while running.load(ordering: .relaxed) {
            var placed = 0
            for r in rings { placed &+= r.pass() }
            if placed > 0 { wakeConsumers() }
            let now = Sys.monotonicNanoseconds()
            for r in rings where now &- r.lastStatisticsRead >= statisticsInterval {
                r.lastStatisticsRead = now
                r.publishKernelStatistics()
            }
            if placed > 0 { continue }
            if rings.contains(where: { $0.outstandingCount > 0 }) {
                Sys.sleep(nanoseconds: heldSleep)
            } else {
                for i in 0...rings.count { fds[i].revents = 0 }
                _ = try? Sys.poll(fds, count: rings.count + 1, timeoutMilliseconds: 10)
            }
        }
        // Stopping: the sockets filter everything now. The kernel retires a partly
        // filled block only after tp_retire_blk_tov: place blocks until none holds
        // a packet, then publish the final counters.
        let start = Sys.monotonicNanoseconds()
        while true {
            var placed = 0
            for r in rings { placed &+= r.pass() }
            if placed > 0 { wakeConsumers() }
            // Done when the kernel holds nothing more and every packet it offered is
            // received or counted as dropped (a packet that passed the old filter just
            // before it closed may still be landing).
            if rings.allSatisfy({ $0.kernelHoldsNothing() && $0.isBalanced() })
                || Sys.monotonicNanoseconds() &- start >= drainTimeout { break }
            Sys.sleep(nanoseconds: 500_000)
        }
        for r in rings {
            r.drainRecycles()
            r.publishKernelStatistics()
        }
        wakeConsumers()
    }

    private func wakeConsumers() {
        let group = self.group
        wakeups.wakeSleepers { group.captureQueueLength($0) > 0 }
    }
}
