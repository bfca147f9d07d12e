// WireCapAnalyzer: multi-threaded packet analysis over WireCap.
//
//   Analyzer / AnalyzerState     per-worker state, process(packet:) hot path, merge, report
//   AnalyzerRunner               one pinned worker per queue, run to completion, clean stop
//   OfflineAnalysis              the same analyzers over a pcap/pcapng trace
//   FlowKey / FlowTable          5-tuple (+VLAN) flow tables that merge exactly
//   Builtins                     traffic counters, top-N flows, pkt_handler load, byte-12/13 IPv4 counter
@_exported import WireCap
