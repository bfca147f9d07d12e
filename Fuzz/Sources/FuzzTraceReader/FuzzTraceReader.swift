import WireCapTrace

/// One input: the bytes as a capture file, read twice by ``TraceStream``: in place,
/// and through its window in small pieces as a pipe would deliver them. Every
/// packet is visited (its bytes summed, so the reads cannot be optimised away);
/// errors are fine; crashes, hangs, out-of-bounds reads (ASan) and the two reads
/// disagreeing (a trap) are findings. The declared link types are read too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTraceReader(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    func digest(_ stream: inout TraceStream) -> (UInt64, String?) {
        var sum: UInt64 = 0
        do throws(TraceError) {
            while let p = try stream.next() {
                for b in p.data { sum = sum &* 31 &+ UInt64(b) }
                sum = sum &* 31 &+ p.timestamp &+ UInt64(p.originalLength) &+ UInt64(p.linkType)
            }
            return (sum, nil)
        } catch {
            return (sum, error.description)
        }
    }
    var inPlace: (UInt64, String?) = (0, "header")
    var inPieces: (UInt64, String?) = (0, "header")
    if var s = try? TraceStream(bytes: bytes, file: "fuzz") { inPlace = digest(&s) }
    if var s = try? TraceStream(bytes: bytes, file: "fuzz", piece: 1 + count % 61) { inPieces = digest(&s) }
    precondition(inPlace == inPieces, "in-place and piecewise reads differ")
    var sum = inPlace.0
    for t in TraceReader.declaredLinkTypes(in: bytes) { sum &+= UInt64(t) }
    return sum == 0x5EED ? 1 : 0
}
