import BackplaneModel
import DirectCardLink
import DirectCardLinkNIO
import Foundation
import NIOCore
import Sharding

/// The Migration Engine: carries out `Sharding.Migration`'s actions with the source's and the
/// target's shard hosts and feeds back what happened (docs/sharding.md has the steps).
extension ShardService {
    public struct MigrationStep: Codable, Hashable, Sendable {
        public var phase: String
        public var milliseconds: Double
        public var detail: String?
    }

    public struct MigrationReport: Codable, Hashable, Sendable {
        public var workload: String
        public var shard: UInt32
        public var from: String
        public var to: String
        public var fromCard: CardID?
        public var toCard: CardID?
        /// `done` or `aborted`.
        public var outcome: String
        public var reason: String?
        public var epoch: UInt64
        public var bytes: UInt64
        /// From the fence to the release of held requests: how long the shard's requests waited.
        public var pauseMilliseconds: Double?
        /// Why this target, when the engine chose it (balance, link bandwidth and use).
        public var choice: String?
        public var totalMilliseconds: Double
        public var steps: [MigrationStep]
    }

    public struct MigrationRefused: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    /// Where a migration may go: the workload's running instances, by card.
    func target(for workload: String, shard: UInt32, card: CardID?, instance: String?) async throws -> (source: String, target: String, choice: String?) {
        guard let map = try await maps()[workload]?.map else { throw MigrationRefused(message: "\(workload) is not a sharded workload (or has no replicas yet)") }
        guard let current = map.shard(id: shard) else {
            throw MigrationRefused(message: "shard: \(workload) has no shard \(shard) (its shards: \(map.shards.map { String($0.id) }.joined(separator: ", ")))")
        }
        let placements = state.withLock { $0.placements }
        let running = placements.filter { Self.isInstance($0.key, of: workload) }
        let target: String
        var choice: String?
        if let instance {
            guard running[instance] != nil else { throw MigrationRefused(message: "to: instance \(instance) of \(workload) is not running") }
            target = instance
        } else if let card {
            let there = running.filter { $0.value == card }.map(\.key).sorted()
            guard let first = there.first(where: { $0 != current.owner }) ?? there.first else {
                throw MigrationRefused(message: "to: no instance of \(workload) runs on card \(card) (they run on \(Set(running.values).map(\.description).sorted().joined(separator: ", ")))")
            }
            target = first
        } else {
            // Balance, then the fastest copy (TargetChoice), from the shard's size on its card.
            guard let sourceCard = running[current.owner] else { throw MigrationRefused(message: "the owner \(current.owner) is not running: nothing to copy from") }
            let counts = Dictionary(map.shards.map { ($0.owner, 1) }, uniquingKeysWith: +)
            let (links, use) = state.withLock { ($0.links, $0.linkUse) }
            func link(_ card: CardID) -> TargetChoice.Link { TargetChoice.Link(bitsPerSecond: links[card] ?? 0, useBitsPerSecond: use[card] ?? 0) }
            // Never an instance on the owner's own card (see below).
            let candidates = running.filter { $0.key != current.owner && $0.value != sourceCard }.map { TargetChoice.Candidate(instance: $0.key, card: $0.value.description, link: link($0.value), shards: counts[$0.key] ?? 0) }
            let stats = try? await node.command(to: sourceCard, name: ShardProtocol.stats, timeout: .seconds(2))
            let bytes = stats.flatMap { try? JSONDecoder().decode(ShardProtocol.Stats.self, from: Data($0.readableBytesView)) }?
                .shards.first { $0.workload == workload && $0.shard == shard && $0.instance == current.owner }?.bytes ?? nil ?? 0
            guard let chosen = TargetChoice.choose(bytes: bytes, source: (sourceCard.description, link(sourceCard)), candidates: candidates) else {
                throw MigrationRefused(message: "to: \(workload) has no running instance on another card than the owner's (\(sourceCard)) to move shard \(shard) to")
            }
            target = chosen.instance
            choice = chosen.reason
        }
        guard target != current.owner else { throw MigrationRefused(message: "to: shard \(shard) is already on \(target)") }
        // A card's shard host keeps one state per shard (fence, copy, region): a source and a
        // target on one card would share it.
        if let here = running[current.owner], running[target] == here {
            throw MigrationRefused(message: "to: \(target) runs on the owner's card \(here); a migration between two instances on one card is not supported (choose an instance on another card)")
        }
        return (current.owner, target, choice)
    }

    /// Whether `id` is an instance of `workload` (`<tenant>/<name>`): its id for some ordinal,
    /// never one of `kv-cache` for `kv`, nor of tenant `kv-x`.
    static func isInstance(_ id: String, of workload: String) -> Bool {
        let parts = workload.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return false }
        let prefix = String(InstanceRecord.id(tenant: parts[0], workload: parts[1], ordinal: 0).dropLast(1))
        guard id.hasPrefix(prefix) else { return false }
        let ordinal = id.dropFirst(prefix.count)
        guard !ordinal.isEmpty, ordinal.allSatisfy(\.isASCII), let n = Int(ordinal), n >= 0 else { return false }
        return id == InstanceRecord.id(tenant: parts[0], workload: parts[1], ordinal: n)
    }

    /// Moves shard `shard` of `workload` to `target` (an instance of it), make-before-break.
    /// Returns when it is done or aborted; throws ``MigrationRefused`` when it cannot start.
    public func migrate(workload: String, shard: UInt32, toCard card: CardID? = nil, toInstance instance: String? = nil) async throws -> MigrationReport {
        let (source, target, choice) = try await target(for: workload, shard: shard, card: card, instance: instance)
        guard let entry = try await maps()[workload] else { throw MigrationRefused(message: "\(workload) has no shard map") }
        // The map may have moved on since the target was chosen (another migration finished).
        guard entry.map.shard(id: shard)?.owner == source else { throw MigrationRefused(message: "shard \(shard) of \(workload) changed owner while this migration was being set up; ask again") }
        let placements = state.withLock { $0.placements }
        guard let sourceCard = placements[source] else { throw MigrationRefused(message: "the owner \(source) is not running: nothing to copy from") }
        guard let targetCard = placements[target] else { throw MigrationRefused(message: "to: \(target) is not running") }
        let started = state.withLock { $0.migrating[workload, default: []].insert(shard).inserted }
        guard started else { throw MigrationRefused(message: "shard \(shard) of \(workload) is already moving") }
        defer {
            state.withLock { s in
                s.migrating[workload]?.remove(shard)
                if s.migrating[workload]?.isEmpty == true { s.migrating[workload] = nil }
            }
        }
        let tenant = workload.split(separator: "/").first.map(String.init)
        let clock = ContinuousClock()
        let begin = clock.now
        var report = MigrationReport(workload: workload, shard: shard, from: source, to: target, fromCard: sourceCard, toCard: targetCard, outcome: "done", epoch: entry.map.epoch, bytes: 0, choice: choice, totalMilliseconds: 0, steps: [])
        var migration = try Migration(shard: shard, source: source, target: target, epoch: entry.map.epoch)
        var pending = migration.start()
        var fencedAt: ContinuousClock.Instant?
        var targetLearns: Task<Void, Never>?
        guard let range = entry.map.shard(id: shard) else { throw MigrationRefused(message: "shard: \(workload) has no shard \(shard)") }
        var sourceStep = ShardProtocol.Step(workload: workload, shard: shard, instance: source, peer: targetCard, peerInstance: target)
        var targetStep = ShardProtocol.Step(workload: workload, shard: shard, instance: target, peer: sourceCard, peerInstance: source)
        // The range cannot change while the shard moves (a split or merge waits for it).
        (sourceStep.lower, sourceStep.upper, targetStep.lower, targetStep.upper) = (range.lower, range.upper, range.lower, range.upper)
        record("shard.migration", "\(workload) shard \(shard): \(source) (\(sourceCard)) → \(target) (\(targetCard)) starts\(choice.map { "; chosen: \($0)" } ?? "")", tenant)

        func command(_ card: CardID, _ name: String, _ step: ShardProtocol.Step, timeout: Duration = .seconds(30)) async throws -> ByteBuffer {
            var step = step
            step.issued = issue()
            return try await node.command(to: card, name: name, body: ByteBuffer(bytes: try JSONEncoder().encode(step)), timeout: timeout)
        }
        func decode<T: Decodable>(_ type: T.Type, _ b: ByteBuffer) throws -> T { try JSONDecoder().decode(T.self, from: Data(b.readableBytesView)) }
        func millis(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

        while !pending.isEmpty {
            let action = pending.removeFirst()
            let stepStart = clock.now
            var event: Migration.Event?
            var detail: String?
            do {
                switch action {
                case .prepareTarget:
                    _ = try await command(targetCard, ShardProtocol.prepare, targetStep)
                    event = .targetPrepared
                case .pullSnapshot:
                    let snapshot = try decode(ShardProtocol.Snapshot.self, try await command(sourceCard, ShardProtocol.snapshot, sourceStep, timeout: .seconds(120)))
                    var pull = ShardProtocol.Pull(step: targetStep, snapshot: snapshot, bytesPerSecond: copyRate)
                    pull.step.issued = issue()
                    let progress = try decode(ShardProtocol.Progress.self, try await node.command(to: targetCard, name: ShardProtocol.pull, body: ByteBuffer(bytes: try JSONEncoder().encode(pull)), timeout: .seconds(300)))
                    report.bytes += progress.bytes
                    detail = "\(progress.bytes) bytes up to change \(snapshot.sequence)"
                    event = .snapshotCopied(upTo: snapshot.sequence)
                case .sendChanges:
                    let progress = try decode(ShardProtocol.Progress.self, try await command(targetCard, ShardProtocol.catchUp, targetStep, timeout: .seconds(60)))
                    report.bytes += progress.bytes
                    detail = "up to change \(progress.sequence) (\(progress.bytes) bytes)"
                    event = .changesApplied(upTo: progress.sequence, sourceAt: progress.sourceSequence ?? progress.sequence)
                case .fenceSource:
                    fencedAt = clock.now
                    let progress = try decode(ShardProtocol.Progress.self, try await command(sourceCard, ShardProtocol.fence, sourceStep))
                    detail = "last change \(progress.sequence)"
                    event = .fenced(sourceAt: progress.sequence)
                case .commit:
                    // Onto the map as it is now: other shards may have moved, split or merged
                    // meanwhile; this one (its range and owner) cannot have, unless something
                    // outside this service wrote the map: then it is a conflict.
                    switch try await commitMap(workload, expecting: range, { map throws(ShardMapError) in try map.reassigning(shard, to: target) }) {
                    case .some(let next):
                        report.epoch = next.epoch
                        // The BMC routes to the new owner at once; the new owner's card learns
                        // while the source releases what it held. A request that reaches the
                        // target before its map waits for it there (a newer epoch than it knows).
                        refreshTable()
                        if let a = issuedAssignment(workload) {
                            targetLearns = Task { try? await self.send(a, to: targetCard) }
                        }
                        event = .committed
                    case .none:
                        event = .commitConflict
                    }
                case .releaseHeld:
                    var step = sourceStep
                    step.epoch = report.epoch
                    _ = try? await command(sourceCard, ShardProtocol.commit, step, timeout: .seconds(5))
                    if let fencedAt { report.pauseMilliseconds = millis(clock.now - fencedAt) }
                    await targetLearns?.value
                    // Every router (every card) gets the new epoch before the source drops.
                    let linked = linkedCards()
                    if let a = issuedAssignment(workload) {
                        await withTaskGroup(of: Void.self) { group in
                            for card in linked where card != targetCard {
                                group.addTask { try? await self.send(a, to: card) }
                            }
                        }
                    }
                    event = .routersUpdated
                case .dropSource:
                    _ = try? await command(sourceCard, ShardProtocol.drop, sourceStep)
                    event = .sourceDropped
                case .abort(let reason):
                    report.outcome = "aborted"
                    report.reason = reason
                    _ = try? await command(targetCard, ShardProtocol.abort, targetStep, timeout: .seconds(10))
                    _ = try? await command(sourceCard, ShardProtocol.abort, sourceStep, timeout: .seconds(10))
                case .finish:
                    break
                }
            } catch {
                event = .failed("\(action): \(error)")
            }
            let step = MigrationStep(phase: Self.name(action), milliseconds: millis(clock.now - stepStart), detail: detail)
            report.steps.append(step)
            if case .finish = action {} else {
                let outcome = event.map { if case .failed(let why) = $0 { return " failed: \(why)" } else { return "" } } ?? ""
                record("shard.migration.step", "\(workload) shard \(shard) \(step.phase): \(String(format: "%.2f", step.milliseconds)) ms\(detail.map { "; \($0)" } ?? "")\(outcome)", tenant)
            }
            if let event {
                do {
                    pending += try migration.handle(event)
                } catch {
                    pending += (try? migration.handle(.failed("\(error)"))) ?? []
                }
            }
        }
        report.totalMilliseconds = millis(clock.now - begin)
        if report.outcome == "done", migration.failure == nil {
            record("shard.migrated", "\(workload) shard \(shard): \(source) → \(target) at epoch \(report.epoch); \(report.bytes) bytes; paused \(String(format: "%.2f", report.pauseMilliseconds ?? 0)) ms; \(String(format: "%.0f", report.totalMilliseconds)) ms in all", tenant)
        } else if report.outcome == "done" {
            report.reason = migration.failure
            record("shard.migrated", "\(workload) shard \(shard): \(target) owns it at epoch \(report.epoch); after the commit: \(migration.failure ?? "")", tenant)
        } else {
            record("shard.migration.aborted", "\(workload) shard \(shard): \(source) → \(target) aborted: \(report.reason ?? "?")", tenant)
        }
        return report
    }

    /// Writes `change` of the workload's current map with compare-and-swap, as long as the shard
    /// `expecting` names is still exactly that (range and owner); a write that lost a race with
    /// another change of the map is made again on the newer map. Returns the map written, or nil
    /// when the shard changed. An error from the store is decided by reading the map back: the
    /// write may have landed.
    func commitMap(_ workload: String, expecting: ShardMap.Shard, _ change: (ShardMap) throws(ShardMapError) -> ShardMap) async throws -> ShardMap? {
        for _ in 0..<8 {
            guard let current = try await maps()[workload], current.map.shard(id: expecting.id) == expecting else { return nil }
            let next = try change(current.map)
            do {
                if try await store(next, expecting: current.revision) { return next }
            } catch {
                state.withLock { $0.maps = nil }
                if (try? await maps()[workload]?.map) == next { return next }
                throw error
            }
        }
        return nil
    }

    /// The workload's assignment now, issued under the lock (see ``push(to:only:)``).
    func issuedAssignment(_ workload: String) -> ShardProtocol.Assignment? {
        state.withLock { s in
            guard var a = assignment(workload, s) else { return nil }
            a.issued = issue()
            return a
        }
    }

    static func name(_ action: Migration.Action) -> String {
        switch action {
        case .prepareTarget: return "prepare"
        case .pullSnapshot: return "snapshot"
        case .sendChanges: return "catch-up"
        case .fenceSource: return "fence"
        case .commit: return "commit"
        case .releaseHeld: return "release"
        case .dropSource: return "drop"
        case .abort: return "abort"
        case .finish: return "finish"
        }
    }
}
