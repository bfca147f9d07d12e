/// The one random number generator of traces and simulations: SplitMix64
/// (Steele, Lea & Flood, 2014), seeded explicitly so every run is reproducible.
///
/// Every random choice of a synthetic trace or a simulation comes from one of
/// these, created from the user's `--seed`. Its own uniform and distribution
/// helpers are used instead of the standard library's `random(in:using:)`, whose
/// algorithm is not guaranteed to stay the same across Swift releases.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    /// The generator's whole state.
    public var state: UInt64

    /// Creates a generator whose sequence is determined by `seed` alone.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1) with 53 random bits.
    @inlinable
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A uniform integer in `0 ..< bound` (bound > 0), by Lemire's multiply-shift
    /// (the tiny bias is irrelevant here and keeps the sequence simple).
    @inlinable
    public mutating func below(_ bound: UInt64) -> UInt64 {
        next().multipliedFullWidth(by: bound).high
    }

    /// An exponentially distributed value with the given mean.
    @inlinable
    public mutating func exponential(mean: Double) -> Double {
        -mean * log1pNegative(unit())
    }

    /// A Pareto (type I) value: `minimum / U^(1/alpha)`, heavy-tailed for small alpha.
    @inlinable
    public mutating func pareto(alpha: Double, minimum: Double) -> Double {
        minimum / pow1p(1 - unit(), 1 / alpha)
    }

    /// A log-uniform value in [low, high].
    @inlinable
    public mutating func logUniform(_ low: Double, _ high: Double) -> Double {
        low * exp2((high / low).log2Value * unit())
    }

    /// A child generator for an independent sub-stream (e.g. one per flow).
    @inlinable
    public mutating func split() -> SplitMix64 { SplitMix64(seed: next()) }
}

// Small math helpers without Foundation (the trace module has no dependencies).
@usableFromInline func log1pNegative(_ u: Double) -> Double { _log(1 - u) }
@usableFromInline func pow1p(_ x: Double, _ e: Double) -> Double { _exp(_log(x) * e) }

extension Double {
    @usableFromInline var log2Value: Double { _log(self) / 0.693_147_180_559_945_3 }
}

@usableFromInline func exp2(_ x: Double) -> Double { _exp(x * 0.693_147_180_559_945_3) }

#if canImport(Glibc)
import Glibc
@usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline func _exp(_ x: Double) -> Double { Glibc.exp(x) }
@usableFromInline func _sin(_ x: Double) -> Double { Glibc.sin(x) }
#elseif canImport(Darwin)
import Darwin
@usableFromInline func _log(_ x: Double) -> Double { Darwin.log(x) }
@usableFromInline func _exp(_ x: Double) -> Double { Darwin.exp(x) }
@usableFromInline func _sin(_ x: Double) -> Double { Darwin.sin(x) }
#endif
