#if canImport(Glibc)
import Glibc
#endif
import CXDP
import WireCapSystem

/// The AF_XDP socket calls, beside the other syscall wrappers' rules: each once,
/// errors through ``syscall(_:_:)`` and ``syscallWouldBlock(_:_:)``.
extension Sys {
    /// The socket's XDP_STATISTICS, asking for the full struct so the kernel
    /// reports rx_ring_full and the fill-ring counters separately.
    package static func xdpStatistics(_ fd: Int32) throws(XDPError) -> xdp_statistics {
        var stats = xdp_statistics()
        var length = socklen_t(MemoryLayout<xdp_statistics>.size)
        try syscall("getsockopt(XDP_STATISTICS)") {
            getsockopt(fd, SOL_XDP, XDP_STATISTICS, &stats, &length)
        }
        return stats
    }

    /// Kicks the kernel to process the TX ring: `sendto(fd, NULL, 0, MSG_DONTWAIT)`.
    /// - Returns: `false` when the kernel asked to try again later.
    @discardableResult
    package static func kickTransmit(_ fd: Int32) throws(XDPError) -> Bool {
        try syscallWouldBlock("sendto(AF_XDP)") { sendto(fd, nil, 0, Int32(MSG_DONTWAIT), nil, 0) } != nil
    }

    /// Kicks the kernel to process the fill ring (need-wakeup mode): `recvfrom(fd, NULL, 0, MSG_DONTWAIT)`.
    package static func kickReceive(_ fd: Int32) throws(XDPError) {
        _ = try syscallWouldBlock("recvfrom(AF_XDP)") { recvfrom(fd, nil, 0, Int32(MSG_DONTWAIT), nil, nil) }
    }
}
