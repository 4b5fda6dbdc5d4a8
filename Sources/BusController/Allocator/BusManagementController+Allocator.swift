import BackplaneModel
import ClusterStore
import DirectCardLinkNIO
import Foundation
import NIOCore
import Subprocess
import WorkloadBalancer
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What became of an in-place resize sent to a card.
enum ResizeOutcome: Sendable {
    case made
    /// The card answered no (its runtime cannot, or runc failed).
    case refused(String)
    /// No answer (timeout, link closed): it may or may not have been made.
    case unanswered(String)
}

extension BusManagementController {
    /// The next plan from the store's state now, without carrying anything out.
    public func allocatorPlan() async throws -> (plan: Allocator.Plan, forecasts: [AllocatorService.WorkloadForecast], snapshot: Allocator.Snapshot) {
        let state = try await registry.read()
        return plan(state.snapshot, now: Self.wallSeconds())
    }

    func plan(_ bus: Reconciler.Snapshot, now: Double) -> (plan: Allocator.Plan, forecasts: [AllocatorService.WorkloadForecast], snapshot: Allocator.Snapshot) {
        var (snapshot, forecasts) = allocator.snapshot(bus, usage: monitor.latest(now: now), series: { self.monitor.series($0) }, now: now)
        // An instance with a resize on its way is not sized again until the card has answered.
        let resizing = inFlight.withLock { $0 }.filter { $0.hasPrefix("resize:") }
        if !resizing.isEmpty {
            for i in snapshot.instances.indices where resizing.contains("resize:\(snapshot.instances[i].sizing.id)") { snapshot.instances[i].sizing.mode = .off }
        }
        let plan = Allocator.plan(snapshot, settings: allocator.configuration.settings)
        forecasts.sort { $0.workload < $1.workload }
        return (plan, forecasts, snapshot)
    }

    /// One allocator interval, in the control loop: plan, reserve the room of growing resizes
    /// and write replica changes with compare-and-swap; the resize commands go out as actions.
    func allocate() async throws -> [Action] {
        let state = try await registry.read()
        let now = Self.wallSeconds()
        let (plan, _, snapshot) = plan(state.snapshot, now: now)
        var actions: [Action] = []
        var made = plan
        let records = Dictionary(state.snapshot.instances.map { ($0.instance.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (index, r) in plan.resizes.enumerated() where r.applied {
            guard let record = records[r.instance], record.instance.card == r.card,
                  record.instance.state == .running, record.instance.requested == r.from,
                  inFlight.withLock({ $0.insert("resize:\(r.instance)").inserted }) else {
                made.resizes[index].applied = false
                continue
            }
            let reserve = Self.reservation(r.from, r.to)
            if reserve != r.from {
                var next = record
                next.instance.requested = reserve
                // Each row on its own: a store error here must not drop the rows already
                // reserved (their commands are in `actions`) nor leave this one claimed.
                let reserved = (try? await registry.updateInstance(next)) ?? false
                guard reserved else {
                    // Changed since the read, or the store failed: planned again next interval.
                    inFlight.withLock { _ = $0.remove("resize:\(r.instance)") }
                    made.resizes[index].applied = false
                    continue
                }
            }
            actions.append(.resize(r, incarnation: record.instance.incarnation))
        }
        let specs = Dictionary(state.snapshot.workloads.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for s in plan.scales where s.to != s.from {
            guard var spec = specs[s.workload], spec.replicas == s.from, let revision = state.revisions[Registry.workloadKey(s.workload)] else { continue }
            spec.replicas = s.to
            do {
                if try await registry.store.compareAndSwap(Registry.workloadKey(s.workload), expecting: revision, try Registry.encode(spec)) != nil {
                    record("allocator.scale", "\(s.workload): replicas \(s.from) → \(s.to): \(s.reason)", tenant: spec.tenant)
                    logger.notice("allocator scaled", metadata: ["workload": "\(s.workload)", "from": "\(s.from)", "to": "\(s.to)", "reason": "\(s.reason)"])
                }
            } catch {
                logger.error("replica change not written; planned again next interval", metadata: ["workload": "\(s.workload)", "error": "\(error)"])
            }
        }
        allocator.remember(made, workloads: snapshot.workloads, now: now)
        allocator.forget(allBut: Set(state.snapshot.instances.map(\.instance.id)))
        // What is planned but not made is said once, when it first appears.
        var lines: [String: (kind: String, message: String, tenant: String?)] = [:]
        // Keyed by instance, direction and why it is held (not by size: a recommendation that
        // drifts a little every interval is not news).
        for r in made.resizes where !r.applied {
            let tenant = InstanceRecord.tenant(ofInstance: r.instance)
            let direction = VerticalPlanner.grows(r.from, r.to) ? "up" : "down"
            let why = r.held.map { $0.hasPrefix("card") ? "card full" : $0.hasPrefix("churn") ? "churn" : $0 } ?? ""
            lines["resize \(r.instance) \(direction) \(why)"] = (r.held == VerticalPlanner.recommendOnly ? "allocator.recommend" : "allocator.held",
                                                                      "\(r.instance) on \(r.card): \(r.reason)\(r.held.map { " — not made: \($0)" } ?? "")", tenant)
        }
        for m in made.moves {
            lines["move \(m.instance) \(m.to)"] = ("allocator.move-planned", "\(m.instance): \(m.from) → \(m.to): \(m.reason) — \(m.held ?? "")", InstanceRecord.tenant(ofInstance: m.instance))
        }
        for c in made.idleCards {
            lines["idle \(c.card)"] = ("allocator.card-idle", "\(c.card) (\(c.name)) runs nothing and nothing waits for room: it can be released", nil)
        }
        if let c = made.cardRequest {
            lines["cards \(c.count)"] = ("allocator.card-request", c.count > 0 ? "\(c.count) more card(s) of \(c.shape) needed: \(c.reason)" : c.reason, nil)
        }
        if let provisioner = allocator.configuration.provisioner {
            for call in allocator.provisionerCalls(made, now: now) { actions.append(.provision(provisioner, call)) }
        }
        for line in allocator.fresh(lines) { record(line.kind, line.message, tenant: line.tenant) }
        return actions
    }

    /// Runs the provisioner hook (no shell; 60 s, then killed) and says how it went.
    func runProvisioner(_ executable: String, _ arguments: [String]) async {
        let line = ([executable] + arguments).joined(separator: " ")
        let outcome: String = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                var options = PlatformOptions()
                options.teardownSequence = [.send(signal: .kill, allowedDurationToNextStep: .seconds(1))]
                do {
                    let result = try await Subprocess.run(.path(FilePath(executable)), arguments: Arguments(arguments), platformOptions: options,
                                                          output: .string(limit: 4096), error: .string(limit: 4096))
                    let output = (result.standardOutput + result.standardError).trimmingCharacters(in: .whitespacesAndNewlines)
                    let status: String
                    switch result.terminationStatus {
                    case .exited(let code): status = "exited with \(code)"
                    case .signaled(let signal): status = "killed by signal \(signal)"
                    }
                    return status + (output.isEmpty ? "" : ": \(output.prefix(300))")
                } catch {
                    return "could not run: \(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? "did not finish within 60 s: killed"
        }
        record("allocator.provisioner", "\(line): \(outcome)")
        logger.notice("provisioner ran", metadata: ["command": "\(line)", "outcome": "\(outcome)"])
    }

    /// What a resize holds while it is on its way: the larger of before and after, per resource.
    static func reservation(_ from: Resources, _ to: Resources) -> Resources {
        var r = from
        r.cpuMillis = max(from.cpuMillis, to.cpuMillis)
        r.memoryBytes = max(from.memoryBytes, to.memoryBytes)
        return r
    }

    func sendResize(_ resize: VerticalPlanner.Resize, incarnation: UInt64) async {
        var failure: String?
        var refused = false
        do {
            let body = ByteBuffer(bytes: try JSONEncoder().encode(CardProtocol.ResizeInstance(id: resize.instance, incarnation: incarnation, resources: resize.to)))
            _ = try await node.command(to: resize.card, name: CardProtocol.resizeInstance, body: body, timeout: .seconds(30))
        } catch let error as DCLError where error.status == .handlerFailed || error.status == .noSuchEndpoint {
            failure = "\(error)"
            refused = true
        } catch {
            failure = "\(error)"
        }
        sink.yield(.resized(resize, incarnation: incarnation, outcome: failure.map { refused ? .refused($0) : .unanswered($0) } ?? .made))
    }

    /// The card's answer: the record takes the new size (or goes back to the old one).
    /// A refused resize gives its reservation back; an unanswered one keeps it (the larger of
    /// both sizes: right whether or not the card made it) until a later resize settles it.
    func finishResize(_ r: VerticalPlanner.Resize, incarnation: UInt64, outcome: ResizeOutcome) async throws {
        defer { inFlight.withLock { _ = $0.remove("resize:\(r.instance)") } }
        let tenant = InstanceRecord.tenant(ofInstance: r.instance)
        let reserved = Self.reservation(r.from, r.to)
        let size: Resources
        switch outcome {
        case .made: size = r.to
        case .refused: size = r.from
        case .unanswered: size = reserved
        }
        try await updateInstance(r.instance) { record in
            guard record.instance.incarnation == incarnation, record.instance.card == r.card, record.instance.requested == reserved, size != reserved else { return false }
            record.instance.requested = size
            return true
        }
        switch outcome {
        case .refused(let error), .unanswered(let error):
            record("allocator.resize-failed", "\(r.instance) on \(r.card): \(r.from) → \(r.to) not made: \(error.prefix(300))", tenant: tenant)
            logger.warning("resize failed", metadata: ["instance": "\(r.instance)", "card": "\(r.card)", "error": "\(error)"])
        case .made:
            record("allocator.resize", "\(r.instance) on \(r.card): \(r.reason)", tenant: tenant)
            logger.notice("allocator resized", metadata: ["instance": "\(r.instance)", "card": "\(r.card)", "to": "\(r.to)", "reason": "\(r.reason)"])
        }
    }
}
