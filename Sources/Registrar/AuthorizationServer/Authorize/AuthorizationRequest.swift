import Foundation

/// A validated authorization request (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 7636 §4.3,
/// RFC 8707 §2, OpenID Connect Core §3.1.2.1): a pure function of the query, the client it
/// names, the tenant's policy and the clock. No I/O: the caller looks the client up first and
/// checks the resources against the tenant's resource servers afterwards.
public struct AuthorizationRequest: Sendable, Equatable {
    /// OpenID Connect Core §3.1.2.1 `prompt` values.
    public enum Prompt: String, Sendable, CaseIterable {
        case none
        case login
        case consent
        /// Accepted and treated as nothing: a tenant has one account per browser session.
        case selectAccount = "select_account"
    }

    public let clientID: String
    /// The redirect URI the response goes to: the one presented (a loopback one with its
    /// ephemeral port), or the only registered one when none was sent.
    public let redirectURI: String
    /// RFC 6749 §4.1.3: `/token` requires `redirect_uri` only if it was sent here.
    public let redirectURISent: Bool
    /// Returned byte for byte on every response (RFC 6749 §4.1.2).
    public let state: String?
    /// What the client will be granted, in the order asked, without duplicates.
    public let scopes: [String]
    /// The `resource` values as sent (RFC 8707 §2), syntax checked; the caller canonicalises
    /// them and checks each against the tenant's resource servers.
    public let resources: [String]
    public let codeChallenge: String
    public let nonce: String?
    public let prompts: Set<Prompt>
    public let maxAge: Int?
    public let loginHint: String?
    /// Set on the request the sign-in page sends back after a forced sign-in (`prompt=login`,
    /// `max_age` exceeded): a session authenticated at or after it satisfies both, so coming back
    /// does not send the user to sign in again.
    public let signedInAfter: Date?

    /// The parameter that carries `signedInAfter` (seconds since 1970), added to the return path
    /// of a forced sign-in in place of `prompt=login`.
    public static let signedInAfterParameter = "signed_in_after"

    /// RFC 6749 §3.1: parameters "MUST NOT be included more than once"; `resource` is the
    /// exception (RFC 8707 §2).
    static let singleValued: Set<String> = [
        "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
        "nonce", "prompt", "max_age", "login_hint", "response_mode", signedInAfterParameter,
    ]

    /// Longest `nonce` and `login_hint` kept; longer ones are refused or dropped rather than
    /// copied into rows and pages.
    static let maximumNonceLength = 512
    static let maximumLoginHintLength = 320

    /// Whether the client's only redirect URIs are loopback ones (anyone on the machine can
    /// listen there: MCP security best practices ask for consent each time).
    public static func isLoopbackOnly(_ client: RegisteredClient) -> Bool {
        !client.metadata.redirectURIs.isEmpty
            && client.metadata.redirectURIs.allSatisfy { (try? RedirectURI($0))?.kind == .loopback }
    }

    /// Step 1 of RFC 6749 §4.1.2.1: which client is asking. Nil when `client_id` is absent or
    /// repeated; that is answered with the error page, never a redirect.
    public static func clientID(in parameters: FormParameters) -> String? {
        let values = parameters.values("client_id")
        guard values.count == 1, let value = values.first, !value.isEmpty else { return nil }
        return value
    }

    /// Validates everything else, in the order RFC 6749 §4.1.2.1 requires: first the client and
    /// the redirect URI (failures are `.untrusted`: shown, never redirected, since the redirect
    /// cannot be trusted), then the rest (failures go back to the redirect).
    public static func validate(
        _ parameters: FormParameters, client: RegisteredClient?, policy: RegistrationPolicy, now: Date
    ) throws(AuthorizationRequestError) -> AuthorizationRequest {
        // RFC 6749 §4.1.2.1: "If the request fails due to a missing, invalid, or mismatching
        // redirection URI, or if the client identifier is missing or invalid, the authorization
        // server SHOULD inform the resource owner of the error and MUST NOT automatically
        // redirect the user-agent to the invalid redirection URI."
        guard let clientID = clientID(in: parameters) else {
            throw .untrusted("The request does not say which application is asking (client_id is missing or repeated).")
        }
        guard let client, client.clientID == clientID, client.status == .active else {
            throw .untrusted("The application that sent you here is not known to this service, or has been disabled.")
        }
        let registered = client.metadata.redirectURIs
        let presented = parameters.values("redirect_uri")
        let redirectURI: String
        switch presented.count {
        case 0:
            // RFC 6749 §3.1.2.3: may be omitted only when exactly one is registered.
            guard registered.count == 1, let only = registered.first else {
                throw .untrusted("The request does not say where to send you back (redirect_uri is missing and the application registered several).")
            }
            redirectURI = only
        case 1:
            // RFC 9700 §4.1.3 and RFC 8252 §7.3: exact match, loopback port aside.
            guard RedirectURIMatcher.matches(presented[0], registered: registered) else {
                throw .untrusted("The address this request would send you back to is not registered for the application.")
            }
            redirectURI = presented[0]
        default:
            throw .untrusted("The request names more than one address to send you back to.")
        }

        // From here on, errors go back to the client.
        let states = parameters.values("state")
        let state = states.count == 1 ? states[0] : nil
        func fail(_ code: OAuthError.Code, _ description: String) -> AuthorizationRequestError {
            .redirect(AuthorizationErrorResponse(redirectURI: redirectURI, error: OAuthError(code, description), state: state))
        }
        if let name = parameters.repeated(among: singleValued).first {
            throw fail(.invalidRequest, "the parameter '\(name)' is repeated (RFC 6749 §3.1)")
        }
        func single(_ name: String) -> String? { parameters.values(name).first }

        // RFC 6749 §4.1.1 / OAuth 2.1 §4.1.1: only the code flow.
        guard let responseType = single("response_type"), !responseType.isEmpty else {
            throw fail(.invalidRequest, "response_type is required")
        }
        guard responseType == ResponseType.code.rawValue else {
            throw fail(.unsupportedResponseType, "only response_type=code is supported")
        }
        if let mode = single("response_mode"), mode != "query" {
            throw fail(.invalidRequest, "only response_mode=query is supported")
        }
        guard client.metadata.grantTypes.contains(.authorizationCode), policy.grantTypes.contains(.authorizationCode) else {
            throw fail(.unauthorizedClient, "the client is not allowed the authorization_code grant")
        }

        // RFC 7636 §4.3, OAuth 2.1 §4.1.1, RFC 9700 §2.1.1: S256 required. A missing method
        // means `plain` (RFC 7636 §4.3), which is refused too.
        guard let challenge = single("code_challenge"), !challenge.isEmpty else {
            throw fail(.invalidRequest, "code_challenge is required (PKCE with S256)")
        }
        guard let method = single("code_challenge_method") else {
            throw fail(.invalidRequest, "code_challenge_method is required and must be S256 (plain is not supported)")
        }
        guard method == "S256" else {
            throw fail(.invalidRequest, "code_challenge_method must be S256")
        }
        // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters; §4.1's alphabet and
        // bounds are the widest a challenge can be.
        guard (43...128).contains(challenge.utf8.count), challenge.utf8.allSatisfy(isUnreserved) else {
            throw fail(.invalidRequest, "code_challenge must be 43 to 128 unreserved characters (RFC 7636 §4.2)")
        }

        let scopes = try grantedScopes(single("scope"), client: client, policy: policy, fail: fail)

        // RFC 8707 §2: each `resource` is an absolute URI without a fragment.
        let resources = parameters.values("resource")
        for resource in resources {
            guard isAbsoluteURIWithoutFragment(resource) else {
                throw fail(.invalidTarget, "resource must be an absolute URI without a fragment (RFC 8707 §2)")
            }
        }

        // OpenID Connect Core §3.1.2.1.
        var prompts: Set<Prompt> = []
        if let prompt = single("prompt") {
            for value in prompt.split(separator: " ") {
                guard let known = Prompt(rawValue: String(value)) else {
                    throw fail(.invalidRequest, "prompt '\(value.prefix(40))' is not supported")
                }
                prompts.insert(known)
            }
            if prompts.contains(.none) && prompts.count > 1 {
                throw fail(.invalidRequest, "prompt=none cannot be combined with other values")
            }
        }
        var maxAge: Int?
        if let text = single("max_age") {
            guard let value = Int(text), value >= 0, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                throw fail(.invalidRequest, "max_age must be a non-negative number of seconds")
            }
            maxAge = value
        }
        let nonce = single("nonce")
        if let nonce, nonce.utf8.count > maximumNonceLength || nonce.isEmpty {
            throw fail(.invalidRequest, "nonce must be 1 to \(maximumNonceLength) bytes")
        }
        let loginHint = single("login_hint").flatMap { $0.isEmpty || $0.utf8.count > maximumLoginHintLength ? nil : $0 }
        var signedInAfter: Date?
        if let text = single(signedInAfterParameter), let seconds = Int(text) {
            // A value in the future would only make the client's own request loop; ignore it.
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            signedInAfter = date <= now.addingTimeInterval(60) ? date : nil
        }

        return AuthorizationRequest(
            clientID: clientID, redirectURI: redirectURI, redirectURISent: !presented.isEmpty, state: state, scopes: scopes,
            resources: resources, codeChallenge: challenge, nonce: nonce, prompts: prompts, maxAge: maxAge,
            loginHint: loginHint, signedInAfter: signedInAfter)
    }

    /// RFC 6749 §3.3: the scopes granted. Omitted → the client's registered scope, else the
    /// tenant's defaults. A scope outside the tenant's allowed set is `invalid_scope`; one inside
    /// it but outside the client's registration is granted only when the tenant's policy says so
    /// (ChatGPT asks for every advertised scope). `offline_access` is dropped for a client that
    /// cannot use a refresh token (OpenID Connect Core §11: the request is then ignored).
    static func grantedScopes(
        _ scope: String?, client: RegisteredClient, policy: RegistrationPolicy,
        fail: (OAuthError.Code, String) -> AuthorizationRequestError
    ) throws(AuthorizationRequestError) -> [String] {
        var requested: [String] = []
        if let scope, !scope.isEmpty {
            for token in scope.split(separator: " ") {
                guard ScopeSyntax.isValidToken(token) else {
                    throw fail(.invalidScope, "scope must be space-separated scope tokens (RFC 6749 §3.3)")
                }
                let token = String(token)
                if !requested.contains(token) { requested.append(token) }
            }
        }
        if requested.isEmpty {
            requested = client.metadata.scope.isEmpty ? policy.defaultScopes : client.metadata.scope
        }
        for token in requested {
            if !policy.allowedScopes.isEmpty && !policy.allowedScopes.contains(token) {
                throw fail(.invalidScope, "the scope '\(token.prefix(80))' is not offered by this authorization server")
            }
            if !client.metadata.scope.isEmpty && !client.metadata.scope.contains(token) && !policy.authorizationServer.grantUnregisteredScopes {
                throw fail(.invalidScope, "the scope '\(token.prefix(80))' is not registered for this client")
            }
        }
        let canRefresh = client.metadata.grantTypes.contains(.refreshToken) && policy.grantTypes.contains(.refreshToken)
        return canRefresh ? requested : requested.filter { $0 != offlineAccess }
    }

    public static let offlineAccess = "offline_access"

    static func isUnreserved(_ byte: UInt8) -> Bool { FormParameters.isUnreserved(byte) }

    static func isAbsoluteURIWithoutFragment(_ text: String) -> Bool {
        guard !text.contains("#"), let colon = text.firstIndex(of: ":"), colon != text.startIndex,
              URIParser.isValidScheme(text[..<colon]), text.index(after: colon) < text.endIndex
        else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 0x20 && $0.value != 0x7F }
    }

    /// Whether the user must sign in (again) before this request can go on: no session, a
    /// forced sign-in (`prompt=login`), or an authentication older than `max_age`
    /// (OpenID Connect Core §3.1.2.1). On the way back from a forced sign-in (`signedInAfter`),
    /// only a session authenticated since satisfies it.
    public func needsSignIn(authTime: Date?, now: Date) -> Bool {
        guard let authTime else { return true }
        // The second decides: the forced sign-in happened (a session from it), or not yet.
        if let signedInAfter { return authTime < signedInAfter.addingTimeInterval(-1) }
        if prompts.contains(.login) { return true }
        if let maxAge, now.timeIntervalSince(authTime) > TimeInterval(maxAge) { return true }
        return false
    }

    /// The query to come back to after a forced sign-in: the same request without
    /// `prompt=login`, marked with the time the sign-in was asked for.
    public static func returnQuery(_ parameters: FormParameters, forcedAt now: Date) -> FormParameters {
        var query = FormParameters()
        for (name, value) in parameters.pairs where name != signedInAfterParameter {
            if name == "prompt" {
                let kept = value.split(separator: " ").filter { $0 != Prompt.login.rawValue }.joined(separator: " ")
                if !kept.isEmpty { query.append(name, kept) }
            } else {
                query.append(name, value)
            }
        }
        query.append(signedInAfterParameter, String(Int(now.timeIntervalSince1970.rounded(.down))))
        return query
    }

    /// Whether the consent page must be shown: asked for (`prompt=consent`), required by the
    /// tenant every time, required every time for loopback-only clients, or the remembered grant
    /// does not cover every scope asked for (a step-up asks again, for the union). A metadata
    /// document's loopback-only client is asked every time unless its tenant says otherwise:
    /// any program on the machine can name Claude Code's document and listen on loopback.
    public func needsConsent(grantedScopes: [String]?, client: RegisteredClient, policy: RegistrationPolicy) -> Bool {
        let settings = policy.authorizationServer
        if prompts.contains(.consent) { return true }
        if settings.consentMode == .always { return true }
        if settings.consentAlwaysForLoopbackOnlyClients && Self.isLoopbackOnly(client) { return true }
        if client.registeredVia == .cimd && policy.metadataDocuments.consentAlwaysForLoopbackOnlyClients && Self.isLoopbackOnly(client) {
            return true
        }
        guard let grantedScopes else { return true }
        return !Set(scopes).isSubset(of: Set(grantedScopes))
    }
}

/// Why an authorization request cannot go on.
public enum AuthorizationRequestError: Error, Sendable, Equatable {
    /// The client or its redirect cannot be trusted: shown on the error page, never redirected
    /// (RFC 6749 §4.1.2.1). The message is fixed text, never a reflection of the request.
    case untrusted(String)
    /// An error response for the client, sent to its redirect URI.
    case redirect(AuthorizationErrorResponse)
}

/// An error response to the client's redirect URI (RFC 6749 §4.1.2.1).
public struct AuthorizationErrorResponse: Sendable, Equatable {
    public let redirectURI: String
    public let error: OAuthError
    public let state: String?

    public init(redirectURI: String, error: OAuthError, state: String?) {
        self.redirectURI = redirectURI
        self.error = error
        self.state = state
    }

    public func location(issuer: String) -> String {
        var parameters = FormParameters([("error", error.code.rawValue)])
        if let description = error.errorDescription { parameters.append("error_description", description) }
        return AuthorizationRedirect.location(redirectURI, parameters, state: state, issuer: issuer)
    }
}

/// Builds the redirect back to the client.
public enum AuthorizationRedirect {
    /// RFC 6749 §4.1.2: the parameters are added to the redirect URI's query, keeping the query
    /// it already has (§3.1.2); `state` exactly as received; RFC 9207 §2: `iss` on every
    /// authorization response, errors included.
    public static func location(_ redirectURI: String, _ parameters: FormParameters, state: String?, issuer: String) -> String {
        var parameters = parameters
        if let state { parameters.append("state", state) }
        parameters.append("iss", issuer)
        let separator = redirectURI.contains("?") ? (redirectURI.hasSuffix("?") || redirectURI.hasSuffix("&") ? "" : "&") : "?"
        return redirectURI + separator + parameters.encoded
    }
}
