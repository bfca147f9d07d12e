import Testing
import WireCapCore

/// The loss ledger's arithmetic and the lifecycle's transitions, without a kernel.
@Suite("Ledger and lifecycle")
struct LedgerLifecycleTests {
    @Test("unexplained is offered minus every counted fate, signed and never clamped")
    func identity() {
        var r = QueueLedger(queue: 0)
        r.offered = 1_000
        r.delivered = 900; r.filtered = 30; r.sampled = 20; r.beyondCount = 5
        r.noFrame = 10; r.poolExhausted = 10; r.writer = 5
        #expect(r.lost == 25)
        #expect(r.unexplained == 20)
        #expect(!r.isLossless)
        r.delivered = 960
        #expect(r.unexplained == -40, "counted twice shows as negative, not as 0")
        r.delivered = 920
        #expect(r.unexplained == 0)
        #expect(!r.isLossless, "losses with a cause are still losses")
        var clean = QueueLedger(queue: 1)
        clean.offered = 7; clean.delivered = 5; clean.filtered = 2
        #expect(clean.isLossless)
        clean.uncountedLossEvents = 1
        #expect(!clean.isLossless, "an uncounted loss event forbids 'no packets lost'")
    }

    @Test("every cause counts as a loss, each once")
    func everyCause() {
        let setters: [(inout QueueLedger) -> Void] = [
            { $0.beforeSocket = 1 }, { $0.noFrame = 1 }, { $0.poolExhausted = 1 }, { $0.rxRingFull = 1 },
            { $0.invalidDescriptor = 1 }, { $0.delivery = 1 }, { $0.writer = 1 }, { $0.abandoned = 1 },
            { $0.txStalled = 1 },
        ]
        for (k, set) in setters.enumerated() {
            var r = QueueLedger(queue: 0)
            r.offered = 1
            set(&r)
            #expect(r.lost == 1 && r.unexplained == 0 && !r.isLossless, "cause \(k)")
            #expect(r.causes.filter { $0.packets == 1 }.count == 1, "cause \(k) listed once")
        }
        #expect(QueueLedger(queue: 0).causes.count == setters.count)
    }

    @Test("the total sums the queues and the interface row")
    func total() {
        var a = QueueLedger(queue: 0); a.offered = 10; a.delivered = 10
        var b = QueueLedger(queue: 1); b.offered = 5; b.delivered = 3; b.rxRingFull = 2
        var device = QueueLedger(queue: -1); device.offered = 4; device.beforeSocket = 4
        let l = CaptureLedger(interface: "x", offeredSource: .xdpProgram, queues: [a, b], interfaceRow: device, isFinal: true)
        #expect(l.total.offered == 19 && l.total.delivered == 13 && l.total.lost == 6 && l.total.unexplained == 0)
        #expect(!l.isLossless)
        #expect(l.total.queue == -1)
    }

    @Test("the lifecycle allows exactly the diagram's transitions")
    func transitions() {
        typealias S = CaptureLifecycle.State
        let all: [S] = [.opened, .started, .stopping, .drained, .closed]
        let allowed: Set<[S]> = [[.opened, .started], [.started, .stopping], [.stopping, .drained], [.drained, .closed],
                                 [.opened, .closed]]
        for a in all {
            for b in all {
                #expect(CaptureLifecycle.allows(a, b) == allowed.contains([a, b]), "\(a) → \(b)")
            }
        }
        var l = CaptureLifecycle()
        #expect(l.state == .opened && !l.needsStop)
        l.advance(to: .started); #expect(l.needsStop)
        l.advance(to: .stopping); #expect(!l.needsStop)
        l.advance(to: .drained)
        l.advance(to: .closed)
        #expect(l.state == .closed)
    }

    @Test("a transition outside the diagram traps")
    func illegalTransitionTraps() async {
        await #expect(processExitsWith: .failure) {
            var l = CaptureLifecycle()
            l.advance(to: .stopping)
        }
        await #expect(processExitsWith: .failure) {
            var l = CaptureLifecycle()
            l.advance(to: .started)
            l.advance(to: .closed)
        }
    }
}
