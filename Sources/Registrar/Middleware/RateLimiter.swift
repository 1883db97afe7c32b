import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO

/// A request went over a limit; answered 429 with `Retry-After`, `RateLimit-Policy` and
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers) in the endpoint's own error format.
public struct RateLimitExceeded: Error, Sendable, Equatable {
    public let name: String
    public let limit: RateLimit
    public let retryAfterSeconds: Int

    var headers: HTTPFields {
        var headers = HTTPFields()
        headers[.retryAfter] = String(retryAfterSeconds)
        headers[HTTPField.Name("RateLimit-Policy")!] = "\"\(name)\";q=\(limit.limit);w=\(limit.periodSeconds)"
        headers[HTTPField.Name("RateLimit")!] = "\"\(name)\";r=0;t=\(retryAfterSeconds)"
        return headers
    }
}

/// Limits shared by every instance: the state lives in PostgreSQL, one statement per check.
public protocol RateLimiter: Sendable {
    /// Counts one event against `key`, or throws `RateLimitExceeded` without counting it.
    /// With `consume: false` it only checks whether the key is over its limit.
    func check(_ name: String, key: String, tenantID: UUID?, limit: RateLimit, consume: Bool) async throws
    /// Several checks in one round trip, in order: the first one over its limit throws, and the
    /// checks after it are neither evaluated nor counted (nor is their state created).
    func check(_ checks: [RateLimitCheck]) async throws
    /// Deletes up to `batchSize` states that no longer carry information; returns how many went.
    func sweepExpired(batchSize: Int) async throws -> Int
    /// Whether checks may instead run inside a lookup's own statement, in the same round trip
    /// (`ClientRepository.find(tenantID:clientID:afterChecking:)`): true where the state lives
    /// in the application's PostgreSQL.
    var checksShareLookups: Bool { get }
}

/// One check of a batch: `consume: false` only looks.
public struct RateLimitCheck: Sendable {
    public let name: String
    public let key: String
    public let tenantID: UUID?
    public let limit: RateLimit
    public let consume: Bool

    public init(_ name: String, key: String, tenantID: UUID?, limit: RateLimit, consume: Bool = true) {
        self.name = name
        self.key = key
        self.tenantID = tenantID
        self.limit = limit
        self.consume = consume
    }

    /// Refuses an address that has failed to authenticate too often, before any hashing.
    /// `address` is the aggregated limiter address (`AppRequestContext.limitAddress`).
    static func failures(from address: String, tenantID: UUID?, limit: RateLimit) -> RateLimitCheck {
        RateLimitCheck("failed_authentications", key: "failed:\(address)", tenantID: tenantID, limit: limit, consume: false)
    }

    /// What one registration costs: the address's budget (the tenant's, then the platform's),
    /// then the tenant's, which every caller shares. A metadata document's first fetch pays the same.
    static func registration(from address: String, tenantID: UUID, limits: RateLimits, platform: PlatformRateLimits) -> [RateLimitCheck] {
        [
            RateLimitCheck("register_per_address", key: "register:\(address)", tenantID: tenantID, limit: limits.registerPerAddress),
            RateLimitCheck("platform_register_per_address", key: "register:\(address)", tenantID: nil, limit: platform.registerPerAddress),
            RateLimitCheck("register_per_tenant", key: "register", tenantID: tenantID, limit: limits.registerPerTenant),
        ]
    }

    /// The same, across every tenant: guessing spread over many tenants is still one address.
    static func platformFailures(from address: String, limits: PlatformRateLimits) -> RateLimitCheck {
        RateLimitCheck("platform_failed_authentications", key: "failed:\(address)", tenantID: nil,
                       limit: limits.failedAuthenticationsPerAddress, consume: false)
    }
}

extension RateLimiter {
    func hit(_ name: String, key: String, tenantID: UUID?, limit: RateLimit) async throws {
        try await check(name, key: key, tenantID: tenantID, limit: limit, consume: true)
    }

    /// Counts a failed authentication of `address`; never fails the request itself. Returns
    /// true when the address has now reached its limit, i.e. this failure completes a burst and
    /// the next attempt from there will be refused before any hashing.
    @discardableResult
    func recordFailure(from address: String, tenantID: UUID?, limit: RateLimit, name: String = "failed_authentications") async -> Bool {
        await recordFailure(key: "failed:\(address)", tenantID: tenantID, limit: limit, name: name)
    }

    /// Counts a failed authentication of a subject (an address, a client); true when it has now
    /// reached its limit.
    @discardableResult
    func recordFailure(key: String, tenantID: UUID?, limit: RateLimit, name: String = "failed_authentications") async -> Bool {
        do {
            try await check([
                RateLimitCheck(name, key: key, tenantID: tenantID, limit: limit, consume: true),
                RateLimitCheck(name, key: key, tenantID: tenantID, limit: limit, consume: false),
            ])
            return false
        } catch is RateLimitExceeded {
            return true
        } catch {
            return false
        }
    }
}

public struct PostgresRateLimiter: RateLimiter {
    let database: Database
    static let platformTenant = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    public init(database: Database) {
        self.database = database
    }

    /// The database's clock, not each instance's: one clock for every instance sharing the
    /// limit, and monotonic enough that concurrent requests cannot arrive "before" each other.
    public func check(_ name: String, key: String, tenantID: UUID?, limit: RateLimit, consume: Bool) async throws {
        try await check([RateLimitCheck(name, key: key, tenantID: tenantID, limit: limit, consume: consume)])
    }

    public var checksShareLookups: Bool { true }

    public func check(_ checks: [RateLimitCheck]) async throws {
        guard !checks.isEmpty else { return }
        guard let row = try await database.execute(Check.self, try Self.bindings(checks)).first else { return }
        let (refused, waitMilliseconds) = try row.decode((Int32, Int64).self)
        if let exceeded = Self.exceeded(checks, refused: refused, waitMilliseconds: waitMilliseconds) { throw exceeded }
    }

    /// The checks alone, prepared once per connection.
    enum Check: PreparedSQL {
        static let name = "registrar_limiter_check"
        static let sql = "SELECT refused, wait_milliseconds FROM " + inOrder
    }

    /// The checks as a FROM item with the columns `refused` (the 1-based position of the first
    /// check over its limit, 0 for none) and `wait_milliseconds`; its parameters are $1 to $5,
    /// bound by `bindings(_:)`, so that a statement sharing it numbers its own from $6.
    static let inOrder = "registrar_rate_limits_in_order($1, $2, $3, $4, $5)"

    static func bindings(_ checks: [RateLimitCheck]) throws -> PostgresBindings {
        var bindings = PostgresBindings()
        try bindings.append(checks.map { $0.tenantID ?? platformTenant })
        try bindings.append(checks.map(\.key))
        try bindings.append(checks.map(\.limit.intervalMicroseconds))
        try bindings.append(checks.map { Int64($0.limit.burst) })
        try bindings.append(checks.map(\.consume))
        return bindings
    }

    /// What a refusal at position `refused` means for the caller (nil for none).
    static func exceeded(_ checks: [RateLimitCheck], refused: Int32, waitMilliseconds: Int64) -> RateLimitExceeded? {
        guard refused > 0, Int(refused) <= checks.count else { return nil }
        let check = checks[Int(refused) - 1]
        return RateLimitExceeded(name: check.name, limit: check.limit, retryAfterSeconds: Int((waitMilliseconds + 999) / 1000))
    }

    /// A state whose theoretical arrival time has passed behaves exactly like no state, so it
    /// may go; judged by the database's clock, in one bounded batch.
    public func sweepExpired(batchSize: Int) async throws -> Int {
        guard let row = try await database.query("SELECT registrar_sweep_rate_limits(\(Int32(clamping: batchSize)))").first else { return 0 }
        return Int(try row.decode(Int32.self))
    }
}

/// Deletes limiter states that carry no information any more, on every instance, on the
/// reaper's schedule, in bounded batches until one comes back short.
public struct RateLimitSweeper: Sendable {
    let limiter: any RateLimiter
    public var batchSize = 1000

    public init(limiter: any RateLimiter) {
        self.limiter = limiter
    }

    @discardableResult
    public func runOnce() async throws -> Int {
        var total = 0
        while true {
            let swept = try await limiter.sweepExpired(batchSize: batchSize)
            total += swept
            if swept < batchSize { return total }
        }
    }
}

/// For measuring what the shared limiter costs, and for deployments that limit at the edge.
public struct UnlimitedRateLimiter: RateLimiter {
    public init() {}
    public func check(_ name: String, key: String, tenantID: UUID?, limit: RateLimit, consume: Bool) async throws {}
    public func check(_ checks: [RateLimitCheck]) async throws {}
    public func sweepExpired(batchSize: Int) async throws -> Int { 0 }
    public var checksShareLookups: Bool { false }
}
