import BackplaneModel
import Foundation

/// An instance as the BMC stores it: the public ``Instance`` plus bookkeeping.
public struct InstanceRecord: Hashable, Sendable, Codable {
    public var instance: Instance
    /// Position among the workload's replicas (see ``id(tenant:workload:ordinal:)``).
    public var ordinal: Int
    public var image: String
    public var command: [String]
    public var liveness: Probe?
    public var readiness: Probe?
    public var placedAt: Instant?
    public var exitedAt: Instant?
    /// When an exited instance is due to restart (after backoff).
    public var restartAt: Instant?
    /// Store revision this record was read at (not stored; set by the registry).
    public var modRevision: Int64 = 0

    /// No `env`: it comes from the workload's spec when the start is sent, so its secrets are
    /// stored once, in the spec, and are gone when the spec is (records from older versions
    /// that carry it are read without it).
    enum CodingKeys: String, CodingKey { case instance, ordinal, image, command, liveness, readiness, placedAt, exitedAt, restartAt }

    /// `<workload>-<ordinal>` in the default tenant, `<tenant>_<workload>-<ordinal>` in any other.
    /// Tenant and workload names never contain '_', so two tenants' instances never share an id
    /// (they did: tenants A and B each deploying `shared` got one instance between them).
    public static func id(tenant: String, workload: String, ordinal: Int) -> String {
        tenant == WorkloadSpec.defaultTenant ? "\(workload)-\(ordinal)" : "\(tenant)_\(workload)-\(ordinal)"
    }

    /// The tenant an instance id (``id(tenant:workload:ordinal:)``) belongs to.
    public static func tenant(ofInstance id: String) -> String {
        id.firstIndex(of: "_").map { String(id[..<$0]) } ?? WorkloadSpec.defaultTenant
    }

    public init(spec: WorkloadSpec, ordinal: Int) {
        instance = Instance(id: Self.id(tenant: spec.tenant, workload: spec.name, ordinal: ordinal), workload: spec.name, tenant: spec.tenant, priority: spec.priority, requested: spec.resources)
        instance.gpu = spec.gpu
        self.ordinal = ordinal
        image = spec.image
        command = spec.command
        liveness = spec.liveness
        readiness = spec.readiness
    }

    public var workloadKey: String { WorkloadSpec.key(tenant: instance.tenant, name: instance.workload) }

    /// Back to pending, off its card.
    mutating func unplace(reason: String?) {
        instance.state = .pending
        instance.card = nil
        instance.gpuDevices = nil
        instance.pid = nil
        instance.containerID = nil
        instance.runtime = nil
        instance.ready = nil
        // exitCode and exitReason stay: they say why the last incarnation ended.
        placedAt = nil
        exitedAt = nil
        restartAt = nil
        _ = reason
    }
}

extension WorkloadSpec {
    /// Unique on the bus: tenant and name.
    public var key: String { Self.key(tenant: tenant, name: name) }
    public static func key(tenant: String, name: String) -> String { "\(tenant)/\(name)" }
}
