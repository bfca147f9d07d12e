#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

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
/// block travels as `ChunkHandle(queue: socket, chunk: block, generation: the
/// pool's turn of the block, start: 0, count: num_pkts)` through the same
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
/// **Recycles are validated by the core.** Each socket's ``ChunkPool`` (R = blocks)
/// tracks its blocks like frame chunks: a block the kernel owns is `attached`, a
/// retired block is `captured` (``ChunkPool/completeWhole(chunk:count:retiredByTimer:)``),
/// and its handle comes back through ``ChunkPool/recycle(_:)``, the same
/// validation as on AF_XDP (group, chunk, generation, slice, count); only an
/// accepted handle gives the block back to the kernel.
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
    public let shell: EngineShell
    /// The fanout group id the kernel assigned.
    public let fanoutGroup: UInt16
    /// How the fanout group spreads packets, and whether full rings roll over.
    public let fanout: (mode: FanoutMode, rollover: Bool)
    private var rings: [AFPacketRing]
    /// The drain's longest wait for the kernel's last partial block to retire.
    private let drainTimeout: UInt64
    /// The longest sleep while consumers hold blocks (see ``HeldBlockPolicy``).
    private let heldSleep: UInt64

    /// Opens `sockets` AF_PACKET sockets on `interface` in one fanout group
    /// (fanout mode and rollover from `settings.backend`; `.hash` without rollover
    /// if it names AF_XDP).
    ///
    /// The pool geometry of `settings.core` is replaced by the ring's (see the
    /// type's documentation); mode, offload threshold and partial-chunk timeout
    /// apply. The block retire timeout is the partial-chunk timeout rounded up to
    /// whole milliseconds (the kernel's unit; at least 1 ms). Advanced mode offloads
    /// whole blocks (``OffloadPolicy/chunk``) whatever `settings` ask: a block is
    /// handed to one consumer whole, so it cannot be split by flow.
    public init(interface: String, sockets: Int, settings requested: EngineSettings = EngineSettings()) throws(XDPError) {
        var settings = requested
        settings.core.offload = .chunk
        guard (1...1024).contains(sockets) else {
            throw XDPError.usage("sockets", "the AF_PACKET backend needs 1...1024 sockets, got \(sockets)")
        }
        let geometry = settings.afpacketGeometry
        try geometry.validate()
        if let k = settings.captureThreads, k < 1 {
            throw XDPError.usage("capture-threads", "--capture-threads must be at least 1, got \(k)")
        }
        guard Sys.isRoot || Self.hasNetRaw() else {
            throw XDPError("privileges", kind: .permission, message: "the AF_PACKET backend needs root or CAP_NET_RAW")
        }
        try MemoryBudget.rings(sockets: sockets, geometry: geometry).check()
        let ifindex = try Sys.interfaceIndex(interface)
        var config = settings.core
        config.geometry = geometry.poolGeometry
        config.spill = nil   // the TPACKET_V3 ring is dense already: no arena
        let group: BuddyGroup
        do { group = try BuddyGroup(queueCount: sockets, configuration: config) } catch {
            throw XDPError("configuration", kind: .usage, message: error.message)
        }
        if case .afpacket(let mode, let rollover) = settings.backend { fanout = (mode, rollover) } else { fanout = (.hash, false) }
        precondition(TPacketBlock.firstOffset == 16, "tpacket_hdr_v1 layout changed: the block walk reads offset_to_first_pkt at 16")
        let retire = UInt32(max(1, (settings.core.partialTimeoutNanoseconds + 999_999) / 1_000_000))

        var built: [AFPacketRing] = []
        var fanoutID: UInt16 = 0
        for i in 0..<sockets {
            let socket = try AFPacketSocket(ifindex: ifindex, interface: interface, geometry: geometry,
                                            retireMilliseconds: retire)
            fanoutID = try socket.joinFanout(id: i == 0 ? 0 : fanoutID, mode: fanout.mode, rollover: fanout.rollover,
                                             unique: i == 0)
            built.append(AFPacketRing(index: i, socket: socket, group: group))
        }
        // Every socket is in the group; packets are let in by start().
        fanoutGroup = fanoutID
        drainTimeout = 3 * UInt64(retire) * 1_000_000 + 200_000_000
        heldSleep = min(1_000_000, max(100_000, settings.core.partialTimeoutNanoseconds))
        rings = built
        shell = EngineShell(interface: interface, queues: Array(0..<sockets), group: group, settings: settings,
                            bases: built.map { $0.socket.ring },
                            promiscuous: EngineShell.promiscuousMode(interface, settings))
    }

    deinit { close() }

    /// CAP_NET_RAW (bit 13) in the effective set.
    private static func hasNetRaw() -> Bool { Sys.effectiveCapabilities() & (1 << 13) != 0 }

    public var attachDescription: String { "afpacket/\(fanout.mode.rawValue)\(fanout.rollover ? "+rollover" : "")" }
    public var maxPacketsPerChunk: Int { settings.afpacketGeometry.maxPacketsPerBlock }
    public var geometryDescription: String { "TPACKET_V3 \(settings.afpacketGeometry)" }

    /// Starts the capture threads, then opens every socket's filter: when it returns
    /// every socket of the fanout group receives (readiness).
    public func start() throws(XDPError) {
        let rings = self.rings, heldSleep = self.heldSleep
        try shell.start(rings, threads: shell.captureThreadCount(queues: rings.count), name: "wc-afp",
                        policy: { HeldBlockPolicy(heldSleep: heldSleep) }, drainTimeout: drainTimeout,
                        openIntake: { () throws(XDPError) in
                            for r in rings {
                                // Start the socket's PACKET_STATISTICS (reset by a read) from zero at
                                // the capture window's opening: `offered` counts from here.
                                _ = r.socket.readStatistics()
                                try r.socket.openFilter()
                            }
                        },
                        undo: { for r in rings { try? r.socket.closeFilter() } },
                        afterUndo: { for r in rings { r.publishKernelStatistics() } })
    }

    /// Stops receiving (every socket filters everything again), lets the capture
    /// threads wait for the kernel to retire its last partial blocks and place them,
    /// and joins them (``CaptureLifecycle/State/drained``). Idempotent.
    public func stop() {
        let rings = self.rings
        shell.stop(closeIntake: { for r in rings { try? r.socket.closeFilter() } },
                   afterJoin: { for r in rings { r.publishKernelStatistics() } })
    }

    /// Stops if needed, then closes the sockets (unmapping their rings). Idempotent.
    public func close() {
        let rings = self.rings
        shell.close(closeIntake: { for r in rings { try? r.socket.closeFilter() } },
                    afterJoin: { for r in rings { r.publishKernelStatistics() } },
                    release: { self.rings = [] })
    }

    public var offeredSource: OfferedSource { .packetStatistics }

    /// Per socket: offered = PACKET_STATISTICS `tp_packets` (drops included), the
    /// drops split into pool-exhausted (the ring's next block was held by a
    /// consumer) and no-frame (it waited for the capture thread). No device row:
    /// a fanout group's sockets see packets after the device's own drops, which
    /// the AF_XDP backend reads; here the row stays 0.
    /// AF_PACKET has no XDP program, so no bypass table.
    public var flowBypass: (any FlowBypassTable)? { nil }

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
}

/// One socket's ring as its capture thread sees it: its pool (which blocks are
/// the kernel's, which are in user space), the next block the kernel retires,
/// and the socket's counters.
///
/// - warning: Only the capture thread serving it (and, after that thread is
///   joined, the engine's control thread) touches it.
package final class AFPacketRing: CaptureQueue, @unchecked Sendable {
    package let index: Int
    package let socket: AFPacketSocket
    package let group: BuddyGroup
    package let driver: CaptureDriver
    package let counters: CounterBlock
    package let blocks: Int
    /// Bytes per block (block b starts at `ring + b · blockSize`).
    package let blockSize: Int
    /// The next block the kernel retires (it fills blocks in ring order).
    var cursor = 0
    package var lastStatisticsRead: UInt64 = 0
    package var pollFD: Int32 { socket.fd }

    package init(index: Int, socket: AFPacketSocket, group: BuddyGroup) {
        self.index = index
        self.socket = socket
        self.group = group
        driver = CaptureDriver(group: group, queue: index)
        counters = group.captureCounters(index)
        blocks = socket.geometry.blocks
        blockSize = socket.geometry.blockSize
        // Every block starts with the kernel: attach them all, in ring order.
        for b in 0..<blocks {
            let chunk = driver.pool.attach()
            precondition(chunk == UInt32(b), "AF_PACKET: pool attached chunk \(String(describing: chunk)) for block \(b)")
        }
        group.publish(queue: index)
    }

    /// Takes recycles back, then places every newly retired block.
    /// - Returns: packets in the blocks placed.
    package func pass() -> Int {
        reclaim()
        var packets = 0
        var placed = false
        let pool = driver.pool
        while pool.state(of: cursor) == .attached {
            let block = socket.block(cursor)
            // (A) acquire: pairs with the kernel's smp_wmb() before it stores
            // TP_STATUS_USER in prb_close_block(): once we see USER, the block's
            // header and packets are complete.
            let status = TPacketBlock.status(block).load(ordering: .acquiring)
            guard status & TPacketBlock.user != 0 else { break }
            let count = TPacketBlock.count(block)
            if count == 0 {
                // The kernel retires no empty block; should one appear, give it back.
                TPacketBlock.status(block).store(TPacketBlock.kernel, ordering: .releasing)
                cursor = cursor &+ 1 == blocks ? 0 : cursor &+ 1
                continue
            }
            // One walk over the packet headers (a cache line each; the frames are
            // left to the consumers): the block's descriptor table and the bytes.
            // Plain stores, published by the capture lane's release in place().
            precondition(Int(count) <= group.configuration.geometry.cellsPerChunk,
                         "AF_PACKET: block of \(count) packets > bound \(group.configuration.geometry.cellsPerChunk)")
            let blockOffset = UInt64(cursor &* blockSize)
            let bytes = group.withDescriptorTable(queue: index, chunk: cursor) { cells -> UInt64 in
                var offset = TPacketBlock.firstPacket(block)
                var bytes: UInt64 = 0
                for c in 0..<Int(count) {
                    let header = UnsafeRawPointer(block + offset).assumingMemoryBound(to: tpacket3_hdr.self)
                    let h = header.pointee
                    bytes &+= UInt64(h.tp_len)
                    cells[c] = CellDescriptor(address: blockOffset &+ UInt64(offset &+ Int(h.tp_mac)), length: h.tp_snaplen,
                                              timestamp: UInt64(h.tp_sec) &* 1_000_000_000 &+ UInt64(h.tp_nsec),
                                              flags: CellDescriptor.kernelTimestamp)
                    offset &+= Int(h.tp_next_offset)
                }
                return bytes
            }
            guard let handle = pool.completeWhole(chunk: UInt32(cursor), count: count,
                                                  retiredByTimer: status & TPacketBlock.retiredByTimer != 0) else {
                preconditionFailure("AF_PACKET: block \(cursor) retired but its chunk is not attached — a WireCap bug")
            }
            // Never fails: lanes hold 2·R ≥ blocks handles and at most `blocks` are out.
            let ok = group.place(handle, from: index)
            precondition(ok, "AF_PACKET: capture lane full with \(pool.outstandingItems) of \(blocks) blocks out — a WireCap bug")
            driver.countReceived(packets: Int(count), bytes: Int(bytes))
            cursor = cursor &+ 1 == blocks ? 0 : cursor &+ 1
            packets &+= Int(count)
            placed = true
        }
        if placed { group.publish(queue: index) }
        return packets
    }

    /// Takes each recycled handle back through the pool's validation (a second
    /// recycle, a stale handle of an earlier turn of the block, a wrong count or
    /// group are refused and counted), and gives each accepted block back to the
    /// kernel at once.
    package func reclaim() {
        var any = false
        let pool = driver.pool
        while let handle = group.nextRecycled(owner: index) {
            any = true
            guard pool.recycleAndReattach(handle) == nil else { continue }
            // (B) release: pairs with the kernel's read of block_status before it
            // writes into the block (prb_dispatch_next_block / prb_queue_frozen).
            // Every read of the block — by a consumer, ordered before this store by
            // the recycle lane's release/acquire pair — happens before the kernel
            // may overwrite it.
            TPacketBlock.status(socket.block(Int(handle.chunk))).store(TPacketBlock.kernel, ordering: .releasing)
        }
        if any { group.publish(queue: index) }
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
            let cause: CaptureCounter = driver.pool.state(of: cursor) == .captured ? .dropsPoolExhausted : .dropsNoBuffer
            counters.add(cause.rawValue, s.drops)
        }
        if s.freezes > 0 { counters.add(CaptureCounter.fillRingEmptyEvents.rawValue, s.freezes) }
    }

    package func drainPass() -> Int { pass() }

    /// `true` when the kernel holds nothing more for this socket (the block it
    /// would fill next is in user space, or it is the kernel's and still empty) and
    /// every packet PACKET_STATISTICS offered is received or counted as a drop (a
    /// packet that passed the old filter just before it closed may still be landing).
    package func isDrained() -> Bool {
        let pool = driver.pool
        if pool.state(of: cursor) != .captured {
            let block = socket.block(cursor)
            // (A) acquire: see pass().
            let status = TPacketBlock.status(block).load(ordering: .acquiring)
            guard status & TPacketBlock.user == 0 && TPacketBlock.count(block) == 0 else { return false }
        }
        publishKernelStatistics()
        let offered = counters.load(CaptureCounter.kernelOffered.rawValue)
        let received = counters.load(CaptureCounter.packetsReceived.rawValue)
        let drops = counters.load(CaptureCounter.dropsNoBuffer.rawValue) &+ counters.load(CaptureCounter.dropsPoolExhausted.rawValue)
        return offered == received &+ drops
    }

    /// Blocks are placed whole as they retire: nothing partial waits here.
    package func flush() -> Int {
        reclaim()
        return 0
    }
}

/// How an AF_PACKET capture thread runs and waits.
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
package final class HeldBlockPolicy: CapturePolicy {
    package let heldSleep: UInt64

    package init(heldSleep: UInt64) { self.heldSleep = heldSleep }

    package func round(_ rings: [AFPacketRing]) -> CaptureRound {
        var round = CaptureRound()
        for r in rings { round.packets &+= r.pass() }
        round.delivered = round.packets
        round.more = round.packets > 0
        return round
    }

    package func wait(_ rings: [AFPacketRing], after round: CaptureRound, now: UInt64, blockInPoll: (Int32) -> Void) {
        if rings.contains(where: { $0.driver.pool.outstandingItems > 0 }) {
            Sys.sleep(nanoseconds: heldSleep)
        } else {
            blockInPoll(10)
        }
    }
}
