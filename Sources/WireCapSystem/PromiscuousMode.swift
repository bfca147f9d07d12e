#if canImport(Glibc)
import Glibc
#endif
import CXDP

/// Promiscuous mode on one interface for as long as this value lives, the way
/// libpcap sets it: a packet-socket membership (`PACKET_ADD_MEMBERSHIP`,
/// `PACKET_MR_PROMISC`). The kernel counts such memberships per interface
/// (`ip link` shows `PROMISC` while any is held) and drops one with its socket, so
/// the interface returns to its earlier state when the value is released, and
/// also when the process dies in any way, SIGKILL included. No other program's
/// promiscuous mode is touched, and nothing is written to the interface's flags.
///
/// The socket has protocol 0: it receives no packets and costs nothing per packet.
package struct PromiscuousMode: ~Copyable {
    private let fd: Int32
    /// The interface held in promiscuous mode.
    package let interface: String

    /// Turns promiscuous mode on for `interface`. Needs CAP_NET_RAW.
    package init(interface: String) throws(XDPError) {
        let index = try Sys.interfaceIndex(interface)
        let fd = try syscall("socket(AF_PACKET, SOCK_RAW, 0) for promiscuous mode") {
            socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        var request = packet_mreq()
        request.mr_ifindex = Int32(bitPattern: index)
        request.mr_type = UInt16(PACKET_MR_PROMISC)
        do throws(XDPError) {
            _ = try syscall("setsockopt(PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC) on \(interface)") {
                setsockopt(fd, Int32(SOL_PACKET), Int32(PACKET_ADD_MEMBERSHIP), &request,
                           socklen_t(MemoryLayout<packet_mreq>.size))
            }
        } catch {
            Sys.close(fd)
            throw error
        }
        self.fd = fd
        self.interface = interface
    }

    deinit { Sys.close(fd) }

    /// `true` when the kernel reports `interface` promiscuous now (IFF_PROMISC in
    /// `/sys/class/net/IF/flags`, set while any membership or `ip link set promisc
    /// on` holds it); nil when the interface is unknown.
    package static func isOn(_ interface: String) -> Bool? {
        InterfaceInfo.flags(interface).map { $0 & UInt32(IFF_PROMISC) != 0 }
    }
}
