import CXDP
import WireCapCore
import WireCapSystem
import WireCapEngine

/// One AF_XDP tx socket with a UMEM of its own, the one transmit path of the
/// generator and the replayer: frames are filled in place, staged in the tx
/// ring, submitted in batches with a `sendto` kick, and reclaimed from the
/// completion ring. (Forwarding transmits frames of a capture pool's UMEM and
/// keeps its own bookkeeping: see ``Forwarder``.)
///
/// Ring roles (as in the kernel's `xsk_queue.h`): this thread produces the tx
/// ring and consumes the completion ring; the kernel consumes tx and produces
/// completions. libxdp's `xsk_ring_prod__submit` stores the tx producer index
/// with release order after the frames and descriptors are written (pairs with
/// the kernel's acquire of it); `xsk_ring_cons__peek` loads the completion
/// producer index with acquire (pairs with the kernel's release).
///
/// - warning: Owned by one thread.
package final class TransmitQueue {
    package let queue: Int
    package let umem: UMEM
    package let socket: XSKSocket
    package let frameSize: Int
    package let ringSize: Int
    /// Frames free to fill (a stack of UMEM addresses).
    private let free: UnsafeMutablePointer<UInt64>
    private var free_: Int
    private var staged_ = 0, submitted_ = 0, completed_ = 0, bytes_ = 0
    // Read by other modules through getters only; the stored counters stay private
    // to this file, so their per-packet updates need no dynamic exclusivity checks.
    /// Frames free to fill.
    package var freeFrames: Int { free_ }
    /// Descriptors written into the tx ring and not yet submitted.
    package var staged: Int { staged_ }
    /// Descriptors submitted, and completed by the kernel.
    package var submitted: Int { submitted_ }
    package var completed: Int { completed_ }
    /// Bytes staged.
    package var bytes: Int { bytes_ }

    /// Opens the socket on `interface`'s tx queue `queue` with `frames` frames of 2 KiB.
    package init(interface: String, queue: Int, frames: Int, ringSize: Int, label: String) throws(XDPError) {
        self.queue = queue
        frameSize = 2048
        self.ringSize = ringSize
        umem = try UMEM(frames: frames, frameSize: frameSize, fillSize: 64, completionSize: ringSize,
                        numaNode: nil, hugePages: false, label: label)
        socket = try XSKSocket(interface: interface, queue: UInt32(queue), umem: umem, rxSize: 0, txSize: ringSize)
        free = .allocate(capacity: frames)
        for i in 0..<frames { free[i] = UInt64((frames - 1 - i) * frameSize) }
        free_ = frames
    }

    deinit { free.deallocate() }

    /// Frames sent and not yet completed.
    package var inFlight: Int { submitted_ - completed_ }

    /// Takes completed frames back; returns how many.
    @discardableResult
    package func reap() -> Int {
        var index: UInt32 = 0
        let done = xsk_ring_cons__peek(umem.completion, UInt32(ringSize), &index)
        guard done > 0 else { return 0 }
        for i in 0..<done {
            free[free_] = xsk_ring_cons__comp_addr(umem.completion, index &+ i)!.pointee
            free_ += 1
        }
        xsk_ring_cons__release(umem.completion, done)
        completed_ += Int(done)
        return Int(done)
    }

    /// Stages up to `count` frames (fewer when frames or tx slots run out): for
    /// each, `write(frame, i)` fills the frame in place and returns its length.
    /// - Returns: how many were staged.
    @inline(__always)
    package func stage(upTo count: Int, _ write: (UnsafeMutableRawPointer, Int) -> Int) -> Int {
        let wanted = min(count, free_)
        guard wanted > 0 else { return 0 }
        var index: UInt32 = 0
        let n = Int(xsk_ring_prod__reserve(socket.tx!, UInt32(wanted), &index))
        for i in 0..<n {
            free_ -= 1
            let address = free[free_]
            let length = write(umem.area + Int(address), i)
            let desc = xsk_ring_prod__tx_desc(socket.tx!, index &+ UInt32(i))!
            desc.pointee.addr = address
            desc.pointee.len = UInt32(length)
            desc.pointee.options = 0
            bytes_ += length
        }
        staged_ += n
        return n
    }

    /// Submits what is staged, and kicks the kernel while anything is in flight
    /// (copy-mode transmit handles a bounded batch per call).
    /// - Returns: how many were submitted.
    package func submit() throws(XDPError) -> Int {
        let n = staged_
        if n > 0 {
            xsk_ring_prod__submit(socket.tx!, UInt32(n))
            submitted_ += n
            staged_ = 0
        }
        if inFlight > 0 { _ = try Sys.kickTransmit(socket.fd) }
        return n
    }
}
