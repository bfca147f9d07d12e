/// A reference the holder promises stays alive (its owner outlives every use), used
/// without reference counting: ``use(_:)`` borrows the object for one call with no
/// retain or release. For per-packet calls on objects several threads share, where
/// a strong reference cost an atomic increment and decrement on one cache line that
/// every consumer's core wrote, once per packet.
///
/// - warning: Using it after the owner released the object is undefined behaviour.
@frozen
public struct Unretained<Object: AnyObject> {
    @usableFromInline let reference: Unmanaged<Object>

    /// Borrows `object`; the caller keeps a strong reference for as long as this is used.
    @inlinable
    public init(_ object: Object) { reference = .passUnretained(object) }

    /// Calls `body` with the object, guaranteed alive by the owner: no retain, no release.
    @inlinable @inline(__always)
    public func use<Result>(_ body: (Object) -> Result) -> Result {
        reference._withUnsafeGuaranteedRef(body)
    }
}
