import Benchmark
import WireCap
import WireCapAnalyzer
import WireCapCore
import WireCapTrace

/// The offline reader and the pcap-style delivery API, per packet; both must
/// allocate nothing per packet.
func registerReadAndDispatchBenchmarks(frame: UnsafeRawBufferPointer) {
    /// A pcap image of `count` records holding `frame`.
    func image(count: Int) -> [UInt8] {
        var b: [UInt8] = []
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b += $0 } }
        u32(0xA1B2_C3D4); u16(2); u16(4); u32(0); u32(0); u32(65535); u32(1)
        b.reserveCapacity(24 + count * (16 + frame.count))
        for k in 0..<count {
            u32(1_700_000_000); u32(UInt32(k % 1_000_000)); u32(UInt32(frame.count)); u32(UInt32(frame.count))
            b += frame
        }
        return b
    }

    // The streaming reader through its window, as from a file or pipe: every 1 MiB
    // read copies into the window; each record is parsed and handed out.
    Benchmark("TraceStream.next_through_the_window,_64_B_records_(per_packet)") { benchmark in
        let bytes = image(count: 100_000)
        bytes.withUnsafeBytes { raw in
            var stream = try! TraceStream(bytes: raw, file: "bench", piece: 1 << 20)
            var sum = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                if let p = try! stream.next() {
                    sum &+= p.data.count
                } else {
                    try! stream.rewind()
                }
            }
            benchmark.stopMeasurement()
            blackHole(sum)
        }
    }

    /// Feeds chunks of M=256 copies of `frame` from a synthetic queue and lets `drain`
    /// take each chunk's packets; per packet: the copy into the frame, the capture
    /// bookkeeping, the handle's delivery and `drain`'s work.
    func synthetic(_ benchmark: Benchmark, drain: (CaptureHandle) -> Int) {
        let geometry = PoolGeometry(cellsPerChunk: 256, chunksPerPool: 16, fillRingSize: 1024)
        let capture = try! SyntheticCapture(queues: 1, configuration: CaptureConfiguration(geometry: geometry, mode: .basic))
        let handle = capture.handles[0]
        var t: UInt64 = 0
        var pending = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            _ = capture.receive(queue: 0, bytes: frame, timestamp: t)
            t &+= 100
            pending += 1
            if pending == 256 {
                capture.flush(now: t)
                while pending > 0 {
                    let n = drain(handle)
                    if n == 0 { break }
                    pending -= n
                }
                capture.flush(now: t)
            }
        }
        benchmark.stopMeasurement()
    }

    // An analyzer worker's per-packet path (AnalyzerRunner.step, specialised for the
    // analyzer): the synthetic NIC's chunks through TrafficCounters' state.
    Benchmark("AnalyzerRunner_worker_step,_TrafficCounters,_synthetic_NIC,_64_B,_M=256_(per_packet)") { benchmark in
        var state = TrafficCounters().makeState(worker: 0)
        synthetic(benchmark) { handle in
            guard case .processed(let n) = AnalyzerRunner<TrafficCounters>.step(handle, &state) else { return 0 }
            return n
        }
        blackHole(state.packets)
    }

    // CaptureHandle.dispatch, the README's API: chunks of M=256 64-byte packets from a
    // synthetic queue (its copy into the frame included), each handed to a closure.
    Benchmark("CaptureHandle.dispatch_with_the_synthetic_NIC,_64_B,_M=256_(per_packet)") { benchmark in
        var bytes = 0
        synthetic(benchmark) { handle in
            guard case .processed(let n) = handle.dispatch({ bytes &+= $0.bytes.count }) else { return 0 }
            return n
        }
        blackHole(bytes)
    }
}
