import BackplaneModel

/// Who is calling the API: the token's id, role and tenant. Decides what the caller may do
/// (pure: a table in ``Caller/allows(_:_:)``).
///
/// | role           | in its tenant                                              | bus-wide                 |
/// |----------------|------------------------------------------------------------|--------------------------|
/// | `bus-admin`    | everything, in every tenant                                | drain cards, set quotas, join tokens |
/// | `tenant-admin` | read, logs, env values, deploy/delete/scale, tokens, audit | list cards               |
/// | `operator`     | read, logs, env values, deploy/delete/scale                | list cards               |
/// | `viewer`       | read (env values redacted, no logs)                        | list cards               |
public struct Caller: Sendable, Hashable {
    public var tokenID: String
    public var role: TokenRole
    /// The tenant of a tenant-scoped role; nil for bus-admin.
    public var tenant: String?

    public init(tokenID: String, role: TokenRole, tenant: String?) {
        self.tokenID = tokenID
        self.role = role
        self.tenant = tenant
    }

    public init(_ record: TokenRecord) {
        self.init(tokenID: record.id, role: record.role, tenant: record.tenant)
    }

    /// What a request asks to do.
    public enum Permission: String, Sendable, CaseIterable {
        /// Workloads, instances, events, metrics, forecasts, explanations, the tenant's quota.
        case read
        /// An instance's output.
        case readLogs
        /// Env values of specs (redacted otherwise).
        case readSecrets
        /// Deploy, delete, scale.
        case change
        /// Create, list and revoke tokens.
        case manageTokens
        case readAudit
        /// Bus-wide only.
        case setQuota
        /// Bus-wide only: drain and remove cards.
        case drainCard
    }

    public var isBusAdmin: Bool { role == .busAdmin }

    /// Whether the role grants `permission` at all (in its own tenant).
    public static func allows(_ role: TokenRole, _ permission: Permission) -> Bool {
        switch role {
        case .busAdmin: return true
        case .tenantAdmin: return permission != .setQuota && permission != .drainCard
        case .operator: return [.read, .readLogs, .readSecrets, .change].contains(permission)
        case .viewer: return permission == .read
        case .join: return false
        }
    }

    /// Whether the caller may do `permission` in `tenant` (nil: bus-wide, bus-admin only).
    public func may(_ permission: Permission, in tenant: String?) -> Bool {
        guard Self.allows(role, permission) else { return false }
        return isBusAdmin || (tenant != nil && tenant == self.tenant)
    }

    /// The tenant a request acts in when it names none: the caller's (bus-admin: `default`).
    public var defaultTenant: String { tenant ?? WorkloadSpec.defaultTenant }

    /// "token 0123456789abcdef (operator of team-a)".
    public var description: String {
        "token \(tokenID) (\(role.rawValue)\(tenant.map { " of \($0)" } ?? ""))"
    }

    /// 403 for `permission` in `tenant`.
    public func forbidden(_ what: String, in tenant: String?) -> APIError {
        let scope = tenant.map { " in tenant '\($0)'" } ?? ""
        return APIError(.forbidden, "\(description) may not \(what)\(scope)", details: ["role": role.rawValue])
    }
}
