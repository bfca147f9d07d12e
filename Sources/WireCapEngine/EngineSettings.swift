import WireCapCore
import WireCapSystem

/// Everything that builds and runs one capture engine, for both backends: the
/// one settings type the API (`CaptureSettings`), the CLI and the tests fill in.
/// A backend reads the fields that concern it; the others are ignored there.
public struct EngineSettings: Sendable {
    /// The kernel path, default ``CaptureBackendChoice/xdp``.
    public var backend = CaptureBackendChoice.xdp
    /// M, R, N, frame size, spilling, T, basic/advanced mode and the
    /// partial-chunk timeout (pcap's buffer timeout). Default: the CLI's, 250 MiB
    /// per queue split into frames and spill blocks
    /// (``CaptureConfiguration/buffered(bytes:cellsPerChunk:fillRingSize:spill:mode:offloadThresholdPercent:partialTimeoutNanoseconds:)``).
    /// On AF_PACKET the pool geometry is replaced by the ring's
    /// (``afpacketGeometry``); mode, T and the timeout still apply.
    public var core = EngineSettings.defaultCore

    /// The default ``core``: valid by construction (a test builds it). Advanced
    /// mode with flow offload (``OffloadPolicy/flow``, 1,024 buckets per queue, a
    /// flow heavier than one consumer spread rather than dropped).
    public static let defaultCore: CaptureConfiguration = {
        do {
            var c = try CaptureConfiguration.buffered()
            c.offload = .flow
            return c
        } catch { preconditionFailure("default configuration: \(error)") }
    }()
    /// Ring shape per socket on AF_PACKET.
    public var afpacketGeometry = AFPacketGeometry.default
    /// CPUs to pin capture threads to (thread t → `cpus[t % count]`); empty: unpinned.
    public var captureCPUs: [Int] = []
    /// Capture threads; nil: ``SystemThread/defaultCaptureThreads(queues:)``. Fewer
    /// threads than queues serve the queues round-robin.
    public var captureThreads: Int?
    /// Nice value of the capture threads (nil: inherit). The paper dedicates cores
    /// to capture threads; on a box where they share cores with the application and
    /// the traffic source, a higher priority is the equivalent: a capture thread
    /// runs briefly once per chunk, and when it waits for a CPU the kernel runs out
    /// of posted frames. Lowering nice needs CAP_SYS_NICE; failure is ignored.
    public var captureThreadNice: Int32? = -10
    /// How AF_XDP capture threads wait (adaptive sleep by default; busy-poll is opt-in).
    public var wakePolicy = WakePolicy.adaptive
    /// Most rx descriptors an AF_XDP capture thread takes per pass.
    public var batchSize = 256
    /// Try `MAP_HUGETLB` for the UMEMs (falls back with a warning).
    public var hugePages = false
    /// Replace an XDP program already attached to the interface (AF_XDP).
    public var force = false
    /// XDP attach mode; nil: driver mode, falling back to generic with a note.
    public var attachMode: XDPAttachMode?
    /// BPF link (default: the kernel removes the program however the process ends)
    /// or netlink (the fallback; forced only to test leftover handling).
    public var attachment = XDPAttachment.link
    /// Suppress the engine's notes on stderr.
    public var quiet = false
    /// Hold the interface in promiscuous mode while the engine is open (libpcap's
    /// default, `-p` turns it off), so a monitoring port sees frames addressed to
    /// other hosts. Reference-counted by the kernel and dropped with the engine, or
    /// with the process however it ends (``PromiscuousMode``).
    public var promiscuous = true
    /// A capture filter run in the XDP program (AF_XDP only; issue 17): rejected
    /// packets never enter the pools. nil: none (a user-space filter may still run).
    public var kernelFilter: KernelFilter?
    /// A flow-bypass table in the XDP program (AF_XDP only; issue 17): flows the
    /// application bypasses are counted and no longer captured. nil (the default):
    /// no table, and the program does not parse packets for it.
    public var flowBypass: FlowBypassSettings?

    public init() {}

    // MARK: Flow offload (issue 15)

    /// What advanced mode offloads (``CaptureConfiguration/offload``): flow buckets
    /// (the default: a flow is processed by one consumer at a time, in order) or
    /// whole chunks (the paper's WireCAP-A). Where flow offload cannot run, the
    /// engine uses chunks (``effectiveCore(queues:)``). Basic mode ignores it.
    public var offload: OffloadPolicy {
        get { core.offload }
        set { core.offload = newValue }
    }

    /// Flow offload: buckets per receive queue (``CaptureConfiguration/flowBuckets``),
    /// a power of two, 64 ... 65,536 (default 1,024). More buckets split a queue's
    /// traffic more finely, so a move can balance closer; each costs a few bytes.
    public var flowBuckets: Int {
        get { core.flowBuckets }
        set { core.flowBuckets = newValue }
    }

    /// Flow offload: never spread a flow over consumers, not even one heavier than a
    /// consumer can take (``CaptureConfiguration/strictFlowAffinity``): its excess is
    /// dropped by the pool filling up and counted, as an IDS prefers to a split flow.
    public var strictFlowAffinity: Bool {
        get { core.strictFlowAffinity }
        set { core.strictFlowAffinity = newValue }
    }

    /// The most queues a buddy group offloading flows may have (``BuddyGroup/maxFlowQueues``:
    /// a pool splits each delivery into one slice per route, every consumer, held and spread).
    public static let maxFlowOffloadQueues = BuddyGroup.maxFlowQueues

    /// Why flow offload, asked for in ``core``, cannot run for a group of `queues`
    /// queues on this backend (nil: it can, or it was not asked for): AF_PACKET
    /// hands its blocks to consumers whole, and a group offloading flows has at
    /// most ``maxFlowOffloadQueues`` queues.
    public func flowOffloadRefusal(queues: Int) -> String? {
        guard core.offloadsFlows(queues: queues) else { return nil }
        if backend != .xdp {
            return "flow offload needs the AF_XDP backend: AF_PACKET hands each ring block to one consumer whole"
        }
        if queues > Self.maxFlowOffloadQueues {
            return "flow offload supports at most \(Self.maxFlowOffloadQueues) queues per buddy group, got \(queues)"
        }
        return nil
    }

    /// The core configuration a group of `queues` queues runs with: ``core``, with
    /// chunk offload where flow offload cannot run (``flowOffloadRefusal(queues:)``).
    /// Both engines build their group from it, so no configuration can ask a pool
    /// for more slices per delivery than it has.
    public func effectiveCore(queues: Int) -> CaptureConfiguration {
        var c = core
        if flowOffloadRefusal(queues: queues) != nil { c.offload = .chunk }
        return c
    }
}

/// Which kernel path an engine reads packets from. Both give the same consumers
/// and the same zero-copy packet views (``CaptureBackend``).
public enum CaptureBackendChoice: Sendable, Hashable {
    /// AF_XDP: one XSK socket per device rx queue, an XDP program redirecting to them,
    /// frames in the pools (the WireCAP design proper). Needs CAP_NET_ADMIN+CAP_BPF.
    case xdp
    /// AF_PACKET TPACKET_V3 rings, one socket per selected queue, joined in one
    /// PACKET_FANOUT group; a retired block is a chunk. The fallback without AF_XDP
    /// and the stock-Linux baseline. Needs CAP_NET_RAW.
    /// - Parameters:
    ///   - fanout: how the kernel spreads packets over the sockets.
    ///   - rollover: PACKET_FANOUT_FLAG_ROLLOVER (a full ring's packets go to another socket).
    case afpacket(fanout: FanoutMode, rollover: Bool)
}

/// How an AF_XDP capture thread waits when its queues are empty.
public enum WakePolicy: Sendable, Hashable {
    /// Adaptive sleep (the default): see the AF_XDP backend's capture policy.
    case adaptive
    /// Never sleep: poll the rings continuously (one core per capture thread). Opt-in only.
    case busyPoll
}

/// How an XDP program is attached to an interface.
public enum XDPAttachMode: String, Sendable, Codable {
    /// Native (driver) XDP. The corresponding C flag is `XDP_FLAGS_DRV_MODE`.
    case driver
    /// Generic XDP in the networking stack. The corresponding C flag is `XDP_FLAGS_SKB_MODE`.
    case generic
}

/// How the XDP program is bound to the interface.
public enum XDPAttachment: String, Sendable, Codable {
    /// A BPF link (`bpf_link_create` with `BPF_XDP`, Linux ≥ 5.9): the kernel
    /// removes the program when the process ends, however it ends. The default.
    case link
    /// The netlink attachment (`bpf_xdp_attach`): survives the process; only the
    /// fallback for kernels without XDP links (or forced, to test leftover detection).
    case netlink
}

/// How a PACKET_FANOUT group spreads packets over its sockets.
public enum FanoutMode: String, Sendable, CaseIterable {
    /// By the flow hash (`skb_get_hash`): a flow stays on one socket. The corresponding C constant is `PACKET_FANOUT_HASH`.
    case hash
    /// By the CPU that received the packet. The corresponding C constant is `PACKET_FANOUT_CPU`.
    case cpu
    /// Round-robin per packet. The corresponding C constant is `PACKET_FANOUT_LB`.
    case lb
    /// By the recorded rx queue (`skb_get_rx_queue`): device queue q → socket q mod Q,
    /// the closest peer of one AF_XDP socket per queue. The corresponding C constant is `PACKET_FANOUT_QM`.
    case qm
}

/// The shape of one socket's TPACKET_V3 RX_RING.
///
/// ```
///  ring (mmap'd, blocks · blockSize bytes, shared with the kernel)
///  ┌─ block 0 ────────────────────────────────────────────────────────────┐
///  │ tpacket_block_desc (block_status (k/u), num_pkts, seq_num, …)         │
///  │ tpacket3_hdr ─tp_next_offset─▶ tpacket3_hdr ─▶ …  (tp_mac: the frame) │
///  ├─ block 1 …                                                           │
/// ```
public struct AFPacketGeometry: Sendable, Hashable, CustomStringConvertible {
    /// Bytes per block: a power of two, at least one page. A block is one chunk.
    public var blockSize: Int
    /// Blocks per socket (at least 2).
    public var blocks: Int

    /// Defaults: 256 KiB × 64 blocks = 16 MiB per socket. At 64-byte frames a block
    /// holds about 2,700 packets (96 bytes each with the TPACKET_V3 header), so the
    /// ring buffers ~170k packets per socket, about what the AF_XDP default
    /// R·M = 128k does, and at 100 kpps per socket a block retires every ~27 ms.
    public static let `default` = AFPacketGeometry(blockSize: 256 * 1024, blocks: 64)

    public init(blockSize: Int, blocks: Int) {
        self.blockSize = blockSize
        self.blocks = blocks
    }

    /// An upper bound of packets in one block: every packet takes at least 64
    /// bytes (its 48-byte `tpacket3_hdr` plus the frame, 16-byte aligned).
    /// A power of two (the block size is one), 64 … 65536.
    public var maxPacketsPerBlock: Int { blockSize / 64 }

    /// The geometry of the buddy group's pools on this backend: R = ``blocks``,
    /// M = N = ``maxPacketsPerBlock`` (so R > N/M = 1 holds and every block has a
    /// descriptor table big enough for any block), frame size 2048. The pools'
    /// frames are never used (the ring holds the packets); M and R size the
    /// descriptor tables, the lanes (2·R) and the offload threshold (T% of R).
    public var poolGeometry: PoolGeometry {
        PoolGeometry(cellsPerChunk: maxPacketsPerBlock, chunksPerPool: blocks, fillRingSize: maxPacketsPerBlock, frameSize: 2048)
    }

    /// Checks the block size (a power of two, 4 KiB … 4 MiB) and count (2 … 2^20).
    ///
    /// The 4 MiB limit: a block's descriptor table has ``maxPacketsPerBlock`` cells,
    /// which as the pool's M must divide an N of at most 65536.
    public func validate() throws(XDPError) {
        guard blockSize >= 4096, blockSize <= 1 << 22, blockSize & (blockSize - 1) == 0 else {
            throw XDPError.usage("block size", "--block-size must be a power of two, 4 KiB ... 4 MiB, got \(blockSize) bytes")
        }
        guard blocks >= 2, blocks <= 1 << 20 else {
            throw XDPError.usage("blocks", "--blocks must be 2...1048576, got \(blocks)")
        }
    }

    public var description: String {
        "blocks=\(blocks) × \(ByteCount(blockSize)) (\(ByteCount(blocks * blockSize)) per socket)"
    }
}

