import Atomics
import WireCapCore
import WireCapSystem
import WireCapEngine

/// A single-producer single-consumer ring of chunk handles on their way from a
/// capture consumer (producer) to the capture writer (consumer), each with the
/// chunk's keep mask: bit `i` set = packet `i` of the handle passed the filter
/// and the sampler. Fixed capacity, allocated once; the producer writes an
/// entry in place (``reserve()`` then ``publish()``), the consumer reads it in
/// place (``peek()``) and frees it (``release()``), so nothing is copied or
/// allocated per chunk.
///
/// ```
///   entry k:  handle (ChunkHandle) | kept (Int) | filtered | published (mono ns) | mask words[0 ..< ⌈M/64⌉]
///   head (producer writes, consumer reads)  — own cache line
///   tail (consumer writes, producer reads)  — own cache line
/// ```
///
/// Orderings:
/// - (A) ``publish()`` stores `head` with release: pairs with (B), so the writer
///   sees the entry's handle and mask written before it.
/// - (B) ``peek()`` loads `head` with acquire.
/// - (C) ``release()`` stores `tail` with release: pairs with (D), so the
///   producer reuses the slot only after the writer stopped reading it.
/// - (D) ``reserve()`` loads `tail` with acquire.
/// Each side reads its own index relaxed (it is the only writer of it).
///
/// - warning: One producer thread and one consumer thread.
package final class HandoffRing: @unchecked Sendable {
    /// One entry's storage (valid between reserve/publish or peek/release).
    package struct Entry {
        package let handle: UnsafeMutablePointer<ChunkHandle>
        package let kept: UnsafeMutablePointer<Int>
        /// Keep bits, read only when `filtered` is true (otherwise every packet is kept).
        package let mask: UnsafeMutablePointer<UInt64>
        package let filtered: UnsafeMutablePointer<Bool>
        /// CLOCK_MONOTONIC ns when the consumer published the entry (the merge window's clock).
        package let published: UnsafeMutablePointer<UInt64>
    }

    package let capacity: Int
    package let maskWords: Int
    private let handles: UnsafeMutablePointer<ChunkHandle>
    private let kept: UnsafeMutablePointer<Int>
    private let filtered: UnsafeMutablePointer<Bool>
    private let masks: UnsafeMutablePointer<UInt64>
    private let publishedAt: UnsafeMutablePointer<UInt64>
    private let indices: UnsafeMutableRawPointer   // head at +0, tail at +128
    private var head: UnsafeAtomic<Int> { UnsafeAtomic(at: indices.assumingMemoryBound(to: Int.AtomicRepresentation.self)) }
    private var tail: UnsafeAtomic<Int> {
        UnsafeAtomic(at: (indices + 128).assumingMemoryBound(to: Int.AtomicRepresentation.self))
    }

    /// - Parameters: capacity: entries (chunks in flight); cellsPerChunk: M.
    package init(capacity: Int, cellsPerChunk: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
        maskWords = (cellsPerChunk + 63) / 64
        handles = .allocate(capacity: capacity)
        kept = .allocate(capacity: capacity)
        kept.initialize(repeating: 0, count: capacity)
        filtered = .allocate(capacity: capacity)
        filtered.initialize(repeating: false, count: capacity)
        masks = .allocate(capacity: capacity * maskWords)
        masks.initialize(repeating: 0, count: capacity * maskWords)
        publishedAt = .allocate(capacity: capacity)
        publishedAt.initialize(repeating: 0, count: capacity)
        indices = .allocate(byteCount: 256, alignment: 128)
        indices.bindMemory(to: Int.AtomicRepresentation.self, capacity: 1).initialize(to: .init(0))
        (indices + 128).bindMemory(to: Int.AtomicRepresentation.self, capacity: 1).initialize(to: .init(0))
    }

    deinit {
        handles.deallocate(); kept.deallocate(); filtered.deallocate(); masks.deallocate(); indices.deallocate()
        publishedAt.deallocate()
    }

    private func entry(_ position: Int) -> Entry {
        let k = position % capacity
        return Entry(handle: handles + k, kept: kept + k, mask: masks + k * maskWords, filtered: filtered + k, published: publishedAt + k)
    }

    // MARK: Producer (the capture consumer thread)

    /// The next free entry, or `nil` when the ring is full (the writer is behind).
    package func reserve() -> Entry? {
        let h = head.load(ordering: .relaxed)                       // own index
        guard h &- tail.load(ordering: .acquiring) < capacity else { return nil }   // (D)
        return entry(h)
    }

    /// Makes the reserved entry visible to the writer.
    package func publish() {
        head.wrappingIncrement(ordering: .releasing)                // (A)
    }

    // MARK: Consumer (the writer thread)

    /// Entries published and not yet released, oldest first: `offset` 0 is the oldest.
    package func available() -> Int {
        head.load(ordering: .acquiring) &- tail.load(ordering: .relaxed)   // (B); tail: own index
    }

    /// The entry `offset` places after the oldest unreleased one (`offset < available()`).
    package func peek(_ offset: Int = 0) -> Entry {
        entry(tail.load(ordering: .relaxed) &+ offset)
    }

    /// Frees the oldest entry.
    package func release() {
        tail.wrappingIncrement(ordering: .releasing)                // (C)
    }
}
