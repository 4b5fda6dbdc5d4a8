import BackplaneModel

/// What the BMC does with a card's report of what it runs (pure). Anything that matches the
/// BMC's records — same instance, same card, same incarnation, not yet ended — is adopted (no
/// restart, same PID); everything else on the card is stopped. In the link report (the first
/// after a card links), an instance the records place there that the card does not run has
/// ended while nobody listened.
public enum Adoption {
    public struct Decision: Hashable, Sendable {
        /// Instances now known to run as reported (were starting, or their PID changed).
        public var adopt: [CardProtocol.RunningInstance] = []
        /// Copies the card must stop: unknown, stale incarnation, or placed elsewhere.
        public var stop: [CardProtocol.RunningInstance] = []
        /// Instances the records say run on this card but that the link report lacks.
        public var missing: [String] = []
        /// Instances the records say are stopping there, which the link report shows are gone.
        public var stopped: [String] = []
        public var isEmpty: Bool { adopt.isEmpty && stop.isEmpty && missing.isEmpty && stopped.isEmpty }
    }

    /// - Parameters:
    ///   - initial: whether this is the link report (the card reports everything it runs).
    ///   - instances: the BMC's records (all of them, or at least every one on this card and
    ///     every one the report names).
    ///   - inFlight: instance ids with a start or stop command on its way (their report may
    ///     predate the command).
    public static func decide(card: CardID, report: [CardProtocol.RunningInstance], initial: Bool, instances: [Instance], inFlight: Set<String>) -> Decision {
        var decision = Decision()
        let byID = Dictionary(instances.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var reported: Set<String> = []
        for running in report.sorted(by: { ($0.id, $0.incarnation) < ($1.id, $1.incarnation) }) {
            reported.insert(running.id)
            guard let record = byID[running.id], record.card == card, record.incarnation == running.incarnation,
                  [.starting, .running, .stopping].contains(record.state) else {
                decision.stop.append(running)
                continue
            }
            if record.state == .starting && !inFlight.contains(record.id) || record.state == .running && record.pid != running.pid {
                decision.adopt.append(running)
            }
        }
        if initial {
            for record in instances.sorted(by: { $0.id < $1.id }) where record.card == card && !reported.contains(record.id) && !inFlight.contains(record.id) {
                switch record.state {
                case .running: decision.missing.append(record.id)
                case .stopping: decision.stopped.append(record.id)
                default: break
                }
            }
        }
        return decision
    }

    /// Whether an exit a card reported applies to the record: same card and incarnation, and
    /// not already ended (exits are repeated in heartbeats; each is applied once).
    public static func applies(_ exit: CardProtocol.InstanceExited, from card: CardID, to record: Instance) -> Bool {
        record.card == card && record.incarnation == exit.incarnation && [.starting, .running, .stopping].contains(record.state)
    }
}
