import ArgumentParser

/// `wirecap`: lossless zero-copy packet capture on AF_XDP (the WireCAP design).
@main
struct WireCapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wirecap",
        abstract: "Lossless, zero-copy packet capture on AF_XDP (WireCAP: ring-buffer pools + buddy-group offload).",
        subcommands: [
            CaptureCommand.self,
            GenerateCommand.self,
            TestbedCommand.self,
            SimulateCommand.self,
            DemoCommand.self,
            ReplayCommand.self, TraceCommand.self,
        ]
    )
}
