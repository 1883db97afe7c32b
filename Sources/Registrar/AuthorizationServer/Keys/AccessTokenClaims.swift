import Foundation

/// What an access token says (RFC 9068 §2.2), as the token endpoint decides it.
public struct AccessTokenClaims: Sendable, Equatable {
    /// `sub`: the user id, or the client_id for `client_credentials` (RFC 9068 §2.2).
    public var subject: String
    public var clientID: String
    /// `aud`: the resource servers (RFC 8707) or the issuer itself; never empty.
    public var audiences: [String]
    public var scopes: [String]
    /// `auth_time` when a user signed in (RFC 9068 §2.2.1).
    public var authTime: Date?
    /// Seconds until `exp`; nil takes the tenant's `access_token_lifetime_seconds`.
    public var lifetime: TimeInterval?

    public init(subject: String, clientID: String, audiences: [String], scopes: [String], authTime: Date? = nil, lifetime: TimeInterval? = nil) {
        self.subject = subject
        self.clientID = clientID
        self.audiences = audiences
        self.scopes = scopes
        self.authTime = authTime
        self.lifetime = lifetime
    }
}

/// What an ID token says (OpenID Connect Core §2), issued beside an access token when `openid`
/// was granted.
public struct IDTokenClaims: Sendable, Equatable {
    public var subject: String
    /// `aud` (OIDC Core §2: the client_id of the relying party).
    public var clientID: String
    public var authTime: Date?
    /// Echoed unchanged when the authorization request carried one (OIDC Core §3.1.3.7 item 11).
    public var nonce: String?
    /// Optional standard claims (OIDC Core §5.1), included only for the scopes granted.
    public var email: String?
    public var emailVerified: Bool?
    public var name: String?
    /// Seconds until `exp`; nil takes the tenant's access-token lifetime.
    public var lifetime: TimeInterval?

    public init(subject: String, clientID: String, authTime: Date? = nil, nonce: String? = nil, email: String? = nil,
                emailVerified: Bool? = nil, name: String? = nil, lifetime: TimeInterval? = nil) {
        self.subject = subject
        self.clientID = clientID
        self.authTime = authTime
        self.nonce = nonce
        self.email = email
        self.emailVerified = emailVerified
        self.name = name
        self.lifetime = lifetime
    }
}

/// A signed access token and what the token endpoint must remember of it.
public struct IssuedAccessToken: Sendable, Equatable {
    public let token: String
    /// The `jti`, for `family_access_tokens` and the revocation list.
    public let jti: String
    public let issuedAt: Date
    public let expiresAt: Date
    /// `expires_in` of the token response (RFC 6749 §5.1).
    public var expiresIn: Int { Int(expiresAt.timeIntervalSince(issuedAt).rounded()) }
}

/// An access token whose signature, type, issuer and expiry checked out. Whether it was revoked
/// is not known here: introspection and `/userinfo` check the revocation list.
public struct VerifiedAccessToken: Sendable, Equatable {
    public let subject: String
    public let clientID: String
    public let audiences: [String]
    public let scopes: [String]
    public let jti: String
    public let issuedAt: Date
    public let expiresAt: Date
    public let authTime: Date?
    public let kid: String
    /// Every claim, as signed.
    public let claims: [String: JSONValue]
}
