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
    let now: @Sendable () -> Date

    func authenticate(_ request: Request) async throws -> AdminPrincipal {
        let presented: String?
        do { presented = try BearerToken.from(request) } catch { throw Problem.unauthorized }
        guard let presented, let id = AdminKey.parse(presented),
              let key = try await keys.find(id: id), key.revokedAt == nil,
              case .verified = try await verifier.verify(presented, against: key.secretHash)
        else { throw Problem.unauthorized }
        try await keys.markUsed(key, at: now())
        return AdminPrincipal(key: key)
    }
}
