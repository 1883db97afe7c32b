import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Client authentication at the token endpoint (RFC 6749 §2.3, §5.2; RFC 7523 §3) and the rules
/// of its requests: form bodies only, one value per parameter, no-store and open CORS.
@Suite("Token endpoint: client authentication and requests")
struct TokenClientAuthenticationTests {
    typealias F = TokenFixture

    /// A code exchange for `client` without any client credentials; the caller adds them.
    static func exchangeParameters(_ server: TestServer, _ tenant: Tenant, _ client: AdminRegistration) async throws -> [(String, String)] {
        let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.confidentialRedirect)
        let code = try await F.issue(bound, tenant: tenant)
        return [("grant_type", "authorization_code"), ("code", code), ("code_verifier", bound.verifier), ("redirect_uri", bound.redirectURI)]
    }

    static func expectInvalidClient(_ reply: TestServer.Reply, basic: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        F.expectError(reply, .invalidClient, sourceLocation: sourceLocation)
        if basic {
            // RFC 6749 §5.2: Basic was tried, so the 401 carries its challenge.
            #expect(reply.header("WWW-Authenticate")?.hasPrefix("Basic realm=") == true, sourceLocation: sourceLocation)
        } else {
            #expect(reply.header("WWW-Authenticate") == nil, sourceLocation: sourceLocation)
        }
    }

    @Test("Design §8: wrong client secrets at /token are throttled per address; then even the right one, and unknown client ids, get 429")
    func failedClientAuthenticationsAreThrottled() async throws {
        let tenant = try await F.tenant { $0.rateLimits.failedAuthenticationsPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 3) }
        try await AdminFixture.run { server in
            let client = try await F.confidentialClient(server, tenant)
            let secret = try #require(client.clientSecret)
            let guesser: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: AdminFixture.randomAddress()]
            var statuses: [Int] = []
            for _ in 0..<5 {
                let reply = try await F.post(server, tenant, "token", [("grant_type", "client_credentials"), ("client_id", client.clientID),
                                                                        ("client_secret", "wrong-" + SecretGenerator.randomToken())],
                                       headers: guesser)
                statuses.append(reply.status.code)
            }
            #expect(statuses == [401, 401, 401, 429, 429], "\(statuses)")
            let right = try await F.post(server, tenant, "token", [("grant_type", "client_credentials"), ("client_id", client.clientID),
                                                                     ("client_secret", secret)], headers: guesser)
            #expect(right.status == .tooManyRequests, "\(right.bodyText)")
            #expect(right.header("Retry-After").flatMap(Int.init).map { $0 > 0 } == true)
            #expect(right.object["error"] != nil, "OAuth error JSON")
            let unknown = try await F.post(server, tenant, "token", [("grant_type", "client_credentials"), ("client_id", "cl_unknown")], headers: guesser)
            #expect(unknown.status == .tooManyRequests)
            let elsewhere = try await F.post(server, tenant, "token", [("grant_type", "client_credentials"), ("client_id", client.clientID),
                                                                         ("client_secret", secret)])
            #expect(elsewhere.status != .tooManyRequests && elsewhere.status != .unauthorized, "another address still authenticates: \(elsewhere.bodyText)")
            let implausible = try await F.post(server, tenant, "token", [("grant_type", "client_credentials"), ("client_id", "x y")], headers: guesser)
            #expect(implausible.status == .tooManyRequests)
        }
    }

    @Test("RFC 6749 §2.3.1: client_secret_basic works raw and percent-encoded; a wrong secret is 401 with a Basic challenge")
    func clientSecretBasic() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.confidentialClient(server, tenant, method: .clientSecretBasic)
            let secret = try #require(client.clientSecret)
            for encoded in [false, true] {
                let reply = try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client),
                                             headers: [.authorization: F.basic(client.clientID, secret, encodeEverything: encoded)])
                #expect(reply.status == .ok, "encoded \(encoded): \(reply.bodyText)")
            }
            let wrong = try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client),
                                         headers: [.authorization: F.basic(client.clientID, "rcs_" + SecretGenerator.randomToken())])
            Self.expectInvalidClient(wrong, basic: true)
            let malformed = try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client),
                                             headers: [.authorization: "Basic !!!"])
            Self.expectInvalidClient(malformed, basic: true)
        }
    }

    @Test("RFC 6749 §2.3.1: client_secret_post works; a missing or wrong secret is 401 without a Basic challenge")
    func clientSecretPost() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.confidentialClient(server, tenant, method: .clientSecretPost)
            let secret = try #require(client.clientSecret)
            let ok = try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client)
                                      + [("client_id", client.clientID), ("client_secret", secret)])
            #expect(ok.status == .ok, "\(ok.bodyText)")
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client)
                                                      + [("client_id", client.clientID), ("client_secret", secret + "x")]), basic: false)
            // Its id alone (as a public client would) is not enough.
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client)
                                                      + [("client_id", client.clientID)]), basic: false)
            // No client at all.
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client)), basic: false)
        }
    }

    @Test("RFC 7591 §2: only the registered method authenticates; the secret sent another way is refused")
    func wrongMethodRefused() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let post = try await F.confidentialClient(server, tenant, method: .clientSecretPost)
            let basic = try await F.confidentialClient(server, tenant, method: .clientSecretBasic)
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, post),
                                                      headers: [.authorization: F.basic(post.clientID, try #require(post.clientSecret))]), basic: true)
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, basic)
                                                      + [("client_id", basic.clientID), ("client_secret", try #require(basic.clientSecret))]), basic: false)
            // A public client presenting a secret it does not have.
            let publicClient = try await F.publicClient(server, tenant)
            Self.expectInvalidClient(try await F.post(server, tenant, "token", [("grant_type", "refresh_token"), ("refresh_token", "rt_x"),
                                                                                ("client_id", publicClient.clientID), ("client_secret", "rcs_x")]), basic: false)
            // RFC 6749 §2.3: two methods in one request.
            F.expectError(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, basic)
                                           + [("client_secret", try #require(basic.clientSecret))],
                                           headers: [.authorization: F.basic(basic.clientID, try #require(basic.clientSecret))]), .invalidRequest)
        }
    }

    @Test("RFC 7591 §3.2.1: an expired client secret authenticates nothing; a disabled client is refused")
    func expiredSecretAndDisabledClient() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let expired = try await F.confidentialClient(server, tenant)
            try await F.execute(tenant, "UPDATE clients SET client_secret_expires_at = now() - interval '1 second' WHERE client_id = '\(expired.clientID)'")
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, expired)
                                                      + F.credentials(expired)), basic: false)
            let disabled = try await F.confidentialClient(server, tenant)
            try await F.execute(tenant, "UPDATE clients SET status = 'disabled' WHERE client_id = '\(disabled.clientID)'")
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, disabled)
                                                      + F.credentials(disabled)), basic: false)
        }
    }

    @Test("A secret verified once is not verified with argon2 again on the next request (the verified-token cache)")
    func secretVerificationCached() async throws {
        let tenant = try await F.tenant()
        let overrides = AppOverrides()
        try await AdminFixture.run(overrides: overrides) { server in
            let client = try await F.confidentialClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.confidentialRedirect)
            var token = try #require(body["refresh_token"]?.stringValue)
            let before = overrides.argon2Verifications.value
            for _ in 0..<3 {
                let reply = try await F.refresh(server, tenant, client, token)
                #expect(reply.status == .ok, "\(reply.bodyText)")
                token = try #require(reply.object["refresh_token"]?.stringValue)
            }
            #expect(overrides.argon2Verifications.value == before)
        }
    }

    @Test("RFC 7523 §3: private_key_jwt with aud = issuer or token endpoint works once; its replay and a wrong key are refused")
    func privateKeyJWT() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let keys = StatementIssuer()
            let clientID = try await AdminClientAssertionTests.register(server, tenant, keys: keys)
            let client = AdminRegistration(clientID: clientID)
            let type = ClientAssertionVerifier.assertionType
            for audience in [F.issuer(tenant), F.issuer(tenant) + "/token"] {
                let assertion = try await keys.sign(AdminClientAssertionTests.claims(clientID, audience: audience))
                let parameters = try await Self.exchangeParameters(server, tenant, client)
                    + [("client_assertion", assertion), ("client_assertion_type", type)]
                let first = try await F.post(server, tenant, "token", parameters)
                #expect(first.status == .ok, "\(first.bodyText)")
                // The same assertion again (with a fresh code): the jti was used.
                var replay = try await Self.exchangeParameters(server, tenant, client)
                replay += [("client_assertion", assertion), ("client_assertion_type", type)]
                Self.expectInvalidClient(try await F.post(server, tenant, "token", replay), basic: false)
            }
            let forged = try await StatementIssuer().sign(AdminClientAssertionTests.claims(clientID, audience: F.issuer(tenant)))
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client)
                                                      + [("client_id", clientID), ("client_assertion", forged), ("client_assertion_type", type)]),
                                     basic: false)
            let elsewhere = try await keys.sign(AdminClientAssertionTests.claims(clientID, audience: "https://other.example.com"))
            Self.expectInvalidClient(try await F.post(server, tenant, "token", try await Self.exchangeParameters(server, tenant, client)
                                                      + [("client_assertion", elsewhere), ("client_assertion_type", type)]), basic: false)
        }
    }

    @Test("RFC 6749 §3.2: a JSON body, another content type or a repeated parameter is invalid_request (400)")
    func requestBodyRules() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let json = "{\"grant_type\":\"authorization_code\",\"client_id\":\"\(client.clientID)\"}"
            F.expectError(try await F.post(server, tenant, "token", [], contentType: "application/json", body: json), .invalidRequest)
            F.expectError(try await F.post(server, tenant, "token", [], contentType: "text/plain", body: "grant_type=refresh_token"), .invalidRequest)
            F.expectError(try await F.post(server, tenant, "token", [("grant_type", "refresh_token"), ("grant_type", "authorization_code"),
                                                                     ("client_id", client.clientID)]), .invalidRequest)
            let tooLarge = try await F.post(server, tenant, "token", [("grant_type", "refresh_token"),
                                                                      ("padding", String(repeating: "a", count: 70_000))])
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.header("Cache-Control") == "no-store")
        }
    }

    @Test("Cache-Control: no-store on every answer of /token, /revoke and /introspect; open CORS on /token and /revoke only")
    func noStoreAndCORS() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let refresh = try #require(body["refresh_token"]?.stringValue)
            let origin: HTTPFields = [HTTPField.Name("Origin")!: "https://inspector.example"]
            let replies = [
                ("token ok", try await F.refresh(server, tenant, client, refresh), true),
                ("token 400", try await F.post(server, tenant, "token", [("client_id", client.clientID)], headers: origin), true),
                ("token 401", try await F.post(server, tenant, "token", [("grant_type", "refresh_token")], headers: origin), true),
                ("revoke ok", try await F.post(server, tenant, "revoke", [("token", "x")] + F.credentials(client), headers: origin), true),
                ("revoke 401", try await F.post(server, tenant, "revoke", [("token", "x")], headers: origin), true),
                ("introspect ok", try await F.introspect(server, tenant, "x"), false),
                ("introspect 401", try await F.post(server, tenant, "introspect", [("token", "x")], headers: origin), false),
            ]
            for (name, reply, cors) in replies {
                #expect(reply.header("Cache-Control") == "no-store", "\(name)")
                #expect(reply.header("Pragma") == "no-cache", "\(name)")
                #expect((reply.header("Access-Control-Allow-Origin") == "*") == cors, "\(name)")
            }
            let preflight = try await server.request(.options, "/t/\(tenant.slug)/token", headers: origin)
            #expect(preflight.header("Access-Control-Allow-Origin") == "*")
        }
    }
}

extension AdminRegistration {
    /// A client known only by its id (one registered elsewhere in the test).
    init(clientID: String) {
        self.clientID = clientID
        registrationAccessToken = ""
        clientSecret = nil
    }
}
