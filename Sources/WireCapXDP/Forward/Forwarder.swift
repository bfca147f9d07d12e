#if canImport(Glibc)
import Glibc
#endif
import CXDP
import Synchronization
import WireCapCore
import WireCapSystem
import WireCapEngine

/// Zero-copy forwarding (paper §3.2.2b): captured packets leave through another
/// interface straight from the pool memory they were received into.
///
/// For each pool (group index i) of a ``CaptureEngine`` the forwarder opens a TX
/// socket on egress queue `egressQueues[i]` that shares pool i's UMEM
/// (`XDP_SHARED_UMEM`, with its own fill and completion rings, sized like the TX
/// ring: ``ringSize``). Forwarding a chunk posts one TX descriptor per packet —
/// the packet's UMEM address and length, no copy — and kicks the kernel.
///
/// **Frames have one owner.** A frame posted for TX belongs to the kernel until
/// the completion ring gives its address back. Each path keeps one bit per frame
/// of its pool (set when posted, cleared when that address completes), so a chunk
/// may go back to the fill ring only when every one of its frames completed,
/// matched by address — never by a count, which would let a late completion of
/// one chunk release another. ``forward(_:descriptors:)`` waits for that up to
/// ``completionTimeout``; past it, it returns the chunk as *pending*: the caller
/// keeps it (``isComplete(_:)`` tells when it may be recycled) and the kernel
/// keeps its frames. Packets still pending when the capture ends are the
/// ledger's `tx-stalled`, and their chunk is never recycled.
///
/// Chunks of pool i may be forwarded by any consumer (offload hands them to
/// buddies), so each pool's TX path has a mutex, taken around each post-and-reap
/// round, never per packet and never across a sleep. Each pool needs its own
/// egress queue: a device queue can be bound by one UMEM only.
///
/// - warning: The engine must outlive the forwarder; close the forwarder first.
public final class Forwarder: @unchecked Sendable {
    /// TX ring and completion ring entries per path.
    public static let ringSize = 2048
    /// The egress interface.
    public let interface: String
    private let paths: [TXPath]
    /// Longest wait in ``forward(_:descriptors:)`` for the kernel to complete a chunk's frames.
    public static let completionTimeout: UInt64 = 100_000_000

    /// What ``forward(_:descriptors:)`` did with a chunk.
    public struct Outcome: Sendable, Hashable {
        /// Packets posted to the TX ring (the rest found no room before the deadline: not sent).
        public var posted: Int
        /// `true` when every posted frame completed: the chunk may be recycled now.
        public var complete: Bool
    }

    /// One pool's TX socket and its rings.
    package final class TXPath: @unchecked Sendable {
        let socket: OpaquePointer
        let fd: Int32
        let tx: UnsafeMutablePointer<xsk_ring_prod>
        let fill: UnsafeMutablePointer<xsk_ring_prod>
        let completion: UnsafeMutablePointer<xsk_ring_cons>
        let size: UInt32
        let lock = Mutex(())
        let umem: UMEM   // kept alive while the socket uses it
        /// One bit per frame of the pool: set while the kernel owns the frame for TX.
        /// Touched only under `lock`.
        let owned: UnsafeMutablePointer<UInt64>
        let frameShift: UInt64

        init(interface: String, queue: UInt32, umem: UMEM, size: Int) throws(XDPError) {
            self.umem = umem
            self.size = UInt32(size)
            let frames = umem.bytes / umem.frameSize
            precondition(umem.frameSize & (umem.frameSize - 1) == 0, "frame size must be a power of two")
            frameShift = UInt64(umem.frameSize.trailingZeroBitCount)
            owned = .allocate(capacity: (frames + 63) / 64)
            owned.initialize(repeating: 0, count: (frames + 63) / 64)
            tx = .allocate(capacity: 1); tx.initialize(to: xsk_ring_prod())
            fill = .allocate(capacity: 1); fill.initialize(to: xsk_ring_prod())
            completion = .allocate(capacity: 1); completion.initialize(to: xsk_ring_cons())
            var config = xsk_socket_config()
            config.rx_size = 0
            config.tx_size = UInt32(size)
            config.libxdp_flags = UInt32(XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD)
            config.bind_flags = UInt16(XDP_USE_NEED_WAKEUP)
            do {
                socket = try XDPLib.createSharedSocket(interface: interface, queue: queue, umem: umem.handle,
                                                       tx: tx, fill: fill, completion: completion, config: config)
            } catch {
                tx.deallocate(); fill.deallocate(); completion.deallocate(); owned.deallocate()
                throw error
            }
            fd = XDPLib.socketFD(socket)
        }

        deinit {
            XDPLib.deleteSocket(socket)
            tx.deallocate(); fill.deallocate(); completion.deallocate(); owned.deallocate()
        }

        @inline(__always) func frame(_ address: UInt64) -> Int { Int(truncatingIfNeeded: address >> frameShift) }

        /// Takes completed frames off the completion ring, clearing their bits. Under `lock`.
        func reapCompletions() {
            var idx: UInt32 = 0
            let n = xsk_ring_cons__peek(completion, size, &idx)
            guard n > 0 else { return }
            for k in 0..<n {
                let f = frame(xsk_ring_cons__comp_addr(completion, idx &+ k).pointee)
                owned[f >> 6] &= ~(1 << UInt64(f & 63))
            }
            // Release stores the consumer index (release order; pairs with the kernel's
            // acquire before it reuses the slots).
            xsk_ring_cons__release(completion, n)
        }

        /// `true` when none of the first `posted` frames of `descriptors` is owned by the kernel. Under `lock`.
        func allComplete(_ descriptors: UnsafeBufferPointer<CellDescriptor>, posted: Int) -> Bool {
            for i in 0..<posted {
                let f = frame(descriptors[i].address)
                if owned[f >> 6] & (1 << UInt64(f & 63)) != 0 { return false }
            }
            return true
        }
    }

    /// Opens one TX socket per pool of `engine` on `interface`.
    ///
    /// - Parameter egressQueues: the egress queue for each group index (default 0, 1, …).
    /// - Throws: one-line errors (unknown interface, too few queues, AF_XDP refused).
    public init(engine: CaptureEngine, interface: String, egressQueues: [Int]? = nil) throws(XDPError) {
        guard InterfaceInfo.exists(interface) else {
            throw XDPError.usage("interface", "no such interface: \(interface) (check the name with `ip link`)")
        }
        // A spilled packet lives in a spill block, not in a frame the kernel could send.
        guard engine.group.configuration.spill == nil else {
            throw XDPError.usage("forward", "--forward sends packets from the frames they arrived in: capture with --spill off")
        }
        let n = engine.queues.count
        let queues = egressQueues ?? Array(0..<n)
        let available = InterfaceInfo.txQueueCount(interface) ?? 1
        guard queues.count == n, queues.allSatisfy({ $0 >= 0 && $0 < available }) else {
            throw XDPError.usage("forward", "--forward \(interface): needs \(n) tx queues (one per captured queue), the device has \(available)")
        }
        self.interface = interface
        var paths: [TXPath] = []
        for i in 0..<n {
            paths.append(try TXPath(interface: interface, queue: UInt32(queues[i]), umem: engine.umem(ofQueue: i),
                                    size: Self.ringSize))
        }
        self.paths = paths
    }

    /// Sends the packets `descriptors` names (all from the pool of `handle.queue`)
    /// out of the egress interface, zero-copy, and waits up to ``completionTimeout``
    /// for the kernel to complete every frame. The lock is held only around each
    /// post-and-reap round, never while waiting.
    ///
    /// - Returns: how many packets were posted, and whether all of them completed
    ///   (the chunk may then be recycled; otherwise ask ``isComplete(_:descriptors:posted:)``
    ///   later, and never recycle it before).
    public func forward(_ handle: ChunkHandle, descriptors: UnsafeBufferPointer<CellDescriptor>) -> Outcome {
        let path = paths[Int(handle.queue)]
        var posted = 0
        let deadline = Sys.monotonicNanoseconds() &+ Self.completionTimeout
        while true {
            let complete: Bool = path.lock.withLock { _ in
                if posted < descriptors.count {
                    var idx: UInt32 = 0
                    let got = xsk_ring_prod__reserve(path.tx, UInt32(min(descriptors.count - posted, Int(path.size))), &idx)
                    for k in 0..<got {
                        let d = descriptors[posted + Int(k)]
                        let desc = xsk_ring_prod__tx_desc(path.tx, idx &+ k)!
                        desc.pointee.addr = d.address
                        desc.pointee.len = d.length
                        desc.pointee.options = 0
                        let f = path.frame(d.address)
                        path.owned[f >> 6] |= 1 << UInt64(f & 63)
                    }
                    if got > 0 {
                        // Submit stores the producer index with release order, after the
                        // descriptors (pairs with the kernel's acquire when it reads them).
                        xsk_ring_prod__submit(path.tx, got)
                        posted += Int(got)
                    }
                }
                _ = try? Sys.kickTransmit(path.fd)
                path.reapCompletions()
                return posted == descriptors.count && path.allComplete(descriptors, posted: posted)
            }
            if complete { return Outcome(posted: posted, complete: true) }
            if Sys.monotonicNanoseconds() >= deadline { return Outcome(posted: posted, complete: false) }
            Sys.sleep(nanoseconds: 10_000)
        }
    }

    /// Whether the first `posted` frames of a chunk ``forward(_:descriptors:)`` left
    /// pending have all completed since (kicks and reaps first).
    public func isComplete(_ handle: ChunkHandle, descriptors: UnsafeBufferPointer<CellDescriptor>, posted: Int) -> Bool {
        let path = paths[Int(handle.queue)]
        return path.lock.withLock { _ in
            _ = try? Sys.kickTransmit(path.fd)
            path.reapCompletions()
            return path.allComplete(descriptors, posted: posted)
        }
    }
}
