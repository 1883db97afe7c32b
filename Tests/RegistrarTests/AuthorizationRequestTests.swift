import Foundation
import Testing
@testable import Registrar

/// `GET /authorize` request rules (RFC 6749 §4.1.1 and §4.1.2.1, RFC 7636, RFC 8252 §7.3,
/// RFC 8707 §2, RFC 9207, OpenID Connect Core §3.1.2.1), as a pure function of the query.
@Suite("Authorization request")
struct AuthorizationRequestTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    static let redirect = "https://app.example.com/callback"

    static func client(
        redirects: [String] = [redirect], scope: [String] = ["openid", "profile"], grants: [GrantType] = [.authorizationCode, .refreshToken],
        status: RegisteredClient.Status = .active
    ) -> RegisteredClient {
        RegisteredClient(
            tenantID: UUID(), clientID: "cl_test",
            metadata: ClientMetadata(redirectURIs: redirects, tokenEndpointAuthMethod: .none, grantTypes: grants, scope: scope),
            clientSecretHash: nil, clientSecretExpiresAt: nil, registrationAccessTokenHash: "x", registeredVia: .dcr,
            sourceAddress: nil, status: status, createdAt: now)
    }

    /// A valid request's query with `changes` applied (nil removes the parameter).
    static func query(_ changes: [String: String?] = [:], extra: [(String, String)] = []) -> FormParameters {
        var base: [(String, String?)] = [
            ("response_type", "code"), ("client_id", "cl_test"), ("redirect_uri", redirect), ("state", "s-1"),
            ("code_challenge", challenge), ("code_challenge_method", "S256"),
        ]
        for (name, value) in changes where !base.contains(where: { $0.0 == name }) { base.append((name, value)) }
        var parameters = FormParameters()
        for (name, value) in base {
            let value = changes.keys.contains(name) ? changes[name]! : value
            if let value { parameters.append(name, value) }
        }
        for (name, value) in extra { parameters.append(name, value) }
        return parameters
    }

    static func validate(_ parameters: FormParameters, client: RegisteredClient? = client(), policy: RegistrationPolicy = RegistrationPolicy())
        -> Result<AuthorizationRequest, AuthorizationRequestError> {
        Result { () throws(AuthorizationRequestError) in try AuthorizationRequest.validate(parameters, client: client, policy: policy, now: now) }
    }

    // MARK: Before the redirect is trusted: error page, never a redirect

    static let untrusted: [(String, FormParameters, RegisteredClient?)] = [
        ("client_id missing", query(["client_id": nil]), client()),
        ("client_id repeated", query(extra: [("client_id", "cl_test")]), client()),
        ("unknown client", query(), nil),
        ("disabled client", query(), client(status: .disabled)),
        ("unregistered redirect", query(["redirect_uri": "https://evil.example/callback"]), client()),
        ("redirect with changed case", query(["redirect_uri": "https://App.example.com/callback"]), client()),
        ("redirect with changed path case", query(["redirect_uri": "https://app.example.com/Callback"]), client()),
        ("redirect with an added query", query(["redirect_uri": redirect + "?x=1"]), client()),
        ("redirect with another path", query(["redirect_uri": "https://app.example.com/callback/other"]), client()),
        ("redirect with a port on https", query(["redirect_uri": "https://app.example.com:8443/callback"]), client()),
        ("redirect repeated", query(extra: [("redirect_uri", redirect)]), client()),
        ("redirect omitted with two registered", query(["redirect_uri": nil]), client(redirects: [redirect, "https://app.example.com/b"])),
        ("another loopback host", query(["redirect_uri": "http://127.0.0.1:5000/callback"]), client(redirects: ["http://localhost/callback"])),
        ("loopback host with changed case", query(["redirect_uri": "http://LOCALHOST:5000/callback"]), client(redirects: ["http://localhost/callback"])),
        ("loopback with another path", query(["redirect_uri": "http://localhost:5000/other"]), client(redirects: ["http://localhost/callback"])),
        ("loopback https is not loopback", query(["redirect_uri": "https://localhost:5000/callback"]), client(redirects: ["https://localhost/callback"])),
    ]

    @Test("RFC 6749 §4.1.2.1: a missing/unknown/disabled client or an unregistered redirect is never redirected",
          arguments: untrusted)
    func untrustedRequestsAreShownNotRedirected(_ name: String, _ parameters: FormParameters, _ client: RegisteredClient?) {
        guard case .failure(.untrusted(let message)) = Self.validate(parameters, client: client) else {
            Issue.record("\(name): expected the error page")
            return
        }
        #expect(!message.contains("evil"), "the page's message never reflects the request")
    }

    // MARK: Redirect matching

    static let matched: [(String, [String], String)] = [
        ("exact", [redirect], redirect),
        ("port-less localhost with an ephemeral port", ["http://localhost/callback"], "http://localhost:53312/callback"),
        ("port-less 127.0.0.1 with an ephemeral port", ["http://127.0.0.1/callback"], "http://127.0.0.1:61000/callback"),
        ("IPv6 loopback with another port", ["http://[::1]:8080/cb"], "http://[::1]:9090/cb"),
        ("loopback registered with a port, used without", ["http://127.0.0.1:3000/callback"], "http://127.0.0.1/callback"),
        ("registered query kept exactly", ["https://app.example.com/cb?tenant=a"], "https://app.example.com/cb?tenant=a"),
        ("private-use scheme", ["com.example.app:/cb"], "com.example.app:/cb"),
    ]

    @Test("RFC 8252 §7.3: exact string match, except the port of a loopback redirect", arguments: matched)
    func redirectMatching(_ name: String, _ registered: [String], _ presented: String) throws {
        let request = try Self.validate(Self.query(["redirect_uri": presented]), client: Self.client(redirects: registered)).get()
        #expect(request.redirectURI == presented, "the response goes to the URI presented, port included")
        #expect(request.redirectURISent)
    }

    @Test("RFC 6749 §3.1.2.3: redirect_uri may be omitted only when one is registered")
    func omittedRedirectWithOneRegistered() throws {
        let request = try Self.validate(Self.query(["redirect_uri": nil])).get()
        #expect(request.redirectURI == Self.redirect)
        #expect(!request.redirectURISent)
    }

    // MARK: After the redirect is known: errors go back to the client

    static let redirected: [(String, FormParameters, RegisteredClient, OAuthError.Code)] = [
        ("response_type=token", query(["response_type": "token"]), client(), .unsupportedResponseType),
        ("response_type=code id_token", query(["response_type": "code id_token"]), client(), .unsupportedResponseType),
        ("response_type missing", query(["response_type": nil]), client(), .invalidRequest),
        ("code_challenge missing", query(["code_challenge": nil]), client(), .invalidRequest),
        ("method missing means plain", query(["code_challenge_method": nil]), client(), .invalidRequest),
        ("plain", query(["code_challenge_method": "plain"]), client(), .invalidRequest),
        ("s256 in lower case", query(["code_challenge_method": "s256"]), client(), .invalidRequest),
        ("challenge too short", query(["code_challenge": String(repeating: "a", count: 42)]), client(), .invalidRequest),
        ("challenge too long", query(["code_challenge": String(repeating: "a", count: 129)]), client(), .invalidRequest),
        ("challenge with a reserved character", query(["code_challenge": String(repeating: "a", count: 42) + "+"]), client(), .invalidRequest),
        ("state repeated", query(extra: [("state", "s-2")]), client(), .invalidRequest),
        ("scope repeated", query(["scope": "openid"], extra: [("scope", "profile")]), client(), .invalidRequest),
        ("scope outside the tenant's set", query(["scope": "openid admin"]), client(), .invalidScope),
        ("scope with a bad token", query(["scope": "openid \"x\""]), client(), .invalidScope),
        ("resource with a fragment", query(["resource": "https://mcp.example.com/#x"]), client(), .invalidTarget),
        ("relative resource", query(["resource": "/mcp"]), client(), .invalidTarget),
        ("unknown prompt", query(["prompt": "everything"]), client(), .invalidRequest),
        ("prompt none with login", query(["prompt": "none login"]), client(), .invalidRequest),
        ("negative max_age", query(["max_age": "-1"]), client(), .invalidRequest),
        ("max_age not a number", query(["max_age": "ten"]), client(), .invalidRequest),
        ("response_mode fragment", query(["response_mode": "fragment"]), client(), .invalidRequest),
        ("client without the code grant", query(), client(grants: [.clientCredentials]), .unauthorizedClient),
    ]

    @Test("RFC 6749 §4.1.2.1: errors after the redirect is known go back with error, state and the redirect",
          arguments: redirected)
    func errorsGoBackToTheClient(_ name: String, _ parameters: FormParameters, _ client: RegisteredClient, _ code: OAuthError.Code) {
        guard case .failure(.redirect(let response)) = Self.validate(parameters, client: client) else {
            Issue.record("\(name): expected an error redirect")
            return
        }
        #expect(response.error.code == code, "\(name)")
        #expect(response.redirectURI == Self.redirect)
        let location = response.location(issuer: "https://acme.example")
        #expect(location.hasPrefix(Self.redirect + "?error=" + code.rawValue))
        #expect(location.contains("&iss=https%3A%2F%2Facme.example"), "RFC 9207 §2: iss on error responses too")
        if name != "state repeated" { #expect(location.contains("&state=s-1")) }
    }

    // MARK: State and iss

    @Test("RFC 6749 §4.1.2 / RFC 9207 §2: state comes back byte for byte and iss is always added, keeping the redirect's query")
    func stateAndIssuerRoundTrip() throws {
        let state = "a b+c/d?e=f&g%h~ü"
        let location = AuthorizationRedirect.location("https://app.example.com/cb?tenant=a", FormParameters([("code", "ac_1")]),
                                                      state: state, issuer: "http://localhost/t/acme")
        #expect(location.hasPrefix("https://app.example.com/cb?tenant=a&code=ac_1&state="))
        let query = try #require(FormParameters(encoded: location.split(separator: "?", maxSplits: 1)[1]))
        #expect(query.values("state") == [state])
        #expect(query.values("iss") == ["http://localhost/t/acme"])
        #expect(query.values("tenant") == ["a"])
    }

    @Test("The query is read as a form: + is a space, percent-escapes are UTF-8, a broken escape is refused")
    func formDecoding() throws {
        let parameters = try #require(FormParameters(encoded: "a=x+y&b=%C3%BC&resource=1&resource=2&empty="))
        #expect(parameters.values("a") == ["x y"])
        #expect(parameters.values("b") == ["ü"])
        #expect(parameters.values("resource") == ["1", "2"])
        #expect(parameters.values("empty") == [""])
        #expect(FormParameters(encoded: "a=%zz") == nil)
        #expect(FormParameters(encoded: "a=%FF") == nil)
    }

    // MARK: Scopes

    static let scopeCases: [(String, String?, [String], Bool, [GrantType], [String]?)] = [
        // (name, scope parameter, client's registered scope, grant unregistered, client grants, expected or nil for invalid_scope)
        ("omitted: the client's registered scope", nil, ["openid", "profile"], true, [.authorizationCode, .refreshToken], ["openid", "profile"]),
        ("omitted, nothing registered: the tenant's defaults", nil, [], true, [.authorizationCode], ["openid", "profile", "email"]),
        ("empty: like omitted", "", ["openid"], true, [.authorizationCode], ["openid"]),
        ("subset of the registration", "profile", ["openid", "profile"], true, [.authorizationCode], ["profile"]),
        ("unregistered but allowed, policy grants it", "openid email", ["openid"], true, [.authorizationCode], ["openid", "email"]),
        ("unregistered but allowed, policy refuses it", "openid email", ["openid"], false, [.authorizationCode], nil),
        ("duplicates collapse", "openid openid profile", ["openid", "profile"], true, [.authorizationCode], ["openid", "profile"]),
        ("offline_access kept with the refresh grant", "openid offline_access", ["openid"], true, [.authorizationCode, .refreshToken], ["openid", "offline_access"]),
        ("offline_access dropped without the refresh grant", "openid offline_access", ["openid"], true, [.authorizationCode], ["openid"]),
        ("outside the tenant's set", "openid calendar", ["openid"], true, [.authorizationCode], nil),
    ]

    @Test("RFC 6749 §3.3: defaults, unregistered scopes by policy, the tenant's set, offline_access", arguments: scopeCases)
    func scopeRules(_ name: String, _ scope: String?, _ registered: [String], _ grantUnregistered: Bool, _ grants: [GrantType], _ expected: [String]?) {
        var policy = RegistrationPolicy()
        policy.authorizationServer.grantUnregisteredScopes = grantUnregistered
        let result = Self.validate(Self.query(["scope": scope]), client: Self.client(scope: registered, grants: grants), policy: policy)
        switch (result, expected) {
        case (.success(let request), let expected?):
            #expect(request.scopes == expected, "\(name)")
        case (.failure(.redirect(let response)), nil):
            #expect(response.error.code == .invalidScope, "\(name)")
        default:
            Issue.record("\(name): unexpected \(result)")
        }
    }

    // MARK: Carried values

    @Test("resource is repeatable, nonce, login_hint, prompt and max_age are carried")
    func carriedValues() throws {
        let parameters = Self.query(["nonce": "n-1", "login_hint": "ada@example.com", "prompt": "consent", "max_age": "300"],
                                    extra: [("resource", "https://MCP.example.com/"), ("resource", "https://other.example.com/mcp")])
        let request = try Self.validate(parameters).get()
        #expect(request.resources == ["https://MCP.example.com/", "https://other.example.com/mcp"])
        #expect(request.nonce == "n-1")
        #expect(request.loginHint == "ada@example.com")
        #expect(request.prompts == [.consent])
        #expect(request.maxAge == 300)
        #expect(request.codeChallenge == Self.challenge)
        #expect(request.state == "s-1")
    }

    // MARK: Sign-in and consent decisions

    static let signInCases: [(String, [String: String?], TimeInterval?, Bool)] = [
        // (name, changes, seconds since authentication (nil: no session), must sign in)
        ("no session", [:], nil, true),
        ("a session", [:], 10_000, false),
        ("prompt=login", ["prompt": "login"], 5, true),
        ("max_age exceeded", ["max_age": "60"], 61, true),
        ("max_age respected", ["max_age": "60"], 59, false),
        ("max_age=0", ["max_age": "0"], 1, true),
        ("back from a forced sign-in", ["max_age": "0", AuthorizationRequest.signedInAfterParameter: "1799999990"], 5, false),
        ("forced sign-in older than the session", ["prompt": "login", AuthorizationRequest.signedInAfterParameter: "1799999990"], 20, true),
    ]

    @Test("OpenID Connect Core §3.1.2.1: prompt=login and max_age send the user to sign in, and coming back does not loop",
          arguments: signInCases)
    func signInDecision(_ name: String, _ changes: [String: String?], _ age: TimeInterval?, _ mustSignIn: Bool) throws {
        let request = try Self.validate(Self.query(changes)).get()
        #expect(request.needsSignIn(authTime: age.map { Self.now.addingTimeInterval(-$0) }, now: Self.now) == mustSignIn, "\(name)")
    }

    @Test("The return path of a forced sign-in drops prompt=login and marks the time; it satisfies the request afterwards")
    func returnQueryAfterForcedSignIn() throws {
        let original = Self.query(["prompt": "login consent"])
        let back = AuthorizationRequest.returnQuery(original, forcedAt: Self.now)
        #expect(back.values("prompt") == ["consent"])
        #expect(back.values(AuthorizationRequest.signedInAfterParameter) == ["1800000000"])
        let request = try Self.validate(back).get()
        #expect(!request.needsSignIn(authTime: Self.now.addingTimeInterval(2), now: Self.now.addingTimeInterval(3)))
        #expect(request.needsSignIn(authTime: Self.now.addingTimeInterval(-600), now: Self.now.addingTimeInterval(3)))
        #expect(request.prompts == [.consent])
    }

    static let consentCases: [(String, [String: String?], [String]?, AuthorizationServerSettings.ConsentMode, Bool, [String], Bool)] = [
        // (name, changes, granted scopes, mode, loopback-only policy, client redirects, consent needed)
        ("no grant", [:], nil, .remember, false, [redirect], true),
        ("a covering grant", [:], ["openid", "profile", "email"], .remember, false, [redirect], false),
        ("a step-up beyond the grant", ["scope": "openid email"], ["openid"], .remember, false, [redirect], true),
        ("prompt=consent", ["prompt": "consent"], ["openid", "profile"], .remember, false, [redirect], true),
        ("consent always", [:], ["openid", "profile"], .always, false, [redirect], true),
        ("loopback-only client under the loopback policy", [:], ["openid", "profile"], .remember, true,
         ["http://localhost/callback", "http://127.0.0.1/callback"], true),
        ("loopback policy, client with an https redirect", [:], ["openid", "profile"], .remember, true,
         ["http://localhost/callback", redirect], false),
    ]

    @Test("Consent is remembered per user and client unless prompt=consent, the tenant's policy, or new scopes ask again",
          arguments: consentCases)
    func consentDecision(_ name: String, _ changes: [String: String?], _ granted: [String]?, _ mode: AuthorizationServerSettings.ConsentMode,
                         _ loopbackPolicy: Bool, _ redirects: [String], _ needed: Bool) throws {
        let client = Self.client(redirects: redirects)
        var changes = changes
        changes["redirect_uri"] = redirects.contains(Self.redirect) ? Self.redirect : redirects[0]
        let request = try Self.validate(Self.query(changes), client: client).get()
        var policy = RegistrationPolicy()
        policy.authorizationServer.consentMode = mode
        policy.authorizationServer.consentAlwaysForLoopbackOnlyClients = loopbackPolicy
        #expect(request.needsConsent(grantedScopes: granted, client: client, policy: policy) == needed, "\(name)")
    }

    static let documentConsentCases: [(String, Bool, RegisteredClient.Origin, [String], Bool)] = [
        // (name, document loopback policy, origin, client redirects, consent needed despite a covering grant)
        ("a document's loopback-only client, asked every time by default", true, .cimd, ["http://localhost/callback"], true),
        ("a document's loopback-only client, the tenant turned it off", false, .cimd, ["http://localhost/callback"], false),
        ("a document's client with an https redirect", true, .cimd, [redirect], false),
        ("a registered loopback-only client is not a document's", true, .dcr, ["http://localhost/callback"], false),
    ]

    @Test("A metadata document's loopback-only client is asked for consent every time, unless the tenant's document policy says otherwise",
          arguments: documentConsentCases)
    func documentConsent(_ name: String, _ documentPolicy: Bool, _ origin: RegisteredClient.Origin, _ redirects: [String], _ needed: Bool) throws {
        var client = Self.client(redirects: redirects)
        client.registeredVia = origin
        let request = try Self.validate(Self.query(["redirect_uri": redirects[0]]), client: client).get()
        var policy = RegistrationPolicy()
        policy.metadataDocuments.consentAlwaysForLoopbackOnlyClients = documentPolicy
        #expect(request.needsConsent(grantedScopes: ["openid", "profile", "email"], client: client, policy: policy) == needed, "\(name)")
    }

    @Test("A grant holds the union of the scopes consented to, each once")
    func grantUnion() {
        #expect(ConsentGrant.union(["openid", "profile"], ["email", "openid"]) == ["openid", "profile", "email"])
    }

    @Test("Scopes in words: known ones described, others shown by name")
    func scopeWords() {
        let entries = ScopeDescriptions.describe(["openid", "email", "calendar.read"])
        #expect(entries.map(\.isNameOnly) == [false, false, true])
        #expect(entries[2].text == "calendar.read")
        #expect(entries[1].text.contains("email"))
    }
}
