import Foundation
import Logging
import PostgresNIO

/// The user a code or a family was issued for, as the token endpoint needs them: whether they
/// may still get tokens, and what an ID token may say about them.
struct TokenSubject: Sendable, Equatable {
    let userID: UUID
    let email: String
    let emailVerified: Bool
    let displayName: String
    let isActive: Bool
}

/// An authorization code as stored, with its user.
struct StoredAuthorizationCode: Sendable {
    let clientID: String
    let grantID: UUID?
    let redirectURI: String
    let redirectURISent: Bool
    let codeChallenge: String
    let scopes: [String]
    let resources: [String]
    let nonce: String?
    let authTime: Date
    let expiresAt: Date
    let user: TokenSubject
}

/// A refresh token as stored, with its family and the family's user (none for a family that
/// was not issued for a user).
struct StoredRefreshToken: Sendable {
    let familyID: UUID
    let createdAt: Date
    let expiresAt: Date
    let rotatedAt: Date?
    let clientID: String
    let scopes: [String]
    let resources: [String]
    let authTime: Date?
    let absoluteExpiresAt: Date
    let revokedAt: Date?
    let user: TokenSubject?
}

/// An access token as the family remembers it: its jti until it expires.
struct RecordedAccessToken: Sendable, Equatable {
    let jti: String
    let expiresAt: Date
}

/// A refresh token to store: only its hash.
struct NewRefreshToken: Sendable, Equatable {
    let hash: String
    let expiresAt: Date
}

/// What a successful code exchange writes: a new family, its first refresh token (if any) and
/// the access token issued.
struct CodeExchangeRecord: Sendable {
    let familyID: UUID
    let absoluteExpiresAt: Date
    let refreshToken: NewRefreshToken?
    let accessToken: RecordedAccessToken
}

/// What a successful refresh writes: the presented token rotated out for a new one, or kept
/// with its idle expiry moved on; and the access token issued.
struct RefreshRecord: Sendable {
    enum Successor: Sendable {
        case rotated(NewRefreshToken)
        case kept(expiresAt: Date)
    }
    let successor: Successor
    let accessToken: RecordedAccessToken
}

enum CodeRedemption<T: Sendable>: Sendable {
    /// No such code in this tenant.
    case unknown
    /// The code was used before; the tokens issued from it were revoked (RFC 6749 §4.1.2).
    case reused
    case issued(T)
}

enum RefreshOutcome<T: Sendable>: Sendable {
    /// No such refresh token in this tenant (or swept after expiry).
    case unknown
    /// A rotated-out token was presented again: its whole family was revoked (RFC 9700 §4.14.2).
    case reused
    case issued(T)
}

/// The token endpoint's reads and writes. A grant is one transaction: the code or refresh token
/// is locked, checked by `exchange` (which signs the access token; a thrown error leaves
/// everything unchanged), then consumed or rotated together with the new rows.
protocol TokenGrantRepository: Sendable {
    func redeemCode<T: Sendable>(hash: String, tenantID: UUID, now: Date,
                                 _ exchange: @escaping @Sendable (StoredAuthorizationCode) async throws -> (CodeExchangeRecord, T)) async throws -> CodeRedemption<T>
    func refresh<T: Sendable>(hash: String, tenantID: UUID, now: Date,
                              _ exchange: @escaping @Sendable (StoredRefreshToken) async throws -> (RefreshRecord, T)) async throws -> RefreshOutcome<T>
    /// The refresh token with this hash, unlocked (introspection, revocation).
    func findRefreshToken(hash: String, tenantID: UUID) async throws -> StoredRefreshToken?
    /// RFC 7009 §2.1: revokes the family of the refresh token if `clientID` holds it; false otherwise.
    func revokeRefreshToken(hash: String, clientID: String, tenantID: UUID, now: Date) async throws -> Bool
    /// Lists an access token as revoked until it expires (RFC 7009 §2.1, RFC 7662 §2.2).
    func revokeAccessToken(_ token: RecordedAccessToken, tenantID: UUID) async throws
    /// Whether the access token's jti is on the revocation list.
    func isAccessTokenRevoked(jti: String, tenantID: UUID) async throws -> Bool
}

struct PostgresTokenGrantRepository: TokenGrantRepository {
    let database: Database
    var logger: Logger { database.logger }

    init(database: Database) {
        self.database = database
    }

    func redeemCode<T: Sendable>(hash: String, tenantID: UUID, now: Date,
                                 _ exchange: @escaping @Sendable (StoredAuthorizationCode) async throws -> (CodeExchangeRecord, T)) async throws -> CodeRedemption<T> {
        try await database.withTenant(tenantID) { [logger] connection in
            let rows = try await connection.run("""
                SELECT c.client_id, c.grant_id, c.redirect_uri, c.redirect_uri_sent, c.code_challenge, c.scopes, c.resources, c.nonce,
                       c.auth_time, c.expires_at, c.consumed_at, c.family_id,
                       u.user_id, u.email, u.email_verified, u.display_name, u.status
                FROM authorization_codes c JOIN users u ON u.tenant_id = c.tenant_id AND u.user_id = c.user_id
                WHERE c.tenant_id = \(tenantID) AND c.code_hash = \(hash)
                FOR UPDATE OF c
                """, logger: logger)
            guard let row = rows.first else { return .unknown }
            let columns = try row.decode((String, UUID?, String, Bool, String, [String], [String], String?, Date, Date, Date?, UUID?,
                                          UUID, String, Bool, String, String).self)
            let (clientID, grantID, redirectURI, redirectURISent, challenge, scopes, resources, nonce) =
                (columns.0, columns.1, columns.2, columns.3, columns.4, columns.5, columns.6, columns.7)
            let (authTime, expiresAt, consumedAt, familyID) = (columns.8, columns.9, columns.10, columns.11)
            if consumedAt != nil {
                // RFC 6749 §4.1.2: a code used twice is refused and what it gave is revoked.
                if let familyID {
                    _ = try await PostgresTokenFamilyRepository.revoke(.family(familyID), reason: .authorizationCodeReuse, tenantID: tenantID,
                                                                       at: now, on: connection, logger: logger)
                }
                return .reused
            }
            let user = TokenSubject(userID: columns.12, email: columns.13, emailVerified: columns.14, displayName: columns.15,
                                    isActive: columns.16 == "active")
            let code = StoredAuthorizationCode(clientID: clientID, grantID: grantID, redirectURI: redirectURI, redirectURISent: redirectURISent,
                                               codeChallenge: challenge, scopes: scopes, resources: resources, nonce: nonce,
                                               authTime: authTime, expiresAt: expiresAt, user: user)
            let (record, result) = try await exchange(code)
            // One statement: the code is consumed and tied to the new family, the family, its
            // first refresh token and the access token's jti are written.
            try await connection.run("""
                WITH consumed AS (
                    UPDATE authorization_codes SET consumed_at = \(now), family_id = \(record.familyID)
                    WHERE tenant_id = \(tenantID) AND code_hash = \(hash)
                ), family AS (
                    INSERT INTO token_families (tenant_id, family_id, client_id, user_id, grant_id, scopes, resources, auth_time, created_at, absolute_expires_at)
                    VALUES (\(tenantID), \(record.familyID), \(clientID), \(user.userID), \(grantID), \(scopes), \(resources), \(authTime), \(now),
                            \(record.absoluteExpiresAt))
                    RETURNING family_id
                ), refresh AS (
                    INSERT INTO refresh_tokens (tenant_id, token_hash, family_id, created_at, expires_at)
                    SELECT \(tenantID), \(record.refreshToken?.hash)::text, family_id, \(now), \(record.refreshToken?.expiresAt)::timestamptz
                    FROM family WHERE \(record.refreshToken?.hash)::text IS NOT NULL
                )
                INSERT INTO family_access_tokens (tenant_id, jti, family_id, expires_at)
                SELECT \(tenantID), \(record.accessToken.jti), family_id, \(record.accessToken.expiresAt) FROM family
                """, logger: logger)
            return .issued(result)
        }
    }

    static func decodeRefreshToken(_ row: PostgresRow) throws -> StoredRefreshToken {
        let columns = try row.decode((UUID, Date, Date, Date?, String, [String], [String], Date?, Date, Date?,
                                      UUID?, String?, Bool?, String?, String?).self)
        let user = columns.10.map { id in
            TokenSubject(userID: id, email: columns.11 ?? "", emailVerified: columns.12 ?? false, displayName: columns.13 ?? "",
                         isActive: columns.14 == "active")
        }
        return StoredRefreshToken(familyID: columns.0, createdAt: columns.1, expiresAt: columns.2, rotatedAt: columns.3, clientID: columns.4,
                                  scopes: columns.5, resources: columns.6, authTime: columns.7, absoluteExpiresAt: columns.8,
                                  revokedAt: columns.9, user: user)
    }

    func refresh<T: Sendable>(hash: String, tenantID: UUID, now: Date,
                              _ exchange: @escaping @Sendable (StoredRefreshToken) async throws -> (RefreshRecord, T)) async throws -> RefreshOutcome<T> {
        try await database.withTenant(tenantID) { [logger] connection in
            let rows = try await connection.run("""
                SELECT r.family_id, r.created_at, r.expires_at, r.rotated_at, f.client_id, f.scopes, f.resources, f.auth_time,
                       f.absolute_expires_at, f.revoked_at, u.user_id, u.email, u.email_verified, u.display_name, u.status
                FROM refresh_tokens r
                JOIN token_families f ON f.tenant_id = r.tenant_id AND f.family_id = r.family_id
                LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.user_id = f.user_id
                WHERE r.tenant_id = \(tenantID) AND r.token_hash = \(hash)
                FOR UPDATE OF r, f
                """, logger: logger)
            guard let row = rows.first else { return .unknown }
            let token = try Self.decodeRefreshToken(row)
            if token.rotatedAt != nil {
                // RFC 9700 §4.14.2: a rotated-out token presented again means one of two parties
                // holds a stolen copy; the server cannot tell which, so the family ends.
                _ = try await PostgresTokenFamilyRepository.revoke(.family(token.familyID), reason: .refreshTokenReuse, tenantID: tenantID,
                                                                   at: now, on: connection, logger: logger)
                return .reused
            }
            let (record, result) = try await exchange(token)
            let jti = record.accessToken.jti
            let accessExpiry = record.accessToken.expiresAt
            switch record.successor {
            case .rotated(let successor):
                try await connection.run("""
                    WITH rotated AS (
                        UPDATE refresh_tokens SET rotated_at = \(now) WHERE tenant_id = \(tenantID) AND token_hash = \(hash)
                    ), successor AS (
                        INSERT INTO refresh_tokens (tenant_id, token_hash, family_id, created_at, expires_at)
                        VALUES (\(tenantID), \(successor.hash), \(token.familyID), \(now), \(successor.expiresAt))
                    )
                    INSERT INTO family_access_tokens (tenant_id, jti, family_id, expires_at)
                    VALUES (\(tenantID), \(jti), \(token.familyID), \(accessExpiry))
                    """, logger: logger)
            case .kept(let expiresAt):
                try await connection.run("""
                    WITH kept AS (
                        UPDATE refresh_tokens SET expires_at = \(expiresAt) WHERE tenant_id = \(tenantID) AND token_hash = \(hash)
                    )
                    INSERT INTO family_access_tokens (tenant_id, jti, family_id, expires_at)
                    VALUES (\(tenantID), \(jti), \(token.familyID), \(accessExpiry))
                    """, logger: logger)
            }
            return .issued(result)
        }
    }

    func findRefreshToken(hash: String, tenantID: UUID) async throws -> StoredRefreshToken? {
        try await database.withTenant(tenantID) { [logger] connection in
            try await connection.run("""
                SELECT r.family_id, r.created_at, r.expires_at, r.rotated_at, f.client_id, f.scopes, f.resources, f.auth_time,
                       f.absolute_expires_at, f.revoked_at, u.user_id, u.email, u.email_verified, u.display_name, u.status
                FROM refresh_tokens r
                JOIN token_families f ON f.tenant_id = r.tenant_id AND f.family_id = r.family_id
                LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.user_id = f.user_id
                WHERE r.tenant_id = \(tenantID) AND r.token_hash = \(hash)
                """, logger: logger).first.map(Self.decodeRefreshToken)
        }
    }

    func revokeRefreshToken(hash: String, clientID: String, tenantID: UUID, now: Date) async throws -> Bool {
        try await database.withTenant(tenantID) { [logger] connection in
            let rows = try await connection.run("""
                SELECT r.family_id FROM refresh_tokens r
                JOIN token_families f ON f.tenant_id = r.tenant_id AND f.family_id = r.family_id
                WHERE r.tenant_id = \(tenantID) AND r.token_hash = \(hash) AND f.client_id = \(clientID)
                """, logger: logger)
            guard let familyID = try rows.first?.decode(UUID.self) else { return false }
            return try await PostgresTokenFamilyRepository.revoke(.family(familyID), reason: .clientRevoked, tenantID: tenantID,
                                                                  at: now, on: connection, logger: logger) > 0
        }
    }

    func revokeAccessToken(_ token: RecordedAccessToken, tenantID: UUID) async throws {
        _ = try await database.withTenant(tenantID) { [logger] connection in
            try await connection.run("""
                INSERT INTO access_token_revocations (tenant_id, jti, expires_at) VALUES (\(tenantID), \(token.jti), \(token.expiresAt))
                ON CONFLICT (tenant_id, jti) DO NOTHING
                """, logger: logger)
        }
    }

    func isAccessTokenRevoked(jti: String, tenantID: UUID) async throws -> Bool {
        // One statement (sql/0014), not a transaction: introspection pays one round trip.
        guard let row = try await database.query("SELECT registrar_access_token_revoked(\(tenantID), \(jti))").first else { return false }
        return try row.decode(Bool.self)
    }
}
