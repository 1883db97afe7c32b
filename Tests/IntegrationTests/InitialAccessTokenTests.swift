import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import Registrar

/// RFC 7591 §3 initial access tokens at the registration endpoint, over HTTP against real PostgreSQL.
@Suite("RFC 7591 initial access tokens")
struct InitialAccessTokenTests {
    static let loopbackClient = #"{"client_name":"Tool","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none"}"#
    static let invalidTokenBody = ClientConfigurationTests.invalidTokenBody

    static var tokenOnlyPolicy: RegistrationPolicy {
        var policy = RegistrationPolicy()
        policy.registrationAccess = .initialAccessToken
        return policy
    }

    static func client(redirect: String, _ extra: [String: JSONValue] = [:]) -> String {
        var body: [String: JSONValue] = ["redirect_uris": .array([.string(redirect)]), "token_endpoint_auth_method": .string("none")]
        for (key, value) in extra { body[key] = value }
        return jsonBody(body)
    }

    @Test("RFC 7591 §3: with max_uses N, N + 5 concurrent registrations create exactly N clients and the rest get 401")
    func maxUsesHoldsUnderConcurrency() async throws {
        let uses = 3
        let tenant = try await TestEnvironment.createTenant(policy: Self.tokenOnlyPolicy)
        let (token, presented) = try await InitialAccessTokens.mint(for: tenant, .init(label: "burst", maxUses: uses))
        let replies = try await TestServer.run { server in
            try await withThrowingTaskGroup(of: TestServer.Reply.self) { group in
                for _ in 0..<(uses + 5) {
                    group.addTask { try await server.postJSON("/t/\(tenant.slug)/register", Self.loopbackClient, headers: bearer(presented)) }
                }
                var replies: [TestServer.Reply] = []
                for try await reply in group { replies.append(reply) }
                return replies
            }
        }
        let created = replies.filter { $0.status == .created }
        let refused = replies.filter { $0.status == .unauthorized }
        #expect(created.count == uses, "\(replies.map { "\($0.status.code) \($0.bodyText)" })")
        #expect(refused.count == 5)
        for reply in refused {
            #expect(reply.bodyText == Self.invalidTokenBody)
            #expect(reply.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
        }
        #expect(try await Stored.clientCount(tenant) == uses)
        #expect(try await Stored.initialAccessToken(tenant, token.id)?.uses == uses)
        let registered = try await Stored.auditEvents(tenant).filter { $0.action == "client.registered" }
        #expect(registered.count == uses)
    }

    enum Unusable: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case expired
        case revoked
        case exhausted
        case unknown = "unknown id"
        case malformed
        case wrongSecret = "known id, wrong secret"
        case otherTenant = "another tenant's token"

        var testDescription: String { rawValue }
    }

    @Test("RFC 7591 §3: expired, revoked, exhausted, unknown, malformed, wrong and foreign initial access tokens are one byte-identical 401",
          arguments: Unusable.allCases)
    func unusableTokensAreTheSame401(kind: Unusable) async throws {
        let clock = TestClock()
        let tenant = try await TestEnvironment.createTenant(policy: Self.tokenOnlyPolicy)
        let otherTenant = try await TestEnvironment.createTenant(policy: Self.tokenOnlyPolicy)
        let (token, presented) = try await InitialAccessTokens.mint(for: tenant, .init(lifetime: 3600, maxUses: 1), now: { clock.now })
        let (id, _) = try #require(InitialAccessToken.parse(presented))
        try await TestServer.run(overrides: clock.overrides) { server in
            var sent = presented
            switch kind {
            case .expired:
                clock.advance(by: 3601)
            case .revoked:
                try await InitialAccessTokens.revoke(token)
            case .exhausted:
                let first = try await server.postJSON("/t/\(tenant.slug)/register", Self.loopbackClient, headers: bearer(presented))
                try #require(first.status == .created)
            case .unknown:
                sent = "iat_\(SecretGenerator.shortID()).\(SecretGenerator.randomToken())"
            case .malformed:
                sent = "iat_\(id)"
            case .wrongSecret:
                sent = "iat_\(id).\(SecretGenerator.randomToken())"
            case .otherTenant:
                sent = try await InitialAccessTokens.mint(for: otherTenant).presented
            }
            let before = try await Stored.clientCount(tenant)
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.loopbackClient, headers: bearer(sent))
            #expect(reply.status == .unauthorized)
            #expect(reply.bodyText == Self.invalidTokenBody)
            #expect(reply.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
            #expect(try await Stored.clientCount(tenant) == before)
        }
    }

    @Test("RFC 7591 §3: the client records which initial access token created it, and the audit actor is that token")
    func clientRecordsItsToken() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.tokenOnlyPolicy)
        let (token, presented) = try await InitialAccessTokens.mint(for: tenant, .init(label: "ci"))
        let client = try await TestServer.run { server in
            try await server.register(tenant, Self.loopbackClient, headers: bearer(presented))
        }
        let stored = try #require(try await Stored.client(tenant, client.clientID))
        #expect(stored.initialAccessTokenID == token.id)
        let event = try #require(try await Stored.auditEvents(tenant).first { $0.action == "client.registered" })
        #expect(event.actorType == "initial_access_token")
        #expect(event.actorID == token.id)
        #expect(event.clientID == client.clientID)
        #expect(!event.details.contains(presented))
        #expect(try await Stored.initialAccessToken(tenant, token.id)?.uses == 1)
    }

    @Test("RFC 7591 §3: allowed_redirect_hosts of the token refuses other hosts with invalid_redirect_uri, and a refusal uses nothing up")
    func allowedRedirectHosts() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.tokenOnlyPolicy)
        let (token, presented) = try await InitialAccessTokens.mint(
            for: tenant, .init(constraints: .init(allowedRedirectHosts: ["app.example.com", "*.tools.example.net"])))
        try await TestServer.run { server in
            for allowed in ["https://app.example.com/cb", "https://a.tools.example.net/cb"] {
                let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.client(redirect: allowed), headers: bearer(presented))
                #expect(reply.status == .created, "\(allowed): \(reply.bodyText)")
            }
            for refused in ["https://other.example.com/cb", "https://tools.example.net/cb", "http://127.0.0.1:9000/cb", "com.example.app:/cb"] {
                let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.client(redirect: refused), headers: bearer(presented))
                #expect(reply.status == .badRequest, "\(refused): \(reply.bodyText)")
                #expect(reply.object["error"] == .string("invalid_redirect_uri"), "\(refused)")
            }
            // One allowed and one other host together: refused as a whole.
            let mixed = try await server.postJSON("/t/\(tenant.slug)/register", jsonBody([
                "redirect_uris": .array([.string("https://app.example.com/cb"), .string("https://evil.example.org/cb")]),
                "token_endpoint_auth_method": .string("none"),
            ]), headers: bearer(presented))
            #expect(mixed.status == .badRequest)
            #expect(mixed.object["error"] == .string("invalid_redirect_uri"))
        }
        #expect(try await Stored.clientCount(tenant) == 2)
        #expect(try await Stored.initialAccessToken(tenant, token.id)?.uses == 2)
    }

    @Test("RFC 7591 §3: allowed_scopes of the token intersects the tenant's scopes, and defaults shrink with it")
    func allowedScopesIntersect() async throws {
        var policy = Self.tokenOnlyPolicy
        policy.unknownScopes = .intersect
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        let (_, presented) = try await InitialAccessTokens.mint(for: tenant, .init(constraints: .init(allowedScopes: ["openid", "email"])))
        try await TestServer.run { server in
            let narrowed = try await server.register(tenant, Self.client(redirect: "http://127.0.0.1/cb", ["scope": .string("openid profile email offline_access")]),
                                                     headers: bearer(presented))
            #expect(narrowed.body["scope"] == .string("openid email"))
            let defaulted = try await server.register(tenant, Self.client(redirect: "http://127.0.0.1/cb"), headers: bearer(presented))
            #expect(defaulted.body["scope"] == .string("openid email"))
        }
    }

    @Test("RFC 7591 §3: allowed_scopes of the token rejects scopes outside it when the tenant rejects unknown scopes")
    func allowedScopesReject() async throws {
        var policy = Self.tokenOnlyPolicy
        policy.unknownScopes = .reject
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        let (token, presented) = try await InitialAccessTokens.mint(for: tenant, .init(constraints: .init(allowedScopes: ["openid"])))
        try await TestServer.run { server in
            // `profile` is allowed by the tenant, but not by the token.
            let refused = try await server.postJSON("/t/\(tenant.slug)/register",
                                                    Self.client(redirect: "http://127.0.0.1/cb", ["scope": .string("openid profile")]),
                                                    headers: bearer(presented))
            #expect(refused.status == .badRequest, "\(refused.bodyText)")
            #expect(refused.object["error"] == .string("invalid_client_metadata"))
            let accepted = try await server.register(tenant, Self.client(redirect: "http://127.0.0.1/cb", ["scope": .string("openid")]),
                                                     headers: bearer(presented))
            #expect(accepted.body["scope"] == .string("openid"))
        }
        #expect(try await Stored.clientCount(tenant) == 1)
        #expect(try await Stored.initialAccessToken(tenant, token.id)?.uses == 1)
    }

    @Test("RFC 7591 §3: software_id of the token is forced onto the client, at registration and on RFC 7592 PUT")
    func softwareIDForced() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.tokenOnlyPolicy)
        let (_, presented) = try await InitialAccessTokens.mint(for: tenant, .init(constraints: .init(softwareID: "sw-forced")))
        try await TestServer.run { server in
            let chosen = try await server.register(tenant, Self.client(redirect: "http://127.0.0.1/cb", ["software_id": .string("mine")]),
                                                   headers: bearer(presented))
            #expect(chosen.body["software_id"] == .string("sw-forced"))
            #expect(try await Stored.client(tenant, chosen.clientID)?.metadata.softwareID == "sw-forced")
            let omitted = try await server.register(tenant, Self.client(redirect: "http://127.0.0.1/cb"), headers: bearer(presented))
            #expect(omitted.body["software_id"] == .string("sw-forced"))

            let updated = try await server.putJSON(chosen.path, ClientConfigurationTests.replacement(of: chosen, ["software_id": .string("changed")]),
                                                   headers: bearer(chosen.registrationAccessToken))
            #expect(updated.status == .ok, "\(updated.bodyText)")
            #expect(updated.object["software_id"] == .string("sw-forced"))
            #expect(try await Stored.client(tenant, chosen.clientID)?.metadata.softwareID == "sw-forced")
        }
    }

    @Test("RFC 7592 §2.2: a client created with an initial access token stays inside its redirect hosts on PUT")
    func constraintsHoldOnUpdate() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.tokenOnlyPolicy)
        let (_, presented) = try await InitialAccessTokens.mint(for: tenant, .init(constraints: .init(allowedRedirectHosts: ["app.example.com"])))
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.client(redirect: "https://app.example.com/cb"), headers: bearer(presented))
            let before = try await Stored.registration(tenant, client.clientID)
            let refused = try await server.putJSON(client.path, ClientConfigurationTests.replacement(of: client, [
                "redirect_uris": .array([.string("https://other.example.com/cb")]),
            ]), headers: bearer(client.registrationAccessToken))
            #expect(refused.status == .badRequest, "\(refused.bodyText)")
            #expect(refused.object["error"] == .string("invalid_redirect_uri"))
            #expect(try await Stored.registration(tenant, client.clientID) == before)
            // Inside the token's hosts, the update goes through even though the tenant needs a token for any registration.
            let accepted = try await server.putJSON(client.path, ClientConfigurationTests.replacement(of: client, [
                "redirect_uris": .array([.string("https://app.example.com/other")]),
            ]), headers: bearer(client.registrationAccessToken))
            #expect(accepted.status == .ok, "\(accepted.bodyText)")
            #expect(accepted.object["redirect_uris"] == .array([.string("https://app.example.com/other")]))
        }
    }
}
