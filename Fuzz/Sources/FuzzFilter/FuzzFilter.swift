import WireCapFilter

/// One input: the first byte picks a link type, the rest (up to 512 bytes) is a
/// tcpdump expression, compiled by libpcap and run with `bpf_filter` over a fixed
/// set of frames. Compile errors are fine; crashes and bad reads are findings.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFilter(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard count >= 1, let start else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: min(count, 513))
    let linkTypes: [UInt32] = [1, 113, 276, 101, 0, 9]
    let linkType = linkTypes[Int(bytes[0]) % linkTypes.count]
    let expression = String(decoding: bytes.dropFirst(), as: UTF8.self)
    guard let filter = try? PacketFilter(expression: expression, linkType: linkType, snapLength: 262_144) else { return 0 }
    var frame = [UInt8](repeating: 0, count: 64)
    frame[12] = 0x08; frame[14] = 0x45; frame[23] = 17
    var matched = 0
    frame.withUnsafeBytes { raw in
        for cut in [0, 14, 34, 64] where filter.matches(UnsafeRawBufferPointer(rebasing: raw[0..<cut]), wireLength: 1500) {
            matched += 1
        }
    }
    return matched > 4 ? 1 : 0
}
