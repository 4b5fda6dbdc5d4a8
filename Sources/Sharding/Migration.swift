/// One shard's move from its source instance to a target, make-before-break (pure: events in,
/// actions out; the Migration Engine carries the actions out and feeds back what happened).
///
/// preparing → copying (the target pulls the snapshot) → catchingUp (change tails until the lag
/// is small, or enough rounds) → fencing (the source stops serving the shard: requests are held)
/// → finalCopy (the last changes) → committing (epoch + 1 with compare-and-swap) → committed
/// (held requests go to the target) → dropping (once every router has the epoch) → done.
///
/// A failure before the commit aborts: the source is unfenced, held requests go back to it, and
/// the target drops its copy; the map never changed. After the commit the target owns the shard
/// whatever fails; a source that could not drop its copy drops it when it next sees the epoch.
public struct Migration: Hashable, Sendable {
    public enum Phase: String, Hashable, Sendable, Codable {
        case preparing, copying, catchingUp, fencing, finalCopy, committing, committed, dropping, done, aborted
    }

    public enum Event: Hashable, Sendable {
        case targetPrepared
        /// The target restored the snapshot, which holds the source's changes up to `upTo`.
        case snapshotCopied(upTo: UInt64)
        /// The target applied changes up to `upTo`; the source's log is at `sourceAt`.
        case changesApplied(upTo: UInt64, sourceAt: UInt64)
        /// The source stopped serving the shard; its last change is `sourceAt`.
        case fenced(sourceAt: UInt64)
        case committed
        /// The compare-and-swap lost: the map changed under the migration.
        case commitConflict
        case routersUpdated
        case sourceDropped
        case failed(String)
    }

    public enum Action: Hashable, Sendable {
        case prepareTarget
        case pullSnapshot
        case sendChanges(since: UInt64)
        case fenceSource
        case commit(epoch: UInt64)
        case releaseHeld(to: String)
        case dropSource
        /// Unfence the source (if fenced), release held requests to it, drop the target's copy.
        case abort(reason: String)
        case finish
    }

    public struct Configuration: Hashable, Sendable {
        /// Fence once the tail is at most this many changes behind.
        public var smallTail: UInt64 = 64
        /// Fence after this many catch-up rounds even if the tail is larger (a write-hot shard
        /// must still move; its pause is then longer).
        public var maximumRounds = 8
        /// Final-copy rounds after the fence: the source is fenced and changes nothing, so one
        /// round is normal; a round that brings nothing new, or more than this many, means the
        /// source's numbers are wrong, and the migration aborts rather than hold the shard.
        public var maximumFinalRounds = 3
        public init() {}
    }

    public let shard: UInt32
    public let source: String
    public let target: String
    /// The map's epoch when the migration started; the commit writes `epoch + 1`.
    public let epoch: UInt64
    public let configuration: Configuration
    public private(set) var phase: Phase = .preparing
    /// The target has the source's changes up to here.
    public private(set) var applied: UInt64 = 0
    /// The source's last change when it was fenced.
    public private(set) var fencedAt: UInt64?
    public private(set) var rounds = 0
    public private(set) var finalRounds = 0
    /// Why it aborted, or what failed after the commit.
    public private(set) var failure: String?

    public init(shard: UInt32, source: String, target: String, epoch: UInt64, configuration: Configuration = .init()) throws(MigrationError) {
        guard source != target else { throw MigrationError("target: shard \(shard) is already on \(target)") }
        guard epoch < .max else { throw MigrationError("epoch: exhausted") }
        self.shard = shard
        self.source = source
        self.target = target
        self.epoch = epoch
        self.configuration = configuration
    }

    /// The first actions.
    public func start() -> [Action] { [.prepareTarget] }

    /// Whether the commit happened (the target owns the shard).
    public var isCommitted: Bool { [.committed, .dropping, .done].contains(phase) }
    public var isFinished: Bool { phase == .done || phase == .aborted }

    /// Applies one event. An event that makes no sense in the current phase is refused and
    /// changes nothing.
    public mutating func handle(_ event: Event) throws(MigrationError) -> [Action] {
        switch (phase, event) {
        case (.done, _), (.aborted, _):
            throw MigrationError("the migration is \(phase.rawValue): \(event) ignored")
        case (_, .failed(let reason)):
            failure = reason
            if isCommitted {
                // The target owns the shard: only the source's drop is left, and a source that
                // comes back drops shards the epoch says it does not own.
                phase = .done
                return [.finish]
            }
            phase = .aborted
            return [.abort(reason: reason)]
        case (.preparing, .targetPrepared):
            phase = .copying
            return [.pullSnapshot]
        case (.copying, .snapshotCopied(let upTo)):
            applied = upTo
            phase = .catchingUp
            return [.sendChanges(since: upTo)]
        case (.catchingUp, .changesApplied(let upTo, let sourceAt)):
            guard upTo >= applied, sourceAt >= upTo else { throw MigrationError("changes: applied \(upTo) is behind \(applied) or past the source's \(sourceAt)") }
            applied = upTo
            rounds += 1
            if sourceAt - upTo <= configuration.smallTail || rounds >= configuration.maximumRounds {
                phase = .fencing
                return [.fenceSource]
            }
            return [.sendChanges(since: upTo)]
        case (.fencing, .fenced(let sourceAt)):
            guard sourceAt >= applied else { throw MigrationError("fenced: the source's \(sourceAt) is behind what the target applied (\(applied))") }
            fencedAt = sourceAt
            phase = .finalCopy
            return applied == sourceAt ? commit() : [.sendChanges(since: applied)]
        case (.finalCopy, .changesApplied(let upTo, _)):
            guard let fencedAt, upTo >= applied, upTo <= fencedAt else { throw MigrationError("changes: applied \(upTo) is outside \(applied)...\(fencedAt ?? 0)") }
            finalRounds += 1
            if upTo == fencedAt {
                applied = upTo
                return commit()
            }
            if upTo == applied || finalRounds >= configuration.maximumFinalRounds {
                // The fenced source said its last change is fencedAt, yet its changes stop short.
                let reason = "the fenced source's changes end at \(upTo), short of its last change \(fencedAt) (its app's sequence answer is wrong)"
                failure = reason
                phase = .aborted
                return [.abort(reason: reason)]
            }
            applied = upTo
            return [.sendChanges(since: upTo)]
        case (.committing, .committed):
            phase = .committed
            return [.releaseHeld(to: target)]
        case (.committing, .commitConflict):
            failure = "the shard map changed during the migration"
            phase = .aborted
            return [.abort(reason: failure!)]
        case (.committed, .routersUpdated):
            phase = .dropping
            return [.dropSource]
        case (.dropping, .sourceDropped):
            phase = .done
            return [.finish]
        default:
            throw MigrationError("\(event) does not fit phase \(phase.rawValue)")
        }
    }

    private mutating func commit() -> [Action] {
        phase = .committing
        return [.commit(epoch: epoch + 1)]
    }
}

public struct MigrationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
