import Atomics
import WireCapCore
import WireCapSystem
import WireCapEngine

/// The ring of chunk handles on their way from a capture consumer (producer) to
/// the capture writer (consumer), each with the chunk's keep mask: bit `i` set =
/// packet `i` of the handle passed the filter and the sampler. It is the core's
/// ``SPSCRing`` of ``ChunkHandle``s, written and read in place (reserve/commit,
/// peek/release), with the per-entry data in arrays beside it at the ring's slot
/// positions, so nothing is copied or allocated per chunk.
///
/// ```
///   entry k:  handle (the ring's slot) | kept (Int) | filtered | published (mono ns) | mask words[0 ..< ⌈M/64⌉]
/// ```
///
/// Orderings are the ring's, (A)–(D) in `SPSCRing.swift`: ``publish()`` commits
/// with release after the handle and the side data are written, the writer's
/// ``available()``/``peek(_:)`` acquire it; ``release()`` frees the slot with
/// release after the writer's reads, the producer's ``reserve()`` acquires it.
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

    var capacity: Int { ring.capacity }
    package let maskWords: Int
    private let ring: SPSCRing<ChunkHandle>
    private let kept: UnsafeMutablePointer<Int>
    private let filtered: UnsafeMutablePointer<Bool>
    private let masks: UnsafeMutablePointer<UInt64>
    private let publishedAt: UnsafeMutablePointer<UInt64>

    /// - Parameters: capacity: entries (chunks in flight; rounded up to a power of two); cellsPerChunk: M.
    package init(capacity: Int, cellsPerChunk: Int) {
        precondition(capacity >= 1)
        ring = .allocate(capacity: capacity)
        let n = ring.capacity
        maskWords = (cellsPerChunk + 63) / 64
        kept = .allocate(capacity: n)
        kept.initialize(repeating: 0, count: n)
        filtered = .allocate(capacity: n)
        filtered.initialize(repeating: false, count: n)
        masks = .allocate(capacity: n * maskWords)
        masks.initialize(repeating: 0, count: n * maskWords)
        publishedAt = .allocate(capacity: n)
        publishedAt.initialize(repeating: 0, count: n)
    }

    deinit {
        ring.deallocate(); kept.deallocate(); filtered.deallocate(); masks.deallocate(); publishedAt.deallocate()
    }

    private func entry(_ index: UInt32) -> Entry {
        let k = ring.position(index)
        return Entry(handle: ring.slot(index), kept: kept + k, mask: masks + k * maskWords, filtered: filtered + k,
                     published: publishedAt + k)
    }

    // MARK: Producer (the capture consumer thread)

    /// The next free entry, or `nil` when the ring is full (the writer is behind).
    package func reserve() -> Entry? {
        let (index, count) = ring.reserve(1, bulk: true)
        return count == 1 ? entry(index) : nil
    }

    /// Makes the reserved entry visible to the writer.
    package func publish() {
        ring.commit(1)
    }

    // MARK: Consumer (the writer thread)

    /// Entries published and not yet released.
    package func available() -> Int {
        ring.peek().count
    }

    /// The entry `offset` places after the oldest unreleased one (`offset < available()`).
    package func peek(_ offset: Int = 0) -> Entry {
        entry(ring.peek(0).index &+ UInt32(truncatingIfNeeded: offset))
    }

    /// Frees the oldest entry.
    package func release() {
        ring.release(1)
    }
}
