import Benchmark
import WireCapEngine
import WireCapSystem

/// A table that is never asked: the limit below is never reached.
final class UnusedBypassTable: FlowBypassTable, @unchecked Sendable {
    let settings = FlowBypassSettings()
    func bypass(_ flow: BypassKey, for duration: Duration?, idle: Duration?) throws(XDPError) {}
    func end(_ flow: BypassKey) {}
    func flows() -> [BypassedFlow] { [] }
    var requests: Int { 0 }
}

/// `--bypass-after`'s per-packet work on a consumer (FlowCutoff.record): parse the
/// frame's flow key, both directions to one name, count it in the fixed table.
/// 256 flows of 64-byte frames, none reaching the limit. Must not allocate.
func registerFlowCutoffBenchmarks(frame: UnsafeRawBufferPointer) {
    Benchmark("FlowCutoff.record,_256_flows,_64_B_(per_packet)") { benchmark in
        let frames = UnsafeMutableRawPointer.allocate(byteCount: 256 * 64, alignment: 64)
        defer { frames.deallocate() }
        for f in 0..<256 {
            let p = frames + f * 64
            p.copyMemory(from: frame.baseAddress!, byteCount: 64)
            p.storeBytes(of: UInt16(20_000 + f).bigEndian, toByteOffset: 34, as: UInt16.self)  // source port
        }
        let cutoff = FlowCutoff(limit: .max, table: UnusedBypassTable())
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            cutoff.record(Packet(bytes: UnsafeRawBufferPointer(start: frames + (i & 255) * 64, count: 64),
                                 wireLength: 64, timestamp: 1, queue: 0, originQueue: 0))
            i &+= 1
        }
        benchmark.stopMeasurement()
        precondition(cutoff.cut == 0)
    }
}
