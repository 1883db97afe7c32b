import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// The sign-in page over HTTP against PostgreSQL: cookies, fixation, CSRF, failures, limits.
@Suite("Sign-in")
struct SignInTests {
    static func run<T: Sendable>(overrides: AppOverrides = .init(), _ body: @escaping @Sendable (TestServer) async throws -> T) async throws -> T {
        try await TestServer.run(configure: { config in
            // Each browser counts against its own X-Forwarded-For address.
            config.trustedProxies = [try IPRange("127.0.0.0/8"), try IPRange("::1/128")]
        }, overrides: overrides, body)
    }

    @Test("Sign-in: success at a path tenant sets an HttpOnly, SameSite=Lax session cookie on the tenant's path, not Secure on http loopback, and 303s to return_to")
    func successAtPathTenant() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await UserFixture.create(tenant)
        try await Self.run { server in
            let browser = SignInBrowser(server, tenant: tenant)
            let reply = try await browser.signIn(email: user.email)
            #expect(reply.status == .seeOther, "\(reply.bodyText)")
            #expect(reply.header("Location") == "http://localhost/t/\(tenant.slug)/authorize?client_id=cl_test&state=xyz")
            let cookie = try #require(reply.setCookie(named: "registrar_session_\(tenant.slug)"), "\(reply.headers)")
            #expect(cookie.attributes["path"] == "/t/\(tenant.slug)")
            #expect(cookie.has("HttpOnly"))
            #expect(cookie.attributes["samesite"] == "Lax")
            #expect(!cookie.has("Secure"))
            #expect(cookie.value.utf8.count == 43)
            #expect(reply.header("Cache-Control") == "no-store")
            // The cookie is a live session of this user, stored only as its hash.
            #expect(try await browser.signedInEmail() == user.email)
            let stored = try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("SELECT session_hash, user_id FROM sessions", logger: database.logger).map { try $0.decode((String, UUID).self) }
                }
            }
            #expect(stored.count == 1)
            #expect(stored.first?.0 == SessionStore.hash(cookie.value))
            #expect(stored.first?.0 != cookie.value)
            #expect(stored.first?.1 == user.id)
            #expect(try await UserFixture.auditActions(tenant).contains { $0.action == "user.signed_in" && $0.actorID == user.id.uuidString.lowercased() })
        }
    }

    @Test("Sign-in: at a host tenant (custom domain, subdomain) the session cookie is __Host-, Secure and Path=/")
    func hostTenantCookieIsSecure() async throws {
        for mode in [ResolutionMode.customDomain, .subdomain] {
            let (tenant, host, prefix, _) = try await mode.newTenant()
            let user = try await UserFixture.create(tenant)
            try await Self.run { server in
                let browser = SignInBrowser(server, host: host, prefix: prefix)
                let reply = try await browser.signIn(email: user.email)
                #expect(reply.status == .seeOther, "\(mode): \(reply.bodyText)")
                #expect(reply.header("Location")?.hasPrefix("https://\(host)/authorize?") == true)
                let cookie = try #require(reply.setCookie(named: "__Host-registrar_session"), "\(mode): \(reply.headers)")
                #expect(cookie.has("Secure"))
                #expect(cookie.attributes["path"] == "/")
                #expect(cookie.attributes["domain"] == nil)
                #expect(cookie.has("HttpOnly"))
                #expect(cookie.attributes["samesite"] == "Lax")
                #expect(try await browser.signedInEmail() == user.email)
            }
        }
    }

    @Test("Sign-in: a session of tenant A is refused by tenant B, under either tenant's cookie name")
    func sessionOfOneTenantRefusedByAnother() async throws {
        let tenantA = try await TestEnvironment.createTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let user = try await UserFixture.create(tenantA)
        // Tenant B has a user with the same email: only the session decides, and it is A's.
        try await UserFixture.create(tenantB, email: user.email)
        try await Self.run { server in
            let browserA = SignInBrowser(server, tenant: tenantA)
            #expect(try await browserA.signIn(email: user.email).status == .seeOther)
            let value = try #require(browserA.session)
            #expect(try await browserA.signedInEmail() == user.email)
            let browserB = SignInBrowser(server, tenant: tenantB)
            browserB.setCookie(browserB.sessionCookieName, value)
            browserB.setCookie(browserA.sessionCookieName, value)
            #expect(try await browserB.signedInEmail() == nil)
            // With a session, a return_to would be followed without a form; B shows the form.
            let page = try await browserB.signInPage(returnTo: browserB.authorizePath)
            #expect(page.status == .ok)
            #expect(page.formField("csrf_token") != nil)
            // Two path tenants' cookie paths never cover each other.
            #expect(SessionCookie.session(ResolvedTenant(tenant: tenantA, issuer: "http://localhost/t/\(tenantA.slug)")).path == "/t/\(tenantA.slug)")
        }
    }

    @Test("Sign-in: a pre-set session cookie is replaced by a new id, and the browser's previous session is deleted (no fixation)")
    func sessionFixation() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let attacker = try await UserFixture.create(tenant)
        let victim = try await UserFixture.create(tenant)
        try await Self.run { server in
            // A value the attacker chose, never issued by the server.
            let browser = SignInBrowser(server, tenant: tenant)
            let planted = SecretGenerator.randomToken()
            browser.setCookie(browser.sessionCookieName, planted)
            #expect(try await browser.signIn(email: victim.email).status == .seeOther)
            let issued = try #require(browser.session)
            #expect(issued != planted)
            let plantedBrowser = SignInBrowser(server, tenant: tenant)
            plantedBrowser.setCookie(plantedBrowser.sessionCookieName, planted)
            #expect(try await plantedBrowser.signedInEmail() == nil)

            // A real session of the attacker's, planted in the victim's browser.
            let attackerBrowser = SignInBrowser(server, tenant: tenant)
            #expect(try await attackerBrowser.signIn(email: attacker.email).status == .seeOther)
            let attackerSession = try #require(attackerBrowser.session)
            let victimBrowser = SignInBrowser(server, tenant: tenant)
            victimBrowser.setCookie(victimBrowser.sessionCookieName, attackerSession)
            // The planted session is live, so only prompt=login shows the form here.
            #expect(try await victimBrowser.signedInEmail() == attacker.email)
            #expect(try await victimBrowser.signIn(email: victim.email, query: "prompt=login").status == .seeOther)
            let victimSession = try #require(victimBrowser.session)
            #expect(victimSession != attackerSession)
            #expect(try await victimBrowser.signedInEmail() == victim.email)
            // The attacker's id now signs nobody in: it was deleted, not upgraded.
            #expect(try await attackerBrowser.signedInEmail() == nil)
            #expect(try await UserFixture.sessionCount(tenant, userID: attacker.id) == 0)
        }
    }

    @Test("Sign-in: a POST without the CSRF token, with a wrong one, one of another pre-session cookie or of another tenant is refused with 403 and signs nobody in")
    func csrfRefused() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let other = try await TestEnvironment.createTenant()
        let user = try await UserFixture.create(tenant)
        try await Self.run { server in
            let browser = SignInBrowser(server, tenant: tenant)
            let page = try await browser.signInPage(returnTo: browser.authorizePath)
            let token = try #require(page.formField("csrf_token"))
            let preSession = try #require(page.setCookie(named: "registrar_signin_csrf_\(tenant.slug)"))
            #expect(preSession.has("HttpOnly"))
            #expect(preSession.attributes["samesite"] == "Lax")
            #expect(preSession.attributes["path"] == "/t/\(tenant.slug)")

            let otherBrowser = SignInBrowser(server, tenant: other)
            let otherToken = try #require(try await otherBrowser.signInPage().formField("csrf_token"))
            let secondBrowser = SignInBrowser(server, tenant: tenant)
            let secondToken = try #require(try await secondBrowser.signInPage().formField("csrf_token"))
            for (label, csrf) in [("missing", nil), ("wrong", SecretGenerator.randomToken()), ("empty", ""),
                                  ("another browser's", secondToken), ("another tenant's", otherToken)] as [(String, String?)] {
                let reply = try await browser.submit(email: user.email, csrf: csrf, returnTo: browser.authorizePath)
                #expect(reply.status == .forbidden, "\(label): \(reply.status)")
                #expect(reply.setCookie(named: browser.sessionCookieName) == nil, "\(label)")
                #expect(reply.header("Location") == nil, "\(label)")
            }
            // The pre-session cookie itself missing: the token alone proves nothing.
            let cookieless = SignInBrowser(server, tenant: tenant)
            let reply = try await cookieless.submit(email: user.email, csrf: token, returnTo: nil)
            #expect(reply.status == .forbidden)
            #expect(try await UserFixture.sessionCount(tenant, userID: user.id) == 0)
            // And the real token works.
            #expect(try await browser.submit(email: user.email, csrf: token, returnTo: browser.authorizePath).status == .seeOther)
        }
    }

    @Test("Sign-in: unknown email, wrong password and disabled account get the same page and message, and each is audited without the password")
    func sameAnswerForEveryFailure() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await UserFixture.create(tenant)
        let disabled = try await UserFixture.create(tenant)
        try await TestEnvironment.withDatabase { database in
            _ = try await PostgresUserRepository(database: database).setStatus(
                id: disabled.id, tenant: tenant.id, status: .disabled, at: Date(), audit: AuditEvent(action: "user.disabled", actorType: .system))
        }
        try await Self.run { server in
            let browser = SignInBrowser(server, tenant: tenant)
            let wrongPassword = "not the password at all"
            let unknown = try await browser.signIn(email: UserFixture.uniqueEmail("nobody"), password: wrongPassword)
            let wrong = try await browser.signIn(email: user.email, password: wrongPassword)
            let off = try await browser.signIn(email: disabled.email)
            let wrongCase = try await browser.signIn(email: user.email, password: UserFixture.password.uppercased())
            for reply in [unknown, wrong, off, wrongCase] {
                #expect(reply.status == .ok)
                #expect(reply.alert == SignInController.failedMessage, "\(reply.bodyText)")
                #expect(reply.setCookie(named: browser.sessionCookieName) == nil)
                #expect(reply.header("Location") == nil)
            }
            #expect(browser.session == nil)
            let failures = try await UserFixture.auditActions(tenant).filter { $0.action == "user.sign_in_failed" }
            #expect(failures.count == 4)
            #expect(failures.map(\.details).contains { $0.contains("unknown_account") })
            #expect(failures.map(\.details).contains { $0.contains("wrong_password") })
            #expect(failures.contains { $0.details.contains("disabled") && $0.actorID == disabled.id.uuidString.lowercased() })
            #expect(!failures.contains { $0.details.contains(wrongPassword) || $0.details.contains(UserFixture.password) })
        }
    }

    @Test("Sign-in: email matches ignoring case and surrounding spaces; login_hint prefills the email, HTML-escaped")
    func emailCaseAndLoginHint() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await UserFixture.create(tenant, email: "Mixed.Case-\(UUID().uuidString.prefix(6))@Example.com")
        try await Self.run { server in
            let browser = SignInBrowser(server, tenant: tenant)
            #expect(try await browser.signIn(email: " " + user.email.uppercased() + " ").status == .seeOther)
            let hinted = SignInBrowser(server, tenant: tenant)
            let page = try await hinted.signInPage(query: "login_hint=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            #expect(page.status == .ok)
            #expect(!page.bodyText.contains("<script>"))
            #expect(page.bodyText.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""))
            let plain = try await hinted.signInPage(query: "login_hint=someone%40example.com")
            #expect(plain.bodyText.contains("value=\"someone@example.com\""))
        }
    }

    @Test("Sign-in: the page is accessible HTML: lang, labelled fields with autocomplete, the tenant's name, no script, framing refused")
    func pageBasics() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await Self.run { server in
            let page = try await SignInBrowser(server, tenant: tenant).signInPage()
            #expect(page.status == .ok)
            #expect(page.header("Content-Type") == "text/html; charset=utf-8")
            #expect(page.header("Cache-Control") == "no-store")
            #expect(page.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
            let html = page.bodyText
            #expect(html.contains("<html lang=\"en\">"))
            #expect(html.contains("<label for=\"email\">"))
            #expect(html.contains("id=\"email\""))
            #expect(html.contains("autocomplete=\"username\""))
            #expect(html.contains("<label for=\"password\">"))
            #expect(html.contains("autocomplete=\"current-password\""))
            #expect(html.contains(tenant.displayName))
            #expect(!html.contains("<script"))
            // Email comes before password before the button: the focus order follows the DOM.
            let email = try #require(html.range(of: "id=\"email\"")).lowerBound
            let password = try #require(html.range(of: "id=\"password\"")).lowerBound
            let button = try #require(html.range(of: "type=\"submit\"")).lowerBound
            #expect(email < password && password < button)
        }
    }

    @Test("Sign-in: a return_to outside the tenant's /authorize (absolute, scheme-relative, backslash, other tenant, other path) is refused and never redirected to")
    func returnToIsNeverAnOpenRedirect() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await UserFixture.create(tenant)
        try await Self.run { server in
            let browser = SignInBrowser(server, tenant: tenant)
            let token = try #require(try await browser.signInPage().formField("csrf_token"))
            for bad in ["https://evil.example/t/\(tenant.slug)/authorize", "//evil.example/t/\(tenant.slug)/authorize",
                        "/\\evil.example", "/t/other-tenant/authorize?x=1", "/t/\(tenant.slug)/signin",
                        "/t/\(tenant.slug)/authorize/../../evil", "/t/\(tenant.slug)/authorizeX", "/t/\(tenant.slug)/authorize#frag",
                        "javascript:alert(1)", "/t/\(tenant.slug)/authorize?a=<b>"] {
                let page = try await browser.signInPage(returnTo: bad)
                #expect(page.status == .badRequest, "GET \(bad): \(page.status)")
                let post = try await browser.submit(email: user.email, csrf: token, returnTo: bad)
                #expect(post.status == .badRequest, "POST \(bad): \(post.status)")
                #expect(post.header("Location") == nil)
                #expect(post.setCookie(named: browser.sessionCookieName) == nil)
            }
            #expect(try await UserFixture.sessionCount(tenant, userID: user.id) == 0)
        }
    }

    @Test("Sign-in: with a live session and no prompt=login, the page sends the browser straight back to return_to; with prompt=login it asks again")
    func existingSessionSkipsTheForm() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await UserFixture.create(tenant)
        try await Self.run { server in
            let browser = SignInBrowser(server, tenant: tenant)
            #expect(try await browser.signIn(email: user.email).status == .seeOther)
            let again = try await browser.signInPage(returnTo: browser.authorizePath)
            #expect(again.status == .seeOther)
            #expect(again.header("Location") == "http://localhost" + browser.authorizePath)
            let forced = try await browser.signInPage(returnTo: browser.authorizePath, query: "prompt=login")
            #expect(forced.status == .ok)
            #expect(forced.formField("csrf_token") != nil)
        }
    }

    @Test("Sign-in: failures are limited per account, across addresses; past the limit even the right password gets 429 with Retry-After")
    func rateLimitPerAccount() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.failedSignInsPerAccount = RateLimit(limit: 1, periodSeconds: 3600, burst: 3)
        })
        let user = try await UserFixture.create(tenant)
        let bystander = try await UserFixture.create(tenant)
        try await Self.run { server in
            for _ in 0..<3 {
                let reply = try await SignInBrowser(server, tenant: tenant).signIn(email: user.email, password: "wrong password here")
                #expect(reply.status == .ok)
                #expect(reply.alert == SignInController.failedMessage)
            }
            // A new address, the right password: the account is locked for now.
            let browser = SignInBrowser(server, tenant: tenant)
            let limited = try await browser.signIn(email: user.email.uppercased())
            #expect(limited.status == .tooManyRequests)
            #expect(limited.header("Retry-After").flatMap(Int.init).map { $0 > 0 } == true)
            #expect(limited.header("Content-Type") == "text/html; charset=utf-8")
            #expect(browser.session == nil)
            // Another account is unaffected.
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: bystander.email).status == .seeOther)
        }
    }

    @Test("Sign-in: failures are limited per address, across accounts")
    func rateLimitPerAddress() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.failedSignInsPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 3)
        })
        let user = try await UserFixture.create(tenant)
        try await Self.run { server in
            let address = AdminFixture.randomAddress()
            for _ in 0..<3 {
                let reply = try await SignInBrowser(server, prefix: "/t/\(tenant.slug)", address: address)
                    .signIn(email: UserFixture.uniqueEmail("guess"), password: "wrong password here")
                #expect(reply.status == .ok)
            }
            let limited = try await SignInBrowser(server, prefix: "/t/\(tenant.slug)", address: address).signIn(email: user.email)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.header("RateLimit-Policy")?.contains("failed_sign_ins_per_address") == true)
            // The same user from elsewhere signs in.
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: user.email).status == .seeOther)
        }
    }

    @Test("Sign-in: a session past its idle lifetime or its absolute lifetime is no longer signed in; use within the idle lifetime extends it")
    func expiredSessionRefused() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.authorizationServer.sessionIdleLifetimeSeconds = 600
            $0.authorizationServer.sessionAbsoluteLifetimeSeconds = 1800
        })
        let user = try await UserFixture.create(tenant)
        let start = Date()
        let clock = AdminClock(start)
        try await Self.run(overrides: clock.overrides) { (server: TestServer) async throws in
            let browser = SignInBrowser(server, tenant: tenant)
            #expect(try await browser.signIn(email: user.email).status == .seeOther)
            // Used every 500 s: the idle expiry keeps moving.
            for step in 1...3 {
                clock.set(start.addingTimeInterval(Double(step) * 500))
                #expect(try await browser.signedInEmail() == user.email, "at \(step * 500) s")
            }
            // 1,600 s in, then 1,900 s: past the absolute lifetime, however active.
            clock.set(start.addingTimeInterval(1600))
            #expect(try await browser.signedInEmail() == user.email)
            clock.set(start.addingTimeInterval(1801))
            #expect(try await browser.signedInEmail() == nil)

            // Idle: a fresh session left alone for longer than 600 s.
            let idle = SignInBrowser(server, tenant: tenant)
            #expect(try await idle.signIn(email: user.email).status == .seeOther)
            clock.set(start.addingTimeInterval(1801 + 599))
            #expect(try await idle.signedInEmail() == user.email)
            clock.set(start.addingTimeInterval(1801 + 599 + 601))
            #expect(try await idle.signedInEmail() == nil)
        }
    }

    @Test("Sign-out: a CSRF-checked POST deletes the session and clears the cookie; without the token the session stays")
    func signOut() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let user = try await UserFixture.create(tenant)
        try await Self.run { server in
            let browser = SignInBrowser(server, tenant: tenant)
            #expect(try await browser.signIn(email: user.email).status == .seeOther)
            let value = try #require(browser.session)
            let refused = try await browser.send(.post, "/t/\(tenant.slug)/signout", form: [("csrf_token", SecretGenerator.randomToken())])
            #expect(refused.status == .forbidden)
            let missing = try await browser.send(.post, "/t/\(tenant.slug)/signout", form: [])
            #expect(missing.status == .forbidden)
            #expect(try await browser.signedInEmail() == user.email)

            let page = try await browser.send(.get, "/t/\(tenant.slug)/signout")
            let token = try #require(page.formField("csrf_token"))
            let reply = try await browser.send(.post, "/t/\(tenant.slug)/signout", form: [("csrf_token", token)])
            #expect(reply.status == .ok)
            let cleared = try #require(reply.setCookie(named: browser.sessionCookieName))
            #expect(cleared.attributes["max-age"] == "0")
            #expect(cleared.attributes["path"] == "/t/\(tenant.slug)")
            #expect(browser.session == nil)
            #expect(try await UserFixture.sessionCount(tenant, userID: user.id) == 0)
            // The old cookie value is dead, not merely forgotten by this browser.
            let replay = SignInBrowser(server, tenant: tenant)
            replay.setCookie(replay.sessionCookieName, value)
            #expect(try await replay.signedInEmail() == nil)
            #expect(try await UserFixture.auditActions(tenant).contains { $0.action == "user.signed_out" })
        }
    }

    @Test("Sign-in: a body that is not a form, or an unknown tenant, gets an HTML error page, never a 500")
    func malformedRequests() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await Self.run { server in
            let browser = SignInBrowser(server, tenant: tenant)
            let json = try await browser.send(.post, "/t/\(tenant.slug)/signin", form: [("email", "x")], contentType: "application/json")
            #expect(json.status == .badRequest)
            #expect(json.header("Content-Type") == "text/html; charset=utf-8")
            let unknown = try await SignInBrowser(server, prefix: "/t/no-such-tenant-here").signInPage()
            #expect(unknown.status == .notFound)
            #expect(unknown.header("Content-Type") == "text/html; charset=utf-8")
            let token = try #require(try await browser.signInPage().formField("csrf_token"))
            let long = try await browser.submit(email: String(repeating: "a", count: 400) + "@example.com",
                                                password: String(repeating: "p", count: 5000), csrf: token, returnTo: nil)
            #expect(long.status == .ok)
            #expect(long.alert == SignInController.failedMessage)
        }
    }
}
