// swift-tools-version: 6.1
//
// WireCap: lossless, zero-copy packet capture on AF_XDP (the WireCAP design,
// Wu & DeMar, IMC 2014).
//
// Architecture (folders show it):
//   Sources/WireCapCore      portable core: pools, rings, buddy groups, stats.
//                            No syscalls, no C modules; the simulator runs it.
//   Sources/WireCapXDP       the only module that talks to the kernel: AF_XDP
//                            engine, XDP program, AF_PACKET backend, writer,
//                            replay, forwarding, testbed, generator.
//   Sources/WireCapTrace     pcap/pcapng, synthetic traces, Toeplitz RSS.
//   Sources/WireCapFilter    libpcap filters (own module: struct bpf_insn clash).
//   Sources/WireCap          the pcap-style application API, metrics.
//   Sources/WireCapAnalyzer  analyzers, flow tables, runner.
//   Simulations/...          virtual-time trace replay on WireCapCore.
//   Sources/wirecap          the CLI, thin over the libraries.
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
        .library(name: "WireCapXDP", targets: ["WireCapXDP"]),
        .library(name: "WireCapTrace", targets: ["WireCapTrace"]),
        .library(name: "WireCap", targets: ["WireCap"]),
        .library(name: "WireCapAnalyzer", targets: ["WireCapAnalyzer"]),
        .library(name: "WireCapFilter", targets: ["WireCapFilter"]),
        .library(name: "WireCapSimulator", targets: ["WireCapSimulator"]),
        .executable(name: "wirecap", targets: ["wirecap"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
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
        .target(
            name: "WireCapXDP",
            dependencies: ["WireCapCore", "WireCapTrace", "CXDP", "CNuma",
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
            dependencies: ["WireCapCore", "WireCapXDP", "WireCapFilter", "WireCapTrace",
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
            dependencies: ["WireCap", "WireCapCore", "WireCapTrace", "WireCapFilter"],
            swiftSettings: strict),
        .target(
            name: "WireCapSimulator",
            dependencies: ["WireCapCore", "WireCapTrace"],
            path: "Simulations/WireCapSimulator",
            swiftSettings: strict),
        .executableTarget(
            name: "wirecap",
            dependencies: [
                "WireCapCore", "WireCapTrace", "WireCapXDP", "WireCapSimulator",
                "WireCapFilter", "WireCap", "WireCapAnalyzer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        // What every live test target shares (child processes waited on by what they
        // print, never by sleeping).
        .target(
            name: "WireCapTestSupport",
            path: "Tests/WireCapTestSupport",
            swiftSettings: strict),
        .testTarget(
            name: "WireCapCoreTests", dependencies: ["WireCapCore", "WireCapTrace", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapXDPTests", dependencies: ["WireCapXDP", "WireCapCore", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapFilterTests", dependencies: ["WireCapFilter", "WireCapTrace"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapAPITests", dependencies: ["WireCap", "WireCapXDP", "WireCapCore", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapAnalyzerTests", dependencies: ["WireCapAnalyzer", "WireCap", "WireCapTrace", "WireCapFilter", "WireCapTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapTraceTests", dependencies: ["WireCapTrace"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapSimulatorTests", dependencies: ["WireCapSimulator", "WireCapCore"],
            swiftSettings: strict),
    ]
)
