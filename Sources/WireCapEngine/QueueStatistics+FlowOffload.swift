import WireCapCore

extension QueueStatistics {
    /// A queue's flow-offload figures as one phrase, for reports (issue 15):
    /// `bucket moves 3, buckets spread 0 (0 packets), packets held 1200, consumer load 54000 pps`.
    /// Meaningful only when the queue's group offloads flows.
    public var flowOffloadSummary: String {
        "bucket moves \(bucketMoves), buckets spread \(bucketsSpread) (\(packetsSpread) packets), "
            + "packets held \(packetsHeld), consumer load \(consumerLoad) pps"
    }
}
