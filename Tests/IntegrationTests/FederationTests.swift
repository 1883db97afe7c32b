import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Upstream OpenID Connect sign-in and the token vault against a real provider through real
/// HTTPS: one tenant of the server under test is the other's OpenID provider, reached through
/// a TLS front on loopback (`TLSFront`) by the guarded outbound client, as any provider would be.
@Suite("Upstream sign-in and token exchange")
struct FederationTests {
    static let password = "correct horse battery staple 42"
    static let appRedirect = "https://app.example.com/callback"

    /// Both tenants, the upstream client registered for the downstream tenant, a user upstream
    /// with a session there, and the downstream tenant's provider pointing at the upstream one.
    struct World: Sendable {
        let server: TestServer
        let front: TLSFront
        let upstream: Tenant
        let downstream: Tenant
        let upstreamUser: User
        let upstreamCookie: String

        var host: String { "idp.test:\(front.port)" }
        var upstreamIssuer: String { front.origin + "/t/\(upstream.slug)" }
        var downstreamIssuer: String { front.origin + "/t/\(downstream.slug)" }
        var preSessionCookieName: String { SessionCookie(purpose: "signin_csrf", issuer: downstreamIssuer).name }

        func path(_ url: String) -> String { url.hasPrefix(front.origin) ? String(url.dropFirst(front.origin.count)) : url }

        func get(_ url: String, cookie: String? = nil, headers: HTTPFields = [:]) async throws -> TestServer.Reply {
            var headers = headers
            if let cookie { headers[.cookie] = cookie }
            return try await server.request(.get, path(url), host: host, headers: headers)
        }

        func postForm(_ url: String, _ form: [(String, String)], cookie: String? = nil, headers: HTTPFields = [:]) async throws -> TestServer.Reply {
            var headers = headers
            headers[.contentType] = "application/x-www-form-urlencoded"
            if let cookie { headers[.cookie] = cookie }
            return try await server.request(.post, path(url), host: host, headers: headers, body: FormParameters(form.map { ($0.0, $0.1) }).encoded)
        }

        /// Allows whatever consent page `page` is (or passes a redirect through).
        func consenting(_ page: TestServer.Reply, issuer: String, cookie: String) async throws -> TestServer.Reply {
            guard page.status == .ok else { return page }
            let fields = try AuthorizeFixture.formFields(page.bodyText) + [("decision", "allow")]
            return try await postForm(issuer + "/authorize/consent", fields, cookie: cookie)
        }
    }

    static func cookie(named name: String, in reply: TestServer.Reply) -> String? {
        reply.headers[values: .setCookie].first { $0.hasPrefix(name + "=") }?.split(separator: ";").first.map(String.init)
    }

    static func run<T: Sendable>(domains: [String] = [], _ body: @escaping @Sendable (World) async throws -> T) async throws -> T {
        try await TLSFront.run { front in
            var overrides = AppOverrides()
            overrides.hostResolver = StaticHostResolver(["idp.test": ["127.0.0.1"]])
            return try await TestServer.run(configure: { config in
                config.publicBaseURL = front.origin
                config.outbound.allowedRanges = [try IPRange("127.0.0.1/32")]
                config.outbound.extraCAFile = DocumentServer.authority.caFile
            }, overrides: overrides) { server in
                front.target.port.withLock { $0 = server.port }
                var open = RegistrationPolicy()
                open.registrationAccess = .open
                let upstream = try await TestEnvironment.createTenant(policy: open)
                let downstream = try await TestEnvironment.createTenant()
                let user = try await UserFixture.create(upstream, email: "ada-\(UUID().uuidString.prefix(6).lowercased())@contoso.example",
                                                        password: password, displayName: "Ada Upstream")
                let session = SecretGenerator.randomToken()
                try await TestEnvironment.withDatabase { database in
                    try await PostgresSessionRepository(database: database).create(
                        hash: SessionStore.hash(session), user: user, tenant: upstream.id, authTime: Date(), at: Date(),
                        idle: 3600, absolute: 7200, replacing: nil)
                }
                let upstreamIssuer = front.origin + "/t/\(upstream.slug)"
                let world = World(server: server, front: front, upstream: upstream, downstream: downstream, upstreamUser: user,
                                  upstreamCookie: "\(SessionCookie(purpose: "session", issuer: upstreamIssuer).name)=\(session)")
                // The downstream tenant's client at the upstream provider, registered as any client would be.
                let registered = try await server.postJSON("/t/\(upstream.slug)/register", JSONValue.object([
                    "client_name": .string("Downstream tenant"),
                    "redirect_uris": .array([.string(world.downstreamIssuer + "/signin/callback")]),
                    "token_endpoint_auth_method": .string("client_secret_basic"),
                    "grant_types": .array([.string("authorization_code"), .string("refresh_token")]),
                    "scope": .string("openid email profile"),
                ]).encodedString(), host: world.host)
                try #require(registered.status == .created, "\(registered.bodyText)")
                let clientID = try #require(registered.object["client_id"]?.stringValue)
                let secret = try #require(registered.object["client_secret"]?.stringValue)
                let sealed = try TestServer.keyEncryptionKey.seal(Data(secret.utf8), purpose: IdentityProvider.secretPurpose,
                                                                  tenantID: downstream.id, binding: "upstream")
                try await TestEnvironment.withDatabase { database in
                    try await PostgresIdentityProviderRepository(database: database).create(
                        IdentityProvider(tenantID: downstream.id, id: "upstream", displayName: "Contoso", issuer: upstreamIssuer,
                                         clientID: clientID, sealedSecret: sealed, scopes: ["openid", "email", "profile"],
                                         allowedEmailDomains: domains, createdAt: Date()),
                        audit: AuditEvent(action: "identity_provider.created", actorType: .system))
                }
                return try await body(world)
            }
        }
    }

    /// The browser's way from the downstream sign-in page through the provider and back:
    /// the callback's reply, and the pre-session cookie the downstream tenant bound it to.
    static func signIn(_ world: World, tamper: (@Sendable () async throws -> Void)? = nil) async throws -> (reply: TestServer.Reply, callback: String, browser: String) {
        let start = try await world.get(world.downstreamIssuer + "/signin/upstream/upstream")
        try #require(start.status == .seeOther, "\(start.status) \(start.bodyText)")
        let browser = try #require(cookie(named: world.preSessionCookieName, in: start))
        let authorize = try #require(start.header("Location"))
        #expect(authorize.hasPrefix(world.upstreamIssuer + "/authorize?"))
        let query = try #require(FormParameters(encoded: String(authorize.split(separator: "?", maxSplits: 1)[1])))
        #expect(query.values("redirect_uri") == [world.downstreamIssuer + "/signin/callback"], "the callback is the tenant issuer's own")
        #expect(query.values("code_challenge_method") == ["S256"] && query.values("nonce").count == 1)
        if let tamper { try await tamper() }
        let page = try await world.get(authorize, cookie: world.upstreamCookie)
        let back = try await world.consenting(page, issuer: world.upstreamIssuer, cookie: world.upstreamCookie)
        let callback = try #require(back.header("Location"), "\(back.status) \(back.bodyText)")
        #expect(callback.hasPrefix(world.downstreamIssuer + "/signin/callback?"))
        return (try await world.get(callback, cookie: browser), callback, browser)
    }

    static func downstreamUsers(_ world: World) async throws -> Int {
        try await TokenFixture.count(world.downstream, "users", where: "lower(email) = '\(world.upstreamUser.email)'")
    }

    @Test("OIDC Core §3.1: a full sign-in creates the user once, links it, vaults the tokens; a second finds the same user")
    func fullSignIn() async throws {
        try await Self.run { world in
            let (first, callback, browser) = try await Self.signIn(world)
            #expect(first.status == .ok, "\(first.bodyText)")
            #expect(first.bodyText.contains(world.upstreamUser.email))
            #expect(Self.cookie(named: SessionCookie(purpose: "session", issuer: world.downstreamIssuer).name, in: first) != nil)
            #expect(try await Self.downstreamUsers(world) == 1)
            #expect(try await TokenFixture.count(world.downstream, "user_identities") == 1)
            #expect(try await TokenFixture.count(world.downstream, "upstream_tokens") == 1)
            // The callback's state was good once.
            AuthorizeEndpointTests.expectErrorPage(try await world.get(callback, cookie: browser), "replayed callback")

            let (second, _, _) = try await Self.signIn(world)
            #expect(second.status == .ok)
            #expect(try await Self.downstreamUsers(world) == 1, "the same user, found by the provider's subject")
            #expect(try await TokenFixture.count(world.downstream, "audit_events", where: "action = 'user.signed_in' AND details->>'provider' = 'upstream'") == 2)
            // The sign-in page offers the provider.
            let page = try await world.get(world.downstreamIssuer + "/signin")
            #expect(page.bodyText.contains("Sign in with Contoso") && page.bodyText.contains("/signin/upstream/upstream"))
        }
    }

    @Test("Bad state, another browser and a tampered nonce sign nobody in")
    func refusedCallbacks() async throws {
        try await Self.run { world in
            let unknown = try await world.get(world.downstreamIssuer + "/signin/callback?state=\(SecretGenerator.randomToken())&code=x",
                                              cookie: "\(world.preSessionCookieName)=\(SecretGenerator.randomToken())")
            AuthorizeEndpointTests.expectErrorPage(unknown, "unknown state")

            // The callback of a sign-in started in another browser.
            let start = try await world.get(world.downstreamIssuer + "/signin/upstream/upstream")
            let location = try #require(start.header("Location"))
            let back = try await world.consenting(try await world.get(location, cookie: world.upstreamCookie), issuer: world.upstreamIssuer,
                                                  cookie: world.upstreamCookie)
            let callback = try #require(back.header("Location"))
            let elsewhere = try await world.get(callback, cookie: "\(world.preSessionCookieName)=\(SecretGenerator.randomToken())")
            AuthorizeEndpointTests.expectErrorPage(elsewhere, "another browser")

            // The ID token's nonce is not the one this sign-in expects.
            let downstream = world.downstream
            let (tampered, _, _) = try await Self.signIn(world) {
                try await TokenFixture.execute(downstream, "UPDATE upstream_sign_ins SET nonce = 'tampered'")
            }
            AuthorizeEndpointTests.expectErrorPage(tampered, "bad nonce")
            #expect(try await Self.downstreamUsers(world) == 0)
            #expect(try await TokenFixture.count(world.downstream, "audit_events",
                                                 where: "action = 'user.sign_in_failed' AND details->>'reason' LIKE '%nonce%'") == 1)
        }
    }

    @Test("An email outside the provider's allowed domains is refused")
    func emailDomainRefused() async throws {
        try await Self.run(domains: ["fabrikam.example"]) { world in
            try await TokenFixture.execute(world.upstream, "UPDATE users SET email_verified = true")
            let (reply, _, _) = try await Self.signIn(world)
            #expect(reply.status == .forbidden)
            #expect(reply.header("Location") == nil)
            #expect(try await Self.downstreamUsers(world) == 0)
        }
    }

    @Test("Allowed email domains are judged on a verified email only")
    func emailDomainNeedsVerifiedEmail() async throws {
        try await Self.run(domains: ["contoso.example"]) { world in
            let (unverified, _, _) = try await Self.signIn(world)
            #expect(unverified.status == .forbidden, "the provider did not vouch for the email")
            #expect(try await Self.downstreamUsers(world) == 0)
            try await TokenFixture.execute(world.upstream, "UPDATE users SET email_verified = true")
            let (verified, _, _) = try await Self.signIn(world)
            #expect(verified.status == .ok, "\(verified.bodyText)")
            #expect(try await Self.downstreamUsers(world) == 1)
            let identity = try await TokenFixture.count(world.downstream, "user_identities",
                                                        where: "subject LIKE '\(world.upstreamIssuer) %'")
            #expect(identity == 1, "the link is keyed on the token's issuer and subject")
        }
    }

    @Test("RFC 8693: a resource server in the token's aud gets the user's upstream token, refreshed after expiry; others and revoked users get none")
    func tokenExchange() async throws {
        try await Self.run { world in
            let (signedIn, _, _) = try await Self.signIn(world)
            let session = try #require(Self.cookie(named: SessionCookie(purpose: "session", issuer: world.downstreamIssuer).name, in: signedIn))
            let downstream = world.downstream
            let (resource, credential) = try await TokenFixture.resourceServer(downstream, uri: "https://mcp-\(downstream.slug).example.com/mcp",
                                                                                isDefault: true)
            let (other, otherCredential) = try await TokenFixture.resourceServer(downstream, uri: "https://other-\(downstream.slug).example.com/mcp")
            let clientID = SecretGenerator.clientID()
            try await TestEnvironment.withDatabase { database in
                try await PostgresClientRepository(database: database).insert(RegisteredClient(
                    tenantID: downstream.id, clientID: clientID,
                    metadata: ClientMetadata(redirectURIs: [Self.appRedirect], tokenEndpointAuthMethod: .none, grantTypes: [.authorizationCode],
                                             clientName: "Downstream app", scope: ["openid", "email"]),
                    clientSecretHash: nil, clientSecretExpiresAt: nil, registrationAccessTokenHash: "unused", registeredVia: .admin,
                    sourceAddress: nil, createdAt: Date()), audit: AuditEvent(action: "client.created", actorType: .system))
            }
            let query = FormParameters([("response_type", "code"), ("client_id", clientID), ("redirect_uri", Self.appRedirect), ("state", "s"),
                                        ("code_challenge", AuthorizeFixture.challenge), ("code_challenge_method", "S256")]).encoded
            let page = try await world.get(world.downstreamIssuer + "/authorize?" + query, cookie: session)
            let redirected = try await world.consenting(page, issuer: world.downstreamIssuer, cookie: session)
            let code = try #require(AuthorizeFixture.redirectQuery(redirected, to: Self.appRedirect + "?")?.values("code").first,
                                    "\(redirected.status) \(redirected.bodyText)")
            let issued = try await world.postForm(world.downstreamIssuer + "/token", [
                ("grant_type", "authorization_code"), ("code", code), ("code_verifier", AuthorizeFixture.verifier),
                ("redirect_uri", Self.appRedirect), ("client_id", clientID),
            ])
            let subjectToken = try #require(issued.object["access_token"]?.stringValue, "\(issued.bodyText)")

            func exchange(_ id: String, _ secret: String, audience: String = "upstream") async throws -> TestServer.Reply {
                try await world.postForm(world.downstreamIssuer + "/token", [
                    ("grant_type", TokenVault.grantType), ("subject_token", subjectToken),
                    ("subject_token_type", TokenVault.accessTokenType), ("audience", audience),
                ], headers: [.authorization: TokenFixture.basic(id, secret)])
            }
            let first = try await exchange(resource.id, credential)
            #expect(first.status == .ok, "\(first.bodyText)")
            #expect(first.object["issued_token_type"] == .string(TokenVault.accessTokenType))
            #expect(first.header("Cache-Control") == "no-store")
            let upstreamToken = try #require(first.object["access_token"]?.stringValue)
            // It is the upstream provider's token for the upstream user.
            let userinfo = try await world.get(world.upstreamIssuer + "/userinfo", headers: [.authorization: "Bearer \(upstreamToken)"])
            #expect(userinfo.status == .ok, "\(userinfo.bodyText)")
            #expect(userinfo.object["email"] == .string(world.upstreamUser.email))

            // Expired in the vault: refreshed upstream, and a new token handed out.
            try await TokenFixture.execute(downstream, "UPDATE upstream_tokens SET access_expires_at = now() - interval '1 minute'")
            let refreshed = try await exchange(resource.id, credential)
            #expect(refreshed.status == .ok, "\(refreshed.bodyText)")
            let renewed = try #require(refreshed.object["access_token"]?.stringValue)
            #expect(renewed != upstreamToken)
            #expect(try await TokenFixture.count(downstream, "upstream_tokens", where: "access_expires_at > now()") == 1)

            TokenFixture.expectError(try await exchange(other.id, otherCredential), .invalidGrant)
            TokenFixture.expectError(try await exchange(resource.id, credential, audience: "nowhere"), .invalidTarget)
            TokenFixture.expectError(try await exchange(resource.id, "rsc_wrong-credential-0000000000000000000000"), .invalidClient, .unauthorized)
            #expect(try await TokenFixture.count(downstream, "audit_events", where: "action = 'token.exchanged'") == 2)

            // Revoking the user's sessions empties the vault.
            let userID = try #require(try await TestEnvironment.withDatabase { database in
                try await PostgresUserRepository(database: database).find(email: world.upstreamUser.email, tenant: downstream.id)?.id
            })
            _ = try await TestEnvironment.withDatabase { database in
                try await PostgresUserRepository(database: database).revokeSessions(id: userID, tenant: downstream.id, at: Date()) { _ in
                    AuditEvent(action: "user.sessions_revoked", actorType: .system)
                }
            }
            #expect(try await TokenFixture.count(downstream, "upstream_tokens") == 0)
            // The subject token itself is revoked with the user's sessions, and nothing is handed out.
            TokenFixture.expectError(try await exchange(resource.id, credential), .invalidRequest)
        }
    }
}
