import WireCapTrace

/// One input: the bytes as a capture file. Every packet is visited (its bytes
/// summed, so the reads cannot be optimised away); errors are fine, crashes,
/// hangs and out-of-bounds reads (ASan) are findings. The declared link types
/// are read too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTraceReader(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    var sum: UInt64 = 0
    _ = try? TraceReader.forEachPacket(in: bytes, file: "fuzz") { p in
        for b in p.data { sum &+= UInt64(b) }
        sum &+= p.timestamp &+ UInt64(p.originalLength) &+ UInt64(p.linkType)
    }
    for t in TraceReader.declaredLinkTypes(in: bytes) { sum &+= UInt64(t) }
    return sum == 0x5EED ? 1 : 0
}
