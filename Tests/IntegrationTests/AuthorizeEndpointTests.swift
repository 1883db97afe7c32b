import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import Registrar

/// `GET /authorize` over HTTP against PostgreSQL (RFC 6749 §4.1, RFC 7636, RFC 8252 §7.3,
/// RFC 8707, RFC 9207, OpenID Connect Core §3.1.2.1).
@Suite("Authorization endpoint")
struct AuthorizeEndpointTests {
    typealias Fixture = AuthorizeFixture

    /// The reply is the HTML error page and no redirect of any kind.
    static func expectErrorPage(_ reply: TestServer.Reply, _ note: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == .badRequest, "\(note)", sourceLocation: sourceLocation)
        #expect(reply.header("Location") == nil, "\(note): never redirected", sourceLocation: sourceLocation)
        #expect(reply.header("Content-Type")?.hasPrefix("text/html") == true, "\(note)", sourceLocation: sourceLocation)
        #expect(!reply.bodyText.contains("evil.example"), "\(note): nothing reflected", sourceLocation: sourceLocation)
    }

    @Test("RFC 6749 §4.1.2.1: an unknown client, a disabled client or an unregistered redirect shows a page and never redirects")
    func untrustedRequestsNeverRedirect() async throws {
        let fixture = try await Fixture.make()
        try await TestServer.run { server in
            Self.expectErrorPage(try await fixture.authorize(server, fixture.query(["client_id": "cl_unknownunknownunknown1"])), "unknown client")
            Self.expectErrorPage(try await fixture.authorize(server, fixture.query(["client_id": nil])), "no client")
            Self.expectErrorPage(try await fixture.authorize(server, fixture.query(["redirect_uri": "https://evil.example/callback"])), "unregistered")
            for variant in ["https://APP.example.com/callback", "https://app.example.com/Callback", "https://app.example.com/callback?x=1",
                            "https://app.example.com/other", "https://app.example.com/callback/"] {
                Self.expectErrorPage(try await fixture.authorize(server, fixture.query(["redirect_uri": variant])), variant)
            }
            // Even an otherwise broken request with an unregistered redirect is not redirected.
            Self.expectErrorPage(try await fixture.authorize(server, fixture.query(["redirect_uri": "https://evil.example/cb", "response_type": "token"])),
                                 "unregistered redirect before response_type")
            try await TestEnvironment.withDatabase { database in
                _ = try await PostgresClientRepository(database: database).setStatus(
                    tenantID: fixture.tenant.id, clientID: fixture.clientID, status: .disabled, at: Date(),
                    audit: AuditEvent(action: "client.disabled", actorType: .system))
            }
            Self.expectErrorPage(try await fixture.authorize(server, fixture.query()), "disabled client")
        }
    }

    @Test("RFC 8252 §7.3: a port-less localhost registration works with an ephemeral port; other loopback hosts, case or paths do not")
    func loopbackRedirects() async throws {
        let fixture = try await Fixture.make(redirects: ["http://localhost/callback", "http://127.0.0.1/callback"], via: .admin)
        _ = try await fixture.grantRowAfterConsenting(scopes: ["openid", "profile"])
        try await TestServer.run { server in
            let ok = try await fixture.authorize(server, fixture.query(["redirect_uri": "http://localhost:53312/callback"]))
            let query = try #require(Fixture.redirectQuery(ok, to: "http://localhost:53312/callback?"), "\(ok.status) \(ok.header("Location") ?? "")")
            #expect(query.values("code").first?.hasPrefix("ac_") == true)
            for refused in ["http://[::1]:53312/callback", "http://LOCALHOST:53312/callback", "http://localhost:53312/callback2",
                            "http://localhost:53312/callback?x=1", "https://localhost:53312/callback"] {
                Self.expectErrorPage(try await fixture.authorize(server, fixture.query(["redirect_uri": refused])), refused)
            }
        }
    }

    @Test("RFC 6749 §4.1.2.1, RFC 7636 §4.4.1: response_type=token, a missing challenge and plain go back as errors with state and iss")
    func errorsGoBackWithStateAndIssuer() async throws {
        let fixture = try await Fixture.make()
        try await TestServer.run { server in
            let cases: [([String: String?], OAuthError.Code)] = [
                (["response_type": "token"], .unsupportedResponseType),
                (["code_challenge": nil, "code_challenge_method": nil], .invalidRequest),
                (["code_challenge": nil], .invalidRequest),
                (["code_challenge_method": "plain"], .invalidRequest),
                (["code_challenge_method": nil], .invalidRequest),
                (["scope": "openid admin"], .invalidScope),
            ]
            for (changes, code) in cases {
                let reply = try await fixture.authorize(server, fixture.query(changes))
                let query = try #require(Fixture.redirectQuery(reply), "\(changes): \(reply.status)")
                #expect(query.values("error") == [code.rawValue], "\(changes)")
                #expect(query.values("state") == ["st/+ =&ü"], "state unchanged on errors")
                #expect(query.values("iss") == [fixture.issuer], "RFC 9207: iss on errors")
                #expect(query.values("code").isEmpty)
                #expect(reply.header("Access-Control-Allow-Origin") == nil, "no CORS on /authorize")
            }
        }
    }

    @Test("A signed-in user with a covering grant gets a code, state byte for byte and iss; the code is bound to the request")
    func successCarriesCodeStateAndIssuer() async throws {
        let fixture = try await Fixture.make()
        _ = try await fixture.grantRowAfterConsenting(scopes: ["openid", "profile"])
        try await TestServer.run { server in
            let reply = try await fixture.authorize(server, fixture.query(["nonce": "n-0S6_WzA2Mj"]))
            let query = try #require(Fixture.redirectQuery(reply), "\(reply.status) \(reply.bodyText.prefix(300))")
            #expect(reply.header("Cache-Control") == "no-store")
            #expect(query.values("state") == ["st/+ =&ü"])
            #expect(query.values("iss") == [fixture.issuer])
            let code = try #require(query.values("code").first)
            let stored = try #require(try await fixture.storedCode(code))
            #expect(stored.scopes == ["openid", "profile"])
            #expect(stored.nonce == "n-0S6_WzA2Mj")
            #expect(stored.resources == [fixture.issuer], "no resource server: the issuer is the audience")
            #expect(stored.grantID == (try await fixture.grantRow())?.grantID)
        }
    }

    @Test("RFC 8707 §2: an unregistered resource is invalid_target; trailing slash and uppercase host match; none gets the default")
    func resourceIndicators() async throws {
        let fixture = try await Fixture.make()
        try await fixture.registerResource("https://mcp.example.com")
        try await fixture.registerResource("https://tools.example.com/mcp", isDefault: true)
        _ = try await fixture.grantRowAfterConsenting(scopes: ["openid", "profile"])
        try await TestServer.run { server in
            let refused = try await fixture.authorize(server, fixture.query(extra: [("resource", "https://other.example.com")]))
            #expect(try #require(Fixture.redirectQuery(refused)).values("error") == ["invalid_target"])
            let oneBadOfTwo = try await fixture.authorize(server, fixture.query(extra: [("resource", "https://mcp.example.com"), ("resource", "https://x.example")]))
            #expect(try #require(Fixture.redirectQuery(oneBadOfTwo)).values("error") == ["invalid_target"])

            for spelling in ["https://mcp.example.com/", "HTTPS://MCP.EXAMPLE.COM", "https://mcp.example.com"] {
                let reply = try await fixture.authorize(server, fixture.query(extra: [("resource", spelling)]))
                let code = try #require(Fixture.redirectQuery(reply)?.values("code").first, "\(spelling): \(reply.status)")
                #expect(try await fixture.storedCode(code)?.resources == ["https://mcp.example.com"], "\(spelling)")
            }
            let both = try await fixture.authorize(server, fixture.query(extra: [("resource", "https://mcp.example.com"), ("resource", "https://tools.example.com/mcp")]))
            let bothCode = try #require(Fixture.redirectQuery(both)?.values("code").first)
            #expect(try await fixture.storedCode(bothCode)?.resources == ["https://mcp.example.com", "https://tools.example.com/mcp"])

            let none = try await fixture.authorize(server, fixture.query())
            let noneCode = try #require(Fixture.redirectQuery(none)?.values("code").first)
            #expect(try await fixture.storedCode(noneCode)?.resources == ["https://tools.example.com/mcp"], "the default resource server")
        }
    }

    @Test("OpenID Connect Core §3.1.2.1: prompt=none answers login_required without a session and consent_required without a grant")
    func promptNone() async throws {
        let fixture = try await Fixture.make()
        try await TestServer.run { server in
            let signedOut = try await fixture.authorize(server, fixture.query(["prompt": "none"]), signedIn: false)
            #expect(try #require(Fixture.redirectQuery(signedOut)).values("error") == ["login_required"])
            let noGrant = try await fixture.authorize(server, fixture.query(["prompt": "none"]))
            let query = try #require(Fixture.redirectQuery(noGrant))
            #expect(query.values("error") == ["consent_required"])
            #expect(query.values("iss") == [fixture.issuer])
        }
    }

    @Test("Without a session the browser goes to the tenant's sign-in page, which returns to this same request")
    func signedOutGoesToSignIn() async throws {
        let fixture = try await Fixture.make()
        try await TestServer.run { server in
            let query = fixture.query(["login_hint": "ada@example.com"])
            let reply = try await fixture.authorize(server, query, signedIn: false)
            #expect(reply.status == .seeOther)
            let location = try #require(reply.header("Location"))
            #expect(location.hasPrefix(fixture.issuer + "/signin?"))
            let parameters = try #require(FormParameters(encoded: location.split(separator: "?", maxSplits: 1)[1]))
            #expect(parameters.values("return_to") == ["\(fixture.prefix)/authorize?\(query)"])
            #expect(parameters.values("login_hint") == ["ada@example.com"])
            #expect(parameters.values("prompt").isEmpty)
        }
    }

    @Test("prompt=login and max_age force a new sign-in; the way back carries no prompt=login, so a fresh session does not loop")
    func forcedSignInDoesNotLoop() async throws {
        let old = Date().addingTimeInterval(-3600)
        let fixture = try await Fixture.make(authTime: old)
        _ = try await fixture.grantRowAfterConsenting(scopes: ["openid", "profile"])
        try await TestServer.run { server in
            for changes: [String: String?] in [["prompt": "login"], ["max_age": "60"]] {
                let reply = try await fixture.authorize(server, fixture.query(changes))
                let location = try #require(reply.header("Location"), "\(changes)")
                #expect(location.hasPrefix(fixture.issuer + "/signin?"), "\(changes)")
                let signIn = try #require(FormParameters(encoded: location.split(separator: "?", maxSplits: 1)[1]))
                #expect(signIn.values("prompt") == ["login"], "the sign-in page asks for the password again")
                let returnTo = try #require(signIn.values("return_to").first)
                let back = try #require(FormParameters(encoded: returnTo.split(separator: "?", maxSplits: 1)[1]))
                #expect(back.values("prompt").isEmpty, "\(changes)")
                // The old session coming back is still sent to sign in.
                let again = try await server.get(returnTo, headers: [.cookie: fixture.cookie])
                #expect(again.header("Location")?.hasPrefix(fixture.issuer + "/signin?") == true, "\(changes)")
                // A session that signed in since gets its code.
                let fresh = try await fixture.newSession(authTime: Date())
                let done = try await server.get(returnTo, headers: [.cookie: fresh])
                #expect(Fixture.redirectQuery(done)?.values("code").first != nil, "\(changes): \(done.status) \(done.header("Location") ?? "")")
            }
        }
    }

    @Test("OpenID Connect Core §3.1.2.1: a request cannot claim a fresh sign-in itself; only the server's tagged marker counts")
    func forgedSignInMarkerIsIgnored() async throws {
        let fixture = try await Fixture.make(authTime: Date().addingTimeInterval(-3600))
        _ = try await fixture.grantRowAfterConsenting(scopes: ["openid", "profile"])
        try await TestServer.run { server in
            let epoch = "0"
            for marker in [epoch, epoch + ".AAAAAAAAAAAAAAAAAAAAAA", epoch + "."] {
                let reply = try await fixture.authorize(server, fixture.query(["max_age": "0", "signed_in_after": marker]))
                #expect(reply.header("Location")?.hasPrefix(fixture.issuer + "/signin?") == true, "marker \(marker): \(reply.status)")
            }
            // The server's own marker is tagged, and with a session from after it the request goes on.
            let first = try await fixture.authorize(server, fixture.query(["max_age": "0"]))
            let location = try #require(first.header("Location"))
            let signIn = try #require(FormParameters(encoded: location.split(separator: "?", maxSplits: 1)[1]))
            let returnTo = try #require(signIn.values("return_to").first)
            let back = try #require(FormParameters(encoded: returnTo.split(separator: "?", maxSplits: 1)[1]))
            let tagged = try #require(back.values("signed_in_after").first)
            #expect(tagged.contains("."), "the way back carries a tagged marker")
            let fresh = try await fixture.newSession(authTime: Date())
            let done = try await server.get(returnTo, headers: [.cookie: fresh])
            #expect(Fixture.redirectQuery(done)?.values("code").first != nil)
        }
    }

    @Test("Consent page: client name escaped, redirect host, not-verified mark for DCR clients only, Allow stores the grant and answers a code")
    func consentPageAndAllow() async throws {
        let fixture = try await Fixture.make(scope: ["openid", "profile", "email", "offline_access"])
        try await TestServer.run { server in
            let page = try await fixture.authorize(server, fixture.query(["scope": "openid email offline_access", "prompt": "consent"]))
            #expect(page.status == .ok)
            #expect(page.header("Content-Type") == "text/html; charset=utf-8")
            #expect(page.header("Cache-Control") == "no-store")
            #expect(page.header("X-Frame-Options") == "DENY")
            let html = page.bodyText
            #expect(html.contains("Example &lt;App&gt;"))
            #expect(!html.contains("Example <App>"))
            #expect(html.contains("<strong>app.example.com</strong>"), "the redirect's host")
            #expect(html.contains("Not verified"))
            #expect(html.contains("See your email address"))
            #expect(html.contains("Stay connected"))
            #expect(html.contains("<html lang=\"en\">"))
            #expect(html.contains("action=\"\(fixture.issuer)/authorize/consent\""))
            #expect(try await fixture.grantRow() == nil, "showing the page grants nothing")

            let allowed = try await fixture.submitConsent(server, page: page, decision: "allow")
            let query = try #require(Fixture.redirectQuery(allowed), "\(allowed.status) \(allowed.bodyText.prefix(300))")
            #expect(query.values("state") == ["st/+ =&ü"])
            #expect(query.values("iss") == [fixture.issuer])
            let code = try #require(query.values("code").first)
            let grant = try #require(try await fixture.grantRow())
            #expect(grant.scopes == ["openid", "email", "offline_access"])
            #expect(try await fixture.storedCode(code)?.grantID == grant.grantID)
        }
        let admin = try await Fixture.make(via: .admin)
        try await TestServer.run { server in
            let page = try await admin.authorize(server, admin.query())
            #expect(page.status == .ok)
            #expect(!page.bodyText.contains("Not verified"), "an admin-registered client is not marked")
        }
    }

    @Test("Remembered consent is skipped, prompt=consent shows it again, a step-up asks for and stores the union")
    func rememberedConsentAndStepUp() async throws {
        let fixture = try await Fixture.make(scope: ["openid", "profile", "email"])
        try await TestServer.run { server in
            let first = try await fixture.authorize(server, fixture.query(["scope": "openid"]))
            #expect(first.status == .ok)
            _ = try await fixture.submitConsent(server, page: first, decision: "allow")

            let remembered = try await fixture.authorize(server, fixture.query(["scope": "openid"]))
            #expect(Fixture.redirectQuery(remembered)?.values("code").first != nil, "remembered: no page")

            let forced = try await fixture.authorize(server, fixture.query(["scope": "openid", "prompt": "consent"]))
            #expect(forced.status == .ok)
            #expect(forced.bodyText.contains("name=\"decision\" value=\"allow\""))

            let stepUp = try await fixture.authorize(server, fixture.query(["scope": "openid email"]))
            #expect(stepUp.status == .ok, "new scopes ask again")
            let allowed = try await fixture.submitConsent(server, page: stepUp, decision: "allow")
            #expect(Fixture.redirectQuery(allowed)?.values("code").first != nil)
            #expect(try await fixture.grantRow()?.scopes == ["openid", "email"])

            let union = try await fixture.authorize(server, fixture.query(["scope": "email openid"]))
            #expect(Fixture.redirectQuery(union)?.values("code").first != nil, "the union is remembered")
            let bigger = try await fixture.authorize(server, fixture.query(["scope": "openid email profile"]))
            #expect(bigger.status == .ok)
            _ = try await fixture.submitConsent(server, page: bigger, decision: "allow")
            #expect(try await fixture.grantRow()?.scopes == ["openid", "email", "profile"])
        }
    }

    @Test("Deny answers access_denied to the client with state and iss, and stores nothing")
    func denyAnswersAccessDenied() async throws {
        let fixture = try await Fixture.make()
        try await TestServer.run { server in
            let page = try await fixture.authorize(server, fixture.query())
            let denied = try await fixture.submitConsent(server, page: page, decision: "deny")
            let query = try #require(Fixture.redirectQuery(denied))
            #expect(query.values("error") == ["access_denied"])
            #expect(query.values("state") == ["st/+ =&ü"])
            #expect(query.values("iss") == [fixture.issuer])
            #expect(try await fixture.grantRow() == nil)
        }
    }

    @Test("CSRF on the consent form: no token, a wrong one, another session's, or no session is refused and grants nothing")
    func consentFormCSRF() async throws {
        let fixture = try await Fixture.make()
        try await TestServer.run { server in
            let page = try await fixture.authorize(server, fixture.query())
            let fields = try Fixture.formFields(page.bodyText)
            let request = try #require(fields.first { $0.0 == "request" }?.1)
            let token = try #require(fields.first { $0.0 == "csrf" }?.1)
            let other = try await fixture.newSession(authTime: Date())
            // The sign-out form's token of the same session: bound to another purpose.
            let signOutToken = CSRFProtection(key: .development).token(
                purpose: "signout", tenant: ResolvedTenant(tenant: fixture.tenant, issuer: fixture.issuer), binding: fixture.sessionHash)
            let attempts: [(String, FormParameters, String?)] = [
                ("no token", FormParameters([("request", request), ("decision", "allow")]), nil),
                ("wrong token", FormParameters([("csrf", String(token.reversed())), ("request", request), ("decision", "allow")]), nil),
                ("another session's cookie", FormParameters([("csrf", token), ("request", request), ("decision", "allow")]), other),
                ("no session", FormParameters([("csrf", token), ("request", request), ("decision", "allow")]), ""),
                ("another form's token", FormParameters([("csrf", signOutToken), ("request", request), ("decision", "allow")]), nil),
                ("token repeated", FormParameters([("csrf", token), ("csrf", token), ("request", request), ("decision", "allow")]), nil),
            ]
            for (name, form, cookie) in attempts {
                let reply = try await fixture.postForm(server, "/authorize/consent", form, cookie: cookie)
                #expect(reply.status == .forbidden, "\(name)")
                #expect(reply.header("Location") == nil, "\(name)")
            }
            #expect(try await fixture.grantRow() == nil)
            // The real form still works.
            let allowed = try await fixture.submitConsent(server, page: page, decision: "allow")
            #expect(Fixture.redirectQuery(allowed)?.values("code").first != nil)
        }
    }

    @Test("A tampered consent form is validated again: an unregistered redirect in it is never redirected to")
    func consentFormIsRevalidated() async throws {
        let fixture = try await Fixture.make()
        try await TestServer.run { server in
            let page = try await fixture.authorize(server, fixture.query())
            let token = try #require(try Fixture.formFields(page.bodyText).first { $0.0 == "csrf" }?.1)
            let tampered = fixture.query(["redirect_uri": "https://evil.example/callback"])
            let reply = try await fixture.postForm(server, "/authorize/consent", FormParameters([("csrf", token), ("request", tampered), ("decision", "allow")]))
            Self.expectErrorPage(reply, "tampered redirect")
            #expect(try await fixture.grantRow() == nil)
        }
    }

    @Test("Policy: loopback-only clients see consent every time and an extra warning; consent_mode=always asks everyone")
    func consentAlwaysPolicies() async throws {
        var policy = RegistrationPolicy()
        policy.authorizationServer.consentAlwaysForLoopbackOnlyClients = true
        let loopback = try await Fixture.make(policy: policy, redirects: ["http://127.0.0.1/callback"])
        _ = try await loopback.grantRowAfterConsenting(scopes: ["openid", "profile"])
        let web = try await Fixture.make(policy: policy)
        _ = try await web.grantRowAfterConsenting(scopes: ["openid", "profile"])
        var always = RegistrationPolicy()
        always.authorizationServer.consentMode = .always
        let everyone = try await Fixture.make(policy: always)
        _ = try await everyone.grantRowAfterConsenting(scopes: ["openid", "profile"])
        try await TestServer.run { server in
            let page = try await loopback.authorize(server, loopback.query(["redirect_uri": "http://127.0.0.1:4711/callback"]))
            #expect(page.status == .ok, "a grant does not skip consent for a loopback-only client under this policy")
            #expect(page.bodyText.contains("runs on a computer, not on a website"))
            #expect(page.bodyText.contains("<strong>127.0.0.1</strong>"))
            let skipped = try await web.authorize(server, web.query())
            #expect(Fixture.redirectQuery(skipped)?.values("code").first != nil, "a client with an https redirect keeps its remembered consent")
            #expect(try await everyone.authorize(server, everyone.query()).status == .ok)
        }
    }

    @Test("A user revokes a grant from their page: the grant goes, its token families are revoked, consent is asked again; CSRF checked")
    func userRevokesGrant() async throws {
        let fixture = try await Fixture.make()
        let grant = try await fixture.grantRowAfterConsenting(scopes: ["openid", "profile"])
        let family = try await fixture.insertFamily(grantID: grant.grantID)
        try await TestServer.run { server in
            let page = try await server.get("\(fixture.prefix)/grants", headers: [.cookie: fixture.cookie])
            #expect(page.status == .ok)
            #expect(page.bodyText.contains("Example &lt;App&gt;"))
            let fields = try Fixture.formFields(page.bodyText)
            #expect(fields.contains { $0 == ("grant", grant.grantID.uuidString.lowercased()) })
            let token = try #require(fields.first { $0.0 == "csrf" }?.1)

            let forged = try await fixture.postForm(server, "/grants/revoke", FormParameters([("grant", grant.grantID.uuidString)]))
            #expect(forged.status == .forbidden)
            #expect(try await fixture.grantRow() != nil)

            let revoked = try await fixture.postForm(server, "/grants/revoke", FormParameters([("csrf", token), ("grant", grant.grantID.uuidString)]))
            #expect(revoked.status == .seeOther)
            #expect(try await fixture.grantRow() == nil)
            #expect(try await fixture.familyRevoked(family))
            #expect(try await fixture.authorize(server, fixture.query()).status == .ok, "consent is asked again")
        }
    }
}

extension AuthorizeFixture {
    /// Stores a grant as if the user had consented.
    func grantRowAfterConsenting(scopes: [String]) async throws -> ConsentGrant {
        let (userID, clientID, tenantID) = (user.id, self.clientID, tenant.id)
        return try await TestEnvironment.withDatabase { database in
            try await PostgresConsentGrantRepository(database: database).grant(userID: userID, clientID: clientID, scopes: scopes, tenantID: tenantID, at: Date())
        }
    }

    /// Another session of the same user; returns its `Cookie` header.
    func newSession(authTime: Date) async throws -> String {
        let value = SecretGenerator.randomToken()
        let (user, tenantID) = (self.user, tenant.id)
        try await TestEnvironment.withDatabase { database in
            try await PostgresSessionRepository(database: database).create(
                hash: SessionStore.hash(value), user: user, tenant: tenantID, authTime: authTime, at: Date(), idle: 3600, absolute: 7200, replacing: nil)
        }
        return "\(SessionCookie(purpose: "session", issuer: issuer).name)=\(value)"
    }

    func insertFamily(grantID: UUID) async throws -> UUID {
        let (tenantID, clientID, userID) = (tenant.id, self.clientID, user.id)
        return try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenantID) { connection in
                try await connection.run("""
                    INSERT INTO token_families (tenant_id, client_id, user_id, grant_id, scopes, resources, absolute_expires_at)
                    VALUES (\(tenantID), \(clientID), \(userID), \(grantID), \(["openid"]), \(["https://x.example"]), now() + interval '1 day')
                    RETURNING family_id
                    """, logger: database.logger).first!.decode(UUID.self)
            }
        }
    }

    func familyRevoked(_ familyID: UUID) async throws -> Bool {
        let tenantID = tenant.id
        return try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenantID) { connection in
                try await connection.run("SELECT revoked_at IS NOT NULL FROM token_families WHERE tenant_id = \(tenantID) AND family_id = \(familyID)",
                                         logger: database.logger).first!.decode(Bool.self)
            }
        }
    }
}
