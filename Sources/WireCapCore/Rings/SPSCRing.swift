import Atomics

/// A bounded, lock-free, single-producer/single-consumer ring of plain values.
///
/// The work-queue pairs of the paper are built from these. A ring is a value
/// that holds pointers (no ARC on the hot path); its memory is owned by whoever
/// called ``allocate(capacity:initialIndex:)`` and freed by ``deallocate()``.
///
/// Memory layout (the two indices on separate cache lines so the producer and
/// the consumer never write to the same line):
///
/// ```
///  header +0   producer line: producerIndex (atomic, written by producer)
///                             cachedConsumer (producer-private)
///  header +64  consumer line: consumerIndex (atomic, written by consumer)
///                             cachedProducer (consumer-private)
///  slots       capacity × Element, indexed by index & mask
/// ```
///
/// Indices are free-running `UInt32`s compared with wrapping arithmetic, as in
/// the kernel's `xsk_queue.h`; `producerIndex &- consumerIndex` is the count.
///
/// Memory ordering (labels as in the kernel's xsk_queue.h diagram):
/// - (A) producer acquire-loads `consumerIndex`: pairs with (D), so the
///   consumer's read of a slot happens before the producer overwrites it.
/// - (B) producer release-stores `producerIndex`: pairs with (C), so the slot
///   write is visible before the consumer sees the new index.
/// - (C) consumer acquire-loads `producerIndex`: pairs with (B).
/// - (D) consumer release-stores `consumerIndex`: pairs with (A).
/// Each side loads its *own* index relaxed: only it ever writes that index.
///
/// - warning: Exactly one thread may call the producer methods and exactly one
///   (possibly other) thread the consumer methods at any time. ``count`` may be
///   read from any thread.
public struct SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    @usableFromInline let header: UnsafeMutableRawPointer
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    @usableFromInline let mask: UInt32

    @usableFromInline static var cacheLine: Int { 64 }

    /// Allocates a ring that holds `capacity` elements (rounded up to a power of two).
    ///
    /// - Parameter initialIndex: where both indices start; tests use values
    ///   near `UInt32.max` to exercise wrap-around.
    public static func allocate(capacity: Int, initialIndex: UInt32 = 0) -> SPSCRing {
        precondition(capacity >= 1 && capacity <= 1 << 30, "SPSCRing capacity out of range: \(capacity)")
        let rounded = capacity.nextPowerOfTwo
        let header = UnsafeMutableRawPointer.allocate(byteCount: 2 * cacheLine, alignment: cacheLine)
        header.initializeMemory(as: UInt8.self, repeating: 0, count: 2 * cacheLine)
        header.storeBytes(of: initialIndex, toByteOffset: 0, as: UInt32.self)            // producerIndex
        header.storeBytes(of: initialIndex, toByteOffset: 4, as: UInt32.self)            // cachedConsumer
        header.storeBytes(of: initialIndex, toByteOffset: cacheLine, as: UInt32.self)    // consumerIndex
        header.storeBytes(of: initialIndex, toByteOffset: cacheLine + 4, as: UInt32.self) // cachedProducer
        let slots = UnsafeMutablePointer<Element>.allocate(capacity: rounded)
        return SPSCRing(header: header, slots: slots, mask: UInt32(rounded - 1))
    }

    @usableFromInline init(header: UnsafeMutableRawPointer, slots: UnsafeMutablePointer<Element>, mask: UInt32) {
        self.header = header
        self.slots = slots
        self.mask = mask
    }

    /// Frees the ring's memory. No thread may use the ring afterwards.
    public func deallocate() {
        header.deallocate()
        slots.deallocate()
    }

    /// How many elements the ring holds when full.
    @inlinable public var capacity: Int { Int(mask) + 1 }

    @inlinable var producerIndex: UnsafeAtomic<UInt32> {
        UnsafeAtomic(at: header.assumingMemoryBound(to: UInt32.AtomicRepresentation.self))
    }
    @inlinable var consumerIndex: UnsafeAtomic<UInt32> {
        UnsafeAtomic(at: (header + Self.cacheLine).assumingMemoryBound(to: UInt32.AtomicRepresentation.self))
    }
    @inlinable var cachedConsumer: UnsafeMutablePointer<UInt32> {
        (header + 4).assumingMemoryBound(to: UInt32.self)
    }
    @inlinable var cachedProducer: UnsafeMutablePointer<UInt32> {
        (header + Self.cacheLine + 4).assumingMemoryBound(to: UInt32.self)
    }

    // MARK: Producer

    /// Appends `element` if there is room. Producer only.
    /// - Returns: `false` when the ring is full (nothing was written).
    @inlinable @inline(__always)
    public func enqueue(_ element: Element) -> Bool {
        // Relaxed: only this producer writes producerIndex.
        let tail = producerIndex.load(ordering: .relaxed)
        if tail &- cachedConsumer.pointee > mask {
            // (A) acquire: pairs with (D); the consumer is done reading the slot we reuse.
            cachedConsumer.pointee = consumerIndex.load(ordering: .acquiring)
            if tail &- cachedConsumer.pointee > mask { return false }
        }
        slots[Int(tail & mask)] = element
        // (B) release: pairs with (C); the slot is written before the index moves.
        producerIndex.store(tail &+ 1, ordering: .releasing)
        return true
    }

    /// Free slots as the producer sees them now. Producer only.
    @inlinable
    public func freeSpace() -> Int {
        let tail = producerIndex.load(ordering: .relaxed)
        // (A) acquire: pairs with (D).
        cachedConsumer.pointee = consumerIndex.load(ordering: .acquiring)
        return capacity - Int(tail &- cachedConsumer.pointee)
    }

    // MARK: Consumer

    /// Removes the oldest element, or returns `nil` when the ring is empty. Consumer only.
    @inlinable @inline(__always)
    public func dequeue() -> Element? {
        // Relaxed: only this consumer writes consumerIndex.
        let head = consumerIndex.load(ordering: .relaxed)
        if head == cachedProducer.pointee {
            // (C) acquire: pairs with (B); the slot's contents are visible.
            cachedProducer.pointee = producerIndex.load(ordering: .acquiring)
            if head == cachedProducer.pointee { return nil }
        }
        let element = slots[Int(head & mask)]
        // (D) release: pairs with (A); our read of the slot is done before the producer may reuse it.
        consumerIndex.store(head &+ 1, ordering: .releasing)
        return element
    }

    // MARK: Any thread

    /// Elements in the ring right now (a snapshot; exact when called by either endpoint
    /// while the other is idle). Any thread.
    @inlinable
    public var count: Int {
        // Consumer index first, then producer: the producer index only grows, so the
        // later read is never behind the earlier one and the difference never underflows.
        // Acquire on both: pairs with (B) and (D) so the snapshot is no older than
        // what this thread has already observed through other synchronization.
        let head = consumerIndex.load(ordering: .acquiring)
        let tail = producerIndex.load(ordering: .acquiring)
        return Int(tail &- head)
    }

    /// `true` when ``count`` is zero. Any thread.
    @inlinable public var isEmpty: Bool { count == 0 }
}

extension Int {
    /// The smallest power of two ≥ self (self ≥ 1).
    @inlinable var nextPowerOfTwo: Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
