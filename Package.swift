// swift-tools-version: 6.1
//
// WireCap: lossless, zero-copy packet capture on AF_XDP (the WireCAP design,
// Wu & DeMar, IMC 2014).
//
// Architecture (folders show it; imports run one way, top to bottom):
//   Sources/wirecap          the CLI: arguments, printing, signals.
//   Sources/WireCapAnalyzer  analyzers, flow tables, runner (over WireCap).
//   Sources/WireCapPcap      libwirecap-pcap.so: libpcap's live-capture calls
//                            over WireCap, preloaded by `wirecap exec`.
//   Sources/WireCap          the pcap-style application API, metrics.
//   Sources/WireCapSession   the CLI's capture session (engine, consumers,
//                            writer, forwarding, verification) and its report.
//   Sources/WireCapTestbed   veth testbed, generator, replay, sequence verifier
//                            (tests, demo and benchmarks; never the engine).
//   Sources/WireCapOutput    the capture writer and rotation.
//   Sources/WireCapXDP       the AF_XDP backend: UMEM, XSK sockets, the XDP
//                            program and its link, rx queues and their wait
//                            policy, forwarding, TX.
//   Sources/WireCapAFPacket  the TPACKET_V3 backend.
//   Sources/WireCapEngine    backend-neutral: the engine shell (lifecycle,
//                            capture threads, one capture loop), settings,
//                            consumers, the packet view, wake-ups, the ledger.
//   Sources/WireCapSystem    every syscall and C call, wrapped once (XDPError).
//   Sources/WireCapCore      portable core: pools, rings, buddy groups, stats.
//                            No syscalls, no C modules; the simulator runs it.
//   Sources/WireCapTrace     the pcap/pcapng parser (streaming) and writer,
//                            synthetic traces, Toeplitz RSS.
//   Sources/WireCapFilter    libpcap filters (own module: struct bpf_insn clash).
//   Simulations/...          virtual-time trace replay on WireCapCore.
//   Benchmarks/              package-benchmark micro benchmarks (own package),
//                            the end-to-end harness, C baselines, results.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "WireCap",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "WireCapCore", targets: ["WireCapCore"]),
        .library(name: "WireCapSystem", targets: ["WireCapSystem"]),
        .library(name: "WireCapEngine", targets: ["WireCapEngine"]),
        .library(name: "WireCapXDP", targets: ["WireCapXDP"]),
        .library(name: "WireCapAFPacket", targets: ["WireCapAFPacket"]),
        .library(name: "WireCapOutput", targets: ["WireCapOutput"]),
        .library(name: "WireCapTestbed", targets: ["WireCapTestbed"]),
        .library(name: "WireCapSession", targets: ["WireCapSession"]),
        .library(name: "WireCapTrace", targets: ["WireCapTrace"]),
        .library(name: "WireCap", targets: ["WireCap"]),
        .library(name: "WireCapAnalyzer", targets: ["WireCapAnalyzer"]),
        .library(name: "WireCapFilter", targets: ["WireCapFilter"]),
        .library(name: "WireCapSimulator", targets: ["WireCapSimulator"]),
        .executable(name: "wirecap", targets: ["wirecap"]),
        // libpcap's live-capture calls on WireCap, preloaded by `wirecap exec` (issue 16).
        .library(name: "wirecap-pcap", type: .dynamic, targets: ["WireCapPcap"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // System libraries (module maps; libraries found by the linker).
        .systemLibrary(
            name: "CXDP", path: "Sources/CXDP", pkgConfig: "libxdp",
            providers: [.apt(["libxdp-dev", "libbpf-dev"])]),
        .systemLibrary(
            name: "CNuma", path: "Sources/CNuma", pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]),
        .systemLibrary(
            name: "CPCAP", path: "Sources/CPCAP", pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]),

        .target(
            name: "WireCapCore",
            dependencies: [.product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strict),
        .target(
            name: "WireCapTrace",
            swiftSettings: strict),
        // Every syscall and C call the backends make, each wrapped once with one
        // typed error (XDPError): fds, poll, futex, threads, clocks, mmap, sysfs
        // counters, capabilities, namespaces, signals, memory budgets.
        .target(
            name: "WireCapSystem",
            dependencies: ["WireCapCore", "CXDP"],
            swiftSettings: strict),
        // The backend-neutral capture machinery: the CaptureBackend protocol,
        // consumers and their wake-ups, the ledger over a backend, flow splits.
        .target(
            name: "WireCapEngine",
            dependencies: ["WireCapCore", "WireCapSystem", "WireCapTrace", "CXDP"],
            swiftSettings: strict),
        // The AF_XDP backend only: UMEM, XSK sockets, the XDP program and its link,
        // capture threads over rx/fill rings, forwarding and transmit queues.
        .target(
            name: "WireCapXDP",
            dependencies: ["WireCapCore", "WireCapSystem", "WireCapEngine", "CXDP", "CNuma",
                           .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strict),
        // The TPACKET_V3 backend only.
        .target(
            name: "WireCapAFPacket",
            dependencies: ["WireCapCore", "WireCapSystem", "WireCapEngine", "CXDP",
                           .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strict),
        // The capture writer and rotation (pcap/pcapng files from chunks).
        .target(
            name: "WireCapOutput",
            dependencies: ["WireCapCore", "WireCapSystem", "WireCapEngine",
                           .product(name: "Atomics", package: "swift-atomics"),
                           .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: strict),
        // Used by tests, the demo and benchmarks, never by the engine: the veth
        // testbed, the generator and replay on one transmit path, the sequence verifier.
        .target(
            name: "WireCapTestbed",
            dependencies: ["WireCapCore", "WireCapTrace", "WireCapSystem", "WireCapEngine", "WireCapXDP", "CXDP",
                           .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strict),
        // A capture session for the CLI: engine + consumers + writer + forwarding
        // + verification, run until a stop condition, with its report.
        .target(
            name: "WireCapSession",
            dependencies: ["WireCapCore", "WireCapSystem", "WireCapEngine", "WireCapXDP", "WireCapAFPacket",
                           "WireCapOutput", "WireCapTestbed", "WireCapFilter", "CXDP",
                           .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strict),
        // libpcap's filter compiler and bpf_filter. Its own module: <pcap/bpf.h> and
        // <linux/bpf.h> both define `struct bpf_insn`, so CPCAP and CXDP cannot meet.
        .target(
            name: "WireCapFilter",
            dependencies: ["CPCAP"],
            swiftSettings: strict),
        // The application face: libpcap-style handles over the engine.
        .target(
            name: "WireCap",
            dependencies: ["WireCapCore", "WireCapSystem", "WireCapEngine", "WireCapXDP", "WireCapAFPacket",
                           "WireCapFilter", "WireCapTrace",
                           .product(name: "Atomics", package: "swift-atomics"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: strict),
        // Multi-threaded analyzers (flow tables, counters, top-N) over WireCap.
        .target(
            name: "WireCapAnalyzer",
            dependencies: ["WireCap", "WireCapCore", "WireCapSystem", "WireCapEngine", "WireCapTrace", "WireCapFilter",
                           .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strict),
        // The libpcap library (issue 16): pcap_* entry points over Capture, the rest
        // passed to the system libpcap. CWireCapPcap: libpcap's ABI structures
        // mirrored (and checked against <pcap/pcap.h>), the handle table and the
        // async-signal-safe pcap_breakloop.
        .target(
            name: "CWireCapPcap", path: "Sources/CWireCapPcap",
            linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "WireCapPcap",
            dependencies: ["WireCap", "WireCapCore", "WireCapSystem", "WireCapEngine", "WireCapFilter", "CWireCapPcap"],
            swiftSettings: strict),
        .target(
            name: "WireCapSimulator",
            dependencies: ["WireCapCore", "WireCapTrace"],
            path: "Simulations/WireCapSimulator",
            swiftSettings: strict),
        .executableTarget(
            name: "wirecap",
            dependencies: [
                "WireCapCore", "WireCapTrace", "WireCapSystem", "WireCapEngine", "WireCapXDP", "WireCapAFPacket", "WireCapOutput", "WireCapTestbed", "WireCapSession", "WireCapSimulator",
                "WireCapFilter", "WireCap", "WireCapAnalyzer",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // What every live test target shares (child processes waited on by what they
        // print, never by sleeping).
        .target(
            name: "WireCapTestSupport",
            dependencies: ["WireCapTestbed", "WireCapTrace", .product(name: "Atomics", package: "swift-atomics")],
            path: "Tests/WireCapTestSupport",
            swiftSettings: strict),
        .testTarget(
            name: "WireCapCoreTests", dependencies: ["WireCapCore", "WireCapTrace", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapXDPTests", dependencies: ["WireCapFilter", "WireCapCore", "WireCapTrace", "WireCapSystem", "WireCapEngine", "WireCapXDP", "WireCapAFPacket", "WireCapOutput", "WireCapTestbed", "WireCapSession", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapFilterTests", dependencies: ["WireCapFilter", "WireCapTrace", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapAPITests", dependencies: ["WireCap", "WireCapAnalyzer", "WireCapCore", "WireCapSystem", "WireCapEngine", "WireCapXDP", "WireCapAFPacket", "WireCapOutput", "WireCapTestbed", "WireCapSession", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapAnalyzerTests", dependencies: ["WireCapAnalyzer", "WireCap", "WireCapTrace", "WireCapFilter", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapTraceTests", dependencies: ["WireCapTrace"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapPcapTests", dependencies: ["WireCap", "WireCapCore", "WireCapSystem", "WireCapTrace", "WireCapTestbed", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapSimulatorTests", dependencies: ["WireCapSimulator", "WireCapCore"],
            swiftSettings: strict),
    ]
)
