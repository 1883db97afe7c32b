import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The tenant's sign-in page, `GET/POST {issuer}/signin`, and sign-out, `GET/POST {issuer}/signout`.
///
/// Server-rendered and usable without JavaScript. Every POST carries a CSRF token: on the
/// sign-in form it is bound to a random pre-session cookie, on the sign-out form to the session.
/// Failed sign-ins get one message whatever went wrong (unknown email, wrong password, disabled
/// account) and cost the same argon2 work either way, are limited per account and per address
/// with the shared limiter (each attempt counted before it is verified), and are audited (never
/// with the password).
public struct SignInController: Sendable {
    let resolver: TenantResolver
    let users: any UserRepository
    let sessions: SessionStore
    let hasher: Argon2Hasher
    let csrf: CSRFProtection
    let limiter: any RateLimiter
    let pages: PageRenderer
    /// The tenant's upstream OpenID providers, offered on the page.
    let identityProviders: any IdentityProviderRepository
    let now: @Sendable () -> Date
    /// A hash of a random secret with the configured parameters: unknown emails are verified
    /// against it, so that their answer takes as long as a wrong password's.
    let dummyHash: String

    /// Form bodies are small; a larger one is refused before it is read.
    static let maximumBodyBytes = 16 * 1024
    static let maximumPasswordBytes = 1024
    /// How long the sign-in form's pre-session cookie lives.
    static let preSessionLifetimeSeconds = 12 * 3600
    static let failedMessage = "The email or password is not correct."

    init(resolver: TenantResolver, users: any UserRepository, sessions: SessionStore, hasher: Argon2Hasher, csrf: CSRFProtection,
         limiter: any RateLimiter, pages: PageRenderer, identityProviders: any IdentityProviderRepository,
         now: @escaping @Sendable () -> Date) throws {
        self.resolver = resolver
        self.users = users
        self.sessions = sessions
        self.hasher = hasher
        self.csrf = csrf
        self.limiter = limiter
        self.pages = pages
        self.identityProviders = identityProviders
        self.now = now
        self.dummyHash = try Argon2Hasher.hashSync(SecretGenerator.randomToken(), parameters: hasher.parameters, implementation: hasher.implementation)
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        for prefix in ["", "/t/:tenant"] {
            router.get("\(prefix)/signin", use: showSignIn)
            router.post("\(prefix)/signin", use: signIn)
            router.get("\(prefix)/signout", use: showSignOut)
            router.post("\(prefix)/signout", use: signOut)
        }
    }

    /// The sign-in page that returns to `returnTo` once the user has signed in.
    /// - Parameters:
    ///   - returnTo: a path+query under the tenant's own `/authorize` (see `SignInReturnPath`);
    ///     anything else is dropped, and the page then ends at a plain "signed in" page instead
    ///     of redirecting anywhere.
    ///   - loginHint: prefills the email field (OIDC Core §3.1.2.1 `login_hint`).
    ///   - forceLogin: ask for the password even when a session exists (`prompt=login`,
    ///     `max_age` passed). The caller must not send `prompt=login` back in `returnTo`, or the
    ///     browser would come straight back here.
    public static func signInURL(tenant: ResolvedTenant, returnTo: String, loginHint: String?, forceLogin: Bool) -> String {
        var parameters: [String] = []
        if SignInReturnPath.isValid(returnTo, tenant: tenant) {
            parameters.append("return_to=" + SignInReturnPath.encode(returnTo))
        }
        if let loginHint, !loginHint.isEmpty {
            parameters.append("login_hint=" + SignInReturnPath.encode(String(loginHint.prefix(320))))
        }
        if forceLogin { parameters.append("prompt=login") }
        return tenant.issuer + "/signin" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
    }

    // MARK: - Sign-in

    @Sendable func showSignIn(request: Request, context: AppRequestContext) async throws -> Response {
        try await page(request, context) { tenant in
            let query = request.uri.queryParameters
            let returnTo = query["return_to"].map(String.init)
            if let returnTo, !SignInReturnPath.isValid(returnTo, tenant: tenant) { return badReturnTo(tenant) }
            if let returnTo, query["prompt"] != "login", try await sessions.current(request, tenant: tenant) != nil {
                return redirect(to: returnTo, tenant: tenant, cookies: [])
            }
            let hint = query["login_hint"].map { String($0.prefix(320)) } ?? ""
            return try await form(tenant, request: request, email: hint, returnTo: returnTo, error: nil, status: .ok)
        }
    }

    @Sendable func signIn(request: Request, context: AppRequestContext) async throws -> Response {
        try await page(request, context) { tenant in
            guard let fields = try await Self.formFields(request) else {
                return pages.errorPage(tenantName: tenant.tenant.displayName, message: "The sign-in form was not sent as a readable form.")
            }
            let returnTo = fields["return_to"].flatMap { $0.isEmpty ? nil : $0 }
            if let returnTo, !SignInReturnPath.isValid(returnTo, tenant: tenant) { return badReturnTo(tenant) }
            let email = (fields["email"] ?? "").trimmingCharacters(in: .whitespaces)
            let binding = CSRFProtection.preSessionCookie(tenant).value(in: request.headers)
            guard csrf.verify(fields["csrf_token"], purpose: "signin", tenant: tenant, binding: binding) else {
                // A fresh form with a fresh token; what was typed is not trusted, so not kept.
                return try await form(tenant, request: request, email: "", returnTo: returnTo,
                            error: "This sign-in form expired or did not come from this page. Please try again.", status: .forbidden)
            }
            // A provider that turned local passwords off: no password is checked here at all.
            guard try await identityProviders.list(tenant: tenant.tenant.id).allSatisfy(\.localPasswords) else {
                return try await form(tenant, request: request, email: "", returnTo: returnTo,
                                      error: "This service signs you in with your organisation's account only.", status: .forbidden)
            }
            let password = fields["password"] ?? ""
            let limits = tenant.tenant.policy.rateLimits
            // By a hash: limiter keys are bounded (200 bytes) and need not hold anyone's email.
            let accountKey = "signin:" + SecretGenerator.sha256Hex(email.lowercased())
            let addressKey = "signin:" + context.limitAddress
            // Before any hashing, every attempt spends its unit of both budgets in one atomic
            // statement: counting only after argon2 said "wrong" would let a burst of parallel
            // guesses all pass a check that none of them had failed yet. A success spends its unit
            // too (GCRA has no refund); the bursts leave room for that. Past either budget there
            // is no argon2 at all, and the answer is 429 whatever the password.
            try await limiter.check([
                RateLimitCheck("failed_sign_ins_per_address", key: addressKey, tenantID: tenant.tenant.id, limit: limits.failedSignInsPerAddress),
                RateLimitCheck("failed_sign_ins_per_account", key: accountKey, tenantID: tenant.tenant.id, limit: limits.failedSignInsPerAccount),
            ])
            let (user, reason) = try await verify(email: email, password: password, tenant: tenant)
            guard let user else {
                try await users.record(AuditEvent(action: "user.sign_in_failed", actorType: .anonymous, actorID: reason.userID,
                                                  sourceAddress: context.sourceAddress, requestID: context.requestID,
                                                  details: ["reason": .string(reason.text)]), tenant: tenant.tenant.id)
                return try await form(tenant, request: request, email: email, returnTo: returnTo, error: Self.failedMessage, status: .ok)
            }
            let sessionCookie = try await sessions.start(for: user, request: request, tenant: tenant)
            try await users.recordSignIn(id: user.id, tenant: tenant.tenant.id, at: now(), audit: AuditEvent(
                action: "user.signed_in", actorType: .user, actorID: user.id.uuidString.lowercased(),
                sourceAddress: context.sourceAddress, requestID: context.requestID))
            return signedIn(user, returnTo: returnTo, tenant: tenant, session: sessionCookie)
        }
    }

    /// After a sign-in (here or through a provider): the new session's cookie, the pre-session
    /// cookie cleared, and back to the authorization request, or a plain "signed in" page.
    func signedIn(_ user: User, returnTo: String?, tenant: ResolvedTenant, session sessionCookie: String) -> Response {
        let cookies = [sessionCookie, CSRFProtection.preSessionCookie(tenant).clearing]
        guard let returnTo, SignInReturnPath.isValid(returnTo, tenant: tenant) else {
            var response = pages.render("signedin", ["tenantName": tenant.tenant.displayName, "lang": "en",
                                                     "email": user.email, "signOutAction": tenant.issuer + "/signout"])
            for cookie in cookies { response.headers.append(HTTPField(name: .setCookie, value: cookie)) }
            return response
        }
        return redirect(to: returnTo, tenant: tenant, cookies: cookies)
    }

    /// Why a sign-in failed, for the audit log only; the user sees one message for all of them.
    struct FailureReason {
        let text: String
        let userID: String?
    }

    /// The active user whose password this is, or nil and why not. argon2 runs exactly once on
    /// every path that reaches it, against the dummy hash when there is no real one.
    func verify(email: String, password: String, tenant: ResolvedTenant) async throws -> (User?, FailureReason) {
        guard !email.isEmpty, email.utf8.count <= 320, !password.isEmpty, password.utf8.count <= Self.maximumPasswordBytes else {
            return (nil, FailureReason(text: "malformed", userID: nil))
        }
        let credentials = try await users.credentials(email: email, tenant: tenant.tenant.id)
        let hash = credentials?.passwordHash ?? dummyHash
        let matches = try await hasher.verify(password, against: hash, tenant: tenant.tenant.id)
        guard let credentials else { return (nil, FailureReason(text: "unknown_account", userID: nil)) }
        let userID = credentials.user.id.uuidString.lowercased()
        guard credentials.passwordHash != nil, matches else { return (nil, FailureReason(text: "wrong_password", userID: userID)) }
        guard credentials.user.status == .active else { return (nil, FailureReason(text: "disabled", userID: userID)) }
        if let stored = credentials.passwordHash, hasher.needsRehash(stored) {
            // design §4: a verify with old parameters re-hashes with the current ones.
            let fresh = try await hasher.hash(password, tenant: tenant.tenant.id)
            try await users.rehashPassword(id: credentials.user.id, tenant: tenant.tenant.id, from: stored, to: fresh)
        }
        return (credentials.user, FailureReason(text: "", userID: userID))
    }

    /// The sign-in form, with a CSRF token bound to the browser's pre-session cookie (set here
    /// when the browser has none yet), and a way in through each of the tenant's providers.
    func form(_ tenant: ResolvedTenant, request: Request, email: String, returnTo: String?, error: String?,
              status: HTTPResponse.Status) async throws -> Response {
        let providers = try await identityProviders.list(tenant: tenant.tenant.id)
        let cookie = CSRFProtection.preSessionCookie(tenant)
        var binding = cookie.value(in: request.headers).flatMap { SessionStore.isWellFormed($0) ? $0 : nil }
        var setCookie: String?
        if binding == nil {
            let fresh = SecretGenerator.randomToken()
            binding = fresh
            setCookie = cookie.setting(fresh, maxAge: Self.preSessionLifetimeSeconds)
        }
        var values: [String: Any] = [
            "tenantName": tenant.tenant.displayName,
            "lang": "en",
            "action": tenant.issuer + "/signin",
            "csrfToken": csrf.token(purpose: "signin", tenant: tenant, binding: binding!),
            "email": email,
            "returnTo": returnTo ?? "",
            "providers": providers.map { provider -> [String: Any] in
                ["name": provider.displayName, "url": UpstreamSignInController.startURL(tenant, provider: provider.id, returnTo: returnTo)]
            },
            "hasProviders": !providers.isEmpty,
            "localPasswords": providers.allSatisfy(\.localPasswords),
        ]
        if let error { values["error"] = error }
        var response = pages.render("signin", values, status: status)
        if let setCookie { response.headers.append(HTTPField(name: .setCookie, value: setCookie)) }
        return response
    }

    func badReturnTo(_ tenant: ResolvedTenant) -> Response {
        pages.errorPage(tenantName: tenant.tenant.displayName,
                        message: "This sign-in link does not lead back to an authorization request of this service.")
    }

    /// 303 to a validated return path, on the issuer's own origin.
    func redirect(to returnTo: String, tenant: ResolvedTenant, cookies: [String]) -> Response {
        let origin = tenant.issuer.dropLast(SessionCookie.issuerPath(tenant).count)
        var headers: HTTPFields = [.location: origin + returnTo, .cacheControl: "no-store"]
        for cookie in cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(status: .seeOther, headers: headers)
    }

    // MARK: - Sign-out

    @Sendable func showSignOut(request: Request, context: AppRequestContext) async throws -> Response {
        try await page(request, context) { tenant in
            guard let session = try await sessions.current(request, tenant: tenant) else {
                return pages.render("signedout", ["tenantName": tenant.tenant.displayName, "lang": "en"])
            }
            return pages.render("signout", [
                "tenantName": tenant.tenant.displayName, "lang": "en", "email": session.user.email,
                "action": tenant.issuer + "/signout", "csrfToken": csrf.token(purpose: "signout", tenant: tenant, session: session),
            ])
        }
    }

    /// Deletes the session (CSRF-checked: a cross-site form must not sign anyone out) and the cookie.
    @Sendable func signOut(request: Request, context: AppRequestContext) async throws -> Response {
        try await page(request, context) { tenant in
            guard let fields = try await Self.formFields(request) else {
                return pages.errorPage(tenantName: tenant.tenant.displayName, message: "The sign-out form was not sent as a form.")
            }
            if let session = try await sessions.current(request, tenant: tenant) {
                guard csrf.verify(fields["csrf_token"], purpose: "signout", tenant: tenant, session: session) else {
                    return pages.errorPage(tenantName: tenant.tenant.displayName,
                                           message: "This sign-out form expired or did not come from this page; you are still signed in.",
                                           status: .forbidden)
                }
                try await users.record(AuditEvent(action: "user.signed_out", actorType: .user, actorID: session.user.id.uuidString.lowercased(),
                                                  sourceAddress: context.sourceAddress, requestID: context.requestID), tenant: tenant.tenant.id)
            }
            let clearing = try await sessions.end(request, tenant: tenant)
            var response = pages.render("signedout", ["tenantName": tenant.tenant.displayName, "lang": "en"])
            response.headers.append(HTTPField(name: .setCookie, value: clearing))
            return response
        }
    }

    // MARK: - Shared

    /// Resolves the tenant and renders failures as pages, not OAuth JSON: a person reads these.
    func page(_ request: Request, _ context: AppRequestContext, _ body: (ResolvedTenant) async throws -> Response) async throws -> Response {
        let tenant: ResolvedTenant
        do {
            tenant = try await resolver.resolve(context)
        } catch let error as OAuthError where error.code == .notFound {
            return pages.errorPage(tenantName: "", message: "There is no sign-in page here.", status: .notFound)
        }
        do {
            return try await body(tenant)
        } catch let error as RateLimitExceeded {
            RegistrarMetrics.rateLimitRefused(error.name)
            var response = pages.errorPage(tenantName: tenant.tenant.displayName,
                                           message: "Too many failed sign-ins. Wait \(error.retryAfterSeconds) seconds and try again.",
                                           status: .tooManyRequests)
            response.headers.append(contentsOf: error.headers)
            return response
        } catch is Argon2Hasher.Overloaded {
            var response = pages.errorPage(tenantName: tenant.tenant.displayName, message: "The service is busy. Try again in a moment.",
                                           status: .serviceUnavailable)
            response.headers[.retryAfter] = "1"
            return response
        } catch let error as DatabaseError where error.kind == .unavailable {
            context.logger.error("database unavailable", metadata: ["error": .string(error.description)])
            var response = pages.errorPage(tenantName: tenant.tenant.displayName, message: "The service is temporarily unavailable. Try again shortly.",
                                           status: .serviceUnavailable)
            response.headers[.retryAfter] = "1"
            return response
        }
    }

    /// The fields of an `application/x-www-form-urlencoded` body (the first of each name), or nil
    /// when the body is not a form or does not decode. Too large a body is refused with 413 by the
    /// collector.
    static func formFields(_ request: Request) async throws -> [String: String]? {
        guard let type = request.headers[.contentType]?.lowercased(),
              type.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "application/x-www-form-urlencoded" else { return nil }
        let buffer = try await request.body.collect(upTo: maximumBodyBytes)
        return parseForm(String(buffer: buffer))
    }

    /// The fields of a form body, the first of each name, decoded like every other form of the
    /// authorization server (`FormParameters`: `+` is a space, percent-escapes are UTF-8); nil
    /// when an escape is broken, so nothing half-decoded is compared with a password or a token.
    static func parseForm(_ text: String) -> [String: String]? {
        guard let parameters = FormParameters(encoded: text) else { return nil }
        var fields: [String: String] = [:]
        for (name, value) in parameters.pairs where fields[name] == nil { fields[name] = value }
        return fields
    }
}
