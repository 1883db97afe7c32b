import Foundation
import Hummingbird

/// RFC 7591 §3: the initial access token presented to the registration endpoint. Unknown,
/// malformed, expired, exhausted, revoked or wrong: one answer, `OAuthError.invalidToken`.
struct InitialAccessTokenAuthenticator: Sendable {
    let tokens: any InitialAccessTokenRepository
    let verifier: TokenVerifier
    let limiter: any RateLimiter
    let now: @Sendable () -> Date

    struct Presented: Sendable {
        let token: InitialAccessToken
        let secret: String
        let budget: RateLimitCheck
    }

    /// Finds the presented token without hashing (cheap checks first); nil when none was sent.
    /// The caller has already checked the address's failures. The token's own budget is only
    /// looked at here: token ids are not secret, so it is spent in `verify`, once the secret matched.
    func lookUp(_ request: Request, tenantID: UUID, limits: RateLimits) async throws -> Presented? {
        guard let presented = try BearerToken.from(request) else { return nil }
        guard let (id, _) = InitialAccessToken.parse(presented) else { throw OAuthError.invalidToken }
        let budget = RateLimitCheck("initial_access_token", key: "iat:\(id)", tenantID: tenantID, limit: limits.initialAccessToken)
        try await limiter.check(budget.name, key: budget.key, tenantID: tenantID, limit: budget.limit, consume: false)
        guard let token = try await tokens.find(tenantID: tenantID, id: id), token.isUsable(at: now())
        else { throw OAuthError.invalidToken }
        return Presented(token: token, secret: presented, budget: budget)
    }

    /// The pre-check and argon2 check, run once the request is known to be worth storing; a
    /// verified token spends one of its registrations.
    func verify(_ presented: Presented) async throws {
        let token = presented.token
        guard case .verified(_, let untagged) = try await verifier.verify(presented.secret, against: token.secretHash, tag: token.secretTag,
                                                                          tenant: token.tenantID) else {
            throw OAuthError.invalidToken
        }
        if untagged {
            try await tokens.storeTag(tenantID: token.tenantID, id: token.id, hash: token.secretHash, tag: verifier.tags.tag(presented.secret))
        }
        try await limiter.check([presented.budget])
    }
}

/// RFC 7592 §2: the registration access token, bound to exactly one client of one tenant.
/// Missing, malformed, wrong, rotated out past its grace, another client's, another tenant's,
/// for an unknown, deleted or disabled client: one answer, `OAuthError.invalidToken`, so that
/// nothing can be learnt about which clients exist.
struct RegistrationAccessTokenAuthenticator: Sendable {
    let clients: any ClientRepository
    let verifier: TokenVerifier
    let limiter: any RateLimiter
    let failures: FailedAuthenticationRecorder
    let usage: UsageRecorder
    let platform: PlatformRateLimits
    let now: @Sendable () -> Date

    /// Whether `clientID` has the shape of an identifier this server issues: `cl_` + 24 base62
    /// (`SecretGenerator.clientID`). Anything else names no client, so it is refused before the
    /// limiter or the database sees it, and no caller-chosen text becomes limiter state. RFC 7592
    /// §2: an unknown client gets the same 401 `invalid_token` as a wrong token.
    static func isIssuedClientID(_ clientID: String) -> Bool {
        clientID.utf8.count == 27 && clientID.hasPrefix("cl_")
            && clientID.utf8.dropFirst(3).allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
            }
    }

    /// The client and the stored hash the presented token matched (current or previous).
    struct Authenticated: Sendable {
        let client: RegisteredClient
        let matchedHash: String
    }

    /// In order, stopping at the first refusal: the path's shape (no limiter, no database), the
    /// address's failures across the platform and in the tenant, a look at the client's budget
    /// (so that an exhausted client costs no hashing), the token, and only then the client's
    /// budget is spent. Client ids are public (they travel in authorization URLs), so nobody
    /// but the holder of the token can spend a client's budget, and a refused address spends
    /// nothing at all. A failure counts against the caller's address.
    func authenticate(_ request: Request, tenantID: UUID, clientID: String, source: String?, limitAddress: String,
                      limits: RateLimits, requestID: String? = nil) async throws -> Authenticated {
        guard Self.isIssuedClientID(clientID) else { throw OAuthError.invalidToken }
        let budget = RateLimitCheck("client_configuration", key: "client:\(clientID)", tenantID: tenantID, limit: limits.clientConfigurationPerClient)
        try await limiter.check([
            .platformFailures(from: limitAddress, limits: platform),
            .failures(from: limitAddress, tenantID: tenantID, limit: limits.failedAuthenticationsPerAddress),
            RateLimitCheck(budget.name, key: budget.key, tenantID: tenantID, limit: budget.limit, consume: false),
        ])
        do {
            let client = try await verify(request, tenantID: tenantID, clientID: clientID)
            try await limiter.check([budget])
            try await usage.recordUse(tenantID: tenantID, clientID: clientID)
            return client
        } catch let error as OAuthError where error.code == .invalidToken {
            await failures.record(tenantID: tenantID, source: source, limitAddress: limitAddress, limit: limits.failedAuthenticationsPerAddress,
                                  credential: "registration_access_token", requestID: requestID)
            throw error
        }
    }

    func verify(_ request: Request, tenantID: UUID, clientID: String) async throws -> Authenticated {
        guard let token = try BearerToken.from(request), BearerToken.isRegistrationAccessTokenShaped(token),
              let client = try await clients.find(tenantID: tenantID, clientID: clientID), client.status == .active,
              let currentHash = client.registrationAccessTokenHash
        else { throw OAuthError.invalidToken }
        switch try await verifier.verify(token, against: currentHash, tag: client.registrationAccessTokenTag, tenant: tenantID) {
        case .verified(let rehash, let untagged):
            if rehash {
                let fresh = try await verifier.protect(token, tenant: tenantID)
                try await clients.rehashRegistrationAccessToken(tenantID: tenantID, clientID: clientID,
                                                                from: currentHash, to: fresh)
                var rehashed = client
                rehashed.registrationAccessTokenHash = fresh.hash
                rehashed.registrationAccessTokenTag = fresh.tag
                return Authenticated(client: rehashed, matchedHash: fresh.hash)
            }
            if untagged {
                try await clients.storeTag(tenantID: tenantID, clientID: clientID, .registrationAccessToken,
                                           hash: currentHash, tag: verifier.tags.tag(token))
            }
            return Authenticated(client: client, matchedHash: currentHash)
        case .mismatch:
            // RFC 7592 §3 lets the server rotate the token; the previous one keeps working for a
            // short grace so that a client that lost the response is not locked out.
            if let previous = client.previousRegistrationAccessTokenHash,
               let validUntil = client.previousRegistrationAccessTokenValidUntil, validUntil > now(),
               case .verified(_, let untagged) = try await verifier.verify(token, against: previous, tag: client.previousRegistrationAccessTokenTag, tenant: tenantID) {
                if untagged {
                    try await clients.storeTag(tenantID: tenantID, clientID: clientID, .previousRegistrationAccessToken,
                                               hash: previous, tag: verifier.tags.tag(token))
                }
                return Authenticated(client: client, matchedHash: previous)
            }
            throw OAuthError.invalidToken
        }
    }
}
