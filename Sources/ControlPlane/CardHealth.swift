import BackplaneModel

/// Card liveness and leases on the BMC's side, for every card: the decisions only (events in,
/// transitions out; time is a monotonic `Duration` since any fixed origin, passed in).
///
/// ```
///            link + heartbeats          phi ≥ threshold, or the link closed
///   (new) ───────────────► ready ───────────────────────────► suspect
///                            ▲  ◄───── heartbeat, phi low ────────┘ │
///                            │                                      │ lease surely lapsed
///                            └──────────── re-link ◄──── lost ◄─────┘ (now ≥ expiry + fence margin)
///   draining: no placements; when its lease lapses → removed (re-link → ready).
/// ```
///
/// The lease: every heartbeat the BMC receives at `t` grants the card a lease until `t + lease`.
/// The card measures its own lease from when it *sent* that heartbeat (which is earlier), and its
/// per-container shims fence (kill) its instances when it lapses, also while the card agent is
/// dead or frozen. So once the BMC's `t + lease + fenceMargin` has passed, the card's copies are
/// surely gone and only then does a card become ``Card/State/lost`` (its instances re-placed).
public struct CardHealth: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// How often cards heartbeat (the BMC tells them in every grant).
        public var heartbeatInterval: Duration = .milliseconds(200)
        /// How long one heartbeat keeps a card's instances running without hearing from the BMC.
        public var lease: Duration = .milliseconds(2000)
        /// Time a card's shim needs after its lease lapsed to have killed its containers (shim
        /// poll period + kill), plus clock-rate drift between hosts.
        public var fenceMargin: Duration = .milliseconds(300)
        /// phi at or above which a ready card becomes suspect (no new placements).
        public var suspectPhi: Double = 8
        public var detector: PhiAccrualDetector.Configuration

        public init(heartbeatInterval: Duration = .milliseconds(200), lease: Duration = .milliseconds(2000), fenceMargin: Duration = .milliseconds(300), suspectPhi: Double = 8) {
            self.heartbeatInterval = heartbeatInterval
            self.lease = lease
            self.fenceMargin = fenceMargin
            self.suspectPhi = suspectPhi
            detector = .init(expectedInterval: heartbeatInterval)
        }

        /// The longest time a card's instances can outlive the card's last heartbeat the BMC saw.
        public var lostAfter: Duration { lease + fenceMargin }
    }

    /// One card's state change, with what the detector saw.
    public struct Transition: Sendable, Hashable, CustomStringConvertible {
        public var card: CardID
        public var from: Card.State
        public var to: Card.State
        public var phi: Double
        /// Time since the last heartbeat (nil: none since the BMC started).
        public var heartbeatAge: Duration?
        public var reason: String

        public var description: String {
            let age = heartbeatAge.map { "\(Int(($0.seconds * 1000).rounded())) ms" } ?? "never"
            return "\(card) \(from.rawValue) → \(to.rawValue): \(reason) (phi \(String(format: "%.1f", phi)), last heartbeat \(age) ago)"
        }
    }

    /// What the BMC answers a heartbeat with.
    public struct Grant: Sendable, Hashable {
        public var lease: Duration
        public var heartbeatInterval: Duration
    }

    /// What the BMC shows for a card.
    public struct Status: Sendable, Hashable {
        public var state: Card.State
        public var linked: Bool
        public var phi: Double
        public var heartbeatAge: Duration?
        /// The card's last measured heartbeat round trip.
        public var rtt: Duration?
        /// Until when the BMC must assume the card may still run its instances.
        public var leaseExpiry: Duration
    }

    struct Entry: Sendable {
        var state: Card.State
        var linked: Bool
        var detector: PhiAccrualDetector
        var leaseExpiry: Duration
        var rtt: Duration?
    }

    public let configuration: Configuration
    private(set) var cards: [CardID: Entry] = [:]

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// The BMC (re)started and found these cards in its store. A card that may have held a lease
    /// from an earlier BMC is suspect until it re-links, and lost only once any lease that BMC
    /// could have granted has surely lapsed.
    public mutating func restored(_ stored: [Card], now: Duration) -> [Transition] {
        var out: [Transition] = []
        for card in stored {
            var state = card.state
            if state == .ready || state == .joining {
                out.append(Transition(card: card.id, from: state, to: .suspect, phi: 0, heartbeatAge: nil, reason: "the BMC restarted; waiting for the card to link again"))
                state = .suspect
            }
            cards[card.id] = Entry(state: state, linked: false, detector: PhiAccrualDetector(configuration: configuration.detector),
                                   leaseExpiry: now + configuration.lease, rtt: nil)
        }
        return out
    }

    /// A card's link was established (it joined, or came back).
    public mutating func linked(_ card: CardID, stored: Card.State?, now: Duration) -> Transition? {
        var entry = cards[card] ?? Entry(state: stored ?? .joining, linked: false, detector: PhiAccrualDetector(configuration: configuration.detector), leaseExpiry: now, rtt: nil)
        let from = entry.state
        entry.linked = true
        entry.detector = PhiAccrualDetector(configuration: configuration.detector)
        entry.detector.heartbeatReceived(at: now)
        if entry.state != .draining { entry.state = .ready }
        cards[card] = entry
        return from == entry.state ? nil : Transition(card: card, from: from, to: entry.state, phi: 0, heartbeatAge: .zero, reason: from == .lost || from == .removed ? "linked again" : "linked")
    }

    /// A heartbeat from a card arrived at `now`. Returns the lease grant to answer with (nil for
    /// a card that is not linked: it must link first), and a transition when it recovers.
    public mutating func heartbeatReceived(_ card: CardID, rtt: Duration?, now: Duration) -> (grant: Grant?, transition: Transition?) {
        guard var entry = cards[card], entry.linked else { return (nil, nil) }
        let phi = entry.detector.phi(at: now)
        let age = entry.detector.lastArrival.map { now - $0 }
        entry.detector.heartbeatReceived(at: now)
        entry.leaseExpiry = max(entry.leaseExpiry, now + configuration.lease)
        if let rtt { entry.rtt = rtt }
        var transition: Transition?
        switch entry.state {
        case .suspect, .joining:
            transition = Transition(card: card, from: entry.state, to: .ready, phi: phi, heartbeatAge: age, reason: "heartbeats resumed")
            entry.state = .ready
        case .lost, .removed:
            // Its lease lapsed (its copies were fenced and re-placed) but its link survived, e.g.
            // a card frozen for less than the link timeout: it is an empty card again.
            transition = Transition(card: card, from: entry.state, to: .ready, phi: phi, heartbeatAge: age, reason: "heartbeats resumed after its lease lapsed")
            entry.state = .ready
        default:
            break
        }
        cards[card] = entry
        return (Grant(lease: configuration.lease, heartbeatInterval: configuration.heartbeatInterval), transition)
    }

    /// The card's link closed. Its instances may still run until its lease lapses.
    public mutating func linkClosed(_ card: CardID, now: Duration) -> Transition? {
        guard var entry = cards[card] else { return nil }
        entry.linked = false
        var transition: Transition?
        if entry.state == .ready || entry.state == .joining {
            transition = Transition(card: card, from: entry.state, to: .suspect, phi: entry.detector.phi(at: now), heartbeatAge: entry.detector.lastArrival.map { now - $0 }, reason: "its link closed")
            entry.state = .suspect
        }
        cards[card] = entry
        return transition
    }

    /// An operator drained the card, or it was removed: the state the BMC stored.
    public mutating func stateSet(_ card: CardID, to state: Card.State) {
        cards[card]?.state = state
    }

    /// Forget a card entirely.
    public mutating func forget(_ card: CardID) { cards.removeValue(forKey: card) }

    /// Call often (every ~100 ms): suspicion from phi, and loss once a lease has surely lapsed.
    public mutating func tick(now: Duration) -> [Transition] {
        var out: [Transition] = []
        for id in cards.keys.sorted() {
            var entry = cards[id]!
            let phi = entry.detector.phi(at: now)
            let age = entry.detector.lastArrival.map { now - $0 }
            let lapsed = now >= entry.leaseExpiry + configuration.fenceMargin
            switch entry.state {
            case .ready where lapsed, .joining where lapsed:
                out.append(Transition(card: id, from: entry.state, to: .lost, phi: phi, heartbeatAge: age, reason: "its lease lapsed; its instances are fenced"))
                entry.state = .lost
            case .ready where phi >= configuration.suspectPhi:
                out.append(Transition(card: id, from: .ready, to: .suspect, phi: phi, heartbeatAge: age, reason: "heartbeats are late"))
                entry.state = .suspect
            case .suspect where lapsed:
                out.append(Transition(card: id, from: .suspect, to: .lost, phi: phi, heartbeatAge: age, reason: "its lease lapsed; its instances are fenced"))
                entry.state = .lost
            case .draining where lapsed:
                out.append(Transition(card: id, from: .draining, to: .removed, phi: phi, heartbeatAge: age, reason: "it left while draining"))
                entry.state = .removed
            default:
                break
            }
            cards[id] = entry
        }
        return out
    }

    public func status(of card: CardID, now: Duration) -> Status? {
        guard let e = cards[card] else { return nil }
        return Status(state: e.state, linked: e.linked, phi: e.detector.phi(at: now), heartbeatAge: e.detector.lastArrival.map { now - $0 }, rtt: e.rtt, leaseExpiry: e.leaseExpiry)
    }

    public func state(of card: CardID) -> Card.State? { cards[card]?.state }
}
