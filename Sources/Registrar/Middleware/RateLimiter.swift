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
}

extension RateLimiter {
    func hit(_ name: String, key: String, tenantID: UUID?, limit: RateLimit) async throws {
        try await check(name, key: key, tenantID: tenantID, limit: limit, consume: true)
    }

    /// Refuses an address that has failed to authenticate too often, before any hashing.
    func guardFailures(from address: String?, tenantID: UUID?, limit: RateLimit) async throws {
        try await check("failed_authentications", key: "failed:\(address ?? "-")", tenantID: tenantID, limit: limit, consume: false)
    }

    /// Counts a failed authentication of `address`; never fails the request itself.
    func recordFailure(from address: String?, tenantID: UUID?, limit: RateLimit) async {
        _ = try? await check("failed_authentications", key: "failed:\(address ?? "-")", tenantID: tenantID, limit: limit, consume: true)
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
        let rows = try await database.query("""
            SELECT registrar_rate_limit(\(tenantID ?? Self.platformTenant), \(key), clock_timestamp(),
                \(limit.intervalMicroseconds) * interval '1 microsecond', \(limit.burst)::integer, \(consume))
            """)
        let waitMilliseconds = try rows.first?.decode(Int64.self) ?? 0
        if waitMilliseconds > 0 {
            throw RateLimitExceeded(name: name, limit: limit, retryAfterSeconds: Int((waitMilliseconds + 999) / 1000))
        }
    }
}

/// For measuring what the shared limiter costs, and for deployments that limit at the edge.
public struct UnlimitedRateLimiter: RateLimiter {
    public init() {}
    public func check(_ name: String, key: String, tenantID: UUID?, limit: RateLimit, consume: Bool) async throws {}
}
