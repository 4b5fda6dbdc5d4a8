import BackplaneModel
import DirectCardLinkNIO
import Foundation
import Hummingbird
import NIOCore
import WorkloadBalancer

extension APIServer {
    /// What the BMC knows about usage and placement: `GET /v1/metrics` (every instance's latest
    /// usage), and per workload its metrics, forecast and placement explanation.
    /// Scoped like every read: another tenant's workload is 404, another tenant's list 403.
    func insightRoutes() -> RouteCollection<APIRequestContext> {
        let routes = RouteCollection(context: APIRequestContext.self)
        routes.get("metrics") { request, context in
            let scope = try Self.listScope(request, context, .read, "read metrics")
            let latest = self.bmc.monitor.latest(now: BusManagementController.wallSeconds())
            return try Self.encode(latest.filter { usage in scope.map { usage.point.workload.hasPrefix($0 + "/") } ?? true })
        }
        routes.get("workloads/:name/metrics") { request, context in
            let (tenant, name) = try await self.existingWorkload(request, context)
            let series = self.bmc.monitor.series(WorkloadSpec.key(tenant: tenant, name: name))
            var since = -Double.infinity
            if let text = request.uri.queryParameters["since"] {
                guard let value = Double(String(text)), value.isFinite else {
                    throw APIError(.badRequest, "since: '\(Quantity.excerpt(String(text)))' is not a time in seconds since 1970", details: ["since": "is not a time in seconds since 1970"])
                }
                since = value
            }
            let key = WorkloadSpec.key(tenant: tenant, name: name)
            return try Self.encode(WorkloadMetrics(
                workload: key, stepSeconds: self.bmc.monitor.configuration.step,
                points: (series?.points ?? []).filter { $0.time > since },
                minutes: (series?.minutes ?? []).filter { $0.time > since },
                instances: self.bmc.monitor.latest(now: BusManagementController.wallSeconds()).filter { $0.point.workload == key }))
        }
        routes.get("workloads/:name/forecast") { request, context in
            let (tenant, name) = try await self.existingWorkload(request, context)
            let key = WorkloadSpec.key(tenant: tenant, name: name)
            let configuration = self.bmc.monitor.configuration
            let horizon = try Self.parseHorizon(request.uri.queryParameters["horizon"].map(String.init) ?? "5m", allowed: configuration.horizons)
            let quantiles = try Self.parseQuantiles(request.uri.queryParameters["quantiles"].map(String.init) ?? "0.5,0.9,0.99")
            let series = self.bmc.monitor.series(key)
            let limits = series?.forecast(horizon: horizon, quantiles: quantiles) ?? []
            let limit = series?.limit(horizon: horizon)
            let observed = series?.observed ?? 0
            let historyPoints = Int(Double(horizon.seconds) / configuration.step)
            return try Self.encode(WorkloadForecast(
                workload: key, horizon: horizon.description, horizonSeconds: horizon.seconds, stepSeconds: configuration.step,
                model: configuration.model.rawValue, observedPoints: observed,
                limit: observed == 0 ? nil : limit.map { .init(quantile: configuration.quantile, cpuMillicores: $0.cpuMillicores, memoryBytes: $0.memoryBytes) },
                quantiles: observed == 0 ? [] : limits.map { .init(quantile: $0.quantile, cpuMillicores: $0.cpuMillicores, memoryBytes: $0.memoryBytes) },
                history: Array((series?.points ?? []).suffix(max(historyPoints, 30))),
                message: observed == 0 ? "no usage received yet: points arrive every \(Int(configuration.step)) s from running instances" : nil))
        }
        routes.get("workloads/:name/explain") { request, context in
            let (tenant, name) = try await self.existingWorkload(request, context)
            return try Self.encode(try await self.explain(tenant: tenant, name: name))
        }
        // The Resource Allocator's next plan, not applied. Scoped: a tenant's caller sees its
        // own workloads' rows; idle cards and card requests are bus-wide (bus-admin only).
        routes.get("plan") { request, context in
            let scope = try Self.listScope(request, context, .read, "read the allocator's plan")
            let (plan, forecasts, _) = try await self.bmc.allocatorPlan()
            return try Self.encode(Self.report(plan, forecasts: forecasts, scope: scope, interval: self.bmc.configuration.allocator.interval))
        }
        return routes
    }

    public struct WorkloadMetrics: Codable, Sendable {
        /// `<tenant>/<name>`.
        public var workload: String
        public var stepSeconds: Double
        /// The last hour at full resolution (CPU and memory summed over instances).
        public var points: [WorkloadSeries.Point]
        /// 1-minute means (the last day; survives BMC restarts).
        public var minutes: [WorkloadSeries.Point]
        /// Each instance's latest point.
        public var instances: [Monitor.InstanceUsage]
    }

    public struct WorkloadForecast: Codable, Sendable {
        public struct Limit: Codable, Sendable {
            public var quantile: Double
            public var cpuMillicores: Double
            public var memoryBytes: Double
        }
        public var workload: String
        public var horizon: String
        public var horizonSeconds: Int
        public var stepSeconds: Double
        public var model: String
        /// Points the models have seen; forecasts from few points are rough.
        public var observedPoints: Int
        /// The models' limit for the horizon (what the balancer would size for).
        public var limit: Limit?
        /// Per quantile q, the usage the workload's peak over the horizon stays under with
        /// probability q (the limit scaled by this workload's past peak-to-limit ratios).
        public var quantiles: [Limit]
        /// Recent points (at least the horizon's length, at least 30).
        public var history: [WorkloadSeries.Point]
        public var message: String?
    }

    /// Why a workload's instance goes where it goes, or nowhere: for its first pending instance,
    /// else for one more replica (nothing is committed).
    public struct WorkloadExplanation: Codable, Sendable {
        public struct ClassVerdict: Codable, Sendable {
            public var cards: Int
            public var example: CardID
            public var exampleName: String
            /// Empty when these cards fit.
            public var refusals: [String]
            public var score: Double?
        }
        public struct ScoredCard: Codable, Sendable {
            public var card: CardID
            public var name: String
            public var score: Double
            public var breakdown: [String: Double]
        }
        public var workload: String
        /// The instance explained, or `<name>-<n>` for a would-be replica.
        public var instance: String
        public var hypothetical: Bool
        public var policy: String
        public var requested: Resources
        public var gpu: GPUDemand?
        /// `place on <card>` or the pending reason.
        public var decision: String
        public var cards: Int
        public var feasibleCards: Int
        public var refusedBy: [String: Int]
        public var classes: [ClassVerdict]
        public var top: [ScoredCard]
        /// What the Resource Allocator's next plan does with it.
        public var allocator: AllocatorView?
    }

    /// The plan as a caller in `scope` (nil: every tenant) may see it.
    static func report(_ plan: Allocator.Plan, forecasts: [AllocatorService.WorkloadForecast], scope: String?, interval: Duration?) -> AllocatorService.Report {
        func mine(instance: String) -> Bool { scope.map { InstanceRecord.tenant(ofInstance: instance) == $0 } ?? true }
        func mine(workload: String) -> Bool { scope.map { workload.hasPrefix($0 + "/") } ?? true }
        return AllocatorService.Report(
            time: BusManagementController.wallClock(), intervalSeconds: interval.map { Double($0.components.seconds) },
            resizes: plan.resizes.filter { mine(instance: $0.instance) }, scales: plan.scales.filter { mine(workload: $0.workload) },
            moves: plan.moves.filter { mine(instance: $0.instance) }, idleCards: scope == nil ? plan.idleCards : [],
            cardRequest: scope == nil ? plan.cardRequest : nil, consolidated: scope == nil ? plan.consolidated : nil,
            forecasts: forecasts.filter { mine(workload: $0.workload) })
    }

    /// The allocator's view of one workload (part of `explain`).
    public struct AllocatorView: Codable, Sendable {
        public var vertical: String
        public var autoscale: Autoscale?
        public var forecast: AllocatorService.WorkloadForecast?
        public var resizes: [VerticalPlanner.Resize]
        public var scale: Allocator.Scale?
        public var moves: [Allocator.Move]
    }

    func explain(tenant: String, name: String) async throws -> WorkloadExplanation {
        let state = try await bmc.registry.read()
        guard let spec = state.snapshot.workloads.first(where: { $0.tenant == tenant && $0.name == name }) else {
            throw APIError(.notFound, "no workload '\(name)' in tenant '\(tenant)'")
        }
        let mine = state.snapshot.instances.filter { $0.workloadKey == spec.key }
        let pending = mine.filter { $0.instance.state == .pending }.min { $0.ordinal < $1.ordinal }
        let instance = pending?.instance ?? InstanceRecord(spec: spec, ordinal: (mine.map(\.ordinal).max() ?? -1) + 1).instance
        let policy = bmc.reconciler.policy
        var engine = Reconciler.engine(for: state.snapshot.cards, holding: state.snapshot.instances.filter { $0.instance.holdsResources }, policy: policy, quotas: state.snapshot.quotas)
        let e = engine.explain(Reconciler.demand(instance), top: 5)
        let decision: String
        switch e.decision {
        case .place(let p): decision = "place on \(p.card)" + (state.snapshot.cards.first { $0.id == p.card }.map { " (\($0.name))" } ?? "")
        case .pending(let why): decision = "pending: \(why)"
        }
        return WorkloadExplanation(
            workload: spec.key, instance: instance.id, hypothetical: pending == nil, policy: policy.name, requested: instance.requested, gpu: instance.gpu,
            decision: decision, cards: e.cards, feasibleCards: e.feasibleCards,
            refusedBy: Dictionary(uniqueKeysWithValues: e.refusedBy.map { ($0.key.description, $0.value) }),
            classes: e.classes.map { .init(cards: $0.cards, example: $0.example, exampleName: $0.exampleName, refusals: $0.refusals.map(\.description), score: $0.score) },
            top: e.top.map { .init(card: $0.card, name: $0.name, score: $0.score, breakdown: $0.breakdown) },
            allocator: allocatorView(spec, bus: state.snapshot))
    }

    func allocatorView(_ spec: WorkloadSpec, bus: Reconciler.Snapshot) -> AllocatorView {
        let (plan, forecasts, _) = bmc.plan(bus, now: BusManagementController.wallSeconds())
        let ids = Set(bus.instances.filter { $0.workloadKey == spec.key }.map(\.instance.id))
        return AllocatorView(vertical: (spec.vertical ?? .recommend).rawValue, autoscale: spec.autoscale, forecast: forecasts.first { $0.workload == spec.key },
                             resizes: plan.resizes.filter { ids.contains($0.instance) }, scale: plan.scales.first { $0.workload == spec.key },
                             moves: plan.moves.filter { ids.contains($0.instance) })
    }
}
