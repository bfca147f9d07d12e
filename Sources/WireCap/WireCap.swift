// WireCap: the application face of the WireCap engine.
//
//   Capture.open(…)            one engine per interface, a handle per queue
//     └─ CaptureHandle         pcap-style calls: dispatch / loop / next / stats / breakLoop,
//                              withNextChunk (zero-copy batches), chunks() (AsyncSequence)
//   SyntheticCapture           the same handles over WireCapCore alone (no kernel):
//                              tests and replays
//   MetricsExporter/Server     Prometheus text over loopback HTTP (swift-metrics + swift-prometheus)
//   PrivilegeDrop              tcpdump's -Z
@_exported import WireCapCore
