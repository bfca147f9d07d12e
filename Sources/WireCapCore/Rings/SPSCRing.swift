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

    /// Reserves free slots to write in place, then ``commit(_:)`` publishes them.
    /// Producer only.
    ///
    /// - Parameters:
    ///   - n: slots wanted.
    ///   - bulk: all `n` or none (`count` 0); otherwise a burst: as many as are free, up to `n`.
    /// - Returns: the ring index of the first reserved slot (``slot(_:)`` finds it; the
    ///   next ones follow, wrapping) and how many were reserved. Reserving again
    ///   before committing returns the same slots.
    @inlinable @inline(__always)
    public func reserve(_ n: Int, bulk: Bool = false) -> (index: UInt32, count: Int) {
        // Relaxed: only this producer writes producerIndex.
        let tail = producerIndex.load(ordering: .relaxed)
        var free = capacity - Int(tail &- cachedConsumer.pointee)
        if free < n {
            // (A) acquire: pairs with (D); the consumer is done reading the slots we reuse.
            cachedConsumer.pointee = consumerIndex.load(ordering: .acquiring)
            free = capacity - Int(tail &- cachedConsumer.pointee)
        }
        let k = min(n, free)
        return (tail, bulk && k < n ? 0 : k)
    }

    /// Publishes the first `n` slots of the last ``reserve(_:bulk:)``, written in place. Producer only.
    @inlinable @inline(__always)
    public func commit(_ n: Int) {
        let tail = producerIndex.load(ordering: .relaxed)
        // (B) release: pairs with (C); the slots are written before the index moves.
        producerIndex.store(tail &+ UInt32(truncatingIfNeeded: n), ordering: .releasing)
    }

    /// The slot of ring index `index` (from ``reserve(_:bulk:)`` or ``peek(_:)``).
    @inlinable @inline(__always)
    public func slot(_ index: UInt32) -> UnsafeMutablePointer<Element> { slots + position(index) }

    /// The array position (0 ..< capacity) of ring index `index`, for data kept beside the ring.
    @inlinable @inline(__always)
    public func position(_ index: UInt32) -> Int { Int(index & mask) }

    // MARK: Consumer, in place

    /// The published elements not yet released, oldest first, to read in place;
    /// ``release(_:)`` then frees them. Consumer only.
    /// - Returns: the ring index of the oldest and how many there are (at most `n`).
    @inlinable @inline(__always)
    public func peek(_ n: Int = Int.max) -> (index: UInt32, count: Int) {
        // Relaxed: only this consumer writes consumerIndex.
        let head = consumerIndex.load(ordering: .relaxed)
        var ready = Int(cachedProducer.pointee &- head)
        if ready < n {
            // (C) acquire: pairs with (B); the slots' contents are visible.
            cachedProducer.pointee = producerIndex.load(ordering: .acquiring)
            ready = Int(cachedProducer.pointee &- head)
        }
        return (head, min(n, ready))
    }

    /// Frees the `n` oldest elements after they were read in place. Consumer only.
    @inlinable @inline(__always)
    public func release(_ n: Int) {
        let head = consumerIndex.load(ordering: .relaxed)
        // (D) release: pairs with (A); the reads are done before the producer may reuse the slots.
        consumerIndex.store(head &+ UInt32(truncatingIfNeeded: n), ordering: .releasing)
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
