import Foundation
import HTTPTypes
import Hummingbird

/// Sign-in through one of the tenant's OpenID providers (OpenID Connect Core 1.0 §3.1, the
/// authorization code flow): `GET {issuer}/signin/upstream/{provider}` sends the browser there
/// with `state`, `nonce` and PKCE (RFC 7636, S256); `GET {issuer}/signin/callback` takes it back,
/// exchanges the code, checks the ID token, finds or creates the user (just in time: a second
/// sign-in finds the same user by the provider's subject), starts a session and keeps what the
/// provider issued in the vault. The callback URL is the tenant issuer's own, whichever host or
/// path the tenant is reached at.
///
/// The state is good once, for ten minutes, from the browser that started the sign-in (bound to
/// its pre-session cookie), so a callback link handed to someone else signs nobody in.
struct UpstreamSignInController: Sendable {
    let signIn: SignInController
    let providers: any IdentityProviderRepository
    let upstream: UpstreamProviders
    let users: any UserRepository
    let sessions: SessionStore
    let encryption: KeyEncryptionKey
    let now: @Sendable () -> Date

    static let pendingLifetime: TimeInterval = 600

    func addRoutes(to router: Router<AppRequestContext>) {
        for prefix in ["", "/t/:tenant"] {
            router.get("\(prefix)/signin/upstream/:provider", use: start)
            router.get("\(prefix)/signin/callback", use: callback)
        }
    }

    static func callbackURL(_ tenant: ResolvedTenant) -> String { tenant.issuer + "/signin/callback" }

    static func startURL(_ tenant: ResolvedTenant, provider: String, returnTo: String?) -> String {
        let url = tenant.issuer + "/signin/upstream/" + provider
        guard let returnTo, SignInReturnPath.isValid(returnTo, tenant: tenant) else { return url }
        return url + "?return_to=" + SignInReturnPath.encode(returnTo)
    }

    func error(_ tenant: ResolvedTenant, _ message: String, status: HTTPResponse.Status = .badRequest) -> Response {
        signIn.pages.errorPage(tenantName: tenant.tenant.displayName, message: message, status: status)
    }

    // MARK: - Start

    @Sendable func start(request: Request, context: AppRequestContext) async throws -> Response {
        try await signIn.page(request, context) { tenant in
            guard let id = context.parameters.get("provider"), let provider = try await providers.find(id: id, tenant: tenant.tenant.id) else {
                return error(tenant, "There is no such way to sign in here.", status: .notFound)
            }
            let returnTo = request.uri.queryParameters["return_to"].map(String.init)
            if let returnTo, !SignInReturnPath.isValid(returnTo, tenant: tenant) { return signIn.badReturnTo(tenant) }
            let discovery: UpstreamProviders.Discovery
            do {
                discovery = try await upstream.discovery(issuer: provider.issuer, now: now())
            } catch let failure as UpstreamProviders.Failure {
                context.logger.warning("identity provider unusable", metadata: ["provider": .string(provider.id), "reason": .string(failure.description)])
                return self.error(tenant, "\(provider.displayName) cannot be reached for sign-in now. Try again later.", status: .badGateway)
            }
            // Each start stores a row: anyone's starts are counted as registrations are.
            let limits = tenant.tenant.policy.rateLimits
            try await signIn.limiter.check([RateLimitCheck("upstream_sign_ins_per_address", key: "upstream:\(context.limitAddress)",
                                                           tenantID: tenant.tenant.id, limit: limits.registerPerAddress)])
            // The browser is bound by its pre-session cookie (made here if it has none).
            let cookie = CSRFProtection.preSessionCookie(tenant)
            var setCookie: String?
            var binding = cookie.value(in: request.headers).flatMap { SessionStore.isWellFormed($0) ? $0 : nil }
            if binding == nil {
                let fresh = SecretGenerator.randomToken()
                binding = fresh
                setCookie = cookie.setting(fresh, maxAge: SignInController.preSessionLifetimeSeconds)
            }
            let (state, nonce, verifier) = (SecretGenerator.randomToken(), SecretGenerator.randomToken(), SecretGenerator.randomToken())
            try await providers.startSignIn(PendingUpstreamSignIn(
                tenantID: tenant.tenant.id, stateHash: OpaqueToken.hash(state), providerID: provider.id,
                browserHash: OpaqueToken.hash(binding!), nonce: nonce, codeVerifier: verifier, returnTo: returnTo,
                expiresAt: now().addingTimeInterval(Self.pendingLifetime)))
            let query = FormParameters([
                ("response_type", "code"), ("client_id", provider.clientID), ("redirect_uri", Self.callbackURL(tenant)),
                ("scope", provider.scopes.joined(separator: " ")), ("state", state), ("nonce", nonce),
                ("code_challenge", PKCE.challenge(for: verifier)), ("code_challenge_method", "S256"),
            ]).encoded
            let separator = discovery.authorizationEndpoint.contains("?") ? "&" : "?"
            var headers: HTTPFields = [.location: discovery.authorizationEndpoint + separator + query, .cacheControl: "no-store"]
            if let setCookie { headers.append(HTTPField(name: .setCookie, value: setCookie)) }
            return Response(status: .seeOther, headers: headers)
        }
    }

    // MARK: - Callback

    @Sendable func callback(request: Request, context: AppRequestContext) async throws -> Response {
        try await signIn.page(request, context) { tenant in
            let expired = "This sign-in expired or was not started in this browser. Start again from the application."
            guard let query = FormParameters(encoded: request.uri.query ?? ""), query.values("state").count == 1,
                  let state = query.values("state").first, !state.isEmpty, state.utf8.count <= 512 else { return error(tenant, expired) }
            // Taken (deleted) before anything else: a state is good once, whatever follows.
            guard let pending = try await providers.takeSignIn(stateHash: OpaqueToken.hash(state), tenant: tenant.tenant.id),
                  pending.expiresAt > now(),
                  let binding = CSRFProtection.preSessionCookie(tenant).value(in: request.headers),
                  PKCE.constantTimeEquals(OpaqueToken.hash(binding), pending.browserHash)
            else { return error(tenant, expired) }
            guard let provider = try await providers.find(id: pending.providerID, tenant: tenant.tenant.id) else { return error(tenant, expired) }
            if let answer = query.values("error").first {
                return error(tenant, "\(provider.displayName) did not sign you in (\(ClientMetadataValidator.printable(answer))).")
            }
            guard let code = query.values("code").first, !code.isEmpty else { return error(tenant, "\(provider.displayName) sent no code back.") }
            let claims: [String: JSONValue]
            let tokens: UpstreamProviders.Tokens
            do {
                (claims, tokens) = try await exchange(code, pending: pending, provider: provider, tenant: tenant)
            } catch let failure as UpstreamProviders.Failure {
                context.logger.warning("upstream sign-in failed", metadata: ["provider": .string(provider.id), "reason": .string(failure.description)])
                try await users.record(AuditEvent(action: "user.sign_in_failed", actorType: .anonymous, sourceAddress: context.sourceAddress,
                                                  requestID: context.requestID,
                                                  details: ["provider": .string(provider.id), "reason": .string(failure.description)]),
                                       tenant: tenant.tenant.id)
                return error(tenant, "Signing in with \(provider.displayName) did not work. Start again from the application.")
            }
            let user: User
            switch try await localUser(for: claims, provider: provider, tenant: tenant, context: context) {
            case .success(let found): user = found
            case .failure(let refusal): return error(tenant, refusal.description, status: .forbidden)
            }
            try await vault(tokens, user: user, provider: provider, tenant: tenant)
            let sessionCookie = try await sessions.start(for: user, request: request, tenant: tenant)
            try await users.recordSignIn(id: user.id, tenant: tenant.tenant.id, at: now(), audit: AuditEvent(
                action: "user.signed_in", actorType: .user, actorID: user.id.uuidString.lowercased(),
                sourceAddress: context.sourceAddress, requestID: context.requestID, details: ["provider": .string(provider.id)]))
            return signIn.signedIn(user, returnTo: pending.returnTo, tenant: tenant, session: sessionCookie)
        }
    }

    /// The code for tokens, and the ID token checked (OIDC Core §3.1.3.5–§3.1.3.7). A signature
    /// by a key the cached set lacks asks the provider for its keys again, once.
    func exchange(_ code: String, pending: PendingUpstreamSignIn, provider: IdentityProvider,
                  tenant: ResolvedTenant) async throws -> ([String: JSONValue], UpstreamProviders.Tokens) {
        let discovery = try await upstream.discovery(issuer: provider.issuer, now: now())
        let secret: String
        do {
            secret = String(decoding: try encryption.open(provider.sealedSecret, purpose: IdentityProvider.secretPurpose,
                                                          tenantID: tenant.tenant.id, binding: provider.id), as: UTF8.self)
        } catch {
            throw UpstreamProviders.Failure(description: "the provider's client secret does not open with this key-encryption key")
        }
        let tokens = try await upstream.tokens(discovery, form: [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", Self.callbackURL(tenant)),
            ("code_verifier", pending.codeVerifier),
        ], clientID: provider.clientID, secret: secret)
        guard let idToken = tokens.idToken else { throw UpstreamProviders.Failure(description: "the provider's token response has no id_token") }
        let verifier = IDTokenVerifier(issuer: discovery.issuer, clientID: provider.clientID)
        let cached = try await upstream.keys(discovery, now: now())
        do {
            return (try await verifier.verify(idToken, keys: cached, nonce: pending.nonce, now: now()), tokens)
        } catch where error.description.contains("signature") {
            let fresh = try await upstream.keys(discovery, now: now(), refresh: true)
            do {
                return (try await verifier.verify(idToken, keys: fresh, nonce: pending.nonce, now: now()), tokens)
            } catch {
                throw UpstreamProviders.Failure(description: "the ID token: \(error.description)")
            }
        } catch {
            throw UpstreamProviders.Failure(description: "the ID token: \(error.description)")
        }
    }

    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// The local user of an upstream subject: the one linked to it, else one made now.
    ///
    /// The link is keyed on the token's own checked issuer and subject, so that under Entra's
    /// multi-tenant issuer one directory's subject is never another's; there only `sub` or `oid`
    /// may name the subject, never a claim a directory's admin can set to anything. An existing
    /// account with the same email is linked only when the provider vouches for the standard
    /// `email` claim (`email_verified`), and the allowed email domains are judged only on a
    /// verified email, so that nobody takes over or creates an account by naming an email.
    func localUser(for claims: [String: JSONValue], provider: IdentityProvider, tenant: ResolvedTenant,
                   context: AppRequestContext) async throws -> Result<User, Refusal> {
        let tenantID = tenant.tenant.id
        guard let issuer = claims["iss"]?.stringValue,
              let subject = claims[provider.subjectClaim]?.stringValue, (1...500).contains(subject.utf8.count) else {
            return .failure(Refusal(description: "\(provider.displayName) did not say who you are."))
        }
        if claims["tid"] != nil && provider.issuer != issuer && !["sub", "oid"].contains(provider.subjectClaim) {
            return .failure(Refusal(description: "\(provider.displayName) is configured with a subject claim this service cannot trust."))
        }
        let identity = issuer + " " + subject
        let emailVerified = provider.emailClaim == "email" && claims["email_verified"] == .bool(true)
        let email = claims[provider.emailClaim]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
        if !provider.allowedEmailDomains.isEmpty, !(emailVerified && email.map(provider.allows(email:)) == true) {
            try await users.record(AuditEvent(action: "user.sign_in_failed", actorType: .anonymous, sourceAddress: context.sourceAddress,
                                              requestID: context.requestID,
                                              details: ["provider": .string(provider.id), "reason": .string("email_domain")]), tenant: tenantID)
            return .failure(Refusal(description: "Accounts of this email domain cannot sign in here."))
        }
        if let linked = try await providers.linkedUser(provider: provider.id, subject: identity, tenant: tenantID) {
            guard let user = try await users.find(id: linked, tenant: tenantID), user.status == .active else {
                return .failure(Refusal(description: "This account is disabled."))
            }
            return .success(user)
        }
        guard let email, (3...320).contains(email.utf8.count), email.contains("@"),
              email.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            return .failure(Refusal(description: "\(provider.displayName) did not tell this service your email address."))
        }
        let audit = AuditEvent(action: "user.identity_linked", actorType: .system, sourceAddress: context.sourceAddress,
                               requestID: context.requestID, details: ["provider": .string(provider.id)])
        if let existing = try await users.find(email: email, tenant: tenantID) {
            guard emailVerified, existing.status == .active else {
                return .failure(Refusal(description: "An account with this email exists here. Sign in with it first."))
            }
            try await providers.link(provider: provider.id, subject: identity, userID: existing.id, creating: nil, tenant: tenantID, audit: audit)
            return .success(existing)
        }
        // Display text within the column's 400 bytes, whole characters, no control characters.
        var name = String(String.UnicodeScalarView((claims[provider.nameClaim]?.stringValue ?? "").unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }))
        while name.utf8.count > 400 { name.removeLast() }
        let user = User(tenantID: tenantID, email: email, displayName: name, emailVerified: emailVerified,
                        createdAt: now())
        try await providers.link(provider: provider.id, subject: identity, userID: user.id, creating: user, tenant: tenantID, audit: audit)
        return .success(user)
    }

    /// What the provider issued, sealed for this user and provider.
    func vault(_ tokens: UpstreamProviders.Tokens, user: User, provider: IdentityProvider, tenant: ResolvedTenant) async throws {
        try await providers.storeTokens(TokenVault.seal(tokens, user: user.id, provider: provider.id, tenant: tenant.tenant.id,
                                                        encryption: encryption, now: now()))
    }
}
