/// A limit of `limit` events per `periodSeconds`, with room for `burst` at once (GCRA).
public struct RateLimit: Sendable, Equatable {
    public var limit: Int
    public var periodSeconds: Int
    public var burst: Int

    public init(limit: Int, periodSeconds: Int, burst: Int? = nil) {
        self.limit = limit
        self.periodSeconds = periodSeconds
        self.burst = burst ?? limit
    }

    /// Time between two events at the sustained rate, in whole microseconds (at least one).
    public var intervalMicroseconds: Int64 { max(1, Int64(periodSeconds) * 1_000_000 / Int64(max(1, limit))) }

    public var json: JSONValue {
        .object(["limit": .number(Double(limit)), "period_seconds": .number(Double(periodSeconds)), "burst": .number(Double(burst))])
    }

    init(json: JSONValue, field: String) throws(PolicyError) {
        guard let object = json.objectValue else { throw PolicyError(field: field, reason: "must be an object with limit, period_seconds and burst") }
        if let unknown = object.keys.first(where: { !["limit", "period_seconds", "burst"].contains($0) }) {
            throw PolicyError(field: "\(field).\(unknown)", reason: "unknown field")
        }
        guard let limit = object["limit"]?.intValue, (1...1_000_000).contains(limit) else {
            throw PolicyError(field: "\(field).limit", reason: "must be a whole number from 1 to 1000000")
        }
        guard let period = object["period_seconds"]?.intValue, (1...86_400).contains(period) else {
            throw PolicyError(field: "\(field).period_seconds", reason: "must be a whole number of seconds from 1 to 86400")
        }
        var burst = limit
        if let value = object["burst"], value != .null {
            guard let parsed = value.intValue, (1...1_000_000).contains(parsed) else {
                throw PolicyError(field: "\(field).burst", reason: "must be a whole number from 1 to 1000000")
            }
            burst = parsed
        }
        self.init(limit: limit, periodSeconds: period, burst: burst)
    }
}

/// The limits a tenant's policy sets (design §8). Defaults are per tenant and deliberately high
/// per address: every Claude user of a tenant arrives from a handful of Anthropic addresses.
public struct RateLimits: Sendable, Equatable {
    /// `POST /register` per tenant and source address.
    public var registerPerAddress = RateLimit(limit: 60, periodSeconds: 60, burst: 30)
    /// `POST /register` per tenant, all sources together: bounds the hashing a tenant can cause.
    public var registerPerTenant = RateLimit(limit: 600, periodSeconds: 60, burst: 100)
    /// RFC 7592 requests per client.
    public var clientConfigurationPerClient = RateLimit(limit: 60, periodSeconds: 60, burst: 20)
    /// Registrations per initial access token.
    public var initialAccessToken = RateLimit(limit: 120, periodSeconds: 60, burst: 30)
    /// The client authentication API per client.
    public var authenticatePerClient = RateLimit(limit: 120, periodSeconds: 60, burst: 30)
    /// Failed authentications (any credential) per source address, to slow guessing.
    public var failedAuthenticationsPerAddress = RateLimit(limit: 30, periodSeconds: 60, burst: 20)
    /// Failed sign-ins per account (user email, known or not): slows guessing one person's password.
    public var failedSignInsPerAccount = RateLimit(limit: 10, periodSeconds: 300, burst: 10)
    /// Failed sign-ins per tenant and source address.
    public var failedSignInsPerAddress = RateLimit(limit: 30, periodSeconds: 60, burst: 20)

    public init() {}

    /// Immutable after initialisation; key paths are not marked Sendable.
    nonisolated(unsafe) static let fields: [(String, WritableKeyPath<RateLimits, RateLimit>)] = [
        ("register_per_address", \.registerPerAddress),
        ("register_per_tenant", \.registerPerTenant),
        ("client_configuration_per_client", \.clientConfigurationPerClient),
        ("initial_access_token", \.initialAccessToken),
        ("authenticate_per_client", \.authenticatePerClient),
        ("failed_authentications_per_address", \.failedAuthenticationsPerAddress),
        ("failed_sign_ins_per_account", \.failedSignInsPerAccount),
        ("failed_sign_ins_per_address", \.failedSignInsPerAddress),
    ]

    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: Self.fields.map { ($0.0, self[keyPath: $0.1].json) }))
    }

    init(json: JSONValue, field: String) throws(PolicyError) {
        guard let object = json.objectValue else { throw PolicyError(field: field, reason: "must be an object") }
        var limits = RateLimits()
        for key in object.keys where !Self.fields.contains(where: { $0.0 == key }) {
            throw PolicyError(field: "\(field).\(key)", reason: "unknown rate limit")
        }
        for (name, path) in Self.fields {
            if let value = object[name], value != .null { limits[keyPath: path] = try RateLimit(json: value, field: "\(field).\(name)") }
        }
        self = limits
    }
}

extension RateLimit {
    /// `LIMIT/SECONDS` or `LIMIT/SECONDS:BURST`, e.g. `600/60:200`, for flags and the environment.
    public init?(spec: String) {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let rate = parts[0].split(separator: "/", omittingEmptySubsequences: false)
        guard rate.count == 2, let limit = Int(rate[0]), let period = Int(rate[1]), limit > 0, period > 0 else { return nil }
        var burst = limit
        if parts.count == 2 {
            guard let value = Int(parts[1]), value > 0 else { return nil }
            burst = value
        }
        self.init(limit: limit, periodSeconds: period, burst: burst)
    }

    public var spec: String { "\(limit)/\(periodSeconds):\(burst)" }

    /// Whether this limit allows no more than `ceiling`: a sustained rate no higher and a burst no larger.
    func isWithin(_ ceiling: RateLimit) -> Bool {
        Int64(limit) * Int64(ceiling.periodSeconds) <= Int64(ceiling.limit) * Int64(periodSeconds) && burst <= ceiling.burst
    }
}

extension RateLimits {
    /// A tenant admin may lower its limits freely but raise them only up to the platform's
    /// ceiling: the limits protect the platform (its hashing, its database), not only the tenant.
    public func check(ceiling: RateLimit, field: String) throws(PolicyError) {
        for (name, path) in Self.fields {
            let limit = self[keyPath: path]
            guard limit.isWithin(ceiling) else {
                let part = limit.burst > ceiling.burst ? "burst" : "limit"
                throw PolicyError(field: "\(field).\(name).\(part)",
                                  reason: "exceeds the platform ceiling of \(ceiling.limit) per \(ceiling.periodSeconds) s with a burst of \(ceiling.burst)")
            }
        }
    }
}

/// Platform-wide limits (tenant = the all-zero id), set by the operator, beside each tenant's
/// own: they bound what one address can make the platform do across every tenant together.
public struct PlatformRateLimits: Sendable, Equatable {
    /// Tenant lookups that miss the tenant cache and so reach the database, per address, before
    /// any tenant is known (design §3: unknown hosts and slugs must not be free queries).
    public var tenantLookupsPerAddress = RateLimit(limit: 3000, periodSeconds: 60, burst: 1000)
    /// `POST /register` per address, every tenant together.
    public var registerPerAddress = RateLimit(limit: 6000, periodSeconds: 60, burst: 1000)
    /// Failed authentications per address, every tenant together.
    public var failedAuthenticationsPerAddress = RateLimit(limit: 600, periodSeconds: 60, burst: 200)
    /// The most a tenant's policy may raise any of its own limits to.
    public var tenantCeiling = RateLimit(limit: 6000, periodSeconds: 60, burst: 2000)
    /// IPv6 addresses count per prefix of this many bits (1…128).
    public var ipv6PrefixLength = 64

    public init() {}
}
