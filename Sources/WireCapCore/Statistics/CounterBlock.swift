import Atomics

/// A block of 64-bit counters with one writer thread and any number of readers.
///
/// The writer updates with a relaxed load and a relaxed store (no read-modify-write:
/// it is the only writer, so no increment can be lost). Readers load relaxed.
/// Relaxed is enough: a counter orders nothing else, and readers only need each
/// value to be untorn and eventually current. The block starts on its own cache
/// line so two writers never share one.
///
/// - warning: Only the block's owner thread may call the mutating methods.
public struct CounterBlock: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<UInt64.AtomicRepresentation>
    /// Number of counters.
    public let count: Int

    /// Allocates `count` counters, all zero.
    public static func allocate(count: Int) -> CounterBlock {
        let rounded = (count + 7) & ~7  // whole cache lines
        let raw = UnsafeMutableRawPointer.allocate(byteCount: rounded * 8, alignment: 64)
        let base = raw.bindMemory(to: UInt64.AtomicRepresentation.self, capacity: rounded)
        base.initialize(repeating: UInt64.AtomicRepresentation(0), count: rounded)
        return CounterBlock(base: base, count: count)
    }

    @usableFromInline init(base: UnsafeMutablePointer<UInt64.AtomicRepresentation>, count: Int) {
        self.base = base
        self.count = count
    }

    /// Frees the block.
    public func deallocate() { UnsafeMutableRawPointer(base).deallocate() }

    @inlinable func atomic(_ index: Int) -> UnsafeAtomic<UInt64> { UnsafeAtomic(at: base + index) }

    /// Adds `amount` to counter `index`. Owner thread only.
    @inlinable @inline(__always)
    public func add(_ index: Int, _ amount: UInt64) {
        let a = atomic(index)
        // Relaxed load and store: single writer, and the counter publishes nothing else.
        a.store(a.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Sets counter `index` (gauges and published copies). Owner thread only.
    @inlinable @inline(__always)
    public func set(_ index: Int, _ value: UInt64) {
        // Relaxed: see the type's documentation.
        atomic(index).store(value, ordering: .relaxed)
    }

    /// Reads counter `index`. Any thread.
    @inlinable
    public func load(_ index: Int) -> UInt64 {
        // Relaxed: an untorn, eventually current value is all a reader needs.
        atomic(index).load(ordering: .relaxed)
    }
}
