import Testing
#if canImport(Glibc)
import Glibc
#endif
import WireCapCore
import WireCapTrace
import WireCapSystem
import WireCapEngine
@_spi(Benchmarks) import WireCapOutput

/// The capture writer without a kernel (no root): chunks from in-memory pools,
/// handed over as consumers do, merged into one file by timestamp through the
/// heap of queue heads, and recycled on the writer's own lanes.
@Suite("Capture writer: heap merge and the writer's recycle lanes")
struct WriterMergeTests {
    /// A backend whose queues are plain memory: the writer needs nothing else.
    final class MemoryBackend: CaptureBackend, @unchecked Sendable {
        let shell: EngineShell
        let memory: [UnsafeMutableRawPointer]

        init(queues: Int, geometry: PoolGeometry) throws {
            let group = try BuddyGroup(queueCount: queues, configuration: CaptureConfiguration(geometry: geometry, mode: .basic))
            memory = (0..<queues).map { _ in UnsafeMutableRawPointer.allocate(byteCount: geometry.poolBytes, alignment: 4096) }
            shell = EngineShell(interface: "mem0", queues: Array(0..<queues), group: group, settings: EngineSettings(),
                                bases: memory)
        }

        deinit { memory.forEach { $0.deallocate() } }

        var attachDescription: String { "memory" }
        var maxPacketsPerChunk: Int { group.configuration.geometry.cellsPerChunk }
        var geometryDescription: String { group.configuration.geometry.description }
        func start() throws(XDPError) {}
        func stop() {}
        func close() {}
        var offeredSource: OfferedSource { .xdpProgram }
        func captureLedger() -> (rows: [QueueLedger], interface: QueueLedger, deviceCounters: String) {
            (queues.map { QueueLedger(queue: $0) }, QueueLedger(queue: -1), "none")
        }
    }

    /// Queue `q`'s packet `k`: 64 bytes naming both, stamped so that the queues
    /// interleave (packet k of queue q at (k·Q + q) µs).
    static func stamp(_ q: Int, _ k: Int, queues: Int) -> UInt64 { UInt64(k * queues + q) * 1_000 }

    /// Captures `counts[q]` packets on each queue into chunks (full ones and a last
    /// partial slice) and returns each queue's handles in delivery order.
    static func capture(_ backend: MemoryBackend, counts: [Int]) -> [[ChunkHandle]] {
        let group = backend.group
        let n = counts.count
        return (0..<n).map { q in
            let driver = CaptureDriver(group: group, queue: q)
            var posted: [UInt64] = []
            var handles: [ChunkHandle] = []
            for k in 0..<counts[q] {
                if posted.isEmpty { _ = driver.refill(room: group.configuration.geometry.fillRingSize) { posted.append($0) } }
                let address = posted.removeFirst()
                let frame = backend.memory[q] + Int(address)
                frame.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
                frame.storeBytes(of: UInt32(q).bigEndian, toByteOffset: 20, as: UInt32.self)
                frame.storeBytes(of: UInt32(k).bigEndian, toByteOffset: 24, as: UInt32.self)
                #expect(driver.record(address: address, length: 64, timestamp: stamp(q, k, queues: n)))
                driver.deliver(now: 0)
                while let h = group.nextChunk(consumer: q) { handles.append(h) }
            }
            driver.flush()
            while let h = group.nextChunk(consumer: q) { handles.append(h) }
            return handles
        }
    }

    @Test("Q queues merge into one file in timestamp order; every chunk goes home on the writer's lane",
          arguments: [1, 3, 7])
    func mergedInOrder(queues: Int) throws {
        let geometry = PoolGeometry(cellsPerChunk: 16, chunksPerPool: 64, fillRingSize: 256)
        let backend = try MemoryBackend(queues: queues, geometry: geometry)
        // Uneven queues, one of them empty when there are several.
        let counts = (0..<queues).map { q in queues > 1 && q == 1 ? 0 : 100 + 37 * q }
        let handles = Self.capture(backend, counts: counts)
        let path = "/tmp/wirecap-merge-\(getpid())-\(queues).pcap"
        defer { unlink(path) }
        var output = CaptureOutput(path: path)
        output.queueCapacity = 64
        let writer = try CaptureWriter(output: output, engine: backend)
        #expect(throws: XDPError.self, "the writer lanes are single-producer: a second writer is refused") {
            _ = try CaptureWriter(output: CaptureOutput(path: path + ".second"), engine: backend)
        }
        // Queue 0 keeps only its even packets (a filtered entry: the keep mask).
        var expected: [(UInt64, Int, Int)] = []
        for q in 0..<queues {
            var k = 0
            for h in handles[q] {
                let entry = try #require(writer.reserve(q))
                entry.handle.pointee = h
                entry.filtered.pointee = q == 0
                var kept = 0
                for i in 0..<Int(h.count) {
                    if i & 63 == 0 { entry.mask[i >> 6] = 0 }
                    let keep = q != 0 || (k + i) % 2 == 0
                    if keep {
                        entry.mask[i >> 6] |= 1 << UInt64(i & 63)
                        kept += 1
                        expected.append((Self.stamp(q, k + i, queues: queues), q, k + i))
                    }
                }
                entry.kept.pointee = kept
                entry.published.pointee = Sys.monotonicNanoseconds()
                writer.publish(q)
                k += Int(h.count)
            }
            writer.closeQueue(q)
        }
        try writer.start()
        let report = writer.finish()
        #expect(report.error == nil && report.late == 0)
        #expect(report.packets == expected.count)

        var written: [(UInt64, Int, Int)] = []
        _ = try TraceReader.forEachPacket(path: path) { p in
            let q = Int(UInt32(bigEndian: p.data.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
            let k = Int(UInt32(bigEndian: p.data.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
            written.append((p.timestamp, q, k))
        }
        expected.sort { $0.0 < $1.0 }
        #expect(written.count == expected.count)
        #expect(written.map(\.1) == expected.map(\.1) && written.map(\.2) == expected.map(\.2), "merge order")
        #expect(zip(written, written.dropFirst()).allSatisfy { $0.0 <= $1.0 })

        // Every chunk came back to its pool on the writer's lane, and each is valid there.
        for q in 0..<queues {
            var back = 0
            while let h = backend.group.nextRecycled(owner: q) {
                #expect(backend.group.pools[q].recycle(h) == nil)
                back += 1
            }
            #expect(back == handles[q].count, "queue \(q): \(back) of \(handles[q].count) chunks home")
            #expect(backend.group.pools[q].outstandingItems == 0)
        }
    }
}
