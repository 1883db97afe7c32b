import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// `POST {issuer}/token` over HTTP against PostgreSQL: the authorization code grant (RFC 6749
/// §4.1.3, RFC 7636 §4.6), refresh (RFC 6749 §6, RFC 9700 §4.14) and client credentials (§4.4).
@Suite("Token endpoint: grants")
struct TokenEndpointTests {
    typealias F = TokenFixture

    @Test("RFC 6749 §5.1: a public client exchanges its code for a Bearer access token, a refresh token and an ID token, no-store")
    func codeExchange() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let user = try await F.createUser(tenant)
            var bound = F.code(for: client, user: user, tenant: tenant, redirect: F.publicRedirect)
            bound.scopes = ["openid", "email"]
            let code = try await F.issue(bound, tenant: tenant)
            #expect(code.hasPrefix("ac_") && code.count == 46)
            let reply = try await F.exchange(server, tenant, client, code: code, bound)
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(reply.header("Cache-Control") == "no-store")
            #expect(reply.header("Pragma") == "no-cache")
            #expect(reply.header("Content-Type")?.hasPrefix("application/json") == true)
            let body = reply.object
            #expect(body["token_type"] == .string("Bearer"))
            guard case .number(let expiresIn)? = body["expires_in"] else { Issue.record("expires_in missing"); return }
            #expect(expiresIn == 3600 && expiresIn.rounded() == expiresIn)
            #expect(body["scope"] == .string("openid email"))
            let refresh = try #require(body["refresh_token"]?.stringValue)
            #expect(refresh.hasPrefix("rt_") && refresh.count == 46)
            // RFC 9068 §2.2: the access token's claims.
            let access = try F.claims(try #require(body["access_token"]?.stringValue))
            #expect(access["sub"] == .string(user.uuidString.lowercased()))
            #expect(access["client_id"] == .string(client.clientID))
            #expect(access["aud"] == .string(F.issuer(tenant)))
            #expect(access["iss"] == .string(F.issuer(tenant)))
            // OIDC Core §3.1.3.6: the ID token carries the nonce and, with `email`, the address.
            let id = try F.claims(try #require(body["id_token"]?.stringValue))
            #expect(id["nonce"] == .string("nonce-123"))
            #expect(id["aud"] == .string(client.clientID))
            #expect(id["email"]?.stringValue?.hasSuffix("@example.com") == true)
            // Only the hash is stored, never the code or the refresh token.
            #expect(try await F.count(tenant, "authorization_codes", where: "code_hash = '\(code)'") == 0)
            #expect(try await F.count(tenant, "refresh_tokens", where: "token_hash = '\(refresh)'") == 0)
            #expect(try await F.count(tenant, "refresh_tokens") == 1)
        }
    }

    @Test("A client without the refresh_token grant gets no refresh token; without openid there is no id_token")
    func noRefreshWithoutGrant() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant, grants: ["authorization_code"])
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect) { $0.scopes = ["profile"] }
            #expect(body["access_token"] != nil)
            #expect(body["refresh_token"] == nil)
            #expect(body["id_token"] == nil)
        }
    }

    @Test("RFC 7636 §4.6: an absent verifier is invalid_request, a wrong or malformed one is refused; the code is not spent by them")
    func verifierChecked() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let code = try await F.issue(bound, tenant: tenant)
            let base: [(String, String)] = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", bound.redirectURI),
                                            ("client_id", client.clientID)]
            F.expectError(try await F.post(server, tenant, "token", base), .invalidRequest)
            F.expectError(try await F.post(server, tenant, "token", base + [("code_verifier", F.pkce().verifier)]), .invalidGrant)
            // `plain`: the challenge itself as the verifier.
            F.expectError(try await F.post(server, tenant, "token", base + [("code_verifier", bound.challenge)]), .invalidGrant)
            F.expectError(try await F.post(server, tenant, "token", base + [("code_verifier", "short")]), .invalidRequest)
            #expect(try await F.exchange(server, tenant, client, code: code, bound).status == .ok)
        }
    }

    @Test("RFC 6749 §4.1.2: a second use of a code is invalid_grant and revokes the tokens issued from it")
    func codeReuseRevokes() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let code = try await F.issue(bound, tenant: tenant)
            let first = try await F.exchange(server, tenant, client, code: code, bound)
            #expect(first.status == .ok)
            let access = try #require(first.object["access_token"]?.stringValue)
            let refresh = try #require(first.object["refresh_token"]?.stringValue)
            #expect(try await F.introspect(server, tenant, access).object["active"] == .bool(true))

            F.expectError(try await F.exchange(server, tenant, client, code: code, bound), .invalidGrant)
            #expect(try await F.introspect(server, tenant, access).object["active"] == .bool(false))
            F.expectError(try await F.refresh(server, tenant, client, refresh), .invalidGrant)
            #expect(try await F.count(tenant, "audit_events", where: "action = 'token.reuse_detected' AND client_id = '\(client.clientID)'") == 1)
        }
    }

    @Test("RFC 6749 §4.1.3: a code issued to another client is invalid_grant, and stays usable by its own")
    func codeOfAnotherClient() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let owner = try await F.publicClient(server, tenant)
            let other = try await F.publicClient(server, tenant)
            let bound = F.code(for: owner, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let code = try await F.issue(bound, tenant: tenant)
            F.expectError(try await F.exchange(server, tenant, other, code: code, bound), .invalidGrant)
            #expect(try await F.exchange(server, tenant, owner, code: code, bound).status == .ok)
        }
    }

    @Test("RFC 6749 §4.1.3: the redirect_uri must be sent when it was sent at /authorize, and be identical")
    func redirectURIBound() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let code = try await F.issue(bound, tenant: tenant)
            let base: [(String, String)] = [("grant_type", "authorization_code"), ("code", code), ("code_verifier", bound.verifier),
                                            ("client_id", client.clientID)]
            for other in ["http://127.0.0.1:33418/other", "http://127.0.0.1:33418/callback?x=1", "http://localhost:33418/callback",
                          "HTTP://127.0.0.1:33418/callback"] {
                F.expectError(try await F.post(server, tenant, "token", base + [("redirect_uri", other)]), .invalidGrant)
            }
            F.expectError(try await F.post(server, tenant, "token", base), .invalidGrant)
            #expect(try await F.post(server, tenant, "token", base + [("redirect_uri", bound.redirectURI)]).status == .ok)

            // Omitted at /authorize: may be omitted at /token too.
            var unsent = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            unsent.redirectURISent = false
            let second = try await F.issue(unsent, tenant: tenant)
            #expect(try await F.post(server, tenant, "token", [("grant_type", "authorization_code"), ("code", second),
                                                               ("code_verifier", unsent.verifier), ("client_id", client.clientID)]).status == .ok)
        }
    }

    @Test("RFC 6749 §4.1.2: an expired code is invalid_grant")
    func expiredCode() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            // The default lifetime is 60 s; this one was issued 61 s ago.
            let code = try await F.issue(bound, tenant: tenant, issuedAt: Date().addingTimeInterval(-61))
            F.expectError(try await F.exchange(server, tenant, client, code: code, bound), .invalidGrant)
            F.expectError(try await F.exchange(server, tenant, client, code: "ac_" + SecretGenerator.randomToken(), bound), .invalidGrant)
            F.expectError(try await F.exchange(server, tenant, client, code: "not-a-code", bound), .invalidGrant)
        }
    }

    @Test("A code of a user disabled since is invalid_grant")
    func disabledUserCode() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let user = try await F.createUser(tenant)
            let bound = F.code(for: client, user: user, tenant: tenant, redirect: F.publicRedirect)
            let code = try await F.issue(bound, tenant: tenant)
            try await F.execute(tenant, "UPDATE users SET status = 'disabled' WHERE user_id = '\(user.uuidString)'")
            F.expectError(try await F.exchange(server, tenant, client, code: code, bound), .invalidGrant)
        }
    }

    @Test("RFC 8707 §2.2: resource at /token narrows the audience to granted resources; another one is invalid_target")
    func resourceNarrowing() async throws {
        let tenant = try await F.tenant()
        let first = "https://mcp-\(tenant.slug).example.com/mcp"
        let second = "https://tools-\(tenant.slug).example.com"
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            var bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            bound.resources = [first, second]
            let code = try await F.issue(bound, tenant: tenant)
            F.expectError(try await F.exchange(server, tenant, client, code: code, bound, extra: [("resource", "https://evil.example.com")]),
                          .invalidTarget)
            let reply = try await F.exchange(server, tenant, client, code: code, bound, extra: [("resource", "HTTPS://MCP-\(tenant.slug.uppercased()).EXAMPLE.COM/mcp/")])
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(try F.claims(try #require(reply.object["access_token"]?.stringValue))["aud"] == .string(first))
            let refresh = try #require(reply.object["refresh_token"]?.stringValue)
            // The family keeps both resources: a refresh may name the other one, or both.
            let narrowed = try await F.refresh(server, tenant, client, refresh, extra: [("resource", second)])
            #expect(narrowed.status == .ok, "\(narrowed.bodyText)")
            #expect(try F.claims(try #require(narrowed.object["access_token"]?.stringValue))["aud"] == .string(second))
            let next = try #require(narrowed.object["refresh_token"]?.stringValue)
            let both = try await F.refresh(server, tenant, client, next)
            #expect(try F.claims(try #require(both.object["access_token"]?.stringValue))["aud"] == .array([.string(first), .string(second)]))
            F.expectError(try await F.refresh(server, tenant, client, try #require(both.object["refresh_token"]?.stringValue),
                                              extra: [("resource", "https://evil.example.com")]), .invalidTarget)
        }
    }

    // MARK: refresh_token

    @Test("OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2: a public client's refresh token rotates; reusing the old one revokes the family")
    func refreshRotationAndReuse() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let original = try #require(body["refresh_token"]?.stringValue)
            let rotated = try await F.refresh(server, tenant, client, original)
            #expect(rotated.status == .ok, "\(rotated.bodyText)")
            #expect(rotated.header("Cache-Control") == "no-store")
            let successor = try #require(rotated.object["refresh_token"]?.stringValue)
            #expect(successor != original)
            let access = try #require(rotated.object["access_token"]?.stringValue)
            #expect(try await F.introspect(server, tenant, access).object["active"] == .bool(true))

            F.expectError(try await F.refresh(server, tenant, client, original), .invalidGrant)
            // The whole family ended: the successor and the access token issued with it too.
            F.expectError(try await F.refresh(server, tenant, client, successor), .invalidGrant)
            #expect(try await F.introspect(server, tenant, access).object["active"] == .bool(false))
            #expect(try await F.count(tenant, "token_families", where: "revoked_reason = 'refresh_token_reuse'") == 1)
        }
    }

    @Test("RFC 6749 §4.1.2: one code sent by several requests at once gives tokens to one of them, and the others' use revokes those tokens")
    func concurrentCodeExchanges() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let code = try await F.issue(bound, tenant: tenant)
            let replies = try await withThrowingTaskGroup(of: TestServer.Reply.self) { group in
                for _ in 0..<6 { group.addTask { try await F.exchange(server, tenant, client, code: code, bound) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let issued = replies.filter { $0.status == .ok }
            #expect(issued.count == 1, "\(replies.map { "\($0.status.code) \($0.bodyText)" })")
            for reply in replies where reply.status != .ok { F.expectError(reply, .invalidGrant) }
            let access = try #require(issued.first?.object["access_token"]?.stringValue)
            let refresh = try #require(issued.first?.object["refresh_token"]?.stringValue)
            #expect(try await F.introspect(server, tenant, access).object["active"] == .bool(false))
            F.expectError(try await F.refresh(server, tenant, client, refresh), .invalidGrant)
            #expect(try await F.count(tenant, "token_families") == 1)
            #expect(try await F.count(tenant, "token_families", where: "revoked_reason = 'authorization_code_reuse'") == 1)
        }
    }

    @Test("RFC 9700 §4.14.2: one refresh token sent by several requests at once rotates once, and the others' use ends the family")
    func concurrentRefreshes() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let original = try #require(body["refresh_token"]?.stringValue)
            let replies = try await withThrowingTaskGroup(of: TestServer.Reply.self) { group in
                for _ in 0..<6 { group.addTask { try await F.refresh(server, tenant, client, original) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let rotated = replies.filter { $0.status == .ok }
            #expect(rotated.count == 1, "\(replies.map { "\($0.status.code) \($0.bodyText)" })")
            for reply in replies where reply.status != .ok { F.expectError(reply, .invalidGrant) }
            let successor = try #require(rotated.first?.object["refresh_token"]?.stringValue)
            let access = try #require(rotated.first?.object["access_token"]?.stringValue)
            F.expectError(try await F.refresh(server, tenant, client, successor), .invalidGrant)
            #expect(try await F.introspect(server, tenant, access).object["active"] == .bool(false))
            #expect(try await F.count(tenant, "refresh_tokens") == 2, "the presented token and one successor")
            #expect(try await F.count(tenant, "token_families", where: "revoked_reason = 'refresh_token_reuse'") == 1)
        }
    }

    @Test("Confidential clients rotate by policy: with rotation off the same refresh token comes back and stays valid")
    func confidentialRotationByPolicy() async throws {
        let tenant = try await F.tenant { $0.authorizationServer.rotateConfidentialRefreshTokens = false }
        try await AdminFixture.run { server in
            let client = try await F.confidentialClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.confidentialRedirect)
            let token = try #require(body["refresh_token"]?.stringValue)
            for _ in 0..<2 {
                let reply = try await F.refresh(server, tenant, client, token)
                #expect(reply.status == .ok, "\(reply.bodyText)")
                #expect(reply.object["refresh_token"] == .string(token))
            }
        }
    }

    @Test("RFC 6749 §6: the refresh scope may only narrow; a wider one is invalid_scope")
    func refreshScope() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect) { $0.scopes = ["openid", "email"] }
            let token = try #require(body["refresh_token"]?.stringValue)
            F.expectError(try await F.refresh(server, tenant, client, token, extra: [("scope", "openid email profile")]), .invalidScope)
            let narrowed = try await F.refresh(server, tenant, client, token, extra: [("scope", "email")])
            #expect(narrowed.status == .ok, "\(narrowed.bodyText)")
            #expect(narrowed.object["scope"] == .string("email"))
            #expect(try F.claims(try #require(narrowed.object["access_token"]?.stringValue))["scope"] == .string("email"))
            // The family keeps what was granted: the next refresh may ask for all of it again.
            let next = try #require(narrowed.object["refresh_token"]?.stringValue)
            #expect(try await F.refresh(server, tenant, client, next).object["scope"] == .string("openid email"))
        }
    }

    @Test("A refresh token is bound to its client, expires when idle and at the family's absolute lifetime")
    func refreshBindingAndLifetimes() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let other = try await F.publicClient(server, tenant)
            let (body, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let token = try #require(body["refresh_token"]?.stringValue)
            F.expectError(try await F.refresh(server, tenant, other, token), .invalidGrant)
            F.expectError(try await F.refresh(server, tenant, client, "rt_" + SecretGenerator.randomToken()), .invalidGrant)
            F.expectError(try await F.post(server, tenant, "token", [("grant_type", "refresh_token"), ("client_id", client.clientID)]),
                          .invalidRequest)

            try await F.execute(tenant, "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
            F.expectError(try await F.refresh(server, tenant, client, token), .invalidGrant)

            let (second, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            try await F.execute(tenant, "UPDATE token_families SET absolute_expires_at = now() - interval '1 second'")
            F.expectError(try await F.refresh(server, tenant, client, try #require(second["refresh_token"]?.stringValue)), .invalidGrant)
        }
    }

    // MARK: client_credentials

    @Test("RFC 6749 §4.4: client_credentials for a confidential client that registered it, when the policy allows it; sub is the client")
    func clientCredentials() async throws {
        let tenant = try await F.tenant {
            $0.grantTypes = [.authorizationCode, .refreshToken, .clientCredentials]
            $0.allowedScopes = ["openid", "mcp:read", "mcp:write"]
            $0.defaultScopes = ["openid"]
        }
        try await AdminFixture.run { server in
            let client = try await F.confidentialClient(server, tenant, grants: ["authorization_code", "client_credentials"],
                                                        scope: "mcp:read mcp:write")
            let secret = try #require(client.clientSecret)
            let reply = try await F.post(server, tenant, "token", [("grant_type", "client_credentials"), ("scope", "mcp:read"),
                                                                   ("client_id", client.clientID), ("client_secret", secret)])
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(reply.object["refresh_token"] == nil)
            #expect(reply.object["scope"] == .string("mcp:read"))
            let claims = try F.claims(try #require(reply.object["access_token"]?.stringValue))
            #expect(claims["sub"] == .string(client.clientID))
            #expect(claims["aud"] == .string(F.issuer(tenant)))
            F.expectError(try await F.post(server, tenant, "token", [("grant_type", "client_credentials"), ("scope", "openid"),
                                                                     ("client_id", client.clientID), ("client_secret", secret)]), .invalidScope)

            // A client that did not register the grant.
            let plain = try await F.confidentialClient(server, tenant)
            F.expectError(try await F.post(server, tenant, "token", [("grant_type", "client_credentials")] + F.credentials(plain)),
                          .unauthorizedClient)
            // A public client cannot even register it.
            var body = AdminFixture.publicClient()
            body["grant_types"] = .array([.string("authorization_code"), .string("client_credentials")])
            #expect(try await AdminFixture.tryRegister(server, tenant, body).object["error"] == .string("invalid_client_metadata"))
        }
        // The tenant takes the grant back: the registered client is refused.
        let withdrawn = try await F.tenant { $0.grantTypes = [.authorizationCode, .refreshToken, .clientCredentials] }
        try await AdminFixture.run { server in
            let client = try await F.confidentialClient(server, withdrawn, grants: ["authorization_code", "client_credentials"])
            var changed = withdrawn.policy
            changed.grantTypes = [.authorizationCode, .refreshToken]
            let policy = changed
            _ = try await TestEnvironment.withDatabase { try await PostgresTenantRepository(database: $0).setPolicy(policy, for: withdrawn.id) }
            F.expectError(try await F.post(server, withdrawn, "token", [("grant_type", "client_credentials")] + F.credentials(client)),
                          .unauthorizedClient)
        }
    }

    @Test("RFC 6749 §5.2: an unknown grant is unsupported_grant_type; a missing one invalid_request", arguments: ["password", "implicit", "urn:x"])
    func unsupportedGrant(_ grant: String) async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            F.expectError(try await F.post(server, tenant, "token", [("grant_type", grant), ("client_id", client.clientID)]), .unsupportedGrantType)
            F.expectError(try await F.post(server, tenant, "token", [("client_id", client.clientID)]), .invalidRequest)
        }
    }

    @Test("The token endpoint records the client's use (last_used_at)")
    func recordsUse() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            #expect(try await F.count(tenant, "clients", where: "client_id = '\(client.clientID)' AND last_used_at IS NOT NULL") == 0)
            _ = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            #expect(try await F.count(tenant, "clients", where: "client_id = '\(client.clientID)' AND last_used_at IS NOT NULL") == 1)
        }
    }
}
