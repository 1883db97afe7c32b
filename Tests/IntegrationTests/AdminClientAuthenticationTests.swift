import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// `POST /tenants/{t}/clients/authenticate`: the client authentication API a tenant's own
/// authorization server calls with a service key. Every "no" is the same 401.
@Suite("Admin API: client authentication")
struct AdminClientAuthenticationTests {
    /// A tenant, a service key for it, a server, and the path of the API.
    static func withService(_ body: @escaping @Sendable (TestServer, Tenant, AdminCaller, String) async throws -> Void) async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.service, for: tenant)
        try await AdminFixture.run { server in
            try await body(server, tenant, AdminCaller(server, key: key), "/tenants/\(tenant.slug)/clients/authenticate")
        }
    }

    /// The one rejection: 401 problem saying the client could not be authenticated.
    static func expectRejected(_ reply: TestServer.Reply, sourceLocation: SourceLocation = #_sourceLocation) {
        let body = AdminProblem.expect(reply, .unauthorized, sourceLocation: sourceLocation)
        #expect(body["detail"]?.stringValue == "the client could not be authenticated", sourceLocation: sourceLocation)
        #expect(reply.object["active"] == nil, sourceLocation: sourceLocation)
    }

    @Test("Admin API: authenticate a public client without a secret → 200 active")
    func publicClient() async throws {
        try await Self.withService { server, tenant, service, path in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Public"))
            let reply = try await service.post(path, ["client_id": .string(client.clientID), "redirect_uri": .string(AdminFixture.loopbackRedirect)])
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(reply.header("Cache-Control") == "no-store")
            #expect(reply.object["active"] == .bool(true))
            #expect(reply.object["client_id"]?.stringValue == client.clientID)
            #expect(reply.object["client_name"]?.stringValue == "Public")
            #expect(reply.object["token_endpoint_auth_method"]?.stringValue == "none")
            // Without a redirect_uri too.
            #expect(try await service.post(path, ["client_id": .string(client.clientID)]).status == .ok)
        }
    }

    @Test("Admin API: authenticate a confidential client with its secret → 200 active")
    func confidentialRightSecret() async throws {
        try await Self.withService { server, tenant, service, path in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let reply = try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string(try #require(client.clientSecret)),
                                                      "redirect_uri": .string(AdminFixture.trustedRedirect)])
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(reply.object["active"] == .bool(true))
            #expect(reply.object["client_id"]?.stringValue == client.clientID)
            #expect(reply.object["client_secret"] == nil)
            #expect(!reply.bodyText.contains(try #require(client.clientSecret)))
        }
    }

    @Test("Admin API: authenticate with a wrong or missing secret → 401")
    func confidentialWrongSecret() async throws {
        try await Self.withService { server, tenant, service, path in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let secret = try #require(client.clientSecret)
            let wrong = try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string(secret + "x")])
            Self.expectRejected(wrong)
            let missing = try await service.post(path, ["client_id": .string(client.clientID)])
            Self.expectRejected(missing)
            let unknown = try await service.post(path, ["client_id": .string("no-such-client"), "client_secret": .string(secret)])
            Self.expectRejected(unknown)
            #expect(wrong.bodyText == missing.bodyText)
            #expect(wrong.bodyText == unknown.bodyText)
        }
    }

    @Test("Admin API: authenticate a public client that sends a secret → 401")
    func publicClientWithSecret() async throws {
        try await Self.withService { server, tenant, service, path in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            let reply = try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string("anything")])
            Self.expectRejected(reply)
            let empty = try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string("")])
            Self.expectRejected(empty)
        }
    }

    @Test("Admin API: authenticate with an unregistered redirect_uri → 401")
    func unregisteredRedirect() async throws {
        try await Self.withService { server, tenant, service, path in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let secret = try #require(client.clientSecret)
            for redirect in ["https://evil.example/api/mcp/auth_callback", "https://claude.ai/api/mcp/auth_callback/",
                             "https://claude.ai/api/mcp/auth_callback?x=1", "https://CLAUDE.ai/api/mcp/auth_callback",
                             "http://claude.ai/api/mcp/auth_callback", ""] {
                let reply = try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string(secret),
                                                          "redirect_uri": .string(redirect)])
                Self.expectRejected(reply)
            }
        }
    }

    @Test("Admin API: authenticate a loopback redirect with another port → 200 (RFC 8252 §7.3); another host or path → 401")
    func loopbackPortVaries() async throws {
        try await Self.withService { server, tenant, service, path in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            func authenticate(_ redirect: String) async throws -> TestServer.Reply {
                try await service.post(path, ["client_id": .string(client.clientID), "redirect_uri": .string(redirect)])
            }
            for redirect in ["http://127.0.0.1:33418/callback", "http://127.0.0.1:50123/callback", "http://127.0.0.1/callback"] {
                let reply = try await authenticate(redirect)
                #expect(reply.status == .ok, "\(redirect): \(reply.bodyText)")
            }
            for redirect in ["http://localhost:33418/callback", "http://127.0.0.2:33418/callback", "http://[::1]:33418/callback",
                             "http://127.0.0.1:50123/other", "http://127.0.0.1:50123/callback/extra", "https://127.0.0.1:33418/callback",
                             "http://127.0.0.1:50123/callback?x=1"] {
                Self.expectRejected(try await authenticate(redirect))
            }
        }
    }

    @Test("Admin API: authenticate a disabled client → 401")
    func disabledClient() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenant.id), (.service, tenant.id)])
        try await AdminFixture.run { server in
            let service = AdminCaller(server, key: keys[1].presented)
            let path = "/tenants/\(tenant.slug)/clients/authenticate"
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let credentials: [String: JSONValue] = ["client_id": .string(client.clientID), "client_secret": .string(try #require(client.clientSecret))]
            #expect(try await service.post(path, credentials).status == .ok)
            #expect(try await AdminCaller(server, key: keys[0].presented).post("/tenants/\(tenant.slug)/clients/\(client.clientID)/disable").status == .ok)
            Self.expectRejected(try await service.post(path, credentials))
        }
    }

    @Test("Admin API: authenticate with a secret past its client_secret_expires_at → 401")
    func expiredSecret() async throws {
        var policy = RegistrationPolicy()
        policy.clientSecretLifetimeSeconds = 3600
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        let keys = try await AdminFixture.createKeys([(.service, tenant.id), (.admin, tenant.id)])
        let clock = AdminClock(Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)))
        try await AdminFixture.run(overrides: clock.overrides) { server in
            let service = AdminCaller(server, key: keys[0].presented)
            let path = "/tenants/\(tenant.slug)/clients/authenticate"
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let credentials: [String: JSONValue] = ["client_id": .string(client.clientID), "client_secret": .string(try #require(client.clientSecret))]
            let shown = try await AdminCaller(server, key: keys[1].presented).get("/tenants/\(tenant.slug)/clients/\(client.clientID)")
            #expect(shown.object["client_secret_expires_at"]?.intValue == Int(clock.now.timeIntervalSince1970) + 3600)
            #expect(try await service.post(path, credentials).status == .ok)
            clock.set(clock.now.addingTimeInterval(3601))
            Self.expectRejected(try await service.post(path, credentials))
            // A rotated secret gets a fresh lifetime and works again.
            let rotated = try await AdminCaller(server, key: keys[1].presented).post("/tenants/\(tenant.slug)/clients/\(client.clientID)/secret")
            #expect(rotated.object["client_secret_expires_at"]?.intValue == Int(clock.now.timeIntervalSince1970) + 3600)
            let secret = try #require(rotated.object["client_secret"]?.stringValue)
            #expect(try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string(secret)]).status == .ok)
        }
    }

    @Test("Admin API: a successful authentication sets last_used_at on the client")
    func lastUsedAt() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.viewer, tenant.id), (.service, tenant.id)])
        try await AdminFixture.run { server in
            let viewer = AdminCaller(server, key: keys[0].presented)
            let service = AdminCaller(server, key: keys[1].presented)
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let clientPath = "/tenants/\(tenant.slug)/clients/\(client.clientID)"
            #expect(try await viewer.get(clientPath).object["last_used_at"] == nil)
            // A failed attempt does not count as use.
            _ = try await service.post("/tenants/\(tenant.slug)/clients/authenticate",
                                       ["client_id": .string(client.clientID), "client_secret": .string("wrong")])
            #expect(try await viewer.get(clientPath).object["last_used_at"] == nil)

            let before = Date().addingTimeInterval(-2)
            #expect(try await service.post("/tenants/\(tenant.slug)/clients/authenticate",
                                           ["client_id": .string(client.clientID), "client_secret": .string(try #require(client.clientSecret))]).status == .ok)
            let used = try #require(try await viewer.get(clientPath).object["last_used_at"]?.stringValue)
            let date = try Date.ISO8601FormatStyle().parse(used)
            #expect(date >= before.addingTimeInterval(-1) && date <= Date().addingTimeInterval(2))
            // The client list can find it by last use as well.
            let filtered = try await viewer.get("/tenants/\(tenant.slug)/clients?last_used_before=\(AdminFixture.timestamp(before))")
            #expect(filtered.status == .ok)
            #expect(filtered.adminItems.isEmpty)
        }
    }
}

/// Failed authentications through the API count per client (and per end user when named), never
/// against the platform's token endpoint that calls it.
@Suite("Admin API: client authentication failures")
struct AdminClientAuthenticationFailureTests {
    static func tenant() async throws -> Tenant {
        try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.failedAuthenticationsPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 3)
        })
    }

    @Test("Admin API: bad secrets for one client through one token endpoint never refuse the tenant's other clients")
    func failuresCountPerClient() async throws {
        let tenant = try await Self.tenant()
        let key = try await AdminFixture.key(.service, for: tenant)
        try await AdminFixture.run { server in
            let service = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/clients/authenticate"
            let attacked = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient("Attacked"))
            let other = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient("Other"))
            var statuses: [Int] = []
            for _ in 0..<6 {
                statuses.append(try await service.post(path, ["client_id": .string(attacked.clientID), "client_secret": .string("rcs_wrong")]).status.code)
            }
            #expect(statuses.prefix(3).allSatisfy { $0 == 401 }, "\(statuses)")
            #expect(statuses.suffix(3).allSatisfy { $0 == 429 }, "\(statuses)")
            // The same caller, another client: unaffected.
            let reply = try await service.post(path, ["client_id": .string(other.clientID), "client_secret": .string(try #require(other.clientSecret))])
            #expect(reply.status == .ok, "\(reply.bodyText)")
        }
    }

    @Test("Admin API: with end_user_address, failures also count per end user, and other end users keep authenticating")
    func failuresCountPerEndUser() async throws {
        let tenant = try await Self.tenant()
        let key = try await AdminFixture.key(.service, for: tenant)
        try await AdminFixture.run { server in
            let service = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/clients/authenticate"
            let clients = [try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient("A")),
                           try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient("B")),
                           try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient("C"))]
            let (guesser, honest) = ("203.0.113.7", "2001:db8::42")
            // One wrong secret per client from one end user: no client reaches its own limit.
            for client in clients {
                let reply = try await service.post(path, ["client_id": .string(client.clientID), "client_secret": .string("rcs_wrong"),
                                                          "end_user_address": .string(guesser)])
                #expect(reply.status == .unauthorized)
            }
            let right: (AdminRegistration) throws -> [String: JSONValue] = { client in
                ["client_id": .string(client.clientID), "client_secret": .string(try #require(client.clientSecret))]
            }
            var fromGuesser = try right(clients[0])
            fromGuesser["end_user_address"] = .string(guesser)
            #expect(try await service.post(path, fromGuesser).status == .tooManyRequests)
            var fromHonest = try right(clients[0])
            fromHonest["end_user_address"] = .string(honest)
            #expect(try await service.post(path, fromHonest).status == .ok)
            #expect(try await service.post(path, try right(clients[1])).status == .ok)

            let bad = try await service.post(path, ["client_id": .string(clients[0].clientID), "end_user_address": .string("10.0.0.0/8")])
            AdminProblem.expect(bad, .validation, field: "end_user_address")
        }
    }
}

/// RFC 7523: a `private_key_jwt` client is vouched for only with a valid client assertion.
@Suite("Admin API: client assertions")
struct AdminClientAssertionTests {
    static let type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    /// A private_key_jwt client whose jwks is `keys`' public key.
    static func register(_ server: TestServer, _ tenant: Tenant, keys: StatementIssuer) async throws -> String {
        let reply = try await AdminFixture.tryRegister(server, tenant, [
            "client_name": .string("Key client"), "redirect_uris": .array([.string(AdminFixture.trustedRedirect)]),
            "token_endpoint_auth_method": .string("private_key_jwt"), "jwks": keys.jwks,
        ])
        try #require(reply.status == .created, "\(reply.bodyText)")
        return try #require(reply.object["client_id"]?.stringValue)
    }

    static func claims(_ clientID: String, audience: String, exp: TimeInterval = Date().timeIntervalSince1970 + 120,
                       jti: String = UUID().uuidString) -> [String: JSONValue] {
        ["iss": .string(clientID), "sub": .string(clientID), "aud": .string(audience), "exp": .number(exp.rounded(.down)), "jti": .string(jti)]
    }

    @Test("RFC 7523 §3: a private_key_jwt client with only its client_id is refused; a valid assertion → 200 once, its replay → 401")
    func assertionRequiredAndReplayRefused() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.service, for: tenant)
        try await AdminFixture.run { server in
            let service = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/clients/authenticate"
            let keys = StatementIssuer()
            let clientID = try await Self.register(server, tenant, keys: keys)
            let issuer = "http://localhost/t/\(tenant.slug)"

            AdminClientAuthenticationTests.expectRejected(try await service.post(path, ["client_id": .string(clientID)]))

            let assertion = try await keys.sign(Self.claims(clientID, audience: issuer))
            let body: [String: JSONValue] = ["client_id": .string(clientID), "client_assertion": .string(assertion),
                                             "client_assertion_type": .string(Self.type)]
            let accepted = try await service.post(path, body)
            #expect(accepted.status == .ok, "\(accepted.bodyText)")
            #expect(accepted.object["active"] == .bool(true))
            AdminClientAuthenticationTests.expectRejected(try await service.post(path, body))

            // The token endpoint is an accepted audience too.
            let toToken = try await keys.sign(Self.claims(clientID, audience: issuer + "/token"))
            #expect(try await service.post(path, ["client_id": .string(clientID), "client_assertion": .string(toToken),
                                                  "client_assertion_type": .string(Self.type)]).status == .ok)
        }
    }

    @Test("RFC 7523 §3: assertions with a wrong key, iss, sub, aud, type, a missing or far exp, or no jti → 401")
    func badAssertionsRefused() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.service, for: tenant)
        try await AdminFixture.run { server in
            let service = AdminCaller(server, key: key)
            let path = "/tenants/\(tenant.slug)/clients/authenticate"
            let keys = StatementIssuer()
            let clientID = try await Self.register(server, tenant, keys: keys)
            let issuer = "http://localhost/t/\(tenant.slug)"
            let now = Date().timeIntervalSince1970
            var cases: [(String, String, String)] = []
            func add(_ name: String, _ claims: [String: JSONValue], signer: StatementIssuer? = nil, type: String = Self.type) async throws {
                cases.append((name, try await (signer ?? keys).sign(claims), type))
            }
            try await add("another key", Self.claims(clientID, audience: issuer), signer: StatementIssuer())
            var claims = Self.claims(clientID, audience: issuer); claims["iss"] = .string("someone-else")
            try await add("iss", claims)
            claims = Self.claims(clientID, audience: issuer); claims["sub"] = .string("someone-else")
            try await add("sub", claims)
            try await add("aud", Self.claims(clientID, audience: "https://elsewhere.example"))
            claims = Self.claims(clientID, audience: issuer); claims["exp"] = nil
            try await add("no exp", claims)
            try await add("expired", Self.claims(clientID, audience: issuer, exp: now - 600))
            try await add("exp too far", Self.claims(clientID, audience: issuer, exp: now + 3600))
            claims = Self.claims(clientID, audience: issuer); claims["jti"] = nil
            try await add("no jti", claims)
            try await add("type", Self.claims(clientID, audience: issuer), type: "urn:other")
            cases.append(("HS256 keyed with the public jwks", try await keys.signHS256(Self.claims(clientID, audience: issuer)), Self.type))
            for (name, assertion, type) in cases {
                let reply = try await service.post(path, ["client_id": .string(clientID), "client_assertion": .string(assertion),
                                                          "client_assertion_type": .string(type)])
                #expect(reply.status == .unauthorized, "\(name): \(reply.bodyText)")
            }
            // A secret instead of an assertion is refused as well.
            AdminClientAuthenticationTests.expectRejected(try await service.post(path, ["client_id": .string(clientID), "client_secret": .string("x")]))
        }
    }
}
