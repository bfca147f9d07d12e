import Benchmark
import WireCapCore

/// Core hot paths with no kernel: ring operations and the full chunk cycle
/// (attach → M records → deliver → consume → recycle → reclaim). Mallocs are the
/// deterministic metric: steady state must allocate nothing per chunk.
let benchmarks: @Sendable () -> Void = {
    // Benchmark names have no spaces or slashes: `thresholds update` writes the files
    // with them replaced by "_" but `thresholds check` looks for the raw name
    // (ordo-one/benchmark#301), so a name with a space could never be checked.
    // Time is wall clock over scaled iterations (ns resolution). Process CPU time is
    // left out: read per sample at the scheduler's tick, it showed 0–20 ns for a
    // 2 µs chunk cycle, so a regression in time could not be seen.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        warmupIterations: 10,
        scalingFactor: .mega,
        maxDuration: .seconds(3),
        maxIterations: 1_000_000,
        // Tolerances of `thresholds check`: this 2-core VM's wall-clock p90 moves by
        // up to ±30% between quiet and busy hours (the same binary), so time fails
        // only beyond 35%; mallocs must match exactly.
        thresholds: [.wallClock: .init(relative: [.p90: 35]), .mallocCountTotal: .init(absolute: [.p90: 0])]
    )

    Benchmark("SPSCRing_enqueue+dequeue") { benchmark in
        let ring = SPSCRing<ChunkHandle>.allocate(capacity: 1024)
        defer { ring.deallocate() }
        let h = ChunkHandle(queue: 0, chunk: 1, generation: 1, start: 0, count: 256)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            _ = ring.enqueue(h)
            blackHole(ring.dequeue())
        }
    }

    // The chunk cycle, and the same with spilling configured while the consumer keeps
    // up (nothing is copied: the difference is what spill costs a steady state).
    for spill in [false, true] {
    Benchmark(
        spill ? "Chunk_cycle_M=256,_spill_on,_keeping_up_(per_chunk)" : "Chunk_cycle_M=256_(per_chunk)",
        configuration: .init(scalingFactor: .kilo)
    ) { benchmark in
        let m = 256
        let config = CaptureConfiguration(
            geometry: PoolGeometry(cellsPerChunk: m, chunksPerPool: 64, fillRingSize: 1024),
            mode: .basic, spill: spill ? SpillGeometry() : nil)
        let group = try! BuddyGroup(queueCount: 1, configuration: config)
        let driver = CaptureDriver(group: group, queue: 0)
        // The fake kernel's fill ring: a fixed array, no allocation while measuring.
        let fill = UnsafeMutablePointer<UInt64>.allocate(capacity: 1024)
        defer { fill.deallocate() }
        var head = 0, tail = 0
        func refill() {
            _ = driver.refill(room: 1024 - (tail - head)) { addr in fill[tail & 1023] = addr; tail += 1 }
        }
        refill()
        var now: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for _ in 0..<m {
                _ = driver.record(address: fill[head & 1023], length: 64, timestamp: now)
                head += 1
            }
            driver.countReceived(packets: m, bytes: 64 * m)
            driver.deliver(now: now)
            while let handle = group.nextChunk(consumer: 0) {
                var ipv4 = 0
                for d in group.descriptors(of: handle) where d.length == 64 { ipv4 &+= 1 }
                blackHole(ipv4)
                group.recycle(handle, consumer: 0)
            }
            driver.reclaim()
            refill()
            now &+= 1
        }
        precondition(group.pools[0].counters.packetsSpilled == 0, "a consumer that keeps up spilled")
    }
    }

    // Two queues: whole chunks (chunk offload, T = 1%: queue 0 offloads whenever its
    // own capture queue holds a handle) or, with flow
    // offload (issue 15), every packet's bucket, half of 64 buckets routed to
    // consumer 1, so each chunk goes out as two slices: the capture thread's extra
    // per-packet work is the partition, the in-flight counts and their decrement
    // at recycle. No allocation either way.
    for flows in [false, true] {
    Benchmark(
        flows ? "Chunk_cycle_M=256,_2-queue_flow_offload,_64_flows_(per_chunk)"
            : "Chunk_cycle_M=256,_2-queue_advanced_offload_(per_chunk)",
        configuration: .init(scalingFactor: .kilo)
    ) { benchmark in
        let m = 256
        let config = CaptureConfiguration(
            geometry: PoolGeometry(cellsPerChunk: m, chunksPerPool: 64, fillRingSize: 1024),
            mode: .advanced, offloadThresholdPercent: flows ? 60 : 1, offload: flows ? .flow : .chunk, flowBuckets: 64)
        let group = try! BuddyGroup(queueCount: 2, configuration: config)
        let driver = CaptureDriver(group: group, queue: 0)
        let other = CaptureDriver(group: group, queue: 1)
        if flows {
            group.schedulers[0].move(Array(stride(from: 1, to: 64, by: 2)), to: 1)
            group.releaseIfDrained(queue: 0)
        }
        let fill = UnsafeMutablePointer<UInt64>.allocate(capacity: 1024)
        defer { fill.deallocate() }
        var head = 0, tail = 0
        func refill() {
            _ = driver.refill(room: 1024 - (tail - head)) { addr in fill[tail & 1023] = addr; tail += 1 }
        }
        refill()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for k in 0..<m {
                _ = driver.record(address: fill[head & 1023], length: 64, timestamp: 0, arrival: 0,
                                  bucket: UInt16(truncatingIfNeeded: k & 63))
                head += 1
            }
            driver.deliver(now: 0)
            for consumer in 0..<2 {
                while let handle = group.nextChunk(consumer: consumer) {
                    blackHole(group.descriptors(of: handle).count)
                    group.recycle(handle, consumer: consumer)
                }
            }
            driver.reclaim()
            other.reclaim()
            refill()
        }
        benchmark.stopMeasurement()
        precondition(!flows || group.statistics(queue: 0).offloadedOut > 0, "no slice went to consumer 1")
    }
    }

    // The spill cycle (issue 14): as the chunk cycle, but the consumer keeps the one
    // zero-copy chunk the pool allows (allowance 1), so every full chunk is copied
    // into the open spill block and its frames posted again at once; blocks (each in
    // a lent chunk: R = N/M + 3 leaves one to lend while the last block is out) are
    // read and recycled as they come. Real memory: the copy is a memcpy per packet.
    // (spill cycle − chunk cycle) / M is the capture thread's spill cost per packet.
    // 900 B is near the largest size still copied (1,500-byte packets never are).
    for length in [60, 900] {
        Benchmark(
            "Spill_cycle_M=256,_\(length)_B_(per_chunk)",
            configuration: .init(scalingFactor: .kilo)
        ) { benchmark in
            let m = 256
            let geometry = PoolGeometry(cellsPerChunk: m, chunksPerPool: 7, fillRingSize: 1024)
            let spill = SpillGeometry(zeroCopyChunks: 1)
            let config = CaptureConfiguration(geometry: geometry, mode: .basic, spill: spill)
            let bytes = geometry.poolBytes
            let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
            memory.initializeMemory(as: UInt8.self, repeating: 0x5a, count: bytes)
            defer { memory.deallocate() }
            let group = try! BuddyGroup(queueCount: 1, configuration: config, memory: [memory])
            let driver = CaptureDriver(group: group, queue: 0)
            let fill = UnsafeMutablePointer<UInt64>.allocate(capacity: 1024)
            defer { fill.deallocate() }
            var head = 0, tail = 0
            func refill() {
                _ = driver.refill(room: 1024 - (tail - head)) { addr in fill[tail & 1023] = addr; tail += 1 }
            }
            refill()
            var kept: ChunkHandle?
            var now: UInt64 = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                for _ in 0..<m {
                    _ = driver.record(address: fill[head & 1023], length: UInt32(length), timestamp: now)
                    head += 1
                }
                driver.countReceived(packets: m, bytes: length * m)
                driver.deliver(now: now)
                while let handle = group.nextChunk(consumer: 0) {
                    if kept == nil && handle.chunk < 7 { kept = handle; continue }
                    var total = 0
                    for d in group.descriptors(of: handle) { total &+= Int(d.length) }
                    blackHole(total)
                    group.recycle(handle, consumer: 0)
                }
                driver.reclaim()
                refill()
                now &+= 1
            }
            benchmark.stopMeasurement()
            precondition(group.pools[0].counters.packetsSpilled > 0, "the spill benchmark did not spill")
        }
    }
}
