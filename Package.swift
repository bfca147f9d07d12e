// swift-tools-version: 6.1
//
// WireCap: lossless, zero-copy packet capture on AF_XDP (the WireCAP design,
// Wu & DeMar, IMC 2014).
//
// Architecture (folders show it):
//   Sources/WireCapCore      portable core: pools, rings, buddy groups, stats.
//                            No syscalls, no C modules; the simulator runs it.
//   Sources/WireCapXDP       the only module that talks to the kernel
//                            (AF_XDP, libxdp/libbpf, libnuma, netlink via ip).
//   Simulations/...          virtual-time trace replay on WireCapCore.
//   Sources/wirecap          the CLI, thin over the libraries.
//   Benchmarks/              package-benchmark micro benchmarks (own package)
//                            and end-to-end scripts.
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
        .library(name: "WireCapSimulator", targets: ["WireCapSimulator"]),
        .executable(name: "wirecap", targets: ["wirecap"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
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
            dependencies: ["WireCapCore", "WireCapTrace", "CXDP", "CNuma", "CPCAP",
                           .product(name: "Atomics", package: "swift-atomics")],
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),

        .testTarget(
            name: "WireCapCoreTests", dependencies: ["WireCapCore"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapXDPTests", dependencies: ["WireCapXDP", "WireCapCore"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapTraceTests", dependencies: ["WireCapTrace"],
            swiftSettings: strict),
        .testTarget(
            name: "WireCapSimulatorTests", dependencies: ["WireCapSimulator", "WireCapCore"],
            swiftSettings: strict),
    ]
)
