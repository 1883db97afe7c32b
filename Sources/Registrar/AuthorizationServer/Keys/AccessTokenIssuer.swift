import Crypto
import Foundation

/// The `jti`, `iat` and `exp` of an access token not yet signed, and the key it will be signed
/// with when that was chosen too: a grant whose writes are committed before it signs must not
/// need the database again to sign (the tokens would be lost with the credential spent).
struct PlannedAccessToken: Sendable, Equatable {
    let jti: String
    let issuedAt: Date
    let expiresAt: Date
    var key: ES256KeyPair? = nil

    static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.jti, lhs.issuedAt, lhs.expiresAt, lhs.key?.kid) == (rhs.jti, rhs.issuedAt, rhs.expiresAt, rhs.key?.kid)
    }
}

/// Signs the tenant's tokens with its current ES256 key: access tokens per RFC 9068 and ID
/// tokens per OpenID Connect Core.
public struct AccessTokenIssuer: Sendable {
    let keys: SigningKeyStore
    let now: @Sendable () -> Date

    public init(keys: SigningKeyStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.keys = keys
        self.now = now
    }

    /// RFC 9068 §2.1: the header carries `typ: at+jwt`, so that an access token can never be
    /// taken for an ID token or any other JWT, and `kid`, so that verifiers pick the right key
    /// across rotations.
    static let accessTokenType = "at+jwt"
    public static let algorithm = "ES256"

    /// RFC 9068 §2.2: `iss`, `exp`, `aud`, `sub`, `client_id`, `iat` and `jti` are REQUIRED;
    /// `auth_time` when a user authenticated (§2.2.1); `scope` as a space-separated list
    /// (§2.2.3). `aud` is a string when there is one audience, an array otherwise (RFC 7519 §4.1.3).
    public func accessToken(_ claims: AccessTokenClaims, tenant: ResolvedTenant) async throws -> IssuedAccessToken {
        try await accessToken(claims, tenant: tenant, as: plan(lifetime: claims.lifetime, tenant: tenant))
    }

    /// The `jti` and times of the next access token, chosen before its claims are known: a
    /// refresh grant records them in the statement that also reads what the claims come from.
    func plan(lifetime: TimeInterval? = nil, tenant: ResolvedTenant, key: ES256KeyPair? = nil) -> PlannedAccessToken {
        let issuedAt = Self.wholeSeconds(now())
        let lifetime = lifetime ?? TimeInterval(tenant.tenant.policy.authorizationServer.accessTokenLifetimeSeconds)
        return PlannedAccessToken(jti: Self.newJTI(), issuedAt: issuedAt, expiresAt: issuedAt.addingTimeInterval(lifetime.rounded()), key: key)
    }

    /// Signs `claims` as the access token `planned` (its `lifetime` was used by the plan).
    func accessToken(_ claims: AccessTokenClaims, tenant: ResolvedTenant, as planned: PlannedAccessToken) async throws -> IssuedAccessToken {
        let key = if let key = planned.key { key } else { try await keys.signingKey(tenantID: tenant.tenant.id) }
        let (issuedAt, expiresAt, jti) = (planned.issuedAt, planned.expiresAt, planned.jti)
        var payload: [String: JSONValue] = [
            "iss": .string(tenant.issuer),
            "sub": .string(claims.subject),
            "aud": Self.audience(claims.audiences.isEmpty ? [tenant.issuer] : claims.audiences),
            "client_id": .string(claims.clientID),
            "iat": .number(issuedAt.timeIntervalSince1970),
            "exp": .number(expiresAt.timeIntervalSince1970),
            "jti": .string(jti),
        ]
        if !claims.scopes.isEmpty { payload["scope"] = .string(claims.scopes.joined(separator: " ")) }
        if let authTime = claims.authTime { payload["auth_time"] = .number(Self.wholeSeconds(authTime).timeIntervalSince1970) }
        let token = try CompactJWS.sign(header: Self.header(type: Self.accessTokenType, kid: key.kid), claims: payload, with: key)
        return IssuedAccessToken(token: token, jti: jti, issuedAt: issuedAt, expiresAt: expiresAt)
    }

    /// OIDC Core §2: `iss`, `sub`, `aud` (the client_id), `exp`, `iat`; `auth_time` when known;
    /// `nonce` exactly as sent (§3.1.3.7 item 11); `at_hash` because an access token is issued
    /// beside it (§3.1.3.6). Signed with the same key as the access tokens, so one JWKS serves both.
    public func idToken(_ claims: IDTokenClaims, accessToken: String, tenant: ResolvedTenant) async throws -> String {
        try await idToken(claims, accessToken: accessToken, tenant: tenant, key: try await keys.signingKey(tenantID: tenant.tenant.id))
    }

    /// As above, with the key already at hand.
    func idToken(_ claims: IDTokenClaims, accessToken: String, tenant: ResolvedTenant, key: ES256KeyPair) async throws -> String {
        let issuedAt = Self.wholeSeconds(now())
        let lifetime = claims.lifetime ?? TimeInterval(tenant.tenant.policy.authorizationServer.accessTokenLifetimeSeconds)
        var payload: [String: JSONValue] = [
            "iss": .string(tenant.issuer),
            "sub": .string(claims.subject),
            "aud": .string(claims.clientID),
            "iat": .number(issuedAt.timeIntervalSince1970),
            "exp": .number(issuedAt.addingTimeInterval(lifetime.rounded()).timeIntervalSince1970),
            "at_hash": .string(Self.atHash(accessToken)),
        ]
        if let authTime = claims.authTime { payload["auth_time"] = .number(Self.wholeSeconds(authTime).timeIntervalSince1970) }
        if let nonce = claims.nonce { payload["nonce"] = .string(nonce) }
        if let email = claims.email { payload["email"] = .string(email) }
        if let emailVerified = claims.emailVerified { payload["email_verified"] = .bool(emailVerified) }
        if let name = claims.name, !name.isEmpty { payload["name"] = .string(name) }
        return try CompactJWS.sign(header: Self.header(type: "JWT", kid: key.kid), claims: payload, with: key)
    }

    /// OIDC Core §3.1.3.6: base64url of the left-most half of the hash of the ASCII access
    /// token, the hash being the one of the ID token's `alg` (SHA-256 for ES256).
    static func atHash(_ accessToken: String) -> String {
        SecretGenerator.base64URL(SHA256.hash(data: Data(accessToken.utf8)).prefix(16))
    }

    static func header(type: String, kid: String) -> [String: JSONValue] {
        ["alg": .string(algorithm), "typ": .string(type), "kid": .string(kid)]
    }

    static func audience(_ audiences: [String]) -> JSONValue {
        audiences.count == 1 ? .string(audiences[0]) : .array(audiences.map(JSONValue.string))
    }

    /// RFC 9068 §2.2 / RFC 7519 §4.1.7: unique per token; 256 random bits, so no two instances
    /// can ever pick the same one.
    static func newJTI() -> String {
        SecretGenerator.randomToken()
    }

    /// NumericDate (RFC 7519 §2) is whole seconds here, so `exp - iat` is exactly the lifetime.
    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}
