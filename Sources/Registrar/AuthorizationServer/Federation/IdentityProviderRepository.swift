import Foundation
import Logging
import PostgresNIO

/// An upstream sign-in under way (`upstream_sign_ins`): what the callback needs to finish it.
public struct PendingUpstreamSignIn: Sendable, Equatable {
    public let tenantID: UUID
    public let stateHash: String
    public let providerID: String
    /// SHA-256 of the browser's pre-session cookie: the callback must come from the same browser.
    public let browserHash: String
    public let nonce: String
    public let codeVerifier: String
    public let returnTo: String?
    public let expiresAt: Date
}

/// What a provider issued to Registrar for one user, sealed (`upstream_tokens`).
public struct VaultedTokens: Sendable, Equatable {
    public let tenantID: UUID
    public let userID: UUID
    public let providerID: String
    public var sealedAccessToken: Data
    public var accessExpiresAt: Date?
    public var sealedRefreshToken: Data?
}

public enum IdentityProviderRepositoryError: Error, Equatable {
    case duplicate
}

/// A tenant's identity providers, the users they sign in, pending sign-ins and the vault.
public protocol IdentityProviderRepository: Sendable {
    func create(_ provider: IdentityProvider, audit: AuditEvent) async throws
    func list(tenant: UUID) async throws -> [IdentityProvider]
    func find(id: String, tenant: UUID) async throws -> IdentityProvider?
    /// Deletes the provider, its links to users, its pending sign-ins and its vaulted tokens.
    func delete(id: String, tenant: UUID, audit: AuditEvent) async throws -> Bool

    func startSignIn(_ pending: PendingUpstreamSignIn) async throws
    /// The pending sign-in of this state, deleted as it is read: a state is good once.
    func takeSignIn(stateHash: String, tenant: UUID) async throws -> PendingUpstreamSignIn?

    /// The local user an upstream subject signed in as before.
    func linkedUser(provider: String, subject: String, tenant: UUID) async throws -> UUID?
    /// Creates `user` (when given) and links the subject to `userID`, in one transaction.
    func link(provider: String, subject: String, userID: UUID, creating user: User?, tenant: UUID, audit: AuditEvent) async throws

    func storeTokens(_ tokens: VaultedTokens) async throws
    func vaultedTokens(user: UUID, provider: String, tenant: UUID) async throws -> VaultedTokens?
}

public struct PostgresIdentityProviderRepository: IdentityProviderRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    static let columns = """
        provider_id, display_name, issuer, client_id, client_secret_sealed, scopes, subject_claim, email_claim, name_claim,
        allowed_email_domains, local_passwords, created_at, updated_at
        """

    static func decode(_ row: PostgresRow, tenantID: UUID) throws -> IdentityProvider {
        let (id, name, issuer, clientID, secret, scopes, subject, email, nameClaim, domains, local, created, updated) =
            try row.decode((String, String, String, String, ByteBuffer, [String], String, String, String, [String], Bool, Date, Date).self)
        return IdentityProvider(tenantID: tenantID, id: id, displayName: name, issuer: issuer, clientID: clientID,
                                sealedSecret: Data(buffer: secret), scopes: scopes, subjectClaim: subject, emailClaim: email,
                                nameClaim: nameClaim, allowedEmailDomains: domains, localPasswords: local, createdAt: created, updatedAt: updated)
    }

    public func create(_ provider: IdentityProvider, audit: AuditEvent) async throws {
        let tenant = provider.tenantID
        try await database.withTenant(tenant) { connection in
            let inserted = try await connection.run("""
                INSERT INTO identity_providers (tenant_id, provider_id, display_name, issuer, client_id, client_secret_sealed, scopes,
                    subject_claim, email_claim, name_claim, allowed_email_domains, local_passwords, created_at, updated_at)
                VALUES (\(tenant), \(provider.id), \(provider.displayName), \(provider.issuer), \(provider.clientID),
                    \(ByteBuffer(data: provider.sealedSecret)), \(provider.scopes), \(provider.subjectClaim), \(provider.emailClaim),
                    \(provider.nameClaim), \(provider.allowedEmailDomains), \(provider.localPasswords), \(provider.createdAt), \(provider.updatedAt))
                ON CONFLICT DO NOTHING RETURNING provider_id
                """, logger: logger)
            guard !inserted.isEmpty else { throw IdentityProviderRepositoryError.duplicate }
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
        }
    }

    public func list(tenant: UUID) async throws -> [IdentityProvider] {
        try await database.withTenant(tenant) { connection in
            try await connection.run(
                "SELECT \(unescaped: Self.columns) FROM identity_providers WHERE tenant_id = \(tenant) ORDER BY provider_id",
                logger: logger).map { try Self.decode($0, tenantID: tenant) }
        }
    }

    public func find(id: String, tenant: UUID) async throws -> IdentityProvider? {
        try await database.withTenant(tenant) { connection in
            try await connection.run(
                "SELECT \(unescaped: Self.columns) FROM identity_providers WHERE tenant_id = \(tenant) AND provider_id = \(id)",
                logger: logger).first.map { try Self.decode($0, tenantID: tenant) }
        }
    }

    public func delete(id: String, tenant: UUID, audit: AuditEvent) async throws -> Bool {
        try await database.withTenant(tenant) { connection in
            let deleted = try await connection.run(
                "DELETE FROM identity_providers WHERE tenant_id = \(tenant) AND provider_id = \(id) RETURNING provider_id", logger: logger)
            guard !deleted.isEmpty else { return false }
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
            return true
        }
    }

    public func startSignIn(_ pending: PendingUpstreamSignIn) async throws {
        let tenant = pending.tenantID
        try await database.withTenant(tenant) { connection in
            // Expired ones of the tenant go at the same time, so the table holds only live ones.
            try await connection.run("DELETE FROM upstream_sign_ins WHERE tenant_id = \(tenant) AND expires_at < now()", logger: logger)
            try await connection.run("""
                INSERT INTO upstream_sign_ins (tenant_id, state_hash, provider_id, browser_hash, nonce, code_verifier, return_to, expires_at)
                VALUES (\(tenant), \(pending.stateHash), \(pending.providerID), \(pending.browserHash), \(pending.nonce),
                    \(pending.codeVerifier), \(pending.returnTo), \(pending.expiresAt))
                """, logger: logger)
        }
    }

    public func takeSignIn(stateHash: String, tenant: UUID) async throws -> PendingUpstreamSignIn? {
        try await database.withTenant(tenant) { connection in
            try await connection.run("""
                DELETE FROM upstream_sign_ins WHERE tenant_id = \(tenant) AND state_hash = \(stateHash)
                RETURNING provider_id, browser_hash, nonce, code_verifier, return_to, expires_at
                """, logger: logger).first.map { row in
                let (provider, browser, nonce, verifier, returnTo, expires) = try row.decode((String, String, String, String, String?, Date).self)
                return PendingUpstreamSignIn(tenantID: tenant, stateHash: stateHash, providerID: provider, browserHash: browser,
                                             nonce: nonce, codeVerifier: verifier, returnTo: returnTo, expiresAt: expires)
            }
        }
    }

    public func linkedUser(provider: String, subject: String, tenant: UUID) async throws -> UUID? {
        try await database.withTenant(tenant) { connection in
            try await connection.run("""
                SELECT user_id FROM user_identities WHERE tenant_id = \(tenant) AND provider_id = \(provider) AND subject = \(subject)
                """, logger: logger).first?.decode(UUID.self)
        }
    }

    public func link(provider: String, subject: String, userID: UUID, creating user: User?, tenant: UUID, audit: AuditEvent) async throws {
        try await database.withTenant(tenant) { connection in
            if let user {
                try await connection.run("""
                    INSERT INTO users (tenant_id, user_id, email, password_hash, display_name, email_verified, status, created_at, updated_at)
                    VALUES (\(tenant), \(user.id), \(user.email), NULL, \(user.displayName), \(user.emailVerified), 'active',
                        \(user.createdAt), \(user.createdAt))
                    """, logger: logger)
            }
            try await connection.run("""
                INSERT INTO user_identities (tenant_id, provider_id, subject, user_id) VALUES (\(tenant), \(provider), \(subject), \(userID))
                """, logger: logger)
            try await AuditLog.record(audit, tenantID: tenant, on: connection, logger: logger)
        }
    }

    public func storeTokens(_ tokens: VaultedTokens) async throws {
        let tenant = tokens.tenantID
        try await database.withTenant(tenant) { connection in
            try await connection.run("""
                INSERT INTO upstream_tokens (tenant_id, user_id, provider_id, access_token_sealed, access_expires_at, refresh_token_sealed, updated_at)
                VALUES (\(tenant), \(tokens.userID), \(tokens.providerID), \(ByteBuffer(data: tokens.sealedAccessToken)), \(tokens.accessExpiresAt),
                    \(tokens.sealedRefreshToken.map { ByteBuffer(data: $0) }), now())
                ON CONFLICT (tenant_id, user_id, provider_id) DO UPDATE SET access_token_sealed = EXCLUDED.access_token_sealed,
                    access_expires_at = EXCLUDED.access_expires_at,
                    refresh_token_sealed = COALESCE(EXCLUDED.refresh_token_sealed, upstream_tokens.refresh_token_sealed),
                    updated_at = now()
                """, logger: logger)
        }
    }

    public func vaultedTokens(user: UUID, provider: String, tenant: UUID) async throws -> VaultedTokens? {
        try await database.withTenant(tenant) { connection in
            try await connection.run("""
                SELECT access_token_sealed, access_expires_at, refresh_token_sealed FROM upstream_tokens
                WHERE tenant_id = \(tenant) AND user_id = \(user) AND provider_id = \(provider)
                """, logger: logger).first.map { row in
                let (access, expires, refresh) = try row.decode((ByteBuffer, Date?, ByteBuffer?).self)
                return VaultedTokens(tenantID: tenant, userID: user, providerID: provider, sealedAccessToken: Data(buffer: access),
                                     accessExpiresAt: expires, sealedRefreshToken: refresh.map { Data(buffer: $0) })
            }
        }
    }

    /// Empties a user's vault inside another change's transaction (revoked sessions or grant).
    static func dropVault(of user: UUID, tenant: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run("DELETE FROM upstream_tokens WHERE tenant_id = \(tenant) AND user_id = \(user)", logger: logger)
    }
}
