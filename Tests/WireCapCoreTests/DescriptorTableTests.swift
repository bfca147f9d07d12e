import Testing
import WireCapCore

/// ``BuddyGroup/withDescriptorTable(queue:chunk:_:)``: a backend that manages
/// chunks outside the pool (AF_PACKET blocks) writes descriptors, places a
/// handle, and consumers read exactly those descriptors with ``BuddyGroup/descriptors(of:)``.
@Suite("BuddyGroup descriptor table")
struct DescriptorTableTests {
    static let geometry = PoolGeometry(cellsPerChunk: 8, chunksPerPool: 4, fillRingSize: 8)

    @Test("every queue × chunk × count: written descriptors come back through descriptors(of:) after place/nextChunk")
    func writeThenRead() throws {
        let group = try BuddyGroup(queueCount: 3, configuration: .init(geometry: Self.geometry, mode: .basic))
        for q in 0..<3 {
            for chunk in 0..<4 {
                for count in 1...8 {
                    let table = group.withDescriptorTable(queue: q, chunk: chunk) { cells -> Int in
                        for c in 0..<count {
                            cells[c] = CellDescriptor(address: UInt64(q << 20 | chunk << 10 | c), length: UInt32(60 + c),
                                                      timestamp: UInt64(1_000 * chunk + c))
                        }
                        return cells.count
                    }
                    #expect(table == 8, "the table is the chunk's M cells")
                    let handle = ChunkHandle(queue: UInt16(q), chunk: UInt32(chunk), generation: 7, start: 0, count: UInt32(count))
                    #expect(group.place(handle, from: q))
                    let got = try #require(group.nextChunk(consumer: q))
                    #expect(got == handle)
                    let d = group.descriptors(of: got)
                    #expect(d.count == count)
                    for c in 0..<count {
                        #expect(d[c].address == UInt64(q << 20 | chunk << 10 | c))
                        #expect(d[c].length == UInt32(60 + c))
                        #expect(d[c].timestamp == UInt64(1_000 * chunk + c))
                        #expect(d[c].flags == 0)
                    }
                    #expect(group.recycle(got, consumer: q))
                    #expect(group.nextRecycled(owner: q) == handle)
                }
            }
        }
    }

    @Test("tables of different chunks and queues do not overlap")
    func disjoint() throws {
        let group = try BuddyGroup(queueCount: 2, configuration: .init(geometry: Self.geometry, mode: .basic))
        for q in 0..<2 {
            for chunk in 0..<4 {
                group.withDescriptorTable(queue: q, chunk: chunk) { cells in
                    for c in cells.indices { cells[c] = CellDescriptor(address: UInt64(q * 100 + chunk), length: 1, timestamp: 0) }
                }
            }
        }
        for q in 0..<2 {
            for chunk in 0..<4 {
                let d = group.descriptors(of: ChunkHandle(queue: UInt16(q), chunk: UInt32(chunk), generation: 0, start: 0, count: 8))
                #expect(d.allSatisfy { $0.address == UInt64(q * 100 + chunk) })
            }
        }
    }
}
