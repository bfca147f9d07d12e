// WireCapPcap: libpcap's live-capture calls on WireCap's engine, built as the
// dynamic library libwirecap-pcap.so that `wirecap exec` preloads (issue 16).
//
//   pcap_create / pcap_open_live      a PcapHandle for an interface WireCap takes
//                                     (Takeover), the system libpcap's otherwise
//   pcap_activate                     Capture.open + start over every rx queue
//   pcap_loop / dispatch / next(_ex)  one stream over the queues' CaptureHandles
//   pcap_get_selectable_fd            an eventfd the capture threads write
//   pcap_breakloop                    C (handle.c): a flag and an eventfd write
//   pcap_stats                        the loss ledger
//   pcap_compile / pcap_dump_open …   the real libpcap, on a pcap_open_dead handle
//   everything else                   not defined: the system libpcap (RealPcap
//                                     for handles that are not WireCap's)
//
// WireCap's own modules call libpcap too (WireCapFilter: pcap_open_dead,
// pcap_compile, pcap_close); under LD_PRELOAD those calls land here, find no
// WireCap handle and go to the real libpcap.
