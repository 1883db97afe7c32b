import Foundation
import Synchronization

/// Counts failed authentications per tenant and source address, and writes one audit event
/// (`authentication.failures_exceeded`) when an address goes over its limit — at most one a
/// minute per tenant and address on each instance, so a burst is one row, not thousands.
public final class FailedAuthenticationRecorder: Sendable {
    let limiter: any RateLimiter
    let clients: any ClientRepository
    let platform: PlatformRateLimits
    private let lastAudited = Mutex<[String: ContinuousClock.Instant]>([:])

    public init(limiter: any RateLimiter, clients: any ClientRepository, platform: PlatformRateLimits = PlatformRateLimits()) {
        self.limiter = limiter
        self.clients = clients
        self.platform = platform
    }

    /// Counts the failure against the tenant's limit and the platform's, both keyed on the
    /// aggregated `limitAddress` (an IPv6 /64 is one burst, not one per address in it); `source`
    /// is the address as audited.
    public func record(tenantID: UUID, source: String?, limitAddress: String, limit: RateLimit, credential: String, requestID: String?) async {
        await limiter.recordFailure(from: limitAddress, tenantID: nil, limit: platform.failedAuthenticationsPerAddress,
                                    name: "platform_failed_authentications")
        await record(tenantID: tenantID, key: "failed:\(limitAddress)", source: source, limit: limit, credential: credential, requestID: requestID)
    }

    /// Counts a failure against `key` (a limiter key naming the subject: an address, a client),
    /// auditing the burst once; `source` and `clientID` only describe it in the audit event.
    public func record(tenantID: UUID, key subject: String, source: String?, clientID: String? = nil, limit: RateLimit,
                       credential: String, requestID: String?) async {
        guard await limiter.recordFailure(key: subject, tenantID: tenantID, limit: limit) else { return }
        let key = "\(tenantID.uuidString)/\(subject)"
        let now = ContinuousClock.now
        let due = lastAudited.withLock { audited -> Bool in
            if let last = audited[key], now - last < .seconds(60) { return false }
            if audited.count >= 10_000 { audited.removeAll(keepingCapacity: true) }
            audited[key] = now
            return true
        }
        guard due else { return }
        try? await clients.record(AuditEvent(
            action: "authentication.failures_exceeded", actorType: .anonymous, clientID: clientID, sourceAddress: source, requestID: requestID,
            details: ["credential": .string(credential), "limit": limit.json]), tenantID: tenantID)
    }
}
