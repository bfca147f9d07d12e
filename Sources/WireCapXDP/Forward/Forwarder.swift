#if canImport(Glibc)
import Glibc
#endif
import CXDP
import Synchronization
import WireCapCore

/// Zero-copy forwarding (paper §3.2.2b): captured packets leave through another
/// interface straight from the pool memory they were received into.
///
/// For each pool (group index i) of a ``CaptureEngine`` the forwarder opens a TX
/// socket on egress queue `egressQueues[i]` that shares pool i's UMEM
/// (`XDP_SHARED_UMEM`, with its own fill and completion rings). Forwarding a chunk
/// posts one TX descriptor per packet — the packet's UMEM address and length, no
/// copy — kicks the kernel, and waits until the completion ring has returned every
/// frame, so the caller can recycle the chunk right after ``forward(_:descriptors:)``
/// returns (a frame may not go back to the fill ring while the kernel may still
/// read it).
///
/// Chunks of pool i may be forwarded by any consumer (offload hands them to
/// buddies), so each pool's TX path has a mutex, taken once per chunk, never per
/// packet. Each pool needs its own egress queue: a device queue can be bound by
/// one UMEM only.
///
/// - warning: The engine must outlive the forwarder; close the forwarder first.
public final class Forwarder: @unchecked Sendable {
    /// The egress interface.
    public let interface: String
    private let paths: [TXPath]
    /// Longest wait for the kernel to complete a chunk's frames.
    private static let completionTimeout: UInt64 = 100_000_000

    /// One pool's TX socket and its rings.
    final class TXPath: @unchecked Sendable {
        let socket: OpaquePointer
        let fd: Int32
        let tx: UnsafeMutablePointer<xsk_ring_prod>
        let fill: UnsafeMutablePointer<xsk_ring_prod>
        let completion: UnsafeMutablePointer<xsk_ring_cons>
        let size: UInt32
        let lock = Mutex(())
        let umem: UMEM   // kept alive while the socket uses it

        init(interface: String, queue: UInt32, umem: UMEM, size: Int) throws(XDPError) {
            self.umem = umem
            self.size = UInt32(size)
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
                tx.deallocate(); fill.deallocate(); completion.deallocate()
                throw error
            }
            fd = XDPLib.socketFD(socket)
        }

        deinit {
            XDPLib.deleteSocket(socket)
            tx.deallocate(); fill.deallocate(); completion.deallocate()
        }

        /// Takes completed frames off the completion ring. - Returns: how many.
        func reapCompletions() -> Int {
            var idx: UInt32 = 0
            let n = xsk_ring_cons__peek(completion, size, &idx)
            // Release stores the consumer index (release order; pairs with the kernel's
            // acquire before it reuses the slots).
            if n > 0 { xsk_ring_cons__release(completion, n) }
            return Int(n)
        }
    }

    /// Opens one TX socket per pool of `engine` on `interface`.
    ///
    /// - Parameter egressQueues: the egress queue for each group index (default 0, 1, …).
    /// - Throws: one-line errors (unknown interface, too few queues, AF_XDP refused).
    public init(engine: CaptureEngine, interface: String, egressQueues: [Int]? = nil, ringSize: Int = 2048) throws(XDPError) {
        guard InterfaceInfo.exists(interface) else {
            throw XDPError.usage("interface", "no such interface: \(interface) (check the name with `ip link`)")
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
            paths.append(try TXPath(interface: interface, queue: UInt32(queues[i]), umem: engine.umem(ofQueue: i), size: ringSize))
        }
        self.paths = paths
    }

    /// Sends the packets `descriptors` names (all from the pool of `handle.queue`)
    /// out of the egress interface, zero-copy, and returns once the kernel has
    /// completed every frame. - Returns: packets sent (the rest, if the kernel did
    /// not complete them in time, are reported as not sent).
    public func forward(_ handle: ChunkHandle, descriptors: UnsafeBufferPointer<CellDescriptor>) -> Int {
        let path = paths[Int(handle.queue)]
        return path.lock.withLock { _ in
            var posted = 0
            var completed = 0
            var i = 0
            let deadline = Sys.monotonicNanoseconds() &+ Self.completionTimeout
            while completed < descriptors.count {
                // Post as many as the TX ring takes.
                if i < descriptors.count {
                    var idx: UInt32 = 0
                    let want = UInt32(min(descriptors.count - i, Int(path.size)))
                    let got = xsk_ring_prod__reserve(path.tx, want, &idx)
                    for k in 0..<got {
                        let d = descriptors[i + Int(k)]
                        let desc = xsk_ring_prod__tx_desc(path.tx, idx &+ k)!
                        desc.pointee.addr = d.address
                        desc.pointee.len = d.length
                        desc.pointee.options = 0
                    }
                    if got > 0 {
                        // Submit stores the producer index with release order, after the
                        // descriptors (pairs with the kernel's acquire when it reads them).
                        xsk_ring_prod__submit(path.tx, got)
                        i += Int(got)
                        posted += Int(got)
                    }
                }
                _ = try? Sys.kickTransmit(path.fd)
                completed += path.reapCompletions()
                if completed < posted || i < descriptors.count {
                    if Sys.monotonicNanoseconds() >= deadline { break }
                    if completed < posted { Sys.sleep(nanoseconds: 10_000) }
                }
            }
            return completed
        }
    }
}
