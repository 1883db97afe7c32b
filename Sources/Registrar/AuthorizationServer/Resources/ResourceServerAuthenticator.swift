import Foundation
import Hummingbird

/// Authenticates a tenant's resource server calling the authorization server (introspection,
/// RFC 7662 §2.1), with the credential it was given at registration: HTTP Basic `rs_…:rss_…`
/// (RFC 6749 §2.3.1) or the form parameters `client_id` and `client_secret`.
///
/// Unknown id, wrong or malformed credential, another tenant's resource server, two methods at
/// once: one answer, `invalid_client` (401), so that nothing is learnt about which resource
/// servers exist. A wrong credential costs one HMAC, never argon2 (the keyed tag, design §4), and
/// a right one pays argon2 once: the verified-token cache remembers it against the stored hash,
/// so a resource server introspecting on every request does not queue on the hashing pool.
public struct ResourceServerAuthenticator: Sendable {
    let servers: any ResourceServerRepository
    let verifier: TokenVerifier
    let now: @Sendable () -> Date

    public init(servers: any ResourceServerRepository, verifier: TokenVerifier, now: @escaping @Sendable () -> Date = { Date() }) {
        self.servers = servers
        self.verifier = verifier
        self.now = now
    }

    /// The one answer for every failed resource-server authentication (RFC 6749 §5.2).
    public static let rejected = OAuthError(.invalidClient, "the resource server could not be authenticated")

    /// The resource server that authenticated the request; nil when the request presents no
    /// resource-server credential at all (no Basic user and no `client_id` starting with `rs_`),
    /// so the caller can try client authentication instead. Throws `rejected` when it presents
    /// one that does not verify.
    /// - Parameter form: the request's form parameters, already read by the caller (the body can
    ///   be read only once).
    /// - Parameters:
    ///   - jti: an access token's `jti` to look up on the revocation list in the same round trip
    ///     as the resource server (introspection's question; nil asks nothing).
    ///   - checks: address checks that must pass before any credential is looked at; run by
    ///     `limiter`, or inside the lookup's statement where the limiter lives in PostgreSQL. A
    ///     request without a resource-server credential runs none of them here (the caller's
    ///     client authentication does).
    public func authenticate(_ request: Request, tenant: ResolvedTenant, form: [String: String] = [:],
                             checkingRevocationOf jti: String? = nil,
                             limiter: any RateLimiter = UnlimitedRateLimiter(), checks: [RateLimitCheck] = []) async throws -> Authenticated? {
        let presented: Presented?
        do {
            presented = try Self.presentedCredentials(request, form: form)
        } catch {
            try await limiter.check(checks)
            throw error
        }
        guard let presented else { return nil }
        let tenantID = tenant.tenant.id
        let plausible = ResourceServer.isIssuedID(presented.id) && ResourceServer.isCredentialShaped(presented.secret)
        let shared = plausible && limiter.checksShareLookups
        if !shared { try await limiter.check(checks) }
        guard plausible,
              let (server, jtiRevoked) = try await servers.find(id: presented.id, tenant: tenantID, checkingRevocationOf: jti,
                                                                 afterChecking: shared ? checks : [])
        else { throw Self.rejected }
        switch try await verifier.verify(presented.secret, against: server.credentialHash, tag: server.credentialTag, tenant: tenantID) {
        case .mismatch:
            throw Self.rejected
        case .verified(let rehash, let untagged):
            if rehash {
                let fresh = try await verifier.protect(presented.secret, tenant: tenantID)
                try await servers.replaceCredentialHash(id: server.id, tenant: tenantID, from: server.credentialHash, to: fresh)
            } else if untagged {
                try await servers.storeTag(id: server.id, tenant: tenantID, hash: server.credentialHash, tag: verifier.tags.tag(presented.secret))
            }
        }
        // Bookkeeping only: a failed write must not refuse a caller that proved itself.
        try? await servers.markUsed(server, at: now())
        return Authenticated(server: server, jtiRevoked: jtiRevoked)
    }

    /// A resource server that proved itself, and the answer to the revocation question asked with it.
    public struct Authenticated: Sendable {
        public let server: ResourceServer
        /// Whether the `jti` asked about is revoked; false when none was asked about.
        public let jtiRevoked: Bool
    }

    /// An id and secret as presented.
    struct Presented: Equatable {
        let id: String
        let secret: String
    }

    /// The credential the request presents for a resource server, if any. RFC 6749 §2.3: a
    /// client MUST NOT use more than one authentication method in a request, so Basic together
    /// with `client_secret` in the body is refused. Basic is read as client authentication
    /// reads it (RFC 6749 §2.3.1), and a malformed one is refused with the same answer as a
    /// wrong credential.
    static func presentedCredentials(_ request: Request, form: [String: String]) throws(OAuthError) -> Presented? {
        if let basic = try basicCredentials(request.headers[.authorization]) {
            guard basic.id.hasPrefix("rs_") else { return nil }
            guard form["client_secret"] == nil, form["client_id"].map({ $0 == basic.id }) ?? true else { throw rejected }
            return basic
        }
        guard let id = form["client_id"], id.hasPrefix("rs_") else { return nil }
        guard let secret = form["client_secret"] else { throw rejected }
        return Presented(id: id, secret: secret)
    }

    /// Basic credentials as client authentication reads them; nil when the header is absent or
    /// another scheme, `rejected` when it is a malformed Basic one.
    static func basicCredentials(_ header: String?) throws(OAuthError) -> Presented? {
        guard let header else { return nil }
        do {
            return try BasicCredentials.parse(authorization: header).map { Presented(id: $0.clientID, secret: $0.secret) }
        } catch {
            throw rejected
        }
    }
}
