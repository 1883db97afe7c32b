import Foundation
import Logging
import PostgresNIO

/// Why a family of tokens was ended; kept on the row for operators.
public enum TokenFamilyRevocation: String, Sendable {
    /// The consent grant it was issued under was revoked.
    case grantRevoked = "grant_revoked"
    /// The user's sessions were revoked, or the user disabled or deleted.
    case userRevoked = "user_revoked"
    /// The client revoked its refresh token (RFC 7009 §2.1).
    case clientRevoked = "client_revoked"
    /// A rotated refresh token was presented again (RFC 9700 §4.14.2).
    case refreshTokenReuse = "refresh_token_reuse"
    /// The authorization code it was issued from was presented again (RFC 6749 §4.1.2).
    case authorizationCodeReuse = "authorization_code_reuse"
}

/// Families of tokens (everything issued from one authorization code), of one tenant at a time.
///
/// Revoking a family ends its refresh tokens (their family is revoked) and its access tokens: the
/// jti of every one that has not yet expired goes onto `access_token_revocations`, which
/// introspection reads (RFC 7009 §2.1: revoking a grant's refresh token should also invalidate
/// the access tokens of the same grant; RFC 7662 §2.2).
public protocol TokenFamilyRepository: Sendable {
    /// Revokes every live family issued under the consent grant; returns how many were revoked.
    @discardableResult
    func revokeFamilies(grantID: UUID, tenantID: UUID) async throws -> Int
    /// Revokes every live family of the user, whatever client holds it.
    @discardableResult
    func revokeFamilies(userID: UUID, tenantID: UUID) async throws -> Int
}

extension TokenFamilyRepository {
    @discardableResult
    public func revokeFamilies(grantID: UUID, tenant: ResolvedTenant) async throws -> Int {
        try await revokeFamilies(grantID: grantID, tenantID: tenant.tenant.id)
    }

    @discardableResult
    public func revokeFamilies(userID: UUID, tenant: ResolvedTenant) async throws -> Int {
        try await revokeFamilies(userID: userID, tenantID: tenant.tenant.id)
    }

    @discardableResult
    public func revokeFamilies(grantID: UUID, tenant: Tenant) async throws -> Int {
        try await revokeFamilies(grantID: grantID, tenantID: tenant.id)
    }

    @discardableResult
    public func revokeFamilies(userID: UUID, tenant: Tenant) async throws -> Int {
        try await revokeFamilies(userID: userID, tenantID: tenant.id)
    }
}

public struct PostgresTokenFamilyRepository: TokenFamilyRepository {
    let database: Database
    let now: @Sendable () -> Date
    var logger: Logger { database.logger }

    public init(database: Database, now: @escaping @Sendable () -> Date = { Date() }) {
        self.database = database
        self.now = now
    }

    public func revokeFamilies(grantID: UUID, tenantID: UUID) async throws -> Int {
        let at = now()
        return try await database.withTenant(tenantID) { [logger] connection in
            try await Self.revoke(.grant(grantID), reason: .grantRevoked, tenantID: tenantID, at: at, on: connection, logger: logger)
        }
    }

    public func revokeFamilies(userID: UUID, tenantID: UUID) async throws -> Int {
        let at = now()
        return try await database.withTenant(tenantID) { [logger] connection in
            try await Self.revoke(.user(userID), reason: .userRevoked, tenantID: tenantID, at: at, on: connection, logger: logger)
        }
    }

    /// Which families one revocation ends.
    public enum Selection: Sendable {
        case grant(UUID)
        case user(UUID)
        case family(UUID)
        case client(String)
    }

    /// Revokes the selected live families inside the caller's transaction (so that, e.g., deleting
    /// a grant and revoking its tokens commit together), and lists the unexpired access tokens of
    /// those families as revoked until they expire. Returns how many families were revoked.
    public static func revoke(_ selection: Selection, reason: TokenFamilyRevocation, tenantID: UUID, at now: Date,
                              on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let filter: PostgresQuery = switch selection {
        case .grant(let id):
            "UPDATE token_families SET revoked_at = \(now), revoked_reason = \(reason.rawValue) WHERE tenant_id = \(tenantID) AND grant_id = \(id) AND revoked_at IS NULL RETURNING family_id"
        case .user(let id):
            "UPDATE token_families SET revoked_at = \(now), revoked_reason = \(reason.rawValue) WHERE tenant_id = \(tenantID) AND user_id = \(id) AND revoked_at IS NULL RETURNING family_id"
        case .family(let id):
            "UPDATE token_families SET revoked_at = \(now), revoked_reason = \(reason.rawValue) WHERE tenant_id = \(tenantID) AND family_id = \(id) AND revoked_at IS NULL RETURNING family_id"
        case .client(let id):
            "UPDATE token_families SET revoked_at = \(now), revoked_reason = \(reason.rawValue) WHERE tenant_id = \(tenantID) AND client_id = \(id) AND revoked_at IS NULL RETURNING family_id"
        }
        let revoked = try await connection.run(filter, logger: logger)
        let families = try revoked.map { try $0.decode(UUID.self) }
        guard !families.isEmpty else { return 0 }
        try await connection.run("""
            INSERT INTO access_token_revocations (tenant_id, jti, expires_at)
            SELECT tenant_id, jti, expires_at FROM family_access_tokens
            WHERE tenant_id = \(tenantID) AND family_id = ANY(\(families)) AND expires_at > \(now)
            ON CONFLICT (tenant_id, jti) DO NOTHING
            """, logger: logger)
        return families.count
    }
}
