import Testing
import WireCapCore

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsAreValid() throws {
        try PoolGeometry.default.validate()
        try CaptureConfiguration().validate()
        #expect(PoolGeometry.default.poolBytes == 500 * 256 * 2048)
        #expect(CaptureConfiguration().memoryRequired(queues: 6) == 6 * 500 * 256 * 2048)
        #expect("\(ByteCount(500 * 256 * 2048))" == "250 MiB")
        #expect(["\(ByteCount(1023))", "\(ByteCount(1024))", "\(ByteCount(1536))", "\(ByteCount(256 << 10))",
                 "\(ByteCount((1 << 30) - 1))", "\(ByteCount(2_040_109_465))"]
                == ["1023 B", "1 KiB", "1.5 KiB", "256 KiB", "1024.0 MiB", "1.9 GiB"])
    }

    @Test(arguments: [
        (PoolGeometry(cellsPerChunk: 0, chunksPerPool: 10, fillRingSize: 1024), ConfigurationError.Field.cellsPerChunk, "M (cells per chunk) must be at least 1"),
        (PoolGeometry(cellsPerChunk: 300, chunksPerPool: 10, fillRingSize: 1024), .cellsPerChunk, "M (300) must divide N (1024)"),
        (PoolGeometry(cellsPerChunk: 256, chunksPerPool: 4, fillRingSize: 1024), .chunksPerPool, "R (4) must be greater than N/M = 4"),
        (PoolGeometry(cellsPerChunk: 256, chunksPerPool: 10, fillRingSize: 1000), .fillRingSize, "N (fill ring size) must be a power of two"),
        (PoolGeometry(cellsPerChunk: 2048, chunksPerPool: 10, fillRingSize: 1024), .cellsPerChunk, "M (2048) must divide N (1024)"),
        (PoolGeometry(cellsPerChunk: 256, chunksPerPool: 10, fillRingSize: 1024, frameSize: 3000), .frameSize, "frame size must be 2048 or 4096"),
    ])
    func invalidGeometry(geometry: PoolGeometry, field: ConfigurationError.Field, message: String) {
        #expect {
            try geometry.validate()
        } throws: { error in
            guard let e = error as? ConfigurationError else { return false }
            return e.field == field && e.description.hasPrefix(message)
        }
    }

    @Test(arguments: [0, 101, -5])
    func thresholdOutOfRange(t: Int) {
        let c = CaptureConfiguration(offloadThresholdPercent: t)
        #expect(throws: ConfigurationError.self) { try c.validate() }
        do { try c.validate() } catch { #expect(error.field == .offloadThreshold) }
    }

    @Test func zeroTimeoutRejected() {
        let c = CaptureConfiguration(partialTimeoutNanoseconds: 0)
        do { try c.validate(); Issue.record("accepted a zero timeout") } catch { #expect(error.field == .partialTimeout) }
    }

    @Test func paperRuleRGreaterThanNOverM() throws {
        // R = N/M + 1 is the smallest valid pool.
        try PoolGeometry(cellsPerChunk: 256, chunksPerPool: 5, fillRingSize: 1024).validate()
        try PoolGeometry(cellsPerChunk: 1, chunksPerPool: 9, fillRingSize: 8).validate()
    }

    @Test func byteCountsParseAsPeopleWriteThem() {
        #expect(ByteCount.parse("256MiB") == 256 << 20)
        #expect(ByteCount.parse("2G") == 2 << 30)
        #expect(ByteCount.parse("2 GiB") == 2 << 30)
        #expect(ByteCount.parse("64mb") == 64 << 20)
        #expect(ByteCount.parse("65536") == 65536)
        #expect(ByteCount.parse("4k") == 4096)
        for bad in ["", "MiB", "0", "-1", "1.5G", "12XB", "99999999999T"] { #expect(ByteCount.parse(bad) == nil, "\(bad)") }
        #expect(ByteCount.parse(ByteCount(64 << 20).description) == 64 << 20, "the formatter's output reads back")
    }
}
