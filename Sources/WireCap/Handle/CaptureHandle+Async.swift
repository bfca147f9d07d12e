import WireCapCore
import WireCapEngine

/// A chunk's packets copied out of the pool, as the async sequence yields them.
public struct CopiedChunk: Sendable {
    /// The packets that passed the filter, copied.
    public var packets: [CopiedPacket]
    /// The device rx queue whose pool the chunk came from.
    public var originQueue: Int
}

extension CaptureHandle {
    /// The handle's chunks as an `AsyncSequence` — the slower path.
    ///
    /// Each chunk is copied (an allocation per packet) so it can cross suspension
    /// points, and an empty capture queue is polled with `Task.sleep(pollInterval)`
    /// instead of the handle's short backoff. Prefer ``withNextChunk(_:)`` or
    /// ``dispatch(maxPackets:_:)`` on a dedicated thread for line rate. The
    /// sequence ends when the source finishes or ``breakLoop()`` is called.
    ///
    /// - warning: Iterate from one task at a time, and not while another thread uses the handle.
    public func chunks(pollInterval: Duration = .milliseconds(1)) -> CaptureChunks {
        CaptureChunks(handle: self, pollInterval: pollInterval)
    }
}

/// See ``CaptureHandle/chunks(pollInterval:)``.
public struct CaptureChunks: AsyncSequence, Sendable {
    public typealias Element = CopiedChunk
    let handle: CaptureHandle
    let pollInterval: Duration

    /// The iterator: non-blocking takes, `Task.sleep` in between.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let handle: CaptureHandle
        let pollInterval: Duration

        public mutating func next() async throws -> CopiedChunk? {
            while true {
                try Task.checkCancellation()
                if handle.breakRequestFlag { handle.clearBreak(); return nil }
                let (acquired, why) = handle.acquire(wait: false)
                if let h = acquired {
                    defer { handle.releaseCurrent() }
                    let chunk = Chunk(handle: handle, packets: handle.consumer.packets(of: h).dropFirst(handle.position))
                    var packets: [CopiedPacket] = []
                    packets.reserveCapacity(chunk.count)
                    chunk.forEach { packets.append(CopiedPacket($0)) }
                    return CopiedChunk(packets: packets, originQueue: chunk.originQueue)
                }
                if why == .finished { return nil }
                try await Task.sleep(for: pollInterval)
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle, pollInterval: pollInterval) }
}
