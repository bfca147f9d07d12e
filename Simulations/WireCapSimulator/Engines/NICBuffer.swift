/// The NIC's on-chip receive packet buffer, one per queue in this model.
///
/// When no descriptor is ready, a NIC does not drop at once: the frame waits in
/// its receive FIFO (the Intel 82599 has 512 KiB of RX packet buffer) and is
/// DMA'd as soon as a descriptor is posted. Only when that buffer is full too is
/// the frame dropped. Each frame takes its length plus FCS and a 16-byte status
/// word, rounded up to 64 bytes (128 bytes for a minimum frame, so 512 KiB holds
/// 4,096 of them).
///
/// The buffer holds frame lengths and trace indices in FIFO order (struct-of-arrays,
/// fixed capacity, no allocation after init).
final class NICBuffer {
    /// The Intel 82599's receive packet buffer (512 KiB).
    static let intel82599Bytes = 512 * 1024

    let capacityBytes: Int
    let slots: Int
    let lengths: UnsafeMutablePointer<UInt32>   // [q * slots + i]
    let indices: UnsafeMutablePointer<Int>      // the trace index of each frame, same slots
    let head: UnsafeMutablePointer<Int>
    let count: UnsafeMutablePointer<Int>
    let bytes: UnsafeMutablePointer<Int>
    let queues: Int

    /// Bytes a frame of `length` captured bytes (FCS excluded) occupies.
    @inline(__always)
    static func footprint(_ length: UInt32) -> Int { (max(Int(length), 60) + 4 + 16 + 63) & ~63 }

    init(queues: Int, capacityBytes: Int) {
        self.queues = queues
        self.capacityBytes = capacityBytes
        slots = max(1, capacityBytes / 128)
        lengths = .allocate(capacity: queues * slots); lengths.initialize(repeating: 0, count: queues * slots)
        indices = .allocate(capacity: queues * slots); indices.initialize(repeating: 0, count: queues * slots)
        head = .allocate(capacity: queues); head.initialize(repeating: 0, count: queues)
        count = .allocate(capacity: queues); count.initialize(repeating: 0, count: queues)
        bytes = .allocate(capacity: queues); bytes.initialize(repeating: 0, count: queues)
    }

    deinit { lengths.deallocate(); indices.deallocate(); head.deallocate(); count.deallocate(); bytes.deallocate() }

    /// `true` when the model is on.
    var enabled: Bool { capacityBytes > 0 }

    /// Stores a frame if it fits. - Returns: `false` when the buffer is full (a drop).
    @inline(__always)
    func push(_ q: Int, length: UInt32, index: Int) -> Bool {
        let f = Self.footprint(length)
        guard bytes[q] + f <= capacityBytes, count[q] < slots else { return false }
        lengths[q * slots + (head[q] + count[q]) % slots] = length
        indices[q * slots + (head[q] + count[q]) % slots] = index
        count[q] += 1
        bytes[q] += f
        return true
    }

    /// Removes the oldest frame and returns its length and trace index.
    @inline(__always)
    func pop(_ q: Int) -> (length: UInt32, index: Int) {
        let length = lengths[q * slots + head[q]]
        let index = indices[q * slots + head[q]]
        head[q] = (head[q] + 1) % slots
        count[q] -= 1
        bytes[q] -= Self.footprint(length)
        return (length, index)
    }
}
