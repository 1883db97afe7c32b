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

/// The token endpoint's reads and writes. A grant reads the code or refresh token, has
/// `exchange` check it and sign the access token (a thrown error leaves everything unchanged),
/// then consumes or rotates it together with the new rows in one statement that applies only if
/// nobody spent it in between; whoever loses that race is answered as a replay.
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

    /// Two statements (sql/0017): the code is read unlocked and checked by `exchange`, then
    /// consumed only if it is still unconsumed; a request that loses the race is a reuse.
    func redeemCode<T: Sendable>(hash: String, tenantID: UUID, now: Date,
                                 _ exchange: @escaping @Sendable (StoredAuthorizationCode) async throws -> (CodeExchangeRecord, T)) async throws -> CodeRedemption<T> {
        guard let row = try await database.query("SELECT * FROM registrar_find_authorization_code(\(tenantID), \(hash))").first else {
            return .unknown
        }
        let columns = try row.decode((String, UUID?, String, Bool, String, [String], [String], String?, Date, Date, Date?, UUID?,
                                      UUID, String, Bool, String, String).self)
        if columns.10 != nil {
            // RFC 6749 §4.1.2: a code used twice is refused and what it gave is revoked.
            try await revokeFamily(of: .authorizationCode(hash), reason: .authorizationCodeReuse, tenantID: tenantID, now: now)
            return .reused
        }
        let user = TokenSubject(userID: columns.12, email: columns.13, emailVerified: columns.14, displayName: columns.15,
                                isActive: columns.16 == "active")
        let code = StoredAuthorizationCode(clientID: columns.0, grantID: columns.1, redirectURI: columns.2, redirectURISent: columns.3,
                                           codeChallenge: columns.4, scopes: columns.5, resources: columns.6, nonce: columns.7,
                                           authTime: columns.8, expiresAt: columns.9, user: user)
        let (record, result) = try await exchange(code)
        let outcome = try await database.query("""
            SELECT registrar_redeem_authorization_code(\(tenantID), \(hash), \(code.clientID), \(now), \(record.familyID),
                \(record.absoluteExpiresAt), \(record.refreshToken?.hash), \(record.refreshToken?.expiresAt),
                \(record.accessToken.jti), \(record.accessToken.expiresAt))
            """).first?.decode(String.self)
        switch outcome {
        case "issued":
            return .issued(result)
        case "reused":
            try await revokeFamily(of: .authorizationCode(hash), reason: .authorizationCodeReuse, tenantID: tenantID, now: now)
            return .reused
        default:
            return .unknown
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

    /// Two statements (sql/0017), as for codes: read unlocked, then spent only if it is still the
    /// family's current token.
    func refresh<T: Sendable>(hash: String, tenantID: UUID, now: Date,
                              _ exchange: @escaping @Sendable (StoredRefreshToken) async throws -> (RefreshRecord, T)) async throws -> RefreshOutcome<T> {
        guard let token = try await findRefreshToken(hash: hash, tenantID: tenantID) else { return .unknown }
        if token.rotatedAt != nil {
            // RFC 9700 §4.14.2: a rotated-out token presented again means one of two parties
            // holds a stolen copy; the server cannot tell which, so the family ends.
            try await revokeFamily(of: .refreshToken(token.familyID), reason: .refreshTokenReuse, tenantID: tenantID, now: now)
            return .reused
        }
        let (record, result) = try await exchange(token)
        let (successor, expiresAt): (String?, Date) = switch record.successor {
        case .rotated(let next): (next.hash, next.expiresAt)
        case .kept(let expiresAt): (nil, expiresAt)
        }
        let outcome = try await database.query("""
            SELECT registrar_spend_refresh_token(\(tenantID), \(hash), \(token.clientID), \(now), \(successor), \(expiresAt),
                \(record.accessToken.jti), \(record.accessToken.expiresAt))
            """).first?.decode(String.self)
        switch outcome {
        case "issued":
            return .issued(result)
        case "reused":
            try await revokeFamily(of: .refreshToken(token.familyID), reason: .refreshTokenReuse, tenantID: tenantID, now: now)
            return .reused
        default:
            return .unknown
        }
    }

    /// Where the family of a replayed credential is found.
    enum ReplayedCredential {
        /// The family is the one the code was consumed into.
        case authorizationCode(String)
        case refreshToken(UUID)
    }

    /// Revokes the family of a replayed code or refresh token: the rare path, a transaction of its own.
    func revokeFamily(of credential: ReplayedCredential, reason: TokenFamilyRevocation, tenantID: UUID, now: Date) async throws {
        try await database.withTenant(tenantID) { [logger] connection in
            let familyID: UUID?
            switch credential {
            case .refreshToken(let id):
                familyID = id
            case .authorizationCode(let hash):
                familyID = try await connection.run("""
                    SELECT family_id FROM authorization_codes WHERE tenant_id = \(tenantID) AND code_hash = \(hash)
                    """, logger: logger).first?.decode(UUID?.self)
            }
            guard let familyID else { return }
            _ = try await PostgresTokenFamilyRepository.revoke(.family(familyID), reason: reason, tenantID: tenantID,
                                                               at: now, on: connection, logger: logger)
        }
    }

    func findRefreshToken(hash: String, tenantID: UUID) async throws -> StoredRefreshToken? {
        try await database.query("SELECT * FROM registrar_find_refresh_token(\(tenantID), \(hash))").first.map(Self.decodeRefreshToken)
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
