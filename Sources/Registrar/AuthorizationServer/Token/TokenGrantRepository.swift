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

/// An authorization code as read before its redemption: consumed or not.
struct FoundAuthorizationCode: Sendable {
    let code: StoredAuthorizationCode
    let consumed: Bool
}

/// The credential of a grant, which the token endpoint reads in the same statement as the
/// client's lookup (`TokenGrantRepository.findClient(tenantID:clientID:afterChecking:alongWith:)`),
/// so that a grant costs one round trip fewer. Nothing read is used before the client authenticated.
enum GrantCredential: Sendable, Equatable {
    /// With `redeem`, the statement also redeems the code when everything it checks allows.
    case authorizationCode(hash: String, redeem: PlannedRedemption? = nil)
    /// With `spend`, the statement also spends the token when everything it checks allows.
    case refreshToken(hash: String, spend: PlannedRefresh? = nil)

    var isAuthorizationCode: Bool {
        if case .authorizationCode = self { true } else { false }
    }

    /// The same read with nothing spent: for a client that presented credentials, which only
    /// the grant may judge.
    var withoutSpending: GrantCredential {
        switch self {
        case .authorizationCode(let hash, _): .authorizationCode(hash: hash)
        case .refreshToken(let hash, _): .refreshToken(hash: hash)
        }
    }
}

/// What that statement read: the code or refresh token, nil when there is none in the tenant.
enum GrantCredentialRead: Sendable {
    case authorizationCode(FoundAuthorizationCode?)
    /// The statement redeemed the code as planned (it was read as `FoundAuthorizationCode`),
    /// with what the redemption answered.
    case authorizationCodeRedeemed(FoundAuthorizationCode, SpendingAnswer, PlannedRedemption)
    case refreshToken(StoredRefreshToken?)
    /// The statement spent the refresh token as planned (it was read as `StoredRefreshToken`),
    /// with what the spending answered.
    case refreshTokenSpent(StoredRefreshToken, SpendingAnswer, PlannedRefresh)
}

/// A public client's refresh grant as written before the client's lookup, so that the lookup
/// statement can spend the token itself: a grant of one statement instead of two. The statement
/// spends only when the client is an active public client that registered the grant, the token is
/// the family's current one, unexpired, of that client and of an active user, and the scopes and
/// resources asked for are among those granted (compared exactly; anything else is left to the
/// two-statement path, which compares resources in canonical form). Those checks imply every
/// check the grant makes afterwards, so a spent token is always one the grant accepts.
struct PlannedRefresh: Sendable, Equatable {
    let now: Date
    /// The rotated successor (public clients' tokens rotate on every use, OAuth 2.1 §4.3.1).
    let successor: String
    /// When the successor's idle lifetime ends, before the family's absolute expiry caps it.
    let idleExpiresAt: Date
    let accessToken: PlannedAccessToken
    /// `scope` as asked for (nil: as granted) and `resource` exactly as sent.
    let scopes: [String]?
    let resources: [String]
}

/// A public client's code exchange as written before the client's lookup, as `PlannedRefresh`:
/// the lookup statement redeems the code itself when the client is an active public client that
/// registered the grant, the code is unconsumed, unexpired, the client's and of an active user,
/// the verifier hashes to its challenge, the redirect URI follows RFC 6749 §4.1.3's rule and the
/// resources asked for are among those granted (compared exactly). Those checks imply every check
/// the exchange makes afterwards.
struct PlannedRedemption: Sendable, Equatable {
    let now: Date
    let familyID: UUID
    /// RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)), compared with the code's challenge.
    let challenge: String
    let redirectURI: String?
    let resources: [String]
    /// The family's first refresh token, stored only when the client registered the refresh
    /// grant; nil when the tenant does not allow it.
    let refreshToken: String?
    let refreshExpiresAt: Date
    /// The family's absolute expiry when it gets a refresh token (else the access token's).
    let absoluteExpiresAt: Date
    let accessToken: PlannedAccessToken
}

/// What `registrar_redeem_authorization_code` and `registrar_spend_refresh_token` (sql/0020) answer.
enum SpendingAnswer: String, Sendable {
    case issued, reused, refused, unknown
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
    /// The code with this hash, unlocked, consumed or not.
    func findAuthorizationCode(hash: String, tenantID: UUID) async throws -> FoundAuthorizationCode?
    /// Redeems `found`, the code with this hash as read before (here or in the client's lookup).
    /// The second of two statements (sql/0017): the code, read unlocked, is checked by
    /// `exchange`, then consumed only if it is still unconsumed; a request that loses the race is a reuse.
    func redeemCode<T: Sendable>(_ found: FoundAuthorizationCode, hash: String, tenantID: UUID, now: Date,
                                 _ exchange: @escaping @Sendable (StoredAuthorizationCode) async throws -> (CodeExchangeRecord, T)) async throws -> CodeRedemption<T>
    /// Spends `token`, the refresh token with this hash as read before.
    func refresh<T: Sendable>(_ token: StoredRefreshToken, hash: String, tenantID: UUID, now: Date,
                              _ exchange: @escaping @Sendable (StoredRefreshToken) async throws -> (RefreshRecord, T)) async throws -> RefreshOutcome<T>
    /// The refresh token with this hash, unlocked (grants, introspection, revocation).
    func findRefreshToken(hash: String, tenantID: UUID) async throws -> StoredRefreshToken?
    /// RFC 9700 §4.14.2: ends the family of a rotated-out refresh token presented again.
    func revokeReplayedFamily(_ familyID: UUID, tenantID: UUID, now: Date) async throws
    /// RFC 6749 §4.1.2: revokes what the code with this hash gave, when it is used again.
    func revokeReplayedCode(hash: String, tenantID: UUID, now: Date) async throws
    /// The client's lookup after the limiter's checks, as `ClientRepository.find(tenantID:clientID:afterChecking:)`,
    /// with the grant's credential read in the same statement.
    func findClient(tenantID: UUID, clientID: String, afterChecking checks: [RateLimitCheck],
                    alongWith credential: GrantCredential) async throws -> (client: RegisteredClient?, credential: GrantCredentialRead)
    /// RFC 7009 §2.1: revokes the family of the refresh token if `clientID` holds it; false otherwise.
    func revokeRefreshToken(hash: String, clientID: String, tenantID: UUID, now: Date) async throws -> Bool
    /// Lists an access token as revoked until it expires (RFC 7009 §2.1, RFC 7662 §2.2).
    func revokeAccessToken(_ token: RecordedAccessToken, tenantID: UUID) async throws
    /// Whether the access token's jti is on the revocation list.
    func isAccessTokenRevoked(jti: String, tenantID: UUID) async throws -> Bool
}

extension TokenGrantRepository {
    /// Reads the code, then redeems it.
    func redeemCode<T: Sendable>(hash: String, tenantID: UUID, now: Date,
                                 _ exchange: @escaping @Sendable (StoredAuthorizationCode) async throws -> (CodeExchangeRecord, T)) async throws -> CodeRedemption<T> {
        guard let found = try await findAuthorizationCode(hash: hash, tenantID: tenantID) else { return .unknown }
        return try await redeemCode(found, hash: hash, tenantID: tenantID, now: now, exchange)
    }

    /// Reads the refresh token, then spends it.
    func refresh<T: Sendable>(hash: String, tenantID: UUID, now: Date,
                              _ exchange: @escaping @Sendable (StoredRefreshToken) async throws -> (RefreshRecord, T)) async throws -> RefreshOutcome<T> {
        guard let token = try await findRefreshToken(hash: hash, tenantID: tenantID) else { return .unknown }
        return try await refresh(token, hash: hash, tenantID: tenantID, now: now, exchange)
    }
}

struct PostgresTokenGrantRepository: TokenGrantRepository {
    let database: Database
    var logger: Logger { database.logger }

    init(database: Database) {
        self.database = database
    }

    // The grants' statements (sql/0017, sql/0014), prepared once per connection.
    enum FindCode: PreparedSQL {
        static let name = "registrar_find_code"
        static let sql = "SELECT \(codeColumns) FROM registrar_find_authorization_code($1, $2)"
    }
    enum RedeemCode: PreparedSQL {
        static let runsOnTheCallersLoop = true
        static let name = "registrar_redeem_code"
        static let sql = "SELECT registrar_redeem_authorization_code($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    }
    enum FindRefreshToken: PreparedSQL {
        static let runsOnTheCallersLoop = true
        static let name = "registrar_find_refresh_token"
        static let sql = "SELECT \(refreshTokenColumns) FROM registrar_find_refresh_token($1, $2)"
    }
    enum SpendRefreshToken: PreparedSQL {
        static let runsOnTheCallersLoop = true
        static let name = "registrar_spend_refresh_token"
        static let sql = "SELECT registrar_spend_refresh_token($1, $2, $3, $4, $5, $6, $7, $8)"
    }
    enum AccessTokenRevoked: PreparedSQL {
        static let runsOnTheCallersLoop = true
        static let name = "registrar_access_token_revoked"
        static let sql = "SELECT registrar_access_token_revoked($1, $2)"
    }

    /// The columns of `registrar_find_authorization_code` and `registrar_find_refresh_token`
    /// (sql/0017) as the decoders read them, named rather than `*`: a prepared statement keeps
    /// its result's shape, so a function that gained a column must not change what it answers.
    static let codeColumns = """
        client_id, grant_id, redirect_uri, redirect_uri_sent, code_challenge, scopes, resources, nonce, auth_time, expires_at,
        consumed_at, family_id, user_id, email, email_verified, display_name, status
        """
    static let refreshTokenColumns = """
        family_id, created_at, expires_at, rotated_at, client_id, scopes, resources, auth_time, absolute_expires_at, revoked_at,
        user_id, email, email_verified, display_name, status
        """

    /// The tenant and the credential every one of them starts with.
    static func bindings(_ tenantID: UUID, _ credential: String) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(tenantID)
        bindings.append(credential)
        return bindings
    }

    func findAuthorizationCode(hash: String, tenantID: UUID) async throws -> FoundAuthorizationCode? {
        try await database.execute(FindCode.self, Self.bindings(tenantID, hash)).first.map { try Self.decodeCode($0.makeRandomAccess()) }
    }

    /// A row of `registrar_find_authorization_code` (sql/0017), from column `start` on.
    static func decodeCode(_ cells: PostgresRandomAccessRow, from start: Int = 0) throws -> FoundAuthorizationCode {
        func cell<V: PostgresDecodable>(_ index: Int, as type: V.Type = V.self) throws -> V { try cells[start + index].decode(V.self) }
        let user = TokenSubject(userID: try cell(12), email: try cell(13), emailVerified: try cell(14), displayName: try cell(15),
                                isActive: try cell(16, as: String.self) == "active")
        let code = StoredAuthorizationCode(clientID: try cell(0), grantID: try cell(1), redirectURI: try cell(2), redirectURISent: try cell(3),
                                           codeChallenge: try cell(4), scopes: try cell(5), resources: try cell(6), nonce: try cell(7),
                                           authTime: try cell(8), expiresAt: try cell(9), user: user)
        return FoundAuthorizationCode(code: code, consumed: try cell(10, as: Date?.self) != nil)
    }

    func redeemCode<T: Sendable>(_ found: FoundAuthorizationCode, hash: String, tenantID: UUID, now: Date,
                                 _ exchange: @escaping @Sendable (StoredAuthorizationCode) async throws -> (CodeExchangeRecord, T)) async throws -> CodeRedemption<T> {
        if found.consumed {
            // RFC 6749 §4.1.2: a code used twice is refused and what it gave is revoked.
            try await revokeReplayedCode(hash: hash, tenantID: tenantID, now: now)
            return .reused
        }
        let code = found.code
        let (record, result) = try await exchange(code)
        var binds = Self.bindings(tenantID, hash)
        binds.append(code.clientID)
        binds.append(now)
        binds.append(record.familyID)
        binds.append(record.absoluteExpiresAt)
        binds.append(record.refreshToken?.hash)
        binds.append(record.refreshToken?.expiresAt)
        binds.append(record.accessToken.jti)
        binds.append(record.accessToken.expiresAt)
        let outcome = try await database.execute(RedeemCode.self, binds).first?.decode(String.self)
        switch outcome {
        case "issued":
            return .issued(result)
        case "reused":
            try await revokeReplayedCode(hash: hash, tenantID: tenantID, now: now)
            return .reused
        default:
            return .unknown
        }
    }

    /// A row of `registrar_find_refresh_token` (sql/0017), from column `start` on.
    static func decodeRefreshToken(_ cells: PostgresRandomAccessRow, from start: Int = 0) throws -> StoredRefreshToken {
        func cell<V: PostgresDecodable>(_ index: Int, as type: V.Type = V.self) throws -> V { try cells[start + index].decode(V.self) }
        let user = try cell(10, as: UUID?.self).map { id in
            TokenSubject(userID: id, email: try cell(11, as: String?.self) ?? "", emailVerified: try cell(12, as: Bool?.self) ?? false,
                         displayName: try cell(13, as: String?.self) ?? "", isActive: try cell(14, as: String?.self) == "active")
        }
        return StoredRefreshToken(familyID: try cell(0), createdAt: try cell(1), expiresAt: try cell(2), rotatedAt: try cell(3),
                                  clientID: try cell(4), scopes: try cell(5), resources: try cell(6), authTime: try cell(7),
                                  absoluteExpiresAt: try cell(8), revokedAt: try cell(9), user: user)
    }

    /// The second of two statements (sql/0017), as for codes: the token, read unlocked, is spent
    /// only if it is still the family's current token.
    func refresh<T: Sendable>(_ token: StoredRefreshToken, hash: String, tenantID: UUID, now: Date,
                              _ exchange: @escaping @Sendable (StoredRefreshToken) async throws -> (RefreshRecord, T)) async throws -> RefreshOutcome<T> {
        if token.rotatedAt != nil {
            // RFC 9700 §4.14.2: a rotated-out token presented again means one of two parties
            // holds a stolen copy; the server cannot tell which, so the family ends.
            try await revokeReplayedFamily(token.familyID, tenantID: tenantID, now: now)
            return .reused
        }
        let (record, result) = try await exchange(token)
        let (successor, expiresAt): (String?, Date) = switch record.successor {
        case .rotated(let next): (next.hash, next.expiresAt)
        case .kept(let expiresAt): (nil, expiresAt)
        }
        var binds = Self.bindings(tenantID, hash)
        binds.append(token.clientID)
        binds.append(now)
        binds.append(successor)
        binds.append(expiresAt)
        binds.append(record.accessToken.jti)
        binds.append(record.accessToken.expiresAt)
        let outcome = try await database.execute(SpendRefreshToken.self, binds).first?.decode(String.self)
        switch outcome {
        case "issued":
            return .issued(result)
        case "reused":
            try await revokeReplayedFamily(token.familyID, tenantID: tenantID, now: now)
            return .reused
        default:
            return .unknown
        }
    }

    /// The client's lookup after the limiter's checks and the grant's credential beside it, with
    /// the grant's writes when planned: the client's columns, two that say whether it is an
    /// active public client that registered this grant (`spendable`) and the refresh grant
    /// (`refreshable`), the limiter's two, the credential's row (NULL where a check refused or
    /// there is none), then what the spending answered (NULL when not attempted). CASE evaluates
    /// its condition first, so a code is redeemed or a token spent only when every check passed.
    /// Parameters: the limiter's $1–$5, tenant $6, client $7, credential hash $8, then the plan's
    /// (`appendRedemption`, `appendSpending`), $9 false when there is none.
    enum FindClientAndCode: PreparedSQL {
        static let runsOnTheCallersLoop = true
        static let name = "registrar_find_client_and_code"
        static let sql = lookupAlong("registrar_find_authorization_code", codeColumns, grant: .authorizationCode, spending: """
            CASE WHEN $9::boolean AND c.spendable AND g.client_id = $7 AND g.consumed_at IS NULL AND g.expires_at > $10
                      AND g.status = 'active' AND g.code_challenge = $11
                      AND CASE WHEN g.redirect_uri_sent THEN g.redirect_uri = $12 ELSE $12::text IS NULL OR g.redirect_uri = $12 END
                      AND $13::text[] <@ g.resources
                 THEN registrar_redeem_authorization_code(
                          $6, $8, $7, $10, $14,
                          CASE WHEN c.refreshable AND $15::text IS NOT NULL THEN $16::timestamptz ELSE $19::timestamptz END,
                          CASE WHEN c.refreshable THEN $15::text END,
                          CASE WHEN c.refreshable AND $15::text IS NOT NULL THEN $17::timestamptz END,
                          $18, $19)
            END
            """)
    }
    enum FindClientAndRefreshToken: PreparedSQL {
        static let runsOnTheCallersLoop = true
        static let name = "registrar_find_client_and_refresh_token"
        static let sql = lookupAlong("registrar_find_refresh_token", refreshTokenColumns, grant: .refreshToken, spending: """
            CASE WHEN $9::boolean AND c.spendable AND g.client_id = $7 AND g.rotated_at IS NULL AND g.revoked_at IS NULL
                      AND g.expires_at > $10 AND g.absolute_expires_at > $10 AND (g.user_id IS NULL OR g.status = 'active')
                      AND ($15::text[] IS NULL OR $15::text[] <@ g.scopes) AND $16::text[] <@ g.resources
                 THEN registrar_spend_refresh_token($6, $8, $7, $10, $11, LEAST(g.absolute_expires_at, $12::timestamptz), $13, $14)
            END
            """)
    }

    /// Columns the client's row has beyond `PostgresClientRepository.columns` in these lookups.
    static let extraClientColumns = 2

    /// A client registered `grant` when its `grant_types` lists it, or, for the authorization
    /// code, when it has no list (the metadata's default, as `ClientMetadata` reads it). The
    /// method is asked of the column and of the metadata, which the client is judged by, and a
    /// row whose metadata could not be read as a client (no `redirect_uris` list) spends nothing.
    static func lookupAlong(_ credentialFunction: String, _ credentialColumns: String, grant: GrantType, spending: String) -> String {
        let refreshable = "(jsonb_typeof(metadata -> 'grant_types') = 'array' AND metadata -> 'grant_types' ? 'refresh_token')"
        let registers = switch grant {
        case .authorizationCode:
            "(jsonb_typeof(metadata -> 'grant_types') IS DISTINCT FROM 'array' OR metadata -> 'grant_types' ? 'authorization_code')"
        case .refreshToken: refreshable
        case .clientCredentials: "false"
        }
        return """
            SELECT c.*, l.refused, l.wait_milliseconds, g.*, \(spending) AS spent
            FROM \(PostgresRateLimiter.inOrder) l
            LEFT JOIN LATERAL (SELECT \(PostgresClientRepository.columns),
                                      token_endpoint_auth_method = 'none' AND metadata ->> 'token_endpoint_auth_method' = 'none'
                                          AND jsonb_typeof(metadata -> 'redirect_uris') = 'array' AND status = 'active' AND \(registers) AS spendable,
                                      \(refreshable) AS refreshable
                               FROM registrar_find_client($6, $7)) c ON l.refused = 0
            LEFT JOIN LATERAL (SELECT \(credentialColumns) FROM \(credentialFunction)($6, $8)) g ON l.refused = 0
            """
    }

    func findClient(tenantID: UUID, clientID: String, afterChecking checks: [RateLimitCheck],
              alongWith credential: GrantCredential) async throws -> (client: RegisteredClient?, credential: GrantCredentialRead) {
        var binds = try PostgresRateLimiter.bindings(checks)
        binds.append(tenantID)
        binds.append(clientID)
        let rows: [PostgresRow]
        switch credential {
        case .authorizationCode(let hash, let redeem):
            binds.append(hash)
            Self.appendRedemption(redeem, to: &binds)
            rows = try await database.execute(FindClientAndCode.self, binds)
        case .refreshToken(let hash, let spend):
            binds.append(hash)
            Self.appendSpending(spend, to: &binds)
            rows = try await database.execute(FindClientAndRefreshToken.self, binds)
        }
        let clientColumns = PostgresClientRepository.columnCount + Self.extraClientColumns
        guard let row = rows.first else {
            return (nil, credential.isAuthorizationCode ? .authorizationCode(nil) : .refreshToken(nil))
        }
        let cells = row.makeRandomAccess()
        let (refused, wait) = (try cells[clientColumns].decode(Int32.self), try cells[clientColumns + 1].decode(Int64.self))
        if let exceeded = PostgresRateLimiter.exceeded(checks, refused: refused, waitMilliseconds: wait) { throw exceeded }
        let client = try cells[0].decode(String?.self) == nil ? nil : try PostgresClientRepository.decode(row, tenantID: tenantID)
        // The credential's first column is never NULL in a row of its own.
        let start = clientColumns + 2
        let present = cells[start].bytes != nil
        switch credential {
        case .authorizationCode(_, let redeem):
            guard present else { return (client, .authorizationCode(nil)) }
            let code = try Self.decodeCode(cells, from: start)
            guard let redeem, let answer = try Self.answer(cells, at: start + Self.codeColumnCount) else { return (client, .authorizationCode(code)) }
            return (client, .authorizationCodeRedeemed(code, answer, redeem))
        case .refreshToken(_, let spend):
            guard present else { return (client, .refreshToken(nil)) }
            let token = try Self.decodeRefreshToken(cells, from: start)
            guard let spend, let answer = try Self.answer(cells, at: start + Self.refreshTokenColumnCount) else { return (client, .refreshToken(token)) }
            return (client, .refreshTokenSpent(token, answer, spend))
        }
    }

    /// The `spent` column: nil when nothing was attempted.
    static func answer(_ cells: PostgresRandomAccessRow, at index: Int) throws -> SpendingAnswer? {
        try cells[index].decode(String?.self).map { SpendingAnswer(rawValue: $0) ?? .unknown }
    }

    static let refreshTokenColumnCount = refreshTokenColumns.split(separator: ",").count
    static let codeColumnCount = codeColumns.split(separator: ",").count

    /// Parameters $9 to $19 of `FindClientAndCode`: the planned redemption, or none.
    static func appendRedemption(_ redeem: PlannedRedemption?, to binds: inout PostgresBindings) {
        binds.append(redeem != nil)
        binds.append(redeem?.now)
        binds.append(redeem?.challenge)
        binds.append(redeem?.redirectURI)
        binds.append(redeem?.resources ?? [])
        binds.append(redeem?.familyID)
        binds.append(redeem?.refreshToken.map(OpaqueToken.hash))
        binds.append(redeem?.absoluteExpiresAt)
        binds.append(redeem?.refreshExpiresAt)
        binds.append(redeem?.accessToken.jti)
        binds.append(redeem?.accessToken.expiresAt)
    }

    /// Parameters $9 to $16 of `FindClientAndRefreshToken`: the planned spending, or none.
    static func appendSpending(_ spend: PlannedRefresh?, to binds: inout PostgresBindings) {
        binds.append(spend != nil)
        binds.append(spend?.now)
        binds.append(spend.map { OpaqueToken.hash($0.successor) })
        binds.append(spend?.idleExpiresAt)
        binds.append(spend?.accessToken.jti)
        binds.append(spend?.accessToken.expiresAt)
        binds.append(spend?.scopes)
        binds.append(spend?.resources ?? [])
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

    func revokeReplayedFamily(_ familyID: UUID, tenantID: UUID, now: Date) async throws {
        try await revokeFamily(of: .refreshToken(familyID), reason: .refreshTokenReuse, tenantID: tenantID, now: now)
    }

    func revokeReplayedCode(hash: String, tenantID: UUID, now: Date) async throws {
        try await revokeFamily(of: .authorizationCode(hash), reason: .authorizationCodeReuse, tenantID: tenantID, now: now)
    }

    func findRefreshToken(hash: String, tenantID: UUID) async throws -> StoredRefreshToken? {
        try await database.execute(FindRefreshToken.self, Self.bindings(tenantID, hash)).first.map { try Self.decodeRefreshToken($0.makeRandomAccess()) }
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
        guard let row = try await database.execute(AccessTokenRevoked.self, Self.bindings(tenantID, jti)).first else { return false }
        return try row.decode(Bool.self)
    }
}
