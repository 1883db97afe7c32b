import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The tenant's authorization endpoint, `GET {issuer}/authorize` (RFC 6749 §4.1, OAuth 2.1
/// §4.1), its consent form, `POST {issuer}/authorize/consent`, and the signed-in user's own
/// grants, `GET {issuer}/grants` + `POST {issuer}/grants/revoke`.
///
/// The consent form re-posts the authorization request's query, which is validated again on
/// POST exactly as on GET (client, redirect, scopes, resources): nothing is stored between the
/// two, and a form altered in the browser is no more than a new authorization request.
/// No CORS here: these are top-level browser navigations, never API calls.
struct AuthorizeController: Sendable {
    let resolver: TenantResolver
    let clients: any ClientRepository
    /// Clients whose `client_id` is the URL of their metadata document.
    let documents: MetadataDocumentClients
    let sessions: SessionStore
    let grants: any ConsentGrantRepository
    let codes: AuthorizationCodeService
    let resources: any ResourceServerRepository
    /// The forms' CSRF tokens: HMAC of the session's hash (and tenant) under the server key.
    let csrf: CSRFProtection
    let pages: PageRenderer
    let now: @Sendable () -> Date

    /// CSRF purposes: a token of one form is no good on the other.
    static let consentPurpose = "consent"
    static let grantsPurpose = "grants"

    /// Form bodies are a CSRF token, a decision and one authorization request's query.
    static let maximumFormBytes = 16 * 1024

    func addRoutes(to router: Router<AppRequestContext>) {
        for prefix in ["", "/t/:tenant"] {
            router.get("\(prefix)/authorize", use: authorize)
            router.post("\(prefix)/authorize/consent", use: consent)
            router.get("\(prefix)/grants", use: listGrants)
            router.post("\(prefix)/grants/revoke", use: revokeGrant)
        }
    }

    // MARK: GET /authorize

    static let markerPurpose = "signed_in_after"

    /// The forced sign-in marker (`signed_in_after`) is believed only with the server's tag over
    /// its time, tenant and client: a request cannot claim by itself that a fresh sign-in already
    /// happened and so skip `prompt=login` or `max_age` (OpenID Connect Core §3.1.2.1). An
    /// untagged or mistagged marker is dropped, and the request is judged without it.
    func authenticMarker(_ parameters: FormParameters, tenant: ResolvedTenant) -> FormParameters {
        let name = AuthorizationRequest.signedInAfterParameter
        let values = parameters.values(name)
        guard !values.isEmpty else { return parameters }
        var parameters = parameters
        parameters.removeAll(name)
        guard values.count == 1, let dot = values[0].firstIndex(of: "."),
              let clientID = AuthorizationRequest.clientID(in: parameters) else { return parameters }
        let seconds = String(values[0][..<dot]), tag = String(values[0][values[0].index(after: dot)...])
        if csrf.verify(tag, purpose: Self.markerPurpose, tenant: tenant, binding: seconds + "\u{0}" + clientID) {
            parameters.append(name, seconds)
        }
        return parameters
    }

    /// The return query's marker, tagged for `authenticMarker`.
    func signedMarker(_ query: FormParameters, tenant: ResolvedTenant) -> FormParameters {
        let name = AuthorizationRequest.signedInAfterParameter
        guard let seconds = query.values(name).first, let clientID = AuthorizationRequest.clientID(in: query) else { return query }
        var query = query
        query.removeAll(name)
        query.append(name, seconds + "." + csrf.token(purpose: Self.markerPurpose, tenant: tenant, binding: seconds + "\u{0}" + clientID))
        return query
    }

    @Sendable func authorize(request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await resolver.resolve(context)
        guard let parameters = FormParameters(encoded: request.uri.query ?? "") else {
            return pages.errorPage(tenantName: tenant.tenant.displayName, message: "The request is malformed (a broken percent-encoding).")
        }
        return try await proceed(parameters, request: request, context: context, tenant: tenant, consented: nil)
    }

    /// The decision, once per step: validate, sign in, consent, issue. `consented` is the
    /// consent form's answer, already checked against the session's CSRF token.
    func proceed(_ parameters: FormParameters, request: Request, context: AppRequestContext, tenant: ResolvedTenant,
                 consented: ConsentAnswer?) async throws -> Response {
        let parameters = authenticMarker(parameters, tenant: tenant)
        let name = tenant.tenant.displayName
        var client: RegisteredClient?
        if let id = AuthorizationRequest.clientID(in: parameters) {
            if MetadataDocument.isDocumentURL(id) {
                // A document that cannot be fetched, does not match or is refused by policy
                // leaves no verified redirect URI: an error page, never a redirect.
                do {
                    client = try await documents.client(id, tenant: tenant, address: context.limitAddress)
                } catch let refusal as MetadataDocument.Refusal {
                    return pages.errorPage(tenantName: name, message: "The application cannot be used: \(refusal.description).")
                }
            } else {
                client = try await clients.find(tenantID: tenant.tenant.id, clientID: id)
            }
        }
        let authorization: AuthorizationRequest
        do {
            authorization = try AuthorizationRequest.validate(parameters, client: client, policy: tenant.tenant.policy, now: now())
        } catch .untrusted(let message) {
            return pages.errorPage(tenantName: name, message: message)
        } catch .redirect(let response) {
            return Self.redirect(response.location(issuer: tenant.issuer))
        }
        guard let client else { return pages.errorPage(tenantName: name, message: "The application is not known to this service.") }
        func fail(_ code: OAuthError.Code, _ description: String) -> Response {
            Self.redirect(AuthorizationErrorResponse(redirectURI: authorization.redirectURI, error: OAuthError(code, description),
                                                     state: authorization.state).location(issuer: tenant.issuer))
        }

        // RFC 8707 §2: every resource must be one of the tenant's; none → the default audience.
        var audiences: [String] = []
        var resourceNames: [String] = []
        for raw in authorization.resources {
            guard let server = try await resources.find(uri: raw, tenant: tenant) else {
                return fail(.invalidTarget, "the resource is not a resource server of this authorization server")
            }
            if !audiences.contains(server.audience) {
                audiences.append(server.audience)
                resourceNames.append(server.displayName)
            }
        }
        if audiences.isEmpty {
            if let server = try await resources.defaultAudience(tenant: tenant) {
                audiences = [server.audience]
                resourceNames = [server.displayName]
            } else {
                audiences = [tenant.issuer]
            }
        }

        // OpenID Connect Core §3.1.2.1: sign in, or again for prompt=login / max_age.
        let session = try await sessions.current(request, tenant: tenant)
        let at = now()
        guard let session, !authorization.needsSignIn(authTime: session.authTime, now: at) else {
            if authorization.prompts.contains(.none) {
                return fail(.loginRequired, "the user is not signed in")
            }
            let forced = authorization.prompts.contains(.login) || authorization.maxAge != nil || authorization.signedInAfter != nil
            let query = forced ? signedMarker(AuthorizationRequest.returnQuery(parameters, forcedAt: at), tenant: tenant) : parameters
            let returnTo = SignInReturnPath.authorize(tenant, query: query.encoded)
            return Self.redirect(SignInController.signInURL(tenant: tenant, returnTo: returnTo, loginHint: authorization.loginHint,
                                                            forceLogin: forced && session != nil))
        }

        var grantID: UUID?
        switch consented {
        case .deny?:
            return fail(.accessDenied, "the user denied the request")
        case .allow?:
            grantID = try await grants.grant(userID: session.user.id, clientID: client.clientID, scopes: authorization.scopes,
                                             tenantID: tenant.tenant.id, at: at).grantID
        case nil:
            let grant = try await grants.find(userID: session.user.id, clientID: client.clientID, tenantID: tenant.tenant.id)
            if authorization.needsConsent(grantedScopes: grant?.scopes, client: client, policy: tenant.tenant.policy) {
                if authorization.prompts.contains(.none) {
                    return fail(.consentRequired, "the user has not consented to this request")
                }
                return consentPage(authorization, parameters: parameters, client: client, session: session, tenant: tenant,
                                   resourceNames: resourceNames)
            }
            grantID = grant?.grantID
        }

        let code = try await codes.issue(
            NewAuthorizationCode(clientID: client.clientID, userID: session.user.id, grantID: grantID,
                                 redirectURI: authorization.redirectURI, redirectURISent: authorization.redirectURISent,
                                 codeChallenge: authorization.codeChallenge, scopes: authorization.scopes, resources: audiences,
                                 nonce: authorization.nonce, authTime: session.authTime),
            tenant: tenant)
        // RFC 6749 §4.1.2, RFC 9207 §2.
        return Self.redirect(AuthorizationRedirect.location(authorization.redirectURI, FormParameters([("code", code)]),
                                                            state: authorization.state, issuer: tenant.issuer))
    }

    enum ConsentAnswer: Sendable {
        case allow
        case deny
    }

    // MARK: The consent page and its form

    func consentPage(_ authorization: AuthorizationRequest, parameters: FormParameters, client: RegisteredClient,
                     session: SignedInSession, tenant: ResolvedTenant, resourceNames: [String]) -> Response {
        let redirect = try? URIParser.parse(authorization.redirectURI)
        let loopbackOnly = AuthorizationRequest.isLoopbackOnly(client)
        let redirectHost: String = redirect?.host ?? ("\(redirect?.scheme ?? "an app"): (an app on this device)")
        let scopes = ScopeDescriptions.describe(authorization.scopes).map { entry -> [String: Any] in
            ["text": entry.text, "scope": entry.scope, "nameOnly": entry.isNameOnly]
        }
        let values: [String: Any] = [
            "tenantName": tenant.tenant.displayName,
            "clientName": client.metadata.clientName ?? client.clientID,
            "clientID": client.clientID,
            "redirectHost": redirectHost,
            "loopback": (try? RedirectURI(authorization.redirectURI))?.kind == .loopback,
            "loopbackOnly": loopbackOnly,
            // RFC 7591 §5: a dynamically registered client's name is self-asserted.
            "unverified": client.registeredVia == .dcr,
            // A document's client is vouched for by the host that serves its document, which is
            // shown beside the redirect host (MCP security considerations).
            "documentHost": client.registeredVia == .cimd ? ((try? URIParser.parse(client.clientID))?.host ?? "") : "",
            "fromDocument": client.registeredVia == .cimd,
            "scopes": scopes,
            "hasScopes": !scopes.isEmpty,
            "resources": resourceNames,
            "hasResources": !resourceNames.isEmpty,
            "offline": authorization.scopes.contains(AuthorizationRequest.offlineAccess),
            "userName": session.user.displayName.isEmpty ? session.user.email : session.user.displayName,
            "action": tenant.issuer + "/authorize/consent",
            "grantsURL": tenant.issuer + "/grants",
            "csrf": csrf.token(purpose: Self.consentPurpose, tenant: tenant, session: session),
            "request": parameters.encoded,
        ]
        return pages.render("consent", values)
    }

    /// `POST {issuer}/authorize/consent`: the user's Allow or Deny, bound to their session.
    @Sendable func consent(request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await resolver.resolve(context)
        let name = tenant.tenant.displayName
        guard let form = try await Self.readForm(request) else {
            return pages.errorPage(tenantName: name, message: "The form could not be read. Go back to the application and start again.")
        }
        // The CSRF check comes before anything else the form says, so a cross-site post learns
        // nothing and changes nothing.
        guard let session = try await sessions.current(request, tenant: tenant),
              form.values("csrf").count == 1, csrf.verify(form.values("csrf").first, purpose: Self.consentPurpose, tenant: tenant, session: session)
        else {
            return pages.errorPage(tenantName: name, message: "This form has expired or was not sent from this page. Go back to the application and start again.",
                                   status: .forbidden)
        }
        let answer: ConsentAnswer
        switch form.values("decision") {
        case ["allow"]: answer = .allow
        case ["deny"]: answer = .deny
        default: return pages.errorPage(tenantName: name, message: "The form did not say whether you allow the request.")
        }
        guard form.values("request").count == 1, let parameters = FormParameters(encoded: form.values("request")[0]) else {
            return pages.errorPage(tenantName: name, message: "The form does not carry a valid request. Go back to the application and start again.")
        }
        return try await proceed(parameters, request: request, context: context, tenant: tenant, consented: answer)
    }

    // MARK: The user's own grants

    /// `GET {issuer}/grants`: what the signed-in user allowed, each with a revoke button.
    @Sendable func listGrants(request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await resolver.resolve(context)
        guard let session = try await sessions.current(request, tenant: tenant) else {
            return Self.redirect(SignInController.signInURL(tenant: tenant, returnTo: "", loginHint: nil, forceLogin: false))
        }
        var rows: [[String: Any]] = []
        for grant in try await grants.list(userID: session.user.id, tenantID: tenant.tenant.id) {
            let client = try await clients.find(tenantID: tenant.tenant.id, clientID: grant.clientID)
            rows.append([
                "clientName": client?.metadata.clientName ?? grant.clientID,
                "unverified": client?.registeredVia == .dcr,
                "scopes": ScopeDescriptions.describe(grant.scopes).map(\.text),
                "grantID": grant.grantID.uuidString.lowercased(),
            ])
        }
        return pages.render("grants", [
            "tenantName": tenant.tenant.displayName,
            "userName": session.user.displayName.isEmpty ? session.user.email : session.user.displayName,
            "grants": rows,
            "hasGrants": !rows.isEmpty,
            "action": tenant.issuer + "/grants/revoke",
            "csrf": csrf.token(purpose: Self.grantsPurpose, tenant: tenant, session: session),
        ])
    }

    /// `POST {issuer}/grants/revoke`: deletes one of the user's grants and revokes the tokens
    /// issued under it, so its refresh tokens stop working at once.
    @Sendable func revokeGrant(request: Request, context: AppRequestContext) async throws -> Response {
        let tenant = try await resolver.resolve(context)
        let name = tenant.tenant.displayName
        guard let form = try await Self.readForm(request),
              let session = try await sessions.current(request, tenant: tenant),
              form.values("csrf").count == 1, csrf.verify(form.values("csrf").first, purpose: Self.grantsPurpose, tenant: tenant, session: session)
        else {
            return pages.errorPage(tenantName: name, message: "This form has expired or was not sent from this page.", status: .forbidden)
        }
        guard form.values("grant").count == 1, let grantID = UUID(uuidString: form.values("grant")[0]) else {
            return pages.errorPage(tenantName: name, message: "The form does not name an access to revoke.")
        }
        try await ConsentGrantRevocation(grants: grants, now: now)
            .revoke(grantID: grantID, userID: session.user.id, tenantID: tenant.tenant.id)
        return Self.redirect(tenant.issuer + "/grants")
    }

    // MARK: Helpers

    /// 303: the browser follows with a GET, whatever the method that led here.
    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store", .pragma: "no-cache"])
    }

    /// The form body, or nil when it is not a bounded `application/x-www-form-urlencoded` one.
    static func readForm(_ request: Request) async throws -> FormParameters? {
        guard let contentType = request.headers[.contentType],
              contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "application/x-www-form-urlencoded"
        else { return nil }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maximumFormBytes)
        } catch is NIOTooManyBytesError {
            return nil
        }
        return FormParameters(encoded: String(buffer: buffer))
    }
}

/// Revoking a grant: the row goes, and with it every token family issued under it (refresh
/// tokens and the access tokens they listed), so revoked consent cannot be refreshed.
struct ConsentGrantRevocation: Sendable {
    let grants: any ConsentGrantRepository
    let now: @Sendable () -> Date

    /// False when the user has no such grant. The grant and its tokens end in one transaction.
    @discardableResult
    func revoke(grantID: UUID, userID: UUID, tenantID: UUID) async throws -> Bool {
        try await grants.delete(grantID: grantID, userID: userID, tenantID: tenantID, at: now())
    }
}
