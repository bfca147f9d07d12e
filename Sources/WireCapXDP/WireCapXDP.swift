// The AF_XDP engine: see Engine/.
@_exported import WireCapCore
