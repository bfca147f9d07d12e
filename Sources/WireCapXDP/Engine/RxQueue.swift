#if canImport(Glibc)
import Glibc
#endif
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

/// One receive queue as its capture thread sees it: the UMEM (= the queue's
/// pool memory), the socket, and the core's ``CaptureDriver``.
/// Its stored `var`s are `@exclusivity(unchecked)`: the capture thread alone uses them.
///
/// One pass (``pass()``) is the loop of ``CaptureDriver``:
///
/// ```
///   reclaim()                         recycled chunks → pool (validated)
///   peek ≤ batch rx descriptors       one CLOCK_REALTIME and CLOCK_MONOTONIC read per batch
///     stamp = *(u64 *)(frame - 8)     the XDP program's per-packet kernel clock (monotonic)
///     bucket = FlowHash(frame)        flow offload only: the packet's symmetric flow hash
///     record(address, length, t, a)   per packet: a table write, no syscall;
///                                     t = stamp + (realtime − monotonic) (without a good
///                                     stamp, the batch's realtime), a = the batch's monotonic
///   release; countReceived            once per batch
///   deliver(now)                      full / timed-out chunks → capture queues
///   refill(room)                      free chunks → fill ring, M frames at a time
/// ```
///
/// - warning: Every method but ``publishKernelStatistics()`` after the capture
///   thread stopped belongs to the queue's capture thread.
package final class RxQueue: CaptureQueue, @unchecked Sendable {
    /// Index in the buddy group.
    package let index: Int
    /// Device queue id.
    package let deviceQueue: UInt32
    package let umem: UMEM
    package let socket: XSKSocket
    package let driver: CaptureDriver
    package let rx: UnsafeMutablePointer<xsk_ring_cons>
    package let fill: UnsafeMutablePointer<xsk_ring_prod>
    package let fillSize: UInt32
    package let cellsPerChunk: UInt32
    package let counters: CounterBlock
    /// The program's counters map (`COUNTS[deviceQueue]`: packets redirected here).
    package let programCounts: ProgramCounters
    /// Most rx descriptors taken per pass.
    package let batch: UInt32

    // Pool-exhaustion attribution (capture thread; the engine after the join).
    // The kernel's `rx_dropped` counts packets dropped for want of a posted frame.
    // Those dropped while the pool had no free chunk to post are `poolExhausted`;
    // the others are `noFrame` (the capture thread was late to refill). The split is
    // exact to one getsockopt: the counter is read when a starvation begins and when
    // it ends (rare events), never per packet.
    @exclusivity(unchecked) var starving = false
    @exclusivity(unchecked) var droppedAtStarvation: UInt64 = 0
    @exclusivity(unchecked) var poolExhaustedDrops: UInt64 = 0

    // Capture-thread-private rate estimate (packets per nanosecond, EWMA).
    @exclusivity(unchecked) var rate: Double = 0
    @exclusivity(unchecked) var lastPassTime: UInt64 = 0
    @exclusivity(unchecked) var packetsSinceRate: Int = 0
    @exclusivity(unchecked) package var lastStatisticsRead: UInt64 = 0
    package var pollFD: Int32 { socket.fd }
    /// Packets the latest pass handed to capture queues (consumers may need a wake-up).
    @exclusivity(unchecked) var deliveredInLastPass = 0
    /// The latest kernel stamp taken (monotonic ns): a stamp must not be older (the
    /// kernel fills one queue's ring in arrival order), so a frame's stale bytes
    /// from an earlier packet are never taken for a stamp.
    @exclusivity(unchecked) var lastStamp: UInt64 = 0
    /// Packets stamped here instead (published as ``CaptureCounter/unstampedPackets``).
    @exclusivity(unchecked) var unstamped: UInt64 = 0
    /// The group offloads flows: every packet gets its ``FlowHash`` as its bucket
    /// (otherwise no hash is computed and every bucket is 0).
    let hashesFlows: Bool

    package init(index: Int, deviceQueue: UInt32, umem: UMEM, socket: XSKSocket, group: BuddyGroup, programCounts: ProgramCounters,
                 batch: Int) {
        self.programCounts = programCounts
        self.batch = UInt32(batch)
        self.index = index
        self.deviceQueue = deviceQueue
        self.umem = umem
        self.socket = socket
        driver = CaptureDriver(group: group, queue: index)
        rx = socket.rx!
        fill = umem.fill
        fillSize = UInt32(umem.fillSize)
        cellsPerChunk = UInt32(group.configuration.geometry.cellsPerChunk)
        counters = group.captureCounters(index)
        hashesFlows = group.configuration.offloadsFlows(queues: group.queueCount)
    }

    /// Posts free chunks to the fill ring while it has room for a whole chunk.
    /// - Returns: frames posted.
    @discardableResult
    package func refill() -> Int {
        let free = xsk_prod_nb_free(fill, fillSize)
        guard free >= cellsPerChunk else { return 0 }
        let fill = self.fill
        // Write the slots first (they are free: nb_free said so), then reserve and
        // submit exactly what the pool could attach. xsk_ring_prod__submit stores the
        // producer index with release order (pairs with the kernel's acquire in
        // xskq_cons_peek_addr), so the addresses are visible before the index moves.
        let base = fill.pointee.cached_prod
        var k: UInt32 = 0
        let posted = driver.refill(room: Int(free)) { address in
            xsk_ring_prod__fill_addr(fill, base &+ k).pointee = address
            k &+= 1
        }
        if posted > 0 {
            var idx: UInt32 = 0
            let reserved = xsk_ring_prod__reserve(fill, UInt32(posted), &idx)
            precondition(reserved == UInt32(posted) && idx == base, "fill ring reserve mismatch")
            xsk_ring_prod__submit(fill, UInt32(posted))
        }
        let nowStarving = driver.pool.counters.starving
        if nowStarving != starving { starvationChanged(to: nowStarving) }
        return posted
    }

    /// A starvation began or ended: read `rx_dropped` to split it (see `starving`).
    /// The state flips only with a reading (a failed read is retried on the next
    /// pass). Under sustained near-exhaustion this is one getsockopt per pass, only
    /// while the pool flips between empty and one free chunk.
    private func starvationChanged(to nowStarving: Bool) {
        guard let s = try? socket.statistics() else { return }
        starving = nowStarving
        if nowStarving {
            droppedAtStarvation = s.rx_dropped
        } else {
            poolExhaustedDrops &+= s.rx_dropped &- droppedAtStarvation
        }
    }

    /// One pass; see the type's documentation.
    /// - Returns: packets taken from the rx ring.
    @inline(__always)
    package func pass() -> Int {
        driver.reclaim()
        var idx: UInt32 = 0
        let n = xsk_ring_cons__peek(rx, batch, &idx)
        let now = Sys.realtimeNanoseconds()
        let arrival = Sys.monotonicNanoseconds()
        if n > 0 {
            var bytes = 0
            let driver = self.driver
            let area = UnsafeRawPointer(umem.area)
            // Wall clock = monotonic + this offset, read once per batch.
            let offset = now &- arrival
            var last = lastStamp
            var unstampedHere: UInt64 = 0
            let hashesFlows = self.hashesFlows
            for i in 0..<n {
                let desc = xsk_ring_cons__rx_desc(rx, idx &+ i)!
                let length = desc.pointee.len
                let address = desc.pointee.addr
                bytes &+= Int(length)
                // Flow offload: the flow bucket from the packet's bytes (the same for both directions).
                let bucket = hashesFlows
                    ? UInt16(truncatingIfNeeded: FlowHash.hash(area + Int(truncatingIfNeeded: address), length: Int(length)))
                    : 0
                // The XDP program's stamp, in the 8 bytes before the packet (the frame's
                // headroom: a descriptor's address is never within 8 bytes of its frame's start).
                let stamp = area.loadUnaligned(fromByteOffset: Int(truncatingIfNeeded: address) &- 8, as: UInt64.self)
                if stamp != 0 && stamp >= last && stamp <= arrival {
                    last = stamp
                    // The deadline clock stays the batch's reading (when WireCap took the
                    // packet): the kernel stamp made 1.7× more partial slices at 200 kpps
                    // (+0.1 CPU-s per million packets), for a bound counted from arrival.
                    _ = driver.record(address: address, length: length, timestamp: stamp &+ offset, arrival: arrival,
                                      flags: CellDescriptor.kernelTimestamp, bucket: bucket)
                } else {
                    unstampedHere &+= 1
                    _ = driver.record(address: address, length: length, timestamp: now, arrival: arrival, bucket: bucket)
                }
            }
            lastStamp = last
            if unstampedHere > 0 {
                unstamped &+= unstampedHere
                counters.set(CaptureCounter.unstampedPackets.rawValue, unstamped)
            }
            // Release stores the consumer index (release order; pairs with the
            // kernel's acquire before it reuses the slots).
            xsk_ring_cons__release(rx, n)
            driver.countReceived(packets: Int(n), bytes: bytes)
        }
        deliveredInLastPass = driver.deliver(now: arrival)
        refill()
        return Int(n)
    }

    /// Frames the kernel holds to receive into right now (posted, not yet consumed).
    package func framesWithKernel() -> UInt32 {
        fillSize &- xsk_prod_nb_free(fill, fillSize)
    }

    /// `true` when the fill ring has no room for another chunk (the kernel holds all it can).
    var fillIsFull: Bool { xsk_prod_nb_free(fill, fillSize) < cellsPerChunk }

    /// `true` when the kernel asked for a wake-up to process the fill ring.
    var fillNeedsWakeup: Bool { xsk_ring_prod__needs_wakeup(fill) != 0 }

    /// Copies the socket's kernel drop counters into the queue's counter block,
    /// splitting `rx_dropped` into no-frame and pool-exhausted drops (see `starving`).
    /// The capture thread calls it; the engine calls it once more after that thread exited.
    package func publishKernelStatistics() { _ = publishSocketDrops() }

    /// ``publishKernelStatistics()``, returning the socket's drops of every cause
    /// (for the drain's balance check).
    private func publishSocketDrops() -> UInt64 {
        guard let s = try? socket.statistics() else { return 0 }
        let exhausted = poolExhaustedDrops &+ (starving ? s.rx_dropped &- droppedAtStarvation : 0)
        counters.set(CaptureCounter.dropsPoolExhausted.rawValue, exhausted)
        counters.set(CaptureCounter.dropsNoBuffer.rawValue, s.rx_dropped &- exhausted)
        counters.set(CaptureCounter.dropsRxRingFull.rawValue, s.rx_ring_full)
        counters.set(CaptureCounter.dropsInvalidDescriptor.rawValue, s.rx_invalid_descs)
        counters.set(CaptureCounter.fillRingEmptyEvents.rawValue, s.rx_fill_ring_empty_descs)
        return s.rx_dropped &+ s.rx_ring_full &+ s.rx_invalid_descs
    }

    /// Packets the XDP program redirected to this queue's socket (a bpf syscall).
    package func redirectedPackets() -> UInt64 { programCounts.read(.redirected, queue: deviceQueue) }

    package func drainPass() -> Int { pass() }

    package func flush() -> Int {
        driver.reclaim()
        driver.flush()
        return driver.undeliveredPackets
    }

    /// `true` when every packet the program redirected here is accounted for: received
    /// from the rx ring or counted as a socket drop. Once redirecting has stopped this
    /// becomes true as soon as the last in-flight packet has landed.
    package func isDrained() -> Bool {
        let drops = publishSocketDrops()
        return redirectedPackets() == counters.load(CaptureCounter.packetsReceived.rawValue) &+ drops
    }
}
