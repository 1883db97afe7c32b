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
    }

    /// Finds the presented token without hashing (cheap checks first); nil when none was sent.
    func lookUp(_ request: Request, tenantID: UUID, source: String?, limits: RateLimits) async throws -> Presented? {
        guard let presented = try BearerToken.from(request) else { return nil }
        try await limiter.guardFailures(from: source, tenantID: tenantID, limit: limits.failedAuthenticationsPerAddress)
        guard let (id, _) = InitialAccessToken.parse(presented) else { throw OAuthError.invalidToken }
        try await limiter.hit("initial_access_token", key: "iat:\(id)", tenantID: tenantID, limit: limits.initialAccessToken)
        guard let token = try await tokens.find(tenantID: tenantID, id: id), token.isUsable(at: now())
        else { throw OAuthError.invalidToken }
        return Presented(token: token, secret: presented)
    }

    /// The pre-check and argon2 check, run once the request is known to be worth storing.
    func verify(_ presented: Presented) async throws {
        let token = presented.token
        guard case .verified(_, let untagged) = try await verifier.verify(presented.secret, against: token.secretHash, tag: token.secretTag) else {
            throw OAuthError.invalidToken
        }
        if untagged {
            try await tokens.storeTag(tenantID: token.tenantID, id: token.id, hash: token.secretHash, tag: verifier.tags.tag(presented.secret))
        }
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
    let now: @Sendable () -> Date

    /// Rate limits (per client, and failures per address) run before any hashing; a failure
    /// counts against the caller's address.
    /// The client and the stored hash the presented token matched (current or previous).
    struct Authenticated: Sendable {
        let client: RegisteredClient
        let matchedHash: String
    }

    func authenticate(_ request: Request, tenantID: UUID, clientID: String, source: String?, limits: RateLimits, requestID: String? = nil) async throws -> Authenticated {
        // No client id this server issues is long or contains control characters; such a path is an unknown client.
        guard clientID.utf8.count <= 2000, !clientID.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw OAuthError.invalidToken
        }
        try await limiter.check([
            .failures(from: source, tenantID: tenantID, limit: limits.failedAuthenticationsPerAddress),
            RateLimitCheck("client_configuration", key: "client:\(clientID)", tenantID: tenantID, limit: limits.clientConfigurationPerClient),
        ])
        do {
            let client = try await verify(request, tenantID: tenantID, clientID: clientID)
            try await usage.recordUse(tenantID: tenantID, clientID: clientID)
            return client
        } catch let error as OAuthError where error.code == .invalidToken {
            await failures.record(tenantID: tenantID, source: source, limit: limits.failedAuthenticationsPerAddress,
                                  credential: "registration_access_token", requestID: requestID)
            throw error
        }
    }

    func verify(_ request: Request, tenantID: UUID, clientID: String) async throws -> Authenticated {
        guard let token = try BearerToken.from(request), BearerToken.isRegistrationAccessTokenShaped(token),
              let client = try await clients.find(tenantID: tenantID, clientID: clientID), client.status == .active
        else { throw OAuthError.invalidToken }
        switch try await verifier.verify(token, against: client.registrationAccessTokenHash, tag: client.registrationAccessTokenTag) {
        case .verified(let rehash, let untagged):
            if rehash {
                let fresh = try await verifier.protect(token)
                try await clients.rehashRegistrationAccessToken(tenantID: tenantID, clientID: clientID,
                                                                from: client.registrationAccessTokenHash, to: fresh)
                var rehashed = client
                rehashed.registrationAccessTokenHash = fresh.hash
                rehashed.registrationAccessTokenTag = fresh.tag
                return Authenticated(client: rehashed, matchedHash: fresh.hash)
            }
            if untagged {
                try await clients.storeTag(tenantID: tenantID, clientID: clientID, .registrationAccessToken,
                                           hash: client.registrationAccessTokenHash, tag: verifier.tags.tag(token))
            }
            return Authenticated(client: client, matchedHash: client.registrationAccessTokenHash)
        case .mismatch:
            // RFC 7592 §3 lets the server rotate the token; the previous one keeps working for a
            // short grace so that a client that lost the response is not locked out.
            if let previous = client.previousRegistrationAccessTokenHash,
               let validUntil = client.previousRegistrationAccessTokenValidUntil, validUntil > now(),
               case .verified(_, let untagged) = try await verifier.verify(token, against: previous, tag: client.previousRegistrationAccessTokenTag) {
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
