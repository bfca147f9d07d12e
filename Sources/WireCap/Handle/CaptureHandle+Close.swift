import WireCapCore

extension CaptureHandle {
    /// Gives back the chunk in progress for good, when the application stops
    /// reading in the middle of it and will not come back (a libpcap program's
    /// `pcap_close` after `-c` was reached or a `pcap_breakloop`): the packets it
    /// was shown count as delivered (those the filter rejected as filtered), the
    /// rest, which it will never see, as delivery drops, and the chunk is recycled.
    /// Without this the held chunk's packets would be neither delivered nor
    /// abandoned in the final ledger (its `unexplained`).
    ///
    /// From the handle's thread, before the capture closes.
    /// - Returns: the packets the application never saw.
    @discardableResult
    public func releaseChunkInProgress() -> Int { release(shown: position) }
}
