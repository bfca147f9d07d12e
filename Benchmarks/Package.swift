// swift-tools-version: 6.1
//
// Micro benchmarks (ordo-one/benchmark). Its own package so that building and
// testing WireCap never pulls in the benchmark harness.
//
//   cd Benchmarks && swift package benchmark                 # run all
//   swift package benchmark baseline check --check-absolute-path Thresholds   # regressions
import PackageDescription

let package = Package(
    name: "WireCapBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "WireCap", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "WireCapCore", package: "WireCap"),
            ],
            path: "Benchmarks/CoreBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "CaptureBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "WireCapOutput", package: "WireCap"),
                .product(name: "WireCapFilter", package: "WireCap"),
                .product(name: "WireCap", package: "WireCap"),
                .product(name: "WireCapTrace", package: "WireCap"),
                .product(name: "WireCapCore", package: "WireCap"),
                .product(name: "WireCapAnalyzer", package: "WireCap"),
                .product(name: "WireCapEngine", package: "WireCap"),
                .product(name: "WireCapSystem", package: "WireCap"),
            ],
            path: "Benchmarks/CaptureBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SimulatorBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "WireCapSimulator", package: "WireCap"),
                .product(name: "WireCapTrace", package: "WireCap"),
                .product(name: "WireCapCore", package: "WireCap"),
            ],
            path: "Benchmarks/SimulatorBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
