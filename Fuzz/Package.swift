// swift-tools-version: 6.1
//
// Coverage-guided fuzz targets (libFuzzer, shipped with the Swift toolchain),
// their own package so the main build never carries sanitizer flags. Built with
// `swift build -c release --sanitize=fuzzer --sanitize=address` (so the readers
// and the filter module are instrumented too) and run by `make fuzz`:
//
//   FuzzTraceReader   bytes → TraceReader (pcap and pcapng), every packet visited
//   FuzzFilter        bytes → a tcpdump expression → libpcap's compiler → bpf_filter
//
// Seeds: Corpus/<target>/ (committed); new inputs go to .build-fuzz/ (ignored).
import PackageDescription

// libFuzzer provides `main`: the targets are libraries in Swift's eyes.
let fuzzTarget: [SwiftSetting] = [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "WireCapFuzz",
    dependencies: [.package(name: "WireCap", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzTraceReader",
            dependencies: [.product(name: "WireCapTrace", package: "WireCap")],
            swiftSettings: fuzzTarget),
        .executableTarget(
            name: "FuzzFilter",
            dependencies: [.product(name: "WireCapFilter", package: "WireCap")],
            swiftSettings: fuzzTarget),
    ]
)
