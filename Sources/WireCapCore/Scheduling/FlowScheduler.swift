/// Flow-consistent offload for one receive queue (issue 15): the queue's flow
/// buckets, which consumer each goes to, and when a bucket moves.
///
/// **Buckets.** Every packet carries a bucket, `0 ..< B` (the backend's symmetric
/// flow hash, so both directions of a flow share one). The buckets are per
/// receive queue and owned by its capture thread alone: the route table, the
/// in-flight counts and the rates below are plain memory with no atomics. A
/// bucket starts on its queue's own consumer.
///
/// **Routes.** `route[b]` is where bucket `b`'s packets go when they are delivered:
///
/// ```
///   0 ..< n    consumer j                        (settled)
///   held (n)   waits: the bucket is moving        (its slices wait in the held queue)
///   spread     chunk-wise, like WireCAP-A         (one flow heavier than a consumer)
/// ```
///
/// **Moving a bucket, and why a flow is never on two consumers at once.** A
/// bucket moves from consumer A to consumer B in three steps, all on the capture
/// thread:
///
/// 1. its route becomes `held`; `draining` = its packets delivered and not yet
///    recycled (all at A: the in-flight count);
/// 2. its later packets are delivered into slices that wait in the held queue,
///    in order, placed nowhere; every recycle of one of its earlier packets
///    lowers `draining`;
/// 3. when `draining` is 0 (A finished and gave back every packet of it), the
///    held slices are placed on B's lane, in order, and the route becomes B.
///
/// So B never holds a packet of the bucket while A does, and B's first packet of
/// it is later than A's last: per-flow order holds across the move. (A recycle is
/// the consumer's word that it is done with a packet; a consumer that recycles
/// before it has processed would break the guarantee, and nothing else.)
///
/// **When.** Every ``tickInterval`` the scheduler turns the packets each bucket
/// got into a rate (packets per second, smoothed). While the queue loses packets
/// before they are recorded (pool exhausted, ring full: the kernel drops without
/// looking at flows), the recorded counts are what the consumers let through, not
/// what was offered, so every bucket's count is scaled by the queue's
/// (recorded + lost) / recorded over the last window (``View/dropped``; see
/// ``offeredScale``). Without it an elephant on a full pool looks no heavier than
/// its share of one consumer and is never spread. A consumer's load is the sum
/// of its settled buckets' rates; spread buckets are left out of it (their chunks
/// go wherever the backlog is shortest, so they fill the room the settled load
/// leaves, and balancing the settled load is what is left to do).
///
/// **Utilisation.** Consumers need not serve alike: one may share its core with
/// the generator, a capture thread or softirq work, and serve half as fast as
/// its buddy. So the scheduler balances *utilisation*, a consumer's load over its
/// measured service rate (packets per second it took over ticks it was busy
/// throughout, ``serviceWindow``; a consumer not yet measured counts as the
/// fastest one that was, and before any was, utilisation is the raw load).
/// Equal loads on unequal consumers are an imbalance.
///
/// If a consumer its buckets go to has more than
/// ``CaptureConfiguration/offloadThresholdPercent`` of R·M packets waiting (or
/// is falling behind, ``View/behind``, with a utilisation well above the mean), it
/// moves the fewest, heaviest of that consumer's buckets (RSS++'s greedy:
/// heaviest first, each one only if it does not carry the utilisations past
/// where they meet) to the least utilised consumer, whose backlog must be under
/// half the threshold, until the predicted utilisations meet: the rate moved is
/// (u_from − u_to) / (1/c_from + 1/c_to), half the load gap for consumers alike.
/// A move needs an imbalance to remove: the utilisation gap must be at least
/// ``minimumImbalance`` of the overloaded consumer's (when every consumer is
/// about as utilised, the overload is the group's, and moving buckets would only
/// pause them for the drain), unless the utilisations meet while the backlogs do
/// not (past T here, under two chunks there: the measured rates are off); then a
/// step of ``minimumImbalance`` of the load moves. A bucket that moved stays where
/// it went for ``residenceTicks`` (no ping-pong).
///
/// A bucket heavier than the consumer can serve at all (its measured rate while
/// busy) would only move the overload: it is *spread* instead (counted, with its
/// packets), unless strict affinity forbids it; then it stays and the pool's
/// backlog grows until the kernel drops, counted as usual. After 50 ms in which no
/// consumer was above a quarter of the threshold and the own pool was under no
/// pressure, buckets away from home go back when that narrows the utilisation gap
/// (hysteresis), and spread buckets that a consumer can serve again are settled
/// on their home. One move is in progress at a time,
/// and a cooldown of ``cooldownTicks`` follows each.
///
/// Its stored `var`s are `@exclusivity(unchecked)` (one thread owns them; see ``ChunkPool``).
///
/// - warning: Capture thread `home` only.
public final class FlowScheduler: @unchecked Sendable {
    /// The queue (and its consumer) the buckets belong to.
    public let home: Int
    /// B: buckets (a power of two).
    public let bucketCount: Int
    /// Consumers in the group.
    public let consumers: Int
    /// The route of a moving bucket.
    public let held: UInt16
    /// The route of a spread bucket.
    public let spread: UInt16
    /// Routes a delivery can be split into: every consumer, held and spread.
    public var routes: Int { consumers + 2 }
    /// How often rates are updated and moves considered (deadline clock, ns).
    public let tickInterval: UInt64 = 1_000_000
    /// Ticks without a new move after one ended.
    public let cooldownTicks = 2
    /// Ticks a bucket stays where a move (or a spread) put it before it may move again.
    public let residenceTicks: UInt64 = 100
    /// The smallest gap, as a share of the overloaded consumer's load, that a move removes.
    public let minimumImbalance = 0.1
    /// Most buckets one move takes: half of them (the greedy stops when the loads meet anyway).
    public var maxBucketsPerMove: Int { bucketCount / 2 }
    /// Never spread: drop (by the pool filling up) rather than split a flow.
    public let strict: Bool

    /// route[b], read by the pool at every delivery.
    public let route: UnsafeMutablePointer<UInt16>
    /// Times the routes changed (a move began or ended, a bucket was spread): the
    /// pool delivers its per-route spill blocks before it copies under new routes
    /// (``ChunkPool/routeByFlow(_:arrivals:buckets:destinations:version:)``). Capture thread only, like ``route``.
    public let routeVersion: UnsafeMutablePointer<UInt64>
    /// Where b goes once settled (a moving bucket's target; a spread bucket's home).
    @usableFromInline let owner: UnsafeMutablePointer<UInt16>
    /// Packets of b delivered (lanes or held queue) and not recycled.
    @usableFromInline let inflight: UnsafeMutablePointer<UInt32>
    /// Packets of b received since the last tick (the pool counts them as it records them,
    /// so a rate is the recorded load, not the bursts in which a lagging pool delivers;
    /// ``offeredScale`` adds what was lost before recording).
    public let arrivals: UnsafeMutablePointer<UInt32>
    /// Smoothed packets per second of b.
    let rate: UnsafeMutablePointer<Double>
    /// b is in the move in progress.
    @usableFromInline let moving: UnsafeMutablePointer<Bool>
    /// The tick at which b last moved or was spread (``residenceTicks``).
    private let movedAt: UnsafeMutablePointer<UInt64>
    /// Ticks run so far (starts at ``residenceTicks``: every bucket may move at once).
    @exclusivity(unchecked) private var ticks: UInt64
    private let order: UnsafeMutablePointer<Int32>
    private let service: UnsafeMutablePointer<Double>
    private let lastConsumed: UnsafeMutablePointer<UInt64>
    private let wasBusy: UnsafeMutablePointer<Bool>
    private let load: UnsafeMutablePointer<Double>
    private let busyTaken: UnsafeMutablePointer<UInt64>
    private let busyTime: UnsafeMutablePointer<Double>
    /// Busy time over which a consumer's service rate is measured, seconds.
    public let serviceWindow = 0.2

    /// The move in progress: its target, and its buckets' packets still out at the old consumer.
    @exclusivity(unchecked) public private(set) var moveTarget = -1
    @exclusivity(unchecked) @usableFromInline var draining = 0
    @exclusivity(unchecked) private var moveBuckets: [Int32]
    // The held queue: slices of moving buckets, in delivery order.
    private let heldQueue: UnsafeMutablePointer<ChunkHandle>
    private let heldCapacity: Int
    @exclusivity(unchecked) private var heldHead = 0
    @exclusivity(unchecked) public private(set) var heldCount = 0
    /// Packets in the held queue now.
    @exclusivity(unchecked) public private(set) var heldPackets = 0
    @exclusivity(unchecked) private var lastTick: UInt64 = 0
    /// (recorded + lost) / recorded of the queue over the last loss window: the factor
    /// from recorded to offered rates (1 while nothing is lost). Capped at ``maximumOfferedScale``.
    @exclusivity(unchecked) public private(set) var offeredScale = 1.0
    /// The most ``offeredScale`` can be (a window with almost nothing recorded says little).
    public let maximumOfferedScale = 8.0
    /// Ticks in a loss window at most: backends publish their drop counters every
    /// 10 ms, so a window ends when the count moves, or after this many ticks.
    public let lossWindowTicks = 20
    @exclusivity(unchecked) private var windowRecorded: UInt64 = 0
    @exclusivity(unchecked) private var windowTicks = 0
    @exclusivity(unchecked) private var lastDropped: UInt64 = 0
    @exclusivity(unchecked) private var calmTicks = 0
    /// Calm ticks in a row before buckets go home (hysteresis in time).
    public let calmTicksBeforeReturn = 50
    @exclusivity(unchecked) private var cooldown = 0

    /// Buckets moved (each bucket of each move, back home included).
    @exclusivity(unchecked) public private(set) var bucketMoves: UInt64 = 0
    /// Buckets spread (times one was).
    @exclusivity(unchecked) public private(set) var bucketsSpread: UInt64 = 0
    /// Packets delivered from spread buckets (their flows may be split).
    public var packetsSpread: UInt64 { spreadPackets }
    @exclusivity(unchecked) @usableFromInline var spreadPackets: UInt64 = 0
    /// Packets that waited in the held queue for a move's drain.
    @exclusivity(unchecked) public private(set) var packetsHeld: UInt64 = 0

    /// - Parameters:
    ///   - heldCapacity: the most slices that can wait (the pool's item budget).
    public init(home: Int, buckets: Int, consumers: Int, strict: Bool, heldCapacity: Int) {
        precondition(buckets > 0 && buckets & (buckets - 1) == 0 && buckets <= 65536 && consumers >= 1)
        self.home = home
        bucketCount = buckets
        self.consumers = consumers
        held = UInt16(consumers)
        spread = UInt16(consumers + 1)
        self.strict = strict
        route = .allocate(capacity: buckets); route.initialize(repeating: UInt16(home), count: buckets)
        routeVersion = .allocate(capacity: 1); routeVersion.initialize(to: 0)
        owner = .allocate(capacity: buckets); owner.initialize(repeating: UInt16(home), count: buckets)
        inflight = .allocate(capacity: buckets); inflight.initialize(repeating: 0, count: buckets)
        arrivals = .allocate(capacity: buckets); arrivals.initialize(repeating: 0, count: buckets)
        rate = .allocate(capacity: buckets); rate.initialize(repeating: 0, count: buckets)
        moving = .allocate(capacity: buckets); moving.initialize(repeating: false, count: buckets)
        movedAt = .allocate(capacity: buckets); movedAt.initialize(repeating: 0, count: buckets)
        ticks = residenceTicks
        order = .allocate(capacity: buckets); order.initialize(repeating: 0, count: buckets)
        service = .allocate(capacity: consumers); service.initialize(repeating: 0, count: consumers)
        lastConsumed = .allocate(capacity: consumers); lastConsumed.initialize(repeating: 0, count: consumers)
        wasBusy = .allocate(capacity: consumers); wasBusy.initialize(repeating: false, count: consumers)
        load = .allocate(capacity: consumers); load.initialize(repeating: 0, count: consumers)
        busyTaken = .allocate(capacity: consumers); busyTaken.initialize(repeating: 0, count: consumers)
        busyTime = .allocate(capacity: consumers); busyTime.initialize(repeating: 0, count: consumers)
        moveBuckets = []
        moveBuckets.reserveCapacity(buckets)
        self.heldCapacity = max(1, heldCapacity)
        heldQueue = .allocate(capacity: self.heldCapacity)
    }

    deinit {
        route.deallocate(); routeVersion.deallocate(); owner.deallocate(); inflight.deallocate(); arrivals.deallocate(); rate.deallocate()
        moving.deallocate(); movedAt.deallocate(); order.deallocate(); service.deallocate(); lastConsumed.deallocate(); wasBusy.deallocate(); load.deallocate()
        busyTaken.deallocate(); busyTime.deallocate()
        heldQueue.deallocate()
    }

    /// `true` while a move waits for its old consumer.
    public var isMoving: Bool { moveTarget >= 0 }

    /// The route of bucket `bucket` (masked).
    @inlinable @inline(__always)
    public func route(of bucket: UInt16) -> UInt16 { route[Int(bucket) & (bucketCount &- 1)] }

    // MARK: Delivery and recycle (per packet)

    /// A slice with these buckets was delivered (to a lane or the held queue).
    @inlinable
    public func delivered(_ tags: UnsafeBufferPointer<UInt16>, spread isSpread: Bool) {
        let mask = bucketCount &- 1
        for t in tags { inflight[Int(t) & mask] &+= 1 }
        if isSpread { spreadPackets &+= UInt64(tags.count) }
    }

    /// A slice with these buckets came back (recycled, accepted by the pool).
    /// - Returns: `true` when it finished a move's drain: place the held slices now
    ///   (``releaseHeld(_:)``).
    @inlinable
    public func recycled(_ tags: UnsafeBufferPointer<UInt16>) -> Bool {
        let mask = bucketCount &- 1
        var finished = false
        for t in tags {
            let b = Int(t) & mask
            inflight[b] &-= 1
            if moving[b] {
                draining &-= 1
                finished = draining == 0
            }
        }
        return finished
    }

    /// Queues a slice of moving buckets. - Returns: `false` if the held queue is full (never within the item budget).
    public func hold(_ handle: ChunkHandle) -> Bool {
        guard heldCount < heldCapacity else { return false }
        heldQueue[(heldHead + heldCount) % heldCapacity] = handle
        heldCount += 1
        heldPackets += Int(handle.count)
        packetsHeld &+= UInt64(handle.count)
        return true
    }

    /// Ends the move whose drain finished: hands each held slice, in order, to
    /// `place` (the target's lane) and settles its buckets on the target.
    /// - Returns: packets placed.
    @discardableResult
    public func releaseHeld(_ place: (ChunkHandle, Int) -> Void) -> Int {
        guard moveTarget >= 0, draining == 0 else { return 0 }
        let released = heldPackets
        let target = moveTarget
        while heldCount > 0 {
            place(heldQueue[heldHead], target)
            heldPackets -= Int(heldQueue[heldHead].count)
            heldHead = (heldHead + 1) % heldCapacity
            heldCount -= 1
        }
        for b in moveBuckets {
            moving[Int(b)] = false
            route[Int(b)] = UInt16(target)
        }
        routeVersion.pointee &+= 1
        moveBuckets.removeAll(keepingCapacity: true)
        moveTarget = -1
        cooldown = cooldownTicks
        return released
    }

    // MARK: Decisions (per tick)

    /// What the scheduler sees of the group at a tick.
    public struct View {
        /// Packets waiting in consumer j's capture queue.
        public var backlog: (Int) -> Int
        /// Packets consumer j has taken so far (its counter).
        public var consumed: (Int) -> UInt64
        /// Packets per second routed to consumer j by every queue of the group.
        public var load: (Int) -> Double
        /// The backlog (packets) above which a consumer is overloaded: T% of R·M.
        public var threshold: Int
        /// A backlog (packets) that shows a consumer is falling behind (a couple of
        /// chunks): with it, a load well above the mean is an overload before T.
        public var behind: Int
        /// `true` while the own pool is under pressure (spilling, or no free chunk):
        /// packets wait there that no capture queue shows, so nothing goes home.
        public var pressure: () -> Bool
        /// Packets the own queue lost before they were recorded, so far (the capture
        /// drop counters: no frame, ring full, pool exhausted).
        public var dropped: () -> UInt64

        public init(backlog: @escaping (Int) -> Int, consumed: @escaping (Int) -> UInt64,
                    load: @escaping (Int) -> Double, threshold: Int, behind: Int,
                    pressure: @escaping () -> Bool = { false }, dropped: @escaping () -> UInt64 = { 0 }) {
            self.backlog = backlog
            self.consumed = consumed
            self.load = load
            self.threshold = threshold
            self.behind = behind
            self.pressure = pressure
            self.dropped = dropped
        }
    }

    /// Updates rates and may start a move (see the type's documentation).
    /// - Parameter publish: receives this queue's load per consumer (packets per second).
    /// - Returns: `true` if the tick ran (an interval had passed).
    @discardableResult
    public func tick(now: UInt64, view: View, publish: (Int, Double) -> Void) -> Bool {
        // The first tick, or a clock that went back (a flush at a far time): start again from now.
        if lastTick == 0 || now < lastTick { lastTick = now; return false }
        guard now > lastTick, now &- lastTick >= tickInterval else { return false }
        let seconds = Double(now &- lastTick) / 1e9
        lastTick = now
        ticks &+= 1
        let perConsumer = load
        perConsumer.update(repeating: 0, count: consumers)
        updateOfferedScale(view)
        let perSecond = offeredScale / seconds
        for b in 0..<bucketCount {
            let sample = Double(arrivals[b]) * perSecond
            arrivals[b] = 0
            rate[b] = rate[b] == 0 ? sample : rate[b] * 0.90 + sample * 0.1
            if rate[b] < 1 { rate[b] = 0 }
            let r = route[b]
            // Spread buckets are in no consumer's load (see the type's documentation).
            if r != spread { perConsumer[Int(r == held ? owner[b] : r)] += rate[b] }
        }
        for j in 0..<consumers { publish(j, perConsumer[j]) }
        // Service rate: packets a consumer took over ticks it was busy throughout, summed
        // until they make ``serviceWindow`` (a consumer counts a handle when it takes it,
        // and a spill block is thousands of packets: shorter windows see bursts).
        for j in 0..<consumers {
            let taken = view.consumed(j)
            let busy = view.backlog(j) > 0
            if busy && wasBusy[j] {
                busyTaken[j] &+= taken &- lastConsumed[j]
                busyTime[j] += seconds
                if busyTime[j] >= serviceWindow {
                    let sample = Double(busyTaken[j]) / busyTime[j]
                    service[j] = service[j] == 0 ? sample : service[j] * 0.5 + sample * 0.5
                    busyTaken[j] = 0
                    busyTime[j] = 0
                }
            }
            lastConsumed[j] = taken
            wasBusy[j] = busy
        }
        // Calm: no consumer above a quarter of T and the own pool under no pressure, for a while.
        var calm = !view.pressure()
        for j in 0..<consumers where view.backlog(j) > view.threshold / 4 { calm = false }
        calmTicks = calm ? calmTicks + 1 : 0
        guard moveTarget < 0 else { return true }
        if cooldown > 0 { cooldown -= 1; return true }
        if !offloadFromOverloaded(view) && calmTicks >= calmTicksBeforeReturn { returnHome(view) }
        return true
    }

    /// Adds this tick's recorded packets to the loss window and, when the queue's drop
    /// count moved (or the window is full), sets ``offeredScale`` from the window.
    private func updateOfferedScale(_ view: View) {
        var recorded: UInt64 = 0
        for b in 0..<bucketCount { recorded &+= UInt64(arrivals[b]) }
        windowRecorded &+= recorded
        windowTicks += 1
        let dropped = view.dropped()
        guard dropped != lastDropped || windowTicks >= lossWindowTicks else { return }
        let lost = dropped &- lastDropped
        lastDropped = dropped
        if windowRecorded > 0 {
            offeredScale = min(maximumOfferedScale, Double(windowRecorded &+ lost) / Double(windowRecorded))
        } else if lost == 0 {
            offeredScale = 1
        }  // lost with nothing recorded: keep the last factor
        windowRecorded = 0
        windowTicks = 0
    }

    /// Consumer j's capacity for balancing, packets per second: its measured service
    /// (``service``), or the fastest measured one while j has none yet; 1 for every
    /// consumer before any was measured (utilisations are then the raw loads).
    private func capacity(_ j: Int, fastest: Double) -> Double {
        guard fastest > 0 else { return 1 }
        return service[j] > 0 ? service[j] : fastest
    }

    /// Consumer j's utilisation: its load over its ``capacity(_:fastest:)``.
    private func utilisation(_ j: Int, _ view: View, fastest: Double) -> Double {
        view.load(j) / capacity(j, fastest: fastest)
    }

    /// The rate to move from `from` to `to` so that their utilisations meet:
    /// (u_from − u_to) / (1/c_from + 1/c_to); for consumers alike, half the load gap.
    private func meetingRate(_ uFrom: Double, _ cFrom: Double, _ uTo: Double, _ cTo: Double) -> Double {
        (uFrom - uTo) / (1 / cFrom + 1 / cTo)
    }

    /// Moves buckets away from the most utilised overloaded consumer they go to, or
    /// spreads its heaviest. - Returns: `true` if a consumer was overloaded.
    private func offloadFromOverloaded(_ view: View) -> Bool {
        let fastest = fastestService
        var meanU = 0.0
        for j in 0..<consumers { meanU += utilisation(j, view, fastest: fastest) }
        meanU /= Double(consumers)
        // Overloaded: past T, or falling behind with a utilisation well above the mean (before T,
        // so that moves drain short backlogs). The most utilised such consumer first.
        var from = -1
        var worst = -1.0
        for j in 0..<consumers {
            let backlog = view.backlog(j)
            let u = utilisation(j, view, fastest: fastest)
            guard backlog > view.threshold || (backlog > view.behind && u > meanU * 1.1) else { continue }
            guard u > worst, hasBucket(on: j) else { continue }
            from = j
            worst = u
        }
        guard from >= 0 else { return false }
        var to = -1
        var least = 0.0
        for k in 0..<consumers where k != from && view.backlog(k) < view.threshold / 2 {
            let u = utilisation(k, view, fastest: fastest)
            if to < 0 || u < least { to = k; least = u }
        }
        var count = sortedBuckets(on: from)
        guard count > 0 else { return true }
        let heaviest = Int(order[0])
        if !strict, fastest > 0, rate[heaviest] > fastest * 0.9 {
            // No consumer can take it alone: spread it (its chunks go to the shortest
            // backlog, so this needs no buddy with room: when the whole group is
            // overloaded, spreading still shares the excess like chunk offload).
            route[heaviest] = spread
            routeVersion.pointee &+= 1
            owner[heaviest] = UInt16(home)
            movedAt[heaviest] = ticks
            bucketsSpread &+= 1
            cooldown = cooldownTicks
            return true
        }
        guard to >= 0 else { return true }
        let cFrom = capacity(from, fastest: fastest), cTo = capacity(to, fastest: fastest)
        var moveRate = meetingRate(worst, cFrom, least, cTo)
        if worst - least < minimumImbalance * worst {
            // The utilisations meet but the backlogs do not: past T here, under two chunks
            // waiting there (``View/behind``). The service rates measured are off (they
            // are smoothed over busy time, and a consumer's share of a shared core
            // changes with the load), so the overload is not the group's: move a step of
            // ``minimumImbalance`` of the load.
            guard view.backlog(from) > view.threshold && view.backlog(to) < view.behind else { return true }
            moveRate = minimumImbalance * view.load(from)
        }
        count = chooseHeaviest(count, rate: moveRate, margin: 1)
        if count > 0 { startMove(count, to: to) }
        return true
    }

    /// RSS++'s greedy over the `count` buckets in `order` (heaviest first): keeps, in
    /// place at the front, each bucket that does not carry the utilisations past where
    /// they meet (its rate at most what is left of `rate`, the meeting rate, times
    /// `margin`), until `rate` is moved or ``maxBucketsPerMove`` are chosen. (A bucket
    /// between the meeting rate and twice it would narrow the gap too, but make the
    /// target the busier one: the first live elephant runs moved the elephant whole to
    /// a buddy that way, and the buddy's own buckets then moved back and forth.)
    /// - Returns: buckets chosen.
    private func chooseHeaviest(_ count: Int, rate target: Double, margin: Double) -> Int {
        var remaining = target
        var chosen = 0
        var k = 0
        while k < count && chosen < maxBucketsPerMove && remaining > 0 {
            let b = order[k]
            if rate[Int(b)] <= remaining * margin {
                order[chosen] = b
                chosen += 1
                remaining -= rate[Int(b)]
            }
            k += 1
        }
        return chosen
    }

    /// Brings buckets home (hysteresis): only after ``calmTicksBeforeReturn`` calm
    /// ticks, and only while it narrows the gap.
    private func returnHome(_ view: View) {
        // Spread buckets a consumer can serve again settle on home (consumers are alike:
        // the fastest one measured is what any can do).
        let fastest = fastestService
        for b in 0..<bucketCount where route[b] == spread && isResident(b) {
            if fastest == 0 || rate[b] < fastest * 0.7 {
                order[0] = Int32(b)
                startMove(1, to: home)
                return
            }
        }
        let uHome = utilisation(home, view, fastest: fastest)
        var best = -1
        var uBest = uHome
        for j in 0..<consumers where j != home && hasBucket(on: j) {
            let u = utilisation(j, view, fastest: fastest)
            if u > uBest { best = j; uBest = u }
        }
        guard best >= 0 else { return }
        let moveRate = meetingRate(uBest, capacity(best, fastest: fastest), uHome, capacity(home, fastest: fastest))
        // A margin against flapping: a bucket comes back only if it is at most 80% of what is left to move.
        let count = chooseHeaviest(sortedBuckets(on: best), rate: moveRate, margin: 0.8)
        if count > 0 { startMove(count, to: home) }
    }

    /// Packets per second the fastest consumer took while busy (consumers are
    /// alike: what one can do, any can); 0 before any was measured.
    private var fastestService: Double {
        var most = 0.0
        for j in 0..<consumers { most = max(most, service[j]) }
        return most
    }

    private func hasBucket(on j: Int) -> Bool {
        for b in 0..<bucketCount where route[b] == UInt16(j) && rate[b] > 0 { return true }
        return false
    }

    /// Bucket `b` has stayed where its last move (or spread) put it for ``residenceTicks``: it may move again.
    private func isResident(_ b: Int) -> Bool { ticks &- movedAt[b] >= residenceTicks }

    /// Fills `order` with the buckets settled on `j` that carry traffic and may move
    /// (``residenceTicks``), heaviest first.
    private func sortedBuckets(on j: Int) -> Int {
        var count = 0
        for b in 0..<bucketCount where route[b] == UInt16(j) && rate[b] > 0 && isResident(b) {
            order[count] = Int32(b)
            count += 1
        }
        let rates = rate
        var buffer = UnsafeMutableBufferPointer(start: order, count: count)
        buffer.sort { rates[Int($0)] > rates[Int($1)] }
        return count
    }

    /// Begins moving the first `count` buckets of `order` to consumer `to`: held
    /// until the old consumer gave back every packet of them (at once when it holds none).
    private func startMove(_ count: Int, to: Int) {
        precondition(moveTarget < 0, "FlowScheduler: one move at a time")
        moveTarget = to
        draining = 0
        for k in 0..<count where !moving[Int(order[k])] {
            let b = Int(order[k])
            route[b] = held
            routeVersion.pointee &+= 1
            owner[b] = UInt16(to)
            moving[b] = true
            movedAt[b] = ticks
            draining += Int(inflight[b])
            moveBuckets.append(Int32(b))
        }
        bucketMoves &+= UInt64(moveBuckets.count)
    }

    /// Starts a move now (tests, the simulator's policy study): `buckets` to `to`.
    public func move(_ buckets: [Int], to: Int) {
        guard moveTarget < 0 else { return }
        var count = 0
        for b in buckets where route[b] != UInt16(to) && count < bucketCount {
            order[count] = Int32(b)
            count += 1
        }
        startMove(count, to: to)
        if moveBuckets.isEmpty { moveTarget = -1 }
    }

    /// `true` when a move's drain is over (or there was nothing to drain) and held slices wait for release.
    public var readyToRelease: Bool { moveTarget >= 0 && draining == 0 }
}
