import Testing
@testable import Sharding

@Suite struct MigrationTests {
    typealias E = Migration.Event

    @Test func theHappyPathInOrder() throws {
        var m = try Migration(shard: 3, source: "kv-0", target: "kv-1", epoch: 7)
        #expect(m.start() == [.prepareTarget])
        #expect(try m.handle(.targetPrepared) == [.pullSnapshot])
        #expect(try m.handle(.snapshotCopied(upTo: 1000)) == [.sendChanges(since: 1000)])
        #expect(try m.handle(.changesApplied(upTo: 1500, sourceAt: 1800)) == [.sendChanges(since: 1500)])   // tail 300 > 64
        #expect(try m.handle(.changesApplied(upTo: 1800, sourceAt: 1810)) == [.fenceSource])                 // tail 10
        #expect(try m.handle(.fenced(sourceAt: 1812)) == [.sendChanges(since: 1800)])
        #expect(try m.handle(.changesApplied(upTo: 1812, sourceAt: 1812)) == [.commit(epoch: 8)])
        #expect(!m.isCommitted)
        #expect(try m.handle(.committed) == [.releaseHeld(to: "kv-1")])
        #expect(m.isCommitted)
        #expect(try m.handle(.routersUpdated) == [.dropSource])
        #expect(try m.handle(.sourceDropped) == [.finish])
        #expect(m.isFinished && m.phase == .done)
        #expect(throws: MigrationError.self) { try m.handle(.committed) }
    }

    @Test func aWriteHotShardIsFencedAfterTheRoundLimit() throws {
        var m = try Migration(shard: 1, source: "a", target: "b", epoch: 1)
        _ = try m.handle(.targetPrepared)
        _ = try m.handle(.snapshotCopied(upTo: 0))
        for round in 1...8 {
            let actions = try m.handle(.changesApplied(upTo: UInt64(round) * 1000, sourceAt: UInt64(round) * 1000 + 5000))
            #expect(actions == (round < 8 ? [.sendChanges(since: UInt64(round) * 1000)] : [.fenceSource]))
        }
    }

    @Test func aFinalCopyThatNeverReachesTheFencedSequenceAborts() throws {
        // No progress: the source's changes stop short of what it said at the fence.
        var m = try Migration(shard: 1, source: "a", target: "b", epoch: 1)
        _ = try m.handle(.targetPrepared)
        _ = try m.handle(.snapshotCopied(upTo: 10))
        _ = try m.handle(.changesApplied(upTo: 10, sourceAt: 10))
        #expect(try m.handle(.fenced(sourceAt: 20)) == [.sendChanges(since: 10)])
        #expect(try m.handle(.changesApplied(upTo: 15, sourceAt: 15)) == [.sendChanges(since: 15)], "progress: another round")
        guard case .abort = try m.handle(.changesApplied(upTo: 15, sourceAt: 15)).first else { Issue.record("no progress must abort"); return }
        #expect(m.phase == .aborted && m.failure?.contains("short of") == true)
        // Progress every round, but never arriving: the round limit aborts.
        var n = try Migration(shard: 1, source: "a", target: "b", epoch: 1)
        _ = try n.handle(.targetPrepared)
        _ = try n.handle(.snapshotCopied(upTo: 0))
        _ = try n.handle(.changesApplied(upTo: 0, sourceAt: 0))
        _ = try n.handle(.fenced(sourceAt: 100))
        var last: [Migration.Action] = []
        for round in 1...3 { last = try n.handle(.changesApplied(upTo: UInt64(round), sourceAt: UInt64(round))) }
        guard case .abort = last.first else { Issue.record("the final-round limit must abort"); return }
        #expect(!n.isCommitted)
    }

    @Test func outOfOrderEventsAreRefusedAndChangeNothing() throws {
        var m = try Migration(shard: 1, source: "a", target: "b", epoch: 1)
        #expect(throws: MigrationError.self) { try m.handle(.committed) }
        #expect(throws: MigrationError.self) { try m.handle(.fenced(sourceAt: 3)) }
        #expect(m.phase == .preparing)
        _ = try m.handle(.targetPrepared)
        _ = try m.handle(.snapshotCopied(upTo: 100))
        #expect(throws: MigrationError.self) { try m.handle(.changesApplied(upTo: 50, sourceAt: 100)) }   // backwards
        #expect(throws: MigrationError.self) { try m.handle(.changesApplied(upTo: 300, sourceAt: 200)) }  // past the source
        #expect(m.applied == 100 && m.phase == .catchingUp)
        #expect(throws: MigrationError.self) { try Migration(shard: 1, source: "a", target: "a", epoch: 1) }
        #expect(throws: MigrationError.self) { try Migration(shard: 1, source: "a", target: "b", epoch: .max) }
    }

    /// From every phase before the commit a failure aborts; from every phase after it, it does not.
    @Test func failuresAbortBeforeTheCommitOnly() throws {
        let script: [E] = [.targetPrepared, .snapshotCopied(upTo: 10), .changesApplied(upTo: 10, sourceAt: 10), .fenced(sourceAt: 12),
                           .changesApplied(upTo: 12, sourceAt: 12), .committed, .routersUpdated]
        for failAfter in 0...script.count {
            var m = try Migration(shard: 1, source: "a", target: "b", epoch: 1)
            for e in script.prefix(failAfter) { _ = try m.handle(e) }
            let committed = m.isCommitted
            let actions = try m.handle(.failed("card lost"))
            if committed {
                #expect(actions == [.finish] && m.phase == .done, "after \(failAfter) events")
            } else {
                #expect(actions == [.abort(reason: "card lost")] && m.phase == .aborted, "after \(failAfter) events")
            }
        }
        var lost = try Migration(shard: 1, source: "a", target: "b", epoch: 1)
        for e in script.prefix(5) { _ = try lost.handle(e) }
        #expect(try lost.handle(.commitConflict).first.map { if case .abort = $0 { true } else { false } } == true)
    }

    /// A simulated source, target and clients, driven by the machine's actions with random
    /// writes and failures in between: every acknowledged write ends up at the owner the map
    /// names, and the map names the target only after a commit.
    @Test(arguments: 0..<200)
    func acknowledgedWritesAreNeverLost(seed: UInt64) throws {
        var rng = Seeded(state: seed)
        var m = try Migration(shard: 0, source: "src", target: "dst", epoch: 1)
        var sourceLog: [Int] = [], targetLog: [Int] = [], held: [Int] = []
        var acknowledged: [Int] = []
        var fenced = false, owner = "src", nextWrite = 0
        var pending = m.start()
        var steps = 0
        func write() {
            nextWrite += 1
            if owner == "dst" { targetLog.append(nextWrite); acknowledged.append(nextWrite) }
            else if fenced { held.append(nextWrite) }                       // acknowledged when released
            else { sourceLog.append(nextWrite); acknowledged.append(nextWrite) }
        }
        while !m.isFinished && steps < 500 {
            steps += 1
            for _ in 0..<Int.random(in: 0...3, using: &rng) { write() }
            if Int.random(in: 0..<25, using: &rng) == 0 {
                pending = try m.handle(.failed("injected"))
            }
            guard let action = pending.first else { break }
            pending.removeFirst()
            let event: E?
            switch action {
            case .prepareTarget: event = .targetPrepared
            case .pullSnapshot: targetLog = sourceLog; event = .snapshotCopied(upTo: UInt64(sourceLog.count))
            case .sendChanges(let since):
                targetLog += sourceLog[Int(since)...]
                event = .changesApplied(upTo: UInt64(sourceLog.count), sourceAt: UInt64(sourceLog.count))
            case .fenceSource: fenced = true; event = .fenced(sourceAt: UInt64(sourceLog.count))
            case .commit: owner = "dst"; event = Int.random(in: 0..<10, using: &rng) == 0 ? nil : .committed
                if event == nil { owner = "src"; pending = try m.handle(.commitConflict); continue }
            case .releaseHeld(let to):
                #expect(to == "dst")
                targetLog += held; acknowledged += held; held = []; event = .routersUpdated
            case .dropSource: event = .sourceDropped
            case .abort:
                fenced = false
                sourceLog += held; acknowledged += held; held = []
                targetLog = []
                event = nil
            case .finish: event = nil
            }
            if let event { pending += try m.handle(event) }
        }
        #expect(m.isFinished, "seed \(seed): stuck in \(m.phase) after \(steps) steps")
        if m.isCommitted {
            #expect(owner == "dst")
            if held.isEmpty == false { targetLog += held; acknowledged += held }   // released after a late failure
            #expect(Set(acknowledged).isSubset(of: Set(targetLog + sourceLog.prefix(Int(m.fencedAt ?? 0)))), "seed \(seed)")
            #expect(Set(sourceLog).isSubset(of: Set(targetLog)), "seed \(seed): the target has every write the source acknowledged")
        } else {
            #expect(owner == "src" && m.phase == .aborted)
            #expect(Set(acknowledged) == Set(sourceLog), "seed \(seed): after an abort the source has every acknowledged write")
        }
    }
}
