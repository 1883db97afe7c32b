import Foundation
import Hummingbird

/// Who is calling the management API, and what that key may do.
public struct AdminPrincipal: Sendable {
    public let key: AdminKey

    public var isPlatform: Bool { key.role == .platform }

    /// Audit actor for changes this key makes.
    func actor(_ action: String, _ context: AppRequestContext, clientID: String? = nil, details: [String: JSONValue] = [:]) -> AuditEvent {
        AuditEvent(action: action, actorType: .adminKey, actorID: key.id, clientID: clientID,
                   sourceAddress: context.sourceAddress, requestID: context.requestID, details: details)
    }
}

/// `Authorization: Bearer rk_{id}.{secret}`. Missing, malformed, unknown, wrong or revoked:
/// the same 401 problem, whatever the cause.
struct AdminAuthenticator: Sendable {
    let keys: any AdminKeyRepository
    let verifier: TokenVerifier
    let limiter: any RateLimiter
    let now: @Sendable () -> Date

    /// Platform-wide limits: per key, and failed attempts per source address.
    static let perKey = RateLimit(limit: 1200, periodSeconds: 60, burst: 200)
    static let failures = RateLimit(limit: 30, periodSeconds: 60, burst: 20)

    /// In order, stopping at the first refusal: the address's failures, a look at the key's
    /// budget, the secret, and only then the key's budget is spent: key ids are not secret, so
    /// a refused address or a wrong secret must not use up a key's budget.
    func authenticate(_ request: Request, limitAddress: String) async throws -> AdminPrincipal {
        // Apart from the tenants' failure counts, which have other limits.
        let failureAddress = "admin:\(limitAddress)"
        let presented: String?
        do { presented = try BearerToken.from(request) } catch { presented = nil }
        let id = presented.flatMap(AdminKey.parse)
        let budget = id.map { RateLimitCheck("admin_key", key: "admin-key:\($0)", tenantID: nil, limit: Self.perKey) }
        var checks = [RateLimitCheck("failed_authentications", key: "failed:\(failureAddress)", tenantID: nil, limit: Self.failures, consume: false)]
        if let budget { checks.append(RateLimitCheck(budget.name, key: budget.key, tenantID: nil, limit: budget.limit, consume: false)) }
        try await limiter.check(checks)
        guard let presented, let id, let budget,
              let key = try await keys.find(id: id), key.revokedAt == nil,
              case .verified(_, let untagged) = try await verifier.verify(presented, against: key.secretHash, tag: key.secretTag, tenant: key.tenantID)
        else {
            await limiter.recordFailure(from: failureAddress, tenantID: nil, limit: Self.failures)
            throw Problem.unauthorized
        }
        if untagged { try await keys.storeTag(key, tag: verifier.tags.tag(presented)) }
        try await limiter.check([budget])
        try await keys.markUsed(key, at: now())
        return AdminPrincipal(key: key)
    }
}
