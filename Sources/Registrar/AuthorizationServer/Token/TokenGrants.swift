import Foundation

/// The grants of `POST {issuer}/token` (RFC 6749 §4.1.3, §6, §4.4), once the client is
/// authenticated: every check of the code or refresh token, the new tokens, and what is stored.
struct TokenGrants: Sendable {
    let grants: any TokenGrantRepository
    let issuer: AccessTokenIssuer
    let signingKeys: SigningKeyStore
    let resources: any ResourceServerRepository
    let now: @Sendable () -> Date

    typealias Client = ClientAuthenticator.Authenticated

    /// A code or rotated refresh token presented a second time: what it gave was revoked, and the
    /// request is answered `invalid_grant` like any other dead credential (the caller audits it).
    struct ReuseDetected: Error, Equatable {
        enum Credential: String, Sendable { case authorizationCode = "authorization_code", refreshToken = "refresh_token" }
        let credential: Credential
        var answer: OAuthError { credential == .authorizationCode ? TokenGrants.invalidCode : TokenGrants.invalidRefreshToken }
    }

    static let invalidCode = OAuthError(.invalidGrant, "the authorization code is invalid, expired, already used or was issued to another client")
    static let invalidRefreshToken = OAuthError(.invalidGrant, "the refresh token is invalid, expired or revoked")

    /// The `sub` of a user's tokens: the user id in lower case, as everywhere else.
    static func subject(_ userID: UUID) -> String { userID.uuidString.lowercased() }

    /// Whether the client gets refresh tokens: when it registered the `refresh_token` grant and
    /// the tenant allows it. `offline_access` is not required: ChatGPT and Claude register the
    /// grant, never ask for the scope, and expect a refresh token (RFC 6749 §1.5 leaves the
    /// decision to the authorization server).
    static func issuesRefreshTokens(to client: RegisteredClient, policy: RegistrationPolicy) -> Bool {
        client.metadata.grantTypes.contains(.refreshToken) && policy.grantTypes.contains(.refreshToken)
    }

    /// The code or refresh token a grant presents, when well formed: what the client's lookup
    /// reads beside the client, so that the grant needs no statement of its own to find it. The
    /// grant's writes come planned, for the lookup to redeem the code or spend the refresh token
    /// itself if the client turns out to be public (`PlannedRedemption`, `PlannedRefresh`).
    func credential(of grantType: GrantType, in form: FormBody, tenant: ResolvedTenant) async -> GrantCredential? {
        switch grantType {
        case .authorizationCode:
            guard let code = form["code"], OpaqueToken.isWellFormed(code, prefix: OpaqueToken.authorizationCodePrefix) else { return nil }
            let redeem = await plannedAccessToken(tenant).flatMap {
                Self.plannedRedemption(form, policy: tenant.tenant.policy, at: now(), accessToken: $0)
            }
            return .authorizationCode(hash: OpaqueToken.hash(code), redeem: redeem)
        case .refreshToken:
            guard let presented = form["refresh_token"], OpaqueToken.isWellFormed(presented, prefix: OpaqueToken.refreshTokenPrefix) else { return nil }
            let spend = await plannedAccessToken(tenant).flatMap { Self.plannedRefresh(form, policy: tenant.tenant.policy, at: now(), accessToken: $0) }
            return .refreshToken(hash: OpaqueToken.hash(presented), spend: spend)
        case .clientCredentials:
            return nil
        }
    }

    /// The access token a planned grant will issue, with the key to sign it; nil without a key
    /// at hand, and then nothing is planned (the two-statement path answers).
    func plannedAccessToken(_ tenant: ResolvedTenant) async -> PlannedAccessToken? {
        guard let key = try? await signingKeys.signingKey(tenantID: tenant.tenant.id) else { return nil }
        return issuer.plan(tenant: tenant, key: key)
    }

    /// What a public client's refresh grant would write; nil where the grant cannot be decided in
    /// its lookup (a malformed scope, a grant the tenant no longer allows), which then takes the
    /// two-statement path and its answers.
    static func plannedRefresh(_ form: FormBody, policy: RegistrationPolicy, at: Date, accessToken: PlannedAccessToken) -> PlannedRefresh? {
        // `scope` omitted parses to nil (the scopes granted); only a malformed one stops the plan.
        guard policy.grantTypes.contains(.refreshToken), case .success(let scopes) = Result(catching: { try ScopeParameter.parse(form["scope"]) }),
              isText(form.all("resource"))
        else { return nil }
        return PlannedRefresh(now: at, successor: OpaqueToken.refreshToken(),
                              idleExpiresAt: at.addingTimeInterval(TimeInterval(policy.authorizationServer.refreshTokenLifetimeSeconds)),
                              accessToken: accessToken, scopes: scopes, resources: form.all("resource"))
    }

    /// Whether the values can be sent as PostgreSQL text, which holds no NUL. One that cannot
    /// matches nothing stored, so the two-statement path answers it (`invalid_target`, `invalid_grant`).
    static func isText(_ values: [String]) -> Bool {
        values.allSatisfy { !$0.utf8.contains(0) }
    }

    /// What a public client's code exchange would write; nil where it cannot be decided in the
    /// lookup (no or a malformed verifier, a grant the tenant no longer allows).
    static func plannedRedemption(_ form: FormBody, policy: RegistrationPolicy, at: Date, accessToken: PlannedAccessToken) -> PlannedRedemption? {
        guard policy.grantTypes.contains(.authorizationCode), let verifier = form["code_verifier"], PKCE.isValidVerifier(verifier),
              isText(form.all("resource") + form.all("redirect_uri"))
        else { return nil }
        let settings = policy.authorizationServer
        let absolute = at.addingTimeInterval(TimeInterval(settings.refreshTokenAbsoluteLifetimeSeconds))
        return PlannedRedemption(now: at, familyID: UUID(), challenge: PKCE.challenge(for: verifier), redirectURI: form["redirect_uri"],
                                 resources: form.all("resource"),
                                 refreshToken: policy.grantTypes.contains(.refreshToken) ? OpaqueToken.refreshToken() : nil,
                                 refreshExpiresAt: min(absolute, at.addingTimeInterval(TimeInterval(settings.refreshTokenLifetimeSeconds))),
                                 absoluteExpiresAt: absolute, accessToken: accessToken)
    }

    // MARK: - authorization_code

    /// RFC 6749 §4.1.3 and RFC 7636 §4.5–4.6.
    func authorizationCode(_ form: FormBody, client: Client, tenant: ResolvedTenant) async throws -> TokenResponse {
        guard let code = form["code"] else { throw OAuthError(.invalidRequest, "code is required") }
        // RFC 7636 §4.5 / OAuth 2.1 §4.1.3: every code here was issued with an S256 challenge,
        // so the verifier is required; RFC 7636 §4.1 fixes its syntax.
        guard let verifier = form["code_verifier"] else { throw OAuthError(.invalidRequest, "code_verifier is required (RFC 7636 §4.5)") }
        guard PKCE.isValidVerifier(verifier) else {
            throw OAuthError(.invalidRequest, "code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)")
        }
        guard OpaqueToken.isWellFormed(code, prefix: OpaqueToken.authorizationCodePrefix) else { throw Self.invalidCode }
        let redirectURI = form["redirect_uri"]
        let requestedResources = form.all("resource")
        if case .authorizationCodeRedeemed(let found, let answer, let plan)? = client.credential {
            return try await redeemed(found.code, answer, plan: plan, code: code, verifier: verifier, client: client, tenant: tenant)
        }
        let settings = tenant.tenant.policy.authorizationServer
        let refresh = Self.issuesRefreshTokens(to: client.client, policy: tenant.tenant.policy)
        let at = now()
        // Loaded before the read, so that signing between the read and the write finds the key in memory.
        _ = try await signingKeys.signingKey(tenantID: tenant.tenant.id)
        let (issuer, clientID) = (issuer, client.client.clientID)
        let hash = OpaqueToken.hash(code)
        let found: FoundAuthorizationCode?
        if case .authorizationCode(let read)? = client.credential { found = read } else {
            found = try await grants.findAuthorizationCode(hash: hash, tenantID: tenant.tenant.id)
        }
        guard let found else { throw Self.invalidCode }
        let outcome = try await grants.redeemCode(found, hash: hash, tenantID: tenant.tenant.id, now: at) { stored in
            let audiences = try Self.check(stored, clientID: clientID, at: at, redirectURI: redirectURI, verifier: verifier,
                                           resources: requestedResources)
            let access = try await issuer.accessToken(Self.accessClaims(stored, clientID: clientID, audiences: audiences), tenant: tenant)
            let idToken = try await issuer.idToken(ofCode: stored, clientID: clientID, accessToken: access.token, tenant: tenant)
            let absoluteExpiry = refresh ? at.addingTimeInterval(TimeInterval(settings.refreshTokenAbsoluteLifetimeSeconds)) : access.expiresAt
            let refreshToken = refresh ? OpaqueToken.refreshToken() : nil
            let record = CodeExchangeRecord(
                familyID: UUID(), absoluteExpiresAt: absoluteExpiry,
                refreshToken: refreshToken.map {
                    NewRefreshToken(hash: OpaqueToken.hash($0),
                                    expiresAt: min(absoluteExpiry, at.addingTimeInterval(TimeInterval(settings.refreshTokenLifetimeSeconds))))
                },
                accessToken: RecordedAccessToken(jti: access.jti, expiresAt: access.expiresAt))
            return (record, TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, scopes: stored.scopes,
                                          refreshToken: refreshToken, idToken: idToken))
        }
        switch outcome {
        case .unknown: throw Self.invalidCode
        case .reused: throw ReuseDetected(credential: .authorizationCode)
        case .issued(let response): return response
        }
    }

    /// What the access token of a code says (RFC 9068 §2.2).
    static func accessClaims(_ stored: StoredAuthorizationCode, clientID: String, audiences: [String]) -> AccessTokenClaims {
        AccessTokenClaims(subject: subject(stored.user.userID), clientID: clientID, audiences: audiences, scopes: stored.scopes,
                          authTime: stored.authTime)
    }

    /// What the access token of a refresh says: the family's user, or the client for a family without one.
    static func accessClaims(_ stored: StoredRefreshToken, clientID: String, scopes: [String], audiences: [String]) -> AccessTokenClaims {
        AccessTokenClaims(subject: stored.user.map { subject($0.userID) } ?? clientID, clientID: clientID, audiences: audiences,
                          scopes: scopes, authTime: stored.authTime)
    }

    /// Every check of a code before it is redeemed; the audiences of the access token.
    static func check(_ stored: StoredAuthorizationCode, clientID: String, at: Date, redirectURI: String?, verifier: String,
                      resources: [String]) throws -> [String] {
        // RFC 6749 §4.1.3: the code was issued to this client, is unexpired, and the
        // redirect URI matches the one it was issued for.
        guard stored.clientID == clientID, stored.expiresAt > at, stored.user.isActive else { throw Self.invalidCode }
        if stored.redirectURISent {
            // "REQUIRED, if the redirect_uri parameter was included in the authorization
            // request …, and their values MUST be identical."
            guard redirectURI == stored.redirectURI else { throw Self.invalidCode }
        } else if let redirectURI, redirectURI != stored.redirectURI {
            throw Self.invalidCode
        }
        // RFC 7636 §4.6: the verifier must hash to the challenge sent at /authorize.
        guard PKCE.verifies(verifier, challenge: stored.codeChallenge) else {
            throw OAuthError(.invalidGrant, "the code_verifier does not match the code_challenge (RFC 7636 §4.6)")
        }
        // RFC 8707 §2.2: `resource` at the token endpoint picks among the resources the
        // code was granted for; it cannot add one.
        return try Self.narrow(resources, within: stored.resources)
    }

    /// A code the client's lookup redeemed as `plan` said (a public client's exchange in one
    /// statement). As for refresh tokens (`spent`), the lookup redeemed it only where `check`
    /// passes, and the answer is the check's.
    func redeemed(_ stored: StoredAuthorizationCode, _ answer: SpendingAnswer, plan: PlannedRedemption, code: String, verifier: String,
                  client: Client, tenant: ResolvedTenant) async throws -> TokenResponse {
        switch answer {
        case .issued:
            break
        case .reused:
            // Consumed between the lookup's read and its redemption: a second use (RFC 6749 §4.1.2).
            try await grants.revokeReplayedCode(hash: OpaqueToken.hash(code), tenantID: tenant.tenant.id, now: plan.now)
            throw ReuseDetected(credential: .authorizationCode)
        case .refused, .unknown:
            throw Self.invalidCode
        }
        let clientID = client.client.clientID
        let audiences = try Self.check(stored, clientID: clientID, at: plan.now, redirectURI: plan.redirectURI, verifier: verifier,
                                       resources: plan.resources)
        let access = try await issuer.accessToken(Self.accessClaims(stored, clientID: clientID, audiences: audiences), tenant: tenant,
                                                  as: plan.accessToken)
        let idToken = try await issuer.idToken(ofCode: stored, clientID: clientID, accessToken: access.token, tenant: tenant,
                                               key: plan.accessToken.key)
        // The lookup stored the refresh token exactly when the client registered the grant and the tenant allows it.
        let refresh = Self.issuesRefreshTokens(to: client.client, policy: tenant.tenant.policy)
        return TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, scopes: stored.scopes,
                             refreshToken: refresh ? plan.refreshToken : nil, idToken: idToken)
    }

    static func idTokenClaims(for user: TokenSubject, clientID: String, scopes: [String], authTime: Date?, nonce: String?) -> IDTokenClaims {
        // OIDC Core §5.4: `email` and `email_verified` with the email scope, `name` with profile.
        let email = scopes.contains("email")
        let profile = scopes.contains("profile") && !user.displayName.isEmpty
        return IDTokenClaims(subject: subject(user.userID), clientID: clientID, authTime: authTime, nonce: nonce,
                             email: email ? user.email : nil, emailVerified: email ? user.emailVerified : nil,
                             name: profile ? user.displayName : nil)
    }

    /// The audiences a token request may name: a subset of those granted, each `resource`
    /// compared in canonical form (RFC 8707 §2); none named means all of them.
    static func narrow(_ requested: [String], within granted: [String]) throws(OAuthError) -> [String] {
        guard !requested.isEmpty else { return granted }
        let refusal = OAuthError(.invalidTarget, "resource must name a resource this grant was issued for (RFC 8707 §2)")
        let grantedForms = granted.map { ($0, try? ResourceIndicator(parsing: $0).canonical) }
        var audiences: [String] = []
        for raw in requested {
            guard let canonical = try? ResourceIndicator(parsing: raw).canonical,
                  let match = grantedForms.first(where: { $0.1 == canonical })?.0 else { throw refusal }
            if !audiences.contains(match) { audiences.append(match) }
        }
        return audiences
    }

    // MARK: - refresh_token

    /// RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14.
    func refreshToken(_ form: FormBody, client: Client, tenant: ResolvedTenant) async throws -> TokenResponse {
        guard let presented = form["refresh_token"] else { throw OAuthError(.invalidRequest, "refresh_token is required") }
        let requestedScopes = try ScopeParameter.parse(form["scope"])
        let requestedResources = form.all("resource")
        guard OpaqueToken.isWellFormed(presented, prefix: OpaqueToken.refreshTokenPrefix) else { throw Self.invalidRefreshToken }
        if case .refreshTokenSpent(let stored, let spending, let plan)? = client.credential {
            return try await spent(stored, spending, plan: plan, client: client, tenant: tenant)
        }
        let settings = tenant.tenant.policy.authorizationServer
        // OAuth 2.1 §4.3.1: public clients get a new refresh token on every use; for
        // confidential clients the tenant decides.
        let rotate = !client.isConfidential || settings.rotateConfidentialRefreshTokens
        let at = now()
        _ = try await signingKeys.signingKey(tenantID: tenant.tenant.id)
        let (issuer, clientID) = (issuer, client.client.clientID)
        let hash = OpaqueToken.hash(presented)
        let found: StoredRefreshToken?
        if case .refreshToken(let read)? = client.credential { found = read } else {
            found = try await grants.findRefreshToken(hash: hash, tenantID: tenant.tenant.id)
        }
        guard let found else { throw Self.invalidRefreshToken }
        let outcome = try await grants.refresh(found, hash: hash, tenantID: tenant.tenant.id, now: at) { stored in
            let (scopes, audiences) = try Self.check(stored, clientID: clientID, at: at, scopes: requestedScopes, resources: requestedResources)
            let access = try await issuer.accessToken(Self.accessClaims(stored, clientID: clientID, scopes: scopes, audiences: audiences),
                                                      tenant: tenant)
            let idleExpiry = min(stored.absoluteExpiresAt, at.addingTimeInterval(TimeInterval(settings.refreshTokenLifetimeSeconds)))
            let recorded = RecordedAccessToken(jti: access.jti, expiresAt: access.expiresAt)
            if rotate {
                let successor = OpaqueToken.refreshToken()
                return (RefreshRecord(successor: .rotated(NewRefreshToken(hash: OpaqueToken.hash(successor), expiresAt: idleExpiry)), accessToken: recorded),
                        TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, scopes: scopes, refreshToken: successor, idToken: nil))
            }
            // Not rotated: the same token stays valid for another idle lifetime, and is sent
            // back so that clients that replace what they hold keep a working one.
            return (RefreshRecord(successor: .kept(expiresAt: idleExpiry), accessToken: recorded),
                    TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, scopes: scopes, refreshToken: presented, idToken: nil))
        }
        switch outcome {
        case .unknown: throw Self.invalidRefreshToken
        case .reused: throw ReuseDetected(credential: .refreshToken)
        case .issued(let response): return response
        }
    }

    /// Every check of a refresh token before it is spent; the scopes and audiences of the new
    /// access token.
    static func check(_ stored: StoredRefreshToken, clientID: String, at: Date, scopes requested: [String]?,
                      resources: [String]) throws -> (scopes: [String], audiences: [String]) {
        // RFC 6749 §6: bound to the client it was issued to; idle and absolute lifetimes.
        guard stored.clientID == clientID, stored.rotatedAt == nil, stored.revokedAt == nil, stored.expiresAt > at, stored.absoluteExpiresAt > at,
              stored.user?.isActive ?? true else { throw Self.invalidRefreshToken }
        // RFC 6749 §6: "The requested scope MUST NOT include any scope not originally
        // granted by the resource owner"; omitted, it is the original scope.
        let scopes = requested ?? stored.scopes
        guard scopes.allSatisfy(stored.scopes.contains) else {
            throw OAuthError(.invalidScope, "scope may only narrow what was granted (RFC 6749 §6)")
        }
        return (scopes, try Self.narrow(resources, within: stored.resources))
    }

    /// A refresh token the client's lookup spent as `plan` said (a public client's grant in one
    /// statement). The lookup spent it only where `check` passes; should the two ever disagree,
    /// the answer is still the check's, and the family ends at the next use of the rotated-out
    /// token (nobody holds the successor).
    func spent(_ stored: StoredRefreshToken, _ spending: SpendingAnswer, plan: PlannedRefresh, client: Client,
               tenant: ResolvedTenant) async throws -> TokenResponse {
        switch spending {
        case .issued:
            break
        case .reused:
            // Rotated out between the lookup's read and its spending: a replay (RFC 9700 §4.14.2).
            try await grants.revokeReplayedFamily(stored.familyID, tenantID: tenant.tenant.id, now: plan.now)
            throw ReuseDetected(credential: .refreshToken)
        case .refused, .unknown:
            throw Self.invalidRefreshToken
        }
        let clientID = client.client.clientID
        let (scopes, audiences) = try Self.check(stored, clientID: clientID, at: plan.now, scopes: plan.scopes, resources: plan.resources)
        let access = try await issuer.accessToken(Self.accessClaims(stored, clientID: clientID, scopes: scopes, audiences: audiences),
                                                  tenant: tenant, as: plan.accessToken)
        return TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, scopes: scopes, refreshToken: plan.successor, idToken: nil)
    }

    // MARK: - client_credentials

    /// RFC 6749 §4.4: a confidential client acting for itself; the subject is the client, and no
    /// refresh token is issued (§4.4.3).
    func clientCredentials(_ form: FormBody, client: Client, tenant: ResolvedTenant) async throws -> TokenResponse {
        // RFC 6749 §4.4: "MUST only be used by confidential clients".
        guard client.isConfidential else {
            throw OAuthError(.unauthorizedClient, "the client_credentials grant is for confidential clients only (RFC 6749 §4.4)")
        }
        let registered = client.client.metadata.scope
        let requested = try ScopeParameter.parse(form["scope"])
        // No user is present: only the scopes the client registered, never the user-facing ones.
        let scopes = (requested ?? registered).filter { $0 != "openid" && $0 != "offline_access" }
        guard let requested else { return try await clientCredentialsToken(scopes: scopes, form: form, client: client, tenant: tenant) }
        guard requested.allSatisfy(registered.contains), !requested.contains("openid"), !requested.contains("offline_access") else {
            throw OAuthError(.invalidScope, "scope must be among the scopes the client registered")
        }
        return try await clientCredentialsToken(scopes: scopes, form: form, client: client, tenant: tenant)
    }

    func clientCredentialsToken(scopes: [String], form: FormBody, client: Client, tenant: ResolvedTenant) async throws -> TokenResponse {
        var audiences: [String] = []
        for raw in form.all("resource") {
            // RFC 8707 §2: a resource the tenant did not register is `invalid_target`.
            guard let server = try await resources.find(uri: raw, tenant: tenant) else {
                throw OAuthError(.invalidTarget, "resource must name a resource server of this tenant (RFC 8707 §2)")
            }
            if !audiences.contains(server.audience) { audiences.append(server.audience) }
        }
        if audiences.isEmpty {
            audiences = [try await resources.defaultAudience(tenant: tenant)?.audience ?? tenant.issuer]
        }
        let access = try await issuer.accessToken(
            AccessTokenClaims(subject: client.client.clientID, clientID: client.client.clientID, audiences: audiences, scopes: scopes),
            tenant: tenant)
        return TokenResponse(accessToken: access.token, expiresIn: access.expiresIn, scopes: scopes, refreshToken: nil, idToken: nil)
    }
}

extension AccessTokenIssuer {
    /// The ID token issued beside an access token when the code granted `openid` (OIDC Core §3.1.3.3).
    /// `key`: the one the grant planned with, else the tenant's current key.
    func idToken(ofCode stored: StoredAuthorizationCode, clientID: String, accessToken: String, tenant: ResolvedTenant,
                 key: ES256KeyPair? = nil) async throws -> String? {
        guard stored.scopes.contains("openid") else { return nil }
        let claims = TokenGrants.idTokenClaims(for: stored.user, clientID: clientID, scopes: stored.scopes, authTime: stored.authTime, nonce: stored.nonce)
        if let key { return try await idToken(claims, accessToken: accessToken, tenant: tenant, key: key) }
        return try await idToken(claims, accessToken: accessToken, tenant: tenant)
    }
}
