import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import Registrar

/// Design §7: each tenant's registration policy, enforced over HTTP at registration and on RFC 7592 PUT.
@Suite("Registration policy enforcement")
struct RegistrationPolicyEnforcementTests {
    static func client(_ redirects: [String], _ extra: [String: JSONValue] = [:]) -> String {
        var body: [String: JSONValue] = ["redirect_uris": .array(redirects.map(JSONValue.string)), "token_endpoint_auth_method": .string("none")]
        for (key, value) in extra { body[key] = value }
        return jsonBody(body)
    }

    static func policy(_ change: (inout RegistrationPolicy) -> Void) -> RegistrationPolicy {
        var policy = RegistrationPolicy()
        change(&policy)
        return policy
    }

    static func expectNeedsToken(_ reply: TestServer.Reply, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == .unauthorized, "\(what): \(reply.status) \(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.object["error"] == .string("invalid_token"), "\(what)", sourceLocation: sourceLocation)
        // RFC 6750 §3.1: no token was sent, so the challenge carries no error code.
        #expect(reply.header("WWW-Authenticate") == "Bearer", "\(what)", sourceLocation: sourceLocation)
    }

    // MARK: - Registration access modes

    @Test("Design §7 open: any valid redirect registers without a token")
    func openMode() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.registrationAccess = .open })
        try await TestServer.run { server in
            for redirect in ["https://anything.example.org/cb", "http://127.0.0.1:4000/cb", "com.example.app:/oauth"] {
                let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.client([redirect]))
                #expect(reply.status == .created, "\(redirect): \(reply.bodyText)")
            }
        }
        #expect(try await Stored.clientCount(tenant) == 3)
    }

    @Test("Design §7 initial_access_token: without a token 401, with one 201")
    func initialAccessTokenMode() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.registrationAccess = .initialAccessToken })
        let (_, presented) = try await InitialAccessTokens.mint(for: tenant)
        try await TestServer.run { server in
            for redirect in ["https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1:4000/cb"] {
                Self.expectNeedsToken(try await server.postJSON("/t/\(tenant.slug)/register", Self.client([redirect])), redirect)
            }
            #expect(try await Stored.clientCount(tenant) == 0)
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.client(["https://claude.ai/api/mcp/auth_callback"]),
                                                  headers: bearer(presented))
            #expect(reply.status == .created, "\(reply.bodyText)")
        }
        #expect(try await Stored.clientCount(tenant) == 1)
    }

    @Test("Design §7 open_for_trusted_redirects: trusted host 201, loopback 201, other host 401, private-use scheme 401", arguments: [
        ("https://trusted.example.com/cb", 201),
        ("http://127.0.0.1:33418/callback", 201),
        ("http://localhost:8080/cb", 201),
        ("http://[::1]:8080/cb", 201),
        ("https://other.example.com/cb", 401),
        ("com.example.app:/oauth2redirect", 401),
    ])
    func openForTrustedRedirects(redirect: String, status: Int) async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.registrationAccess = .openForTrustedRedirects
            $0.trustedRedirectHosts = ["trusted.example.com"]
        })
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.client([redirect]))
            #expect(reply.status.code == status, "\(reply.bodyText)")
            if status == 401 { Self.expectNeedsToken(reply, redirect) }
        }
        #expect(try await Stored.clientCount(tenant) == (status == 201 ? 1 : 0))
    }

    @Test("Design §7 open_for_trusted_redirects: one untrusted redirect among trusted ones needs a token")
    func oneUntrustedRedirectNeedsToken() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.trustedRedirectHosts = ["trusted.example.com"] })
        try await TestServer.run { server in
            Self.expectNeedsToken(try await server.postJSON("/t/\(tenant.slug)/register",
                                                            Self.client(["https://trusted.example.com/cb", "https://untrusted.example.com/cb"])), "mixed")
        }
        #expect(try await Stored.clientCount(tenant) == 0)
    }

    @Test("Design §7: a trusted *.example.com matches app.example.com, but not evil-example.com, example.com.evil.net or example.com", arguments: [
        ("app.example.com", true),
        ("deep.app.example.com", true),
        ("evil-example.com", false),
        ("example.com.evil.net", false),
        ("example.com", false),
        ("example.com.", false),
        ("appexample.com", false),
    ])
    func wildcardTrustedHost(host: String, trusted: Bool) async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.trustedRedirectHosts = ["*.example.com"] })
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.client(["https://\(host)/cb"]))
            if trusted {
                #expect(reply.status == .created, "\(reply.bodyText)")
            } else {
                #expect(reply.status != .created, "\(host) must not be trusted")
                #expect(reply.status.code == 401 || reply.object["error"] == .string("invalid_redirect_uri"), "\(reply.bodyText)")
            }
        }
        #expect(try await Stored.clientCount(tenant) == (trusted ? 1 : 0))
    }

    // MARK: - Redirect kinds, grants, methods

    @Test("Design §7: with loopback redirects disallowed, loopback redirect URIs are refused with invalid_redirect_uri", arguments: [
        "http://127.0.0.1:33418/callback", "http://localhost/cb", "http://[::1]:9/cb",
    ])
    func loopbackDisallowed(redirect: String) async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.registrationAccess = .open
            $0.allowLoopbackRedirects = false
        })
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.client([redirect]))
            #expect(reply.status == .badRequest, "\(reply.bodyText)")
            #expect(reply.object["error"] == .string("invalid_redirect_uri"))
            #expect(try await server.postJSON("/t/\(tenant.slug)/register", Self.client(["https://app.example.org/cb"])).status == .created)
        }
        #expect(try await Stored.clientCount(tenant) == 1)
    }

    @Test("Design §7: with private-use schemes disallowed, a native app scheme is refused with invalid_redirect_uri")
    func privateUseDisallowed() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.registrationAccess = .open
            $0.allowPrivateUseSchemes = false
        })
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.client(["com.example.app:/oauth2redirect"]))
            #expect(reply.status == .badRequest, "\(reply.bodyText)")
            #expect(reply.object["error"] == .string("invalid_redirect_uri"))
            #expect(try await server.postJSON("/t/\(tenant.slug)/register", Self.client(["http://127.0.0.1/cb"])).status == .created)
        }
        #expect(try await Stored.clientCount(tenant) == 1)
    }

    @Test("Design §7: only the policy's grant types are accepted")
    func allowedGrantTypes() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.grantTypes = [.authorizationCode] })
        try await TestServer.run { server in
            let refused = try await server.postJSON("/t/\(tenant.slug)/register", Self.client(["http://127.0.0.1/cb"], [
                "grant_types": .array([.string("authorization_code"), .string("refresh_token")]),
            ]))
            #expect(refused.status == .badRequest, "\(refused.bodyText)")
            #expect(refused.object["error"] == .string("invalid_client_metadata"))
            let accepted = try await server.register(tenant, Self.client(["http://127.0.0.1/cb"], ["grant_types": .array([.string("authorization_code")])]))
            #expect(accepted.body["grant_types"] == .array([.string("authorization_code")]))
        }
        #expect(try await Stored.clientCount(tenant) == 1)
    }

    @Test("Design §7: only the policy's token endpoint auth methods are accepted, and an omitted one takes the policy default")
    func allowedAuthMethods() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.tokenEndpointAuthMethods = [.none, .clientSecretPost]
            $0.defaultTokenEndpointAuthMethod = .clientSecretPost
        })
        try await TestServer.run { server in
            let refused = try await server.postJSON("/t/\(tenant.slug)/register",
                                                    Self.client(["http://127.0.0.1/cb"], ["token_endpoint_auth_method": .string("client_secret_basic")]))
            #expect(refused.status == .badRequest, "\(refused.bodyText)")
            #expect(refused.object["error"] == .string("invalid_client_metadata"))
            let publicClient = try await server.register(tenant, Self.client(["http://127.0.0.1/cb"]))
            #expect(publicClient.body["token_endpoint_auth_method"] == .string("none"))
            let defaulted = try await server.register(tenant, #"{"redirect_uris":["http://127.0.0.1/cb"]}"#)
            #expect(defaulted.body["token_endpoint_auth_method"] == .string("client_secret_post"))
            #expect(defaulted.clientSecret != nil)
        }
        #expect(try await Stored.clientCount(tenant) == 2)
    }

    // MARK: - Scopes and secrets

    @Test("Design §7 unknown_scopes reject: a scope outside the allowed list refuses the registration")
    func scopesReject() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.allowedScopes = ["openid", "profile"]
            $0.defaultScopes = ["openid"]
            $0.unknownScopes = .reject
        })
        try await TestServer.run { server in
            let refused = try await server.postJSON("/t/\(tenant.slug)/register", Self.client(["http://127.0.0.1/cb"], ["scope": .string("openid admin")]))
            #expect(refused.status == .badRequest, "\(refused.bodyText)")
            #expect(refused.object["error"] == .string("invalid_client_metadata"))
            let accepted = try await server.register(tenant, Self.client(["http://127.0.0.1/cb"], ["scope": .string("profile openid")]))
            #expect(accepted.body["scope"] == .string("profile openid"))
        }
        #expect(try await Stored.clientCount(tenant) == 1)
    }

    @Test("Design §7 unknown_scopes intersect: scopes outside the allowed list are dropped; with none left, the defaults apply")
    func scopesIntersect() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.allowedScopes = ["openid", "profile"]
            $0.defaultScopes = ["openid"]
            $0.unknownScopes = .intersect
        })
        try await TestServer.run { server in
            let kept = try await server.register(tenant, Self.client(["http://127.0.0.1/cb"], ["scope": .string("admin profile write")]))
            #expect(kept.body["scope"] == .string("profile"))
            let none = try await server.register(tenant, Self.client(["http://127.0.0.1/cb"], ["scope": .string("admin write")]))
            #expect(none.body["scope"] == .string("openid"))
            #expect(try await Stored.client(tenant, none.clientID)?.metadata.scope == ["openid"])
        }
    }

    @Test("Design §7: a registration without scope gets the policy's default scopes")
    func defaultScopes() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy {
            $0.allowedScopes = ["openid", "profile", "files.read"]
            $0.defaultScopes = ["openid", "files.read"]
        })
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.client(["http://127.0.0.1/cb"]))
            #expect(client.body["scope"] == .string("openid files.read"))
            #expect(try await Stored.client(tenant, client.clientID)?.metadata.scope == ["openid", "files.read"])
        }
    }

    @Test("Design §7: client_secret_lifetime_seconds gives the secret a client_secret_expires_at, at registration and on PUT")
    func clientSecretLifetime() async throws {
        let clock = TestClock()
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.clientSecretLifetimeSeconds = 3600 })
        try await TestServer.run(overrides: clock.overrides) { server in
            let confidential = try await server.register(tenant, Self.client(["http://127.0.0.1/cb"], ["token_endpoint_auth_method": .string("client_secret_basic")]))
            let issuedAt = clock.now.timeIntervalSince1970
            #expect(confidential.body["client_id_issued_at"] == .number(issuedAt))
            #expect(confidential.body["client_secret_expires_at"] == .number(issuedAt + 3600))
            #expect(try await Stored.client(tenant, confidential.clientID)?.clientSecretExpiresAt == clock.now.addingTimeInterval(3600))

            // A public client has no secret and so no expiry; turning confidential on PUT starts the lifetime then.
            let publicClient = try await server.register(tenant, Self.client(["http://127.0.0.1/cb"]))
            #expect(publicClient.body["client_secret_expires_at"] == nil)
            clock.advance(by: 100)
            let switched = try await server.putJSON(publicClient.path, ClientConfigurationTests.replacement(of: publicClient, [
                "token_endpoint_auth_method": .string("client_secret_post"),
            ]), headers: bearer(publicClient.registrationAccessToken))
            #expect(switched.status == .ok, "\(switched.bodyText)")
            #expect(switched.object["client_secret"] != nil)
            #expect(switched.object["client_secret_expires_at"] == .number(clock.now.timeIntervalSince1970 + 3600))

            // Reads report the stored expiry.
            let read = try await server.get(confidential.path, headers: bearer(confidential.registrationAccessToken))
            #expect(read.object["client_secret_expires_at"] == .number(issuedAt + 3600))
        }
    }

    // MARK: - The same rules on RFC 7592 PUT

    @Test("Design §7 on RFC 7592 PUT: a client registered without a token cannot switch to an untrusted redirect, and nothing changes")
    func updateToUntrustedRedirectRefused() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.trustedRedirectHosts = ["trusted.example.com"] })
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.client(["http://127.0.0.1:33418/callback"]))
            let before = try #require(try await Stored.client(tenant, client.clientID))
            for untrusted in ["https://untrusted.example.com/cb", "com.example.app:/cb"] {
                let refused = try await server.putJSON(client.path, ClientConfigurationTests.replacement(of: client, [
                    "redirect_uris": .array([.string(untrusted)]),
                ]), headers: bearer(client.registrationAccessToken))
                #expect(refused.status == .badRequest, "\(untrusted): \(refused.status) \(refused.bodyText)")
                #expect(refused.object["error"] == .string("invalid_redirect_uri"), "\(untrusted)")
                #expect(refused.object["registration_access_token"] == nil)
            }
            let after = try #require(try await Stored.client(tenant, client.clientID))
            #expect(after.metadata.redirectURIs == before.metadata.redirectURIs)
            #expect(after.updatedAt == before.updatedAt)
            #expect(Stored.Registration(after) == Stored.Registration(before))
            // A trusted one is fine.
            let accepted = try await server.putJSON(client.path, ClientConfigurationTests.replacement(of: client, [
                "redirect_uris": .array([.string("https://trusted.example.com/cb")]),
            ]), headers: bearer(client.registrationAccessToken))
            #expect(accepted.status == .ok, "\(accepted.bodyText)")
        }
    }

    @Test("Design §7 on RFC 7592 PUT: the tenant's current policy applies (loopback, grant types, auth methods, scopes)", arguments: [
        "loopback", "grant_types", "auth_method", "scope",
    ])
    func updateFollowsCurrentPolicy(rule: String) async throws {
        let tenant = try await TestEnvironment.createTenant(policy: Self.policy { $0.registrationAccess = .open })
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.client(["http://127.0.0.1:33418/callback"], [
                "grant_types": .array([.string("authorization_code"), .string("refresh_token")]), "scope": .string("openid email"),
            ]))
            let before = try #require(try await Stored.registration(tenant, client.clientID))
            var tightened = RegistrationPolicy()
            tightened.registrationAccess = .open
            tightened.unknownScopes = .reject
            switch rule {
            case "loopback": tightened.allowLoopbackRedirects = false
            case "grant_types": tightened.grantTypes = [.authorizationCode]
            case "auth_method":
                tightened.tokenEndpointAuthMethods = [.clientSecretBasic]
                tightened.defaultTokenEndpointAuthMethod = .clientSecretBasic
            default:
                tightened.allowedScopes = ["openid"]
                tightened.defaultScopes = ["openid"]
            }
            try await Stored.setPolicy(tightened, for: tenant)
            // The same registration, sent back unchanged, no longer fits the policy.
            var same = client.body
            for member in ["registration_access_token", "registration_client_uri", "client_id_issued_at", "client_secret_expires_at"] { same[member] = nil }
            let refused = try await server.putJSON(client.path, jsonBody(same), headers: bearer(client.registrationAccessToken))
            #expect(refused.status == .badRequest, "\(refused.bodyText)")
            #expect(refused.object["error"] == .string(rule == "loopback" ? "invalid_redirect_uri" : "invalid_client_metadata"))
            #expect(try await Stored.registration(tenant, client.clientID) == before)
        }
    }
}
