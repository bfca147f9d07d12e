// The libpcap-style application API over the AF_XDP engine.
@_exported import WireCapCore
