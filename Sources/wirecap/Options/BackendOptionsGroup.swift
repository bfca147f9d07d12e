import ArgumentParser
import WireCap
import WireCapCore
import WireCapXDP
import WireCapSystem
import WireCapEngine
import WireCapAFPacket
import WireCapOutput
import WireCapTestbed
import WireCapSession

/// The capture backend and its AF_PACKET settings, shared by `capture` and
/// `analyze` (`@OptionGroup`): both read packets the same way on either backend.
struct BackendOptionsGroup: ParsableArguments {
    @Option(help: ArgumentHelp("Capture backend: xdp (AF_XDP) or afpacket (AF_PACKET TPACKET_V3 rings in one PACKET_FANOUT group, a retired block per chunk: the fallback without AF_XDP). With afpacket, -q N opens N fanout sockets (a list such as 0,1 opens one per entry; default: one per rx queue).", valueName: "backend"))
    var backend: String = "xdp"

    @Option(help: ArgumentHelp("afpacket: how the fanout group spreads packets: hash (flow), cpu, lb (round-robin) or qm (rx queue).", valueName: "mode"))
    var fanout: String = FanoutMode.hash.rawValue

    @Flag(help: "afpacket: PACKET_FANOUT_FLAG_ROLLOVER, the kernel moves a packet to another socket when its ring is full (default: off).")
    var rollover = false

    @Option(help: ArgumentHelp("afpacket: TPACKET_V3 blocks per socket (a block is a chunk; default: --buffer / block size, else 64).", valueName: "count"))
    var blocks: Int?

    @Option(help: ArgumentHelp("afpacket: block size in KiB, a power of two, 4 ... 4096.", valueName: "KiB"))
    var blockSize = AFPacketGeometry.default.blockSize / 1024

    /// `true` with `--backend afpacket`.
    var isAFPacket: Bool { backend == "afpacket" }

    /// The ring shape per socket (`budget`: the `--buffer` bytes per socket, if given).
    func geometry(budget: Int? = nil) -> AFPacketGeometry {
        let size = blockSize * 1024
        return AFPacketGeometry(blockSize: size, blocks: blocks ?? budget.map { max(2, $0 / size) } ?? AFPacketGeometry.default.blocks)
    }

    /// The fanout mode (validated).
    var fanoutMode: FanoutMode { FanoutMode(rawValue: fanout) ?? .hash }

    /// The API's backend choice.
    var choice: CaptureBackendChoice { isAFPacket ? .afpacket(fanout: fanoutMode, rollover: rollover) : .xdp }

    /// AF_PACKET sockets: `-q N` is a count, a list gives one socket per entry, none: one per rx queue.
    static func sockets(queues: String?, interface: String) -> Int {
        guard let q = queues else { return InterfaceInfo.rxQueueCount(interface) }
        if let n = Int(q) { return n }
        return IndexList.parse(q)?.count ?? 1
    }

    func validate() throws {
        guard backend == "xdp" || backend == "afpacket" else {
            throw ValidationError("--backend must be xdp or afpacket, got '\(backend)'")
        }
        guard FanoutMode(rawValue: fanout) != nil else {
            throw ValidationError("--fanout must be hash, cpu, lb or qm, got '\(fanout)'")
        }
        if isAFPacket {
            do { try geometry().validate() } catch { throw ValidationError(error.description) }
        } else if fanout != FanoutMode.hash.rawValue || rollover {
            throw ValidationError("--fanout and --rollover need --backend afpacket")
        }
    }
}
