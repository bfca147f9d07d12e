#if canImport(Glibc)
import Glibc
#endif
import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

/// One UMEM: a memory region of equal-sized frames registered with the kernel,
/// with its fill ring (user space → kernel: empty frames to receive into) and
/// completion ring (kernel → user space: transmitted frames).
///
/// **One UMEM per receive queue.** Each queue's ring-buffer pool (R·M frames)
/// is its own UMEM, so a frame address from ``ChunkPool/frameAddress(chunk:cell:)``
/// is directly the UMEM offset, with no per-queue base to add. Why not one
/// shared UMEM (XDP_SHARED_UMEM) for all queues:
/// - ownership is simplest: the queue's capture thread alone produces to the
///   queue's fill ring and nothing else can post that pool's frames;
/// - NUMA placement is per queue (a queue's memory can follow its IRQ/CPU);
/// - tearing down or resizing a queue touches nothing else;
/// - zero-copy forwarding (later) can still share: the egress device's TX socket
///   binds with XDP_SHARED_UMEM to the *receiving* queue's UMEM, which needs a
///   UMEM per rx queue anyway (one fill/completion pair per device/queue).
///
/// Layout (aligned mode, headroom 0, frame size F):
///
/// ```
///   area + 0          frame 0   = pool chunk 0, cell 0
///   area + F          frame 1   = chunk 0, cell 1
///   …
///   area + k·M·F      chunk k, cell 0 (or, while the pool lends chunk k to a
///                     spill block, that block: never posted to the kernel then)
///   area + R·M·F      end of the frames (a huge-page mapping rounds up to 2 MiB)
/// ```
///
/// - warning: The fill ring is single-producer: only the queue's capture thread
///   may post to it once capture runs.
public final class UMEM {
    /// The first byte of the region (frame address 0).
    public let area: UnsafeMutableRawPointer
    /// Size of the mapping in bytes: the frames, rounded up to whole huge pages.
    public let bytes: Int
    /// Bytes registered with the kernel as frames (`frames · frameSize`).
    public let frameBytes: Int
    /// Bytes per frame.
    public let frameSize: Int
    /// `true` if the region is backed by huge pages.
    public let hugePages: Bool
    /// The NUMA node the region was bound to, or nil when NUMA is unavailable.
    public let numaNode: Int32?
    /// The fill ring (producer: user space). Fixed address for the UMEM's life.
    package let fill: UnsafeMutablePointer<xsk_ring_prod>
    /// The completion ring (consumer: user space).
    package let completion: UnsafeMutablePointer<xsk_ring_cons>
    /// libxdp's handle.
    package let handle: OpaquePointer
    /// Fill-ring entries.
    public let fillSize: Int

    /// Maps `frames` frames of `frameSize` bytes and registers them (spill blocks,
    /// when the pool spills, live in frame chunks it lends them).
    ///
    /// - Parameters:
    ///   - numaNode: bind the memory to this node before first touch (libnuma
    ///     `numa_tonode_memory`) when NUMA is available.
    ///   - hugePages: try `MAP_HUGETLB`; fall back to normal pages with a warning.
    public init(frames: Int, frameSize: Int, fillSize: Int, completionSize: Int,
                numaNode: Int32?, hugePages: Bool, label: String) throws(XDPError) {
        frameBytes = frames * frameSize
        // A MAP_HUGETLB mapping is whole 2 MiB pages, and munmap wants its length so.
        let hugePage = 2 << 20
        bytes = hugePages ? (frameBytes + hugePage - 1) / hugePage * hugePage : frameBytes
        self.frameSize = frameSize
        let (p, huge) = try Sys.mapAnonymous(bytes: bytes, hugePages: hugePages)
        if hugePages && !huge {
            Sys.printError("wirecap: warning: \(label): MAP_HUGETLB failed (no huge pages reserved?); using normal pages\n")
        }
        area = p
        self.hugePages = huge
        if let node = numaNode, NUMA.isAvailable {
            NUMA.bind(p, bytes: bytes, node: node)
            self.numaNode = node
        } else {
            self.numaNode = nil
        }
        self.fillSize = fillSize
        fill = .allocate(capacity: 1)
        fill.initialize(to: xsk_ring_prod())
        completion = .allocate(capacity: 1)
        completion.initialize(to: xsk_ring_cons())
        var config = xsk_umem_config()
        config.fill_size = UInt32(fillSize)
        config.comp_size = UInt32(completionSize)
        config.frame_size = UInt32(frameSize)
        config.frame_headroom = 0
        config.flags = 0
        do {
            handle = try XDPLib.createUMEM(area: p, bytes: frameBytes, fill: fill, completion: completion, config: config)
        } catch {
            fill.deallocate()
            completion.deallocate()
            Sys.unmap(p, bytes: bytes)
            throw error
        }
    }

    /// Unregisters and unmaps. Every socket using the UMEM must be closed first.
    deinit {
        XDPLib.deleteUMEM(handle)
        fill.deallocate()
        completion.deallocate()
        Sys.unmap(area, bytes: bytes)
    }
}

/// An AF_XDP socket bound to one queue of one interface.
public final class XSKSocket {
    /// The interface and queue it is bound to.
    public let interface: String
    public let queue: UInt32
    /// The socket's file descriptor (for poll, sendto, getsockopt).
    public let fd: Int32
    /// The rx ring (consumer: user space), when created for receive.
    package let rx: UnsafeMutablePointer<xsk_ring_cons>?
    /// The tx ring (producer: user space), when created for transmit.
    package let tx: UnsafeMutablePointer<xsk_ring_prod>?
    package let handle: OpaquePointer
    /// The UMEM it uses (kept alive until the socket is closed).
    public let umem: UMEM

    /// Creates a socket on `interface` queue `queue` using `umem`'s fill and
    /// completion rings, with program loading inhibited (the engine owns the program).
    ///
    /// - Parameters:
    ///   - rxSize: rx ring entries (0: no rx ring).
    ///   - txSize: tx ring entries (0: no tx ring).
    public init(interface: String, queue: UInt32, umem: UMEM, rxSize: Int, txSize: Int) throws(XDPError) {
        self.interface = interface
        self.queue = queue
        self.umem = umem
        let rx: UnsafeMutablePointer<xsk_ring_cons>? = rxSize > 0 ? .allocate(capacity: 1) : nil
        rx?.initialize(to: xsk_ring_cons())
        let tx: UnsafeMutablePointer<xsk_ring_prod>? = txSize > 0 ? .allocate(capacity: 1) : nil
        tx?.initialize(to: xsk_ring_prod())
        var config = xsk_socket_config()
        config.rx_size = UInt32(rxSize)
        config.tx_size = UInt32(txSize)
        config.libxdp_flags = UInt32(XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD)
        config.xdp_flags = 0
        config.bind_flags = UInt16(XDP_USE_NEED_WAKEUP)
        do {
            handle = try XDPLib.createSocket(interface: interface, queue: queue, umem: umem.handle, rx: rx, tx: tx, config: config)
        } catch {
            rx?.deallocate()
            tx?.deallocate()
            throw error
        }
        self.rx = rx
        self.tx = tx
        fd = XDPLib.socketFD(handle)
    }

    /// `true` when the socket is bound in zero-copy mode (`XDP_OPTIONS` has
    /// `XDP_OPTIONS_ZEROCOPY`): the NIC DMAs into the UMEM, and a packet that finds
    /// the fill ring empty is dropped by the driver before XDP, uncounted by the socket.
    public var isZeroCopy: Bool {
        var options = xdp_options()
        var length = socklen_t(MemoryLayout<xdp_options>.size)
        guard getsockopt(fd, SOL_XDP, XDP_OPTIONS, &options, &length) == 0 else { return false }
        return options.flags & UInt32(XDP_OPTIONS_ZEROCOPY) != 0
    }

    /// The kernel's drop counters for this socket (full `struct xdp_statistics`).
    public func statistics() throws(XDPError) -> xdp_statistics {
        try Sys.xdpStatistics(fd)
    }

    deinit {
        XDPLib.deleteSocket(handle)
        rx?.deallocate()
        tx?.deallocate()
    }
}
