import Foundation

/// What `/authorize` decided, to be bound into one authorization code.
public struct NewAuthorizationCode: Sendable, Equatable {
    public var clientID: String
    public var userID: UUID
    /// The consent grant the code was issued under, so that revoking the grant revokes its tokens.
    public var grantID: UUID?
    /// The redirect URI the response went to (the one the client sent, or its only registered one).
    public var redirectURI: String
    /// Whether `redirect_uri` was a parameter of the request: RFC 6749 §4.1.3 requires it at the
    /// token endpoint exactly when it was.
    public var redirectURISent: Bool
    /// The S256 `code_challenge` (RFC 7636 §4.2).
    public var codeChallenge: String
    public var scopes: [String]
    /// The resources (RFC 8707 §2) the tokens may name in `aud`, as their servers registered them.
    public var resources: [String]
    public var nonce: String?
    public var authTime: Date

    public init(clientID: String, userID: UUID, grantID: UUID?, redirectURI: String, redirectURISent: Bool, codeChallenge: String,
                scopes: [String], resources: [String], nonce: String?, authTime: Date) {
        self.clientID = clientID
        self.userID = userID
        self.grantID = grantID
        self.redirectURI = redirectURI
        self.redirectURISent = redirectURISent
        self.codeChallenge = codeChallenge
        self.scopes = scopes
        self.resources = resources
        self.nonce = nonce
        self.authTime = authTime
    }
}

/// Issues authorization codes: `ac_` + 256 random bits, stored only as a hash, expiring after the
/// tenant's `authorization_code_lifetime_seconds` (RFC 6749 §4.1.2: "short lifetime", at most
/// 10 minutes recommended).
public struct AuthorizationCodeService: Sendable {
    let codes: any AuthorizationCodeRepository
    let now: @Sendable () -> Date

    public init(codes: any AuthorizationCodeRepository, now: @escaping @Sendable () -> Date = { Date() }) {
        self.codes = codes
        self.now = now
    }

    /// Stores the code's binding and returns the code, which exists nowhere else from then on.
    public func issue(_ code: NewAuthorizationCode, tenant: ResolvedTenant) async throws -> String {
        let value = OpaqueToken.authorizationCode()
        let issuedAt = now()
        let lifetime = TimeInterval(tenant.tenant.policy.authorizationServer.authorizationCodeLifetimeSeconds)
        try await codes.insert(code, hash: OpaqueToken.hash(value), tenantID: tenant.tenant.id,
                               createdAt: issuedAt, expiresAt: issuedAt.addingTimeInterval(lifetime))
        return value
    }
}
