import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// `POST {issuer}/revoke` (RFC 7009) and `POST {issuer}/introspect` (RFC 7662).
@Suite("Token revocation and introspection")
struct TokenRevocationTests {
    typealias F = TokenFixture

    @Test("RFC 7009 §2.1: revoking a refresh token ends its family, access tokens included; §2.2: 200 with no body")
    func revokeRefreshToken() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.confidentialClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.confidentialRedirect)
            #expect(try await F.introspect(server, tenant, client, try #require(body["refresh_token"]?.stringValue)).object["active"] == .bool(true))
            let refresh = try #require(body["refresh_token"]?.stringValue)
            let access = try #require(body["access_token"]?.stringValue)
            let reply = try await F.post(server, tenant, "revoke", [("token", refresh), ("token_type_hint", "refresh_token")] + F.credentials(client))
            #expect(reply.status == .ok)
            #expect(reply.bodyText.isEmpty)
            F.expectError(try await F.refresh(server, tenant, client, refresh), .invalidGrant)
            #expect(try await F.introspect(server, tenant, client, access).object["active"] == .bool(false))
            #expect(try await F.introspect(server, tenant, client, refresh).object["active"] == .bool(false))
        }
    }

    @Test("RFC 7009 §2.1: revoking an access token lists its jti: introspection says inactive at once, the refresh token lives on")
    func revokeAccessToken() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.confidentialClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.confidentialRedirect)
            let access = try #require(body["access_token"]?.stringValue)
            #expect(try await F.introspect(server, tenant, client, access).object["active"] == .bool(true))
            // The hint is only a hint: a wrong one changes nothing.
            let reply = try await F.post(server, tenant, "revoke", [("token", access), ("token_type_hint", "refresh_token")] + F.credentials(client))
            #expect(reply.status == .ok)
            #expect(try await F.introspect(server, tenant, client, access).object["active"] == .bool(false))
            let jti = try #require(try F.claims(access)["jti"]?.stringValue)
            #expect(try await F.count(tenant, "access_token_revocations", where: "jti = '\(jti)'") == 1)
            #expect(try await F.refresh(server, tenant, client, try #require(body["refresh_token"]?.stringValue)).status == .ok)
        }
    }

    @Test("Design §8: a resource server's wrong credentials at /introspect are throttled per address; then even the right one gets 429, elsewhere it works")
    func introspectionFailuresAreThrottled() async throws {
        let tenant = try await F.tenant { $0.rateLimits.failedAuthenticationsPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 3) }
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let access = try #require(body["access_token"]?.stringValue)
            let (id, credential) = try await F.issuerResourceServer(tenant)
            let guesser = AdminFixture.randomAddress()
            func ask(_ secret: String, from address: String) async throws -> TestServer.Reply {
                try await F.post(server, tenant, "introspect", [("token", access)],
                                 headers: [.authorization: F.basic(id, secret), HTTPField.Name("X-Forwarded-For")!: address])
            }
            var statuses: [Int] = []
            for _ in 0..<5 { statuses.append(try await ask("rss_" + SecretGenerator.randomToken(), from: guesser).status.code) }
            #expect(statuses == [401, 401, 401, 429, 429], "\(statuses)")
            let right = try await ask(credential, from: guesser)
            #expect(right.status == .tooManyRequests)
            #expect(right.header("Retry-After").flatMap(Int.init).map { $0 > 0 } == true)
            let malformed = try await F.post(server, tenant, "introspect", [("token", access)],
                                             headers: [.authorization: "Basic !!!", HTTPField.Name("X-Forwarded-For")!: guesser])
            #expect(malformed.status == .tooManyRequests, "a malformed credential is refused by the limit first")
            let elsewhere = try await ask(credential, from: AdminFixture.randomAddress())
            #expect(elsewhere.status == .ok && elsewhere.object["active"] == .bool(true), "\(elsewhere.bodyText)")
        }
    }

    @Test("RFC 7009 §2.2: unknown tokens and another client's tokens get 200 and are left alone; no client is 401")
    func revokeOthersAndUnknown() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let owner = try await F.publicClient(server, tenant)
            let other = try await F.publicClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, owner, redirect: F.publicRedirect)
            let refresh = try #require(body["refresh_token"]?.stringValue)
            let access = try #require(body["access_token"]?.stringValue)
            for token in [refresh, access, "rt_" + SecretGenerator.randomToken(), "garbage", "a.b.c"] {
                #expect(try await F.post(server, tenant, "revoke", [("token", token)] + F.credentials(other)).status == .ok)
            }
            #expect(try await F.introspect(server, tenant, access).object["active"] == .bool(true))
            #expect(try await F.refresh(server, tenant, owner, refresh).status == .ok)
            F.expectError(try await F.post(server, tenant, "revoke", [("token", access)]), .invalidClient)
            F.expectError(try await F.post(server, tenant, "revoke", F.credentials(owner)), .invalidRequest)
        }
    }

    @Test("RFC 7662 §2.2: an active access token is described by scope, client_id, sub, aud, iss, exp, iat and token_type")
    func introspectActive() async throws {
        let tenant = try await F.tenant()
        let resource = "https://mcp-\(tenant.slug).example.com/mcp"
        let (server, credential) = try await F.resourceServer(tenant, uri: resource)
        try await AdminFixture.run { http in
            let client = try await F.confidentialClient(http, tenant)
            let (body, code) = try await F.tokens(http, tenant, client, redirect: F.confidentialRedirect) { $0.resources = [resource] }
            let access = try #require(body["access_token"]?.stringValue)
            for headers: HTTPFields in [[.authorization: F.basic(server.id, credential)], [:]] {
                let extra = headers.isEmpty ? [("client_id", server.id), ("client_secret", credential)] : []
                let reply = try await F.post(http, tenant, "introspect", [("token", access)] + extra, headers: headers)
                #expect(reply.status == .ok, "\(reply.bodyText)")
                #expect(reply.header("Cache-Control") == "no-store")
                let answer = reply.object
                #expect(answer["active"] == .bool(true))
                #expect(answer["scope"] == .string(code.scopes.joined(separator: " ")))
                #expect(answer["client_id"] == .string(client.clientID))
                #expect(answer["sub"] == .string(code.userID.uuidString.lowercased()))
                #expect(answer["aud"] == .string(resource))
                #expect(answer["iss"] == .string(F.issuer(tenant)))
                #expect(answer["token_type"] == .string("Bearer"))
                guard case .number(let exp)? = answer["exp"], case .number(let iat)? = answer["iat"] else {
                    Issue.record("exp and iat must be numbers"); return
                }
                #expect(exp - iat == 3600)
            }
            // A refresh token: its client may introspect it, a resource server never sees it active.
            let refresh = try #require(body["refresh_token"]?.stringValue)
            let own = try await F.introspect(http, tenant, client, refresh).object
            #expect(own["active"] == .bool(true))
            #expect(own["client_id"] == .string(client.clientID))
            let byServer = try await F.post(http, tenant, "introspect", [("token", refresh)], headers: [.authorization: F.basic(server.id, credential)])
            #expect(byServer.object == ["active": .bool(false)])
        }
    }

    @Test("RFC 7662 §2.2 / §4: inactive for expired, malformed, other-audience and other-client tokens")
    func introspectInactive() async throws {
        let clock = TestClock()
        let tenant = try await F.tenant()
        let mine = "https://mcp-\(tenant.slug).example.com"
        let (server, credential) = try await F.resourceServer(tenant, uri: mine)
        let (otherServer, otherCredential) = try await F.resourceServer(tenant, uri: "https://other-\(tenant.slug).example.com")
        try await AdminFixture.run(overrides: clock.overrides) { http in
            let client = try await F.publicClient(http, tenant)
            let other = try await F.confidentialClient(http, tenant)
            let (body, _) = try await F.tokens(http, tenant, client, redirect: F.publicRedirect) { $0.resources = [mine] }
            let access = try #require(body["access_token"]?.stringValue)
            let asServer: HTTPFields = [.authorization: F.basic(server.id, credential)]
            #expect(try await F.post(http, tenant, "introspect", [("token", access)], headers: asServer).object["active"] == .bool(true))
            // A token for another resource server, or of another client.
            #expect(try await F.post(http, tenant, "introspect", [("token", access)], headers: [.authorization: F.basic(otherServer.id, otherCredential)])
                .object == ["active": .bool(false)])
            #expect(try await F.introspect(http, tenant, other, access).object == ["active": .bool(false)])
            // Malformed or forged.
            for token in ["garbage", "a.b.c", String(access.dropLast(4)) + "AAAA", "rt_" + SecretGenerator.randomToken()] {
                #expect(try await F.post(http, tenant, "introspect", [("token", token)], headers: asServer).object == ["active": .bool(false)])
            }
            // Expired: one hour and a minute later.
            clock.advance(by: 3660)
            #expect(try await F.post(http, tenant, "introspect", [("token", access)], headers: asServer).object == ["active": .bool(false)])
        }
    }

    @Test("RFC 7662 §2.1: introspection without credentials, or with a wrong resource-server secret, is 401")
    func introspectUnauthenticated() async throws {
        let tenant = try await F.tenant()
        let (server, _) = try await F.resourceServer(tenant, uri: "https://mcp-\(tenant.slug).example.com")
        try await AdminFixture.run { http in
            F.expectError(try await F.post(http, tenant, "introspect", [("token", "x")]), .invalidClient)
            let wrong = try await F.post(http, tenant, "introspect", [("token", "x")],
                                         headers: [.authorization: F.basic(server.id, ResourceServer.generateCredential())])
            F.expectError(wrong, .invalidClient)
            #expect(wrong.header("WWW-Authenticate")?.hasPrefix("Basic") == true)
        }
    }

    @Test("RFC 7662 §2.1: a public client (client_id alone, method none) is not authorized to introspect, even its own tokens")
    func introspectRefusesPublicClients() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { http in
            let client = try await F.publicClient(http, tenant)
            let (body, _) = try await F.tokens(http, tenant, client, redirect: F.publicRedirect)
            for token in [try #require(body["access_token"]?.stringValue), try #require(body["refresh_token"]?.stringValue)] {
                F.expectError(try await F.introspect(http, tenant, client, token), .invalidClient)
            }
            // It may still revoke its own tokens (RFC 7009 §2.1 authenticates public clients by id).
            #expect(try await F.post(http, tenant, "revoke", [("token", try #require(body["refresh_token"]?.stringValue))]
                                     + F.credentials(client)).status == .ok)
        }
    }

    @Test("Tokens of tenant A are inactive at tenant B's introspection, whoever asks there")
    func introspectOtherTenant() async throws {
        let a = try await F.tenant()
        let b = try await F.tenant()
        let (serverB, credentialB) = try await F.resourceServer(b, uri: "https://mcp-\(b.slug).example.com")
        try await AdminFixture.run { http in
            let clientA = try await F.confidentialClient(http, a)
            let (body, _) = try await F.tokens(http, a, clientA, redirect: F.confidentialRedirect) { $0.resources = ["https://mcp-\(b.slug).example.com"] }
            let access = try #require(body["access_token"]?.stringValue)
            let refresh = try #require(body["refresh_token"]?.stringValue)
            #expect(try await F.introspect(http, a, clientA, access).object["active"] == .bool(true))
            for token in [access, refresh] {
                let reply = try await F.post(http, b, "introspect", [("token", token)], headers: [.authorization: F.basic(serverB.id, credentialB)])
                #expect(reply.status == .ok)
                #expect(reply.object == ["active": .bool(false)])
            }
            // Tenant A's client does not exist at tenant B.
            F.expectError(try await F.post(http, b, "introspect", [("token", access)] + F.credentials(clientA)), .invalidClient)
            // Nor do its refresh tokens.
            let clientB = try await F.confidentialClient(http, b)
            F.expectError(try await F.refresh(http, b, clientB, refresh), .invalidGrant)
        }
    }
}
