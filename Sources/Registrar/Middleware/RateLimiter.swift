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
    /// Several checks in one round trip; throws for the first that is over its limit.
    func check(_ checks: [RateLimitCheck]) async throws
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
    static func failures(from address: String?, tenantID: UUID?, limit: RateLimit) -> RateLimitCheck {
        RateLimitCheck("failed_authentications", key: "failed:\(address ?? "-")", tenantID: tenantID, limit: limit, consume: false)
    }
}

extension RateLimiter {
    func hit(_ name: String, key: String, tenantID: UUID?, limit: RateLimit) async throws {
        try await check(name, key: key, tenantID: tenantID, limit: limit, consume: true)
    }

    /// Refuses an address that has failed to authenticate too often, before any hashing.
    func guardFailures(from address: String?, tenantID: UUID?, limit: RateLimit) async throws {
        try await guardFailures(key: "failed:\(address ?? "-")", tenantID: tenantID, limit: limit)
    }

    /// Refuses a subject (an address, a client) that has failed to authenticate too often.
    func guardFailures(key: String, tenantID: UUID?, limit: RateLimit) async throws {
        try await check("failed_authentications", key: key, tenantID: tenantID, limit: limit, consume: false)
    }

    /// Counts a failed authentication of `address`; never fails the request itself. Returns
    /// true when the address has now reached its limit, i.e. this failure completes a burst and
    /// the next attempt from there will be refused before any hashing.
    @discardableResult
    func recordFailure(from address: String?, tenantID: UUID?, limit: RateLimit) async -> Bool {
        await recordFailure(key: "failed:\(address ?? "-")", tenantID: tenantID, limit: limit)
    }

    /// Counts a failed authentication of a subject; true when it has now reached its limit.
    @discardableResult
    func recordFailure(key: String, tenantID: UUID?, limit: RateLimit) async -> Bool {
        do {
            try await check("failed_authentications", key: key, tenantID: tenantID, limit: limit, consume: true)
            try await check("failed_authentications", key: key, tenantID: tenantID, limit: limit, consume: false)
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

    public func check(_ checks: [RateLimitCheck]) async throws {
        guard !checks.isEmpty else { return }
        var builder = QueryBuilder("SELECT ")
        for (index, check) in checks.enumerated() {
            try builder.append(index == 0 ? "" : ", ")
            try builder.append("registrar_rate_limit(?, ?, clock_timestamp(), ? * interval '1 microsecond', ?::integer, ?)",
                               check.tenantID ?? Self.platformTenant, check.key, check.limit.intervalMicroseconds, check.limit.burst, check.consume)
        }
        guard let row = try await database.query(builder.query).first else { return }
        for (index, cell) in row.enumerated() {
            let waitMilliseconds = try cell.decode(Int64.self)
            if waitMilliseconds > 0 {
                let check = checks[index]
                throw RateLimitExceeded(name: check.name, limit: check.limit, retryAfterSeconds: Int((waitMilliseconds + 999) / 1000))
            }
        }
    }
}

/// For measuring what the shared limiter costs, and for deployments that limit at the edge.
public struct UnlimitedRateLimiter: RateLimiter {
    public init() {}
    public func check(_ name: String, key: String, tenantID: UUID?, limit: RateLimit, consume: Bool) async throws {}
    public func check(_ checks: [RateLimitCheck]) async throws {}
}
