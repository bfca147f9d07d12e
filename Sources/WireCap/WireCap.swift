// WireCap: the application face of the WireCap engine.
//
//   Capture.open(…)            one engine per interface, a handle per queue; AF_XDP or
//                              AF_PACKET TPACKET_V3 (CaptureSettings.backend): handles read
//                              both through the buddy group's descriptors + memory bases
//     └─ CaptureHandle         pcap-style calls: dispatch / loop / next / stats / breakLoop,
//                              withNextChunk (zero-copy batches), chunks() (AsyncSequence)
//   SyntheticCapture           the same handles over WireCapCore alone (no kernel):
//                              tests and replays
//   MetricsExporter/Server     Prometheus text over loopback HTTP (swift-metrics + swift-prometheus)
//   PrivilegeDrop              tcpdump's -Z
//
// Example (README; compiled and run by Tests/WireCapAPITests/ReadmeExampleTests.swift):
//
//     import Foundation
//     import Synchronization
//     import WireCap
//
//     /// Counts the IPv4 packets that reach every rx queue of `interface` while
//     /// `during` runs: one thread per queue runs a pcap-style loop over zero-copy
//     /// packet views. Nothing received is lost at the end: `stop()` drains the rings
//     /// into the queues and each loop returns once its queue is empty.
//     func countIPv4(on interface: String, during: () throws -> Void) throws -> Int {
//         var settings = CaptureSettings()                  // M, R, N, T: the defaults
//         settings.core.mode = .advanced                    // buddy-group offload between the queues
//         let capture = try Capture.open([InterfaceSelection(interface)], configuration: settings)
//         final class Total: Sendable { let packets = Atomic<Int>(0) }
//         let total = Total()
//         let finished = DispatchGroup()
//         for handle in capture.handles {                   // one handle per rx queue
//             finished.enter()
//             Thread.detachNewThread {
//                 var ipv4 = 0
//                 _ = handle.loop { packet in               // the view lives only inside the closure
//                     let b = packet.bytes
//                     if b.count >= 14, b[12] == 0x08, b[13] == 0x00 { ipv4 += 1 }
//                 }                                         // returns .finished once stopped and drained
//                 total.packets.add(ipv4, ordering: .relaxed)
//                 finished.leave()
//             }
//         }
//         try capture.start()                               // returns once every queue captures
//         let outcome = Result { try during() }
//         capture.stop()                                    // capture ends; what was received reaches the loops
//         finished.wait()
//         capture.close()                                   // sockets closed, pools freed, no XDP program left
//         try outcome.get()
//         return total.packets.load(ordering: .relaxed)
//     }
@_exported import WireCapCore
@_exported import WireCapEngine
