import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import Registrar

/// RFC 7591 over HTTP against real PostgreSQL.
@Suite("RFC 7591 registration endpoint")
struct RegistrationEndpointTests {
    static let publicClient = #"{"client_name":"Claude Code (my-server)","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none"}"#
    static let confidentialClient = #"{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"token_endpoint_auth_method":"client_secret_post","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"Claude"}"#

    @Test("RFC 7591 §3.2.1: a public client registers in every tenant resolution mode", arguments: ResolutionMode.allCases)
    func publicClientInEveryMode(mode: ResolutionMode) async throws {
        let (_, host, prefix, issuer) = try await mode.newTenant()
        try await TestServer.run { server in
            let reply = try await server.postJSON("\(prefix)/register", Self.publicClient, host: host)
            #expect(reply.status == .created)
            let body = reply.object
            let clientID = try #require(body["client_id"]?.stringValue)
            #expect(clientID.hasPrefix("cl_") && clientID.count == 27)
            #expect(body["token_endpoint_auth_method"] == .string("none"))
            #expect(body["client_secret"] == nil)
            #expect(body["client_secret_expires_at"] == nil)
            #expect(body["registration_client_uri"] == .string("\(issuer)/register/\(clientID)"))
            #expect(body["registration_access_token"]?.stringValue?.hasPrefix("rat_") == true)
        }
    }

    @Test("RFC 7591 §3.2.1: a confidential client gets a secret in every tenant resolution mode", arguments: ResolutionMode.allCases)
    func confidentialClientInEveryMode(mode: ResolutionMode) async throws {
        let (_, host, prefix, _) = try await mode.newTenant()
        try await TestServer.run { server in
            let reply = try await server.postJSON("\(prefix)/register", Self.confidentialClient, host: host)
            #expect(reply.status == .created)
            let secret = try #require(reply.object["client_secret"]?.stringValue)
            #expect(secret.hasPrefix("rcs_") && secret.count == 47)
            #expect(reply.object["client_secret_expires_at"] == .number(0))
        }
    }

    @Test("RFC 7591 §3.2.1: 201 with no-store, JSON, every required member and no null or empty value")
    func responseShape() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", Self.confidentialClient)
            #expect(reply.status == .created)
            #expect(reply.header("Cache-Control") == "no-store")
            #expect(reply.header("Pragma") == "no-cache")
            #expect(reply.header("Content-Type") == "application/json")
            #expect(!reply.bodyText.contains("null"))
            let body = try #require(reply.json)
            expectNoEmptyValues(body)
            for member in ["client_id", "client_id_issued_at", "redirect_uris", "grant_types", "response_types",
                           "token_endpoint_auth_method", "registration_access_token", "registration_client_uri",
                           "client_secret", "client_secret_expires_at", "scope"] {
                #expect(body[member] != nil, "missing \(member)")
            }
            // Integers, not floating point: `1795619151`, never `1795619151.0`.
            #expect(reply.bodyText.range(of: #""client_id_issued_at":\d+[,}]"#, options: .regularExpression) != nil)
            let issuedAt = try #require(body["client_id_issued_at"]?.intValue)
            #expect(abs(Double(issuedAt) - Date().timeIntervalSince1970) < 300)
            // Defaults come from the tenant's policy (RFC 7591 §2 and design §7).
            #expect(body["scope"] == .string("openid profile email"))
        }
    }

    @Test("RFC 7591 §2: omitted grant_types, response_types and auth method take their defaults")
    func defaults() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", #"{"redirect_uris":["https://chatgpt.com/connector/oauth/abc"]}"#)
            #expect(reply.status == .created)
            #expect(reply.object["grant_types"] == .array([.string("authorization_code")]))
            #expect(reply.object["response_types"] == .array([.string("code")]))
            #expect(reply.object["token_endpoint_auth_method"] == .string("client_secret_basic"))
            #expect(reply.object["client_secret"] != nil)
        }
    }

    @Test("Real clients: ChatGPT, Claude and Claude Code register with 201 on a default tenant", arguments: [
        #"{"client_name":"ChatGPT","redirect_uris":["https://chat.openai.com/aip/callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"openid profile email"}"#,
        confidentialClient,
        publicClient,
        #"{"redirect_uris":["https://chatgpt.com/connector_platform_oauth_redirect"],"grant_types":["authorization_code","refresh_token"],"client_name":"ChatGPT"}"#,
    ])
    func realClients(body: String) async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", body)
            #expect(reply.status == .created, "\(reply.bodyText)")
        }
    }

    @Test("Design §4: the database holds argon2id hashes, never the secret or the registration access token")
    func secretsStoredAsHashes() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let body = try await TestServer.run { server in
            try await server.postJSON("/t/\(tenant.slug)/register", Self.confidentialClient).object
        }
        let clientID = try #require(body["client_id"]?.stringValue)
        let secret = try #require(body["client_secret"]?.stringValue)
        let token = try #require(body["registration_access_token"]?.stringValue)
        let (rowText, secretHash, ratHash, auditText) = try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                let row = try await connection.run("""
                    SELECT c::text, client_secret_hash, registration_access_token_hash FROM clients c
                    WHERE tenant_id = \(tenant.id) AND client_id = \(clientID)
                    """, logger: TestEnvironment.logger)
                let audit = try await connection.run("SELECT COALESCE(string_agg(a::text, ' '), '') FROM audit_events a WHERE tenant_id = \(tenant.id)", logger: TestEnvironment.logger)
                let (text, secretHash, ratHash) = try #require(row.first).decode((String, String, String).self)
                return (text, secretHash, ratHash, try #require(audit.first).decode(String.self))
            }
        }
        #expect(secretHash.hasPrefix("$argon2id$v=19$m=256,t=1,p=1$"))
        #expect(ratHash.hasPrefix("$argon2id$v=19$"))
        #expect(secretHash != ratHash)
        for plaintext in [secret, token, String(secret.dropFirst(4)), String(token.dropFirst(4))] {
            #expect(!rowText.contains(plaintext))
            #expect(!auditText.contains(plaintext))
        }
        #expect(Argon2Hasher.verifySync(secret, encoded: secretHash))
        #expect(Argon2Hasher.verifySync(token, encoded: ratHash))
    }

    @Test("Design §5: the registration is audited with source address and request id")
    func registrationIsAudited() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let requestID = "req-\(UUID().uuidString)"
        let reply = try await TestServer.run { server in
            try await server.postJSON("/t/\(tenant.slug)/register", Self.publicClient, headers: [HTTPField.Name("X-Request-Id")!: requestID])
        }
        #expect(reply.header("X-Request-Id") == requestID)
        let clientID = try #require(reply.object["client_id"]?.stringValue)
        let events = try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("SELECT action, actor_type, client_id, source_address, request_id FROM audit_events WHERE tenant_id = \(tenant.id)",
                                         logger: TestEnvironment.logger)
                    .map { try $0.decode((String, String, String?, String?, String?).self) }
            }
        }
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.0 == "client.registered")
        #expect(event.1 == "anonymous")
        #expect(event.2 == clientID)
        #expect(event.3 == "127.0.0.1")
        #expect(event.4 == requestID)
    }

    /// Bad input: the endpoint's own error JSON with the right status, never a 500, never a row.
    @Test("Design §8: bad bodies are refused with the right status and write nothing", arguments: [
        ("text/plain", publicClient, 415, "invalid_request"),
        ("application/json", "{not json", 400, "invalid_client_metadata"),
        ("application/json", "[1,2]", 400, "invalid_client_metadata"),
        ("application/json", "", 400, "invalid_client_metadata"),
        ("application/json", String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), 400, "invalid_client_metadata"),
        ("application/json", #"{"redirect_uris":"https://a.example/cb"}"#, 400, "invalid_redirect_uri"),
        ("application/json", #"{"redirect_uris":["https://a.example/cb#frag"]}"#, 400, "invalid_redirect_uri"),
        ("application/json", #"{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["implicit"]}"#, 400, "invalid_client_metadata"),
        ("application/json", #"{"redirect_uris":["http://127.0.0.1/cb"],"client_name":42}"#, 400, "invalid_client_metadata"),
        ("application/json", #"{"redirect_uris":["\u0000javascript:alert(1)"]}"#, 400, "invalid_redirect_uri"),
    ])
    func badBodies(contentType: String, body: String, status: Int, error: String) async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", body, headers: [.contentType: contentType])
            #expect(reply.status.code == status, "\(reply.bodyText)")
            #expect(reply.object["error"] == .string(error))
            #expect(reply.header("Content-Type") == "application/json")
        }
        let count = try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try #require(try await connection.run("SELECT count(*)::integer FROM clients", logger: TestEnvironment.logger).first).decode(Int.self)
            }
        }
        #expect(count == 0)
    }

    @Test("Design §8: a body over 64 KiB is refused with 413")
    func oversizedBody() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let padding = String(repeating: "a", count: 70 * 1024)
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", #"{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"\#(padding)"}"#)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.object["error"] == .string("invalid_request"))
        }
    }

    @Test("Design §7: with the default policy, a redirect outside the trusted hosts needs an initial access token")
    func untrustedRedirectNeedsInitialAccessToken() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", #"{"redirect_uris":["https://app.example.com/cb"]}"#)
            #expect(reply.status == .unauthorized)
            #expect(reply.object["error"] == .string("invalid_token"))
            #expect(reply.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        }
    }

    @Test("Design §7: an open tenant registers any valid redirect without a token")
    func openPolicyRegistersAnyRedirect() async throws {
        var policy = RegistrationPolicy()
        policy.registrationAccess = .open
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", #"{"redirect_uris":["https://app.example.com/cb"]}"#)
            #expect(reply.status == .created)
        }
    }

    @Test("RFC 7591 §2: unknown members and caller-chosen credentials are dropped, never echoed")
    func callerCannotChooseCredentials() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", #"""
                {"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic",
                 "client_id":"mine","client_secret":"chosen","registration_access_token":"rat_mine","skip_consent":true,"x-extra":"y"}
                """#)
            #expect(reply.status == .created)
            #expect(reply.object["client_id"] != .string("mine"))
            #expect(reply.object["client_secret"] != .string("chosen"))
            #expect(reply.object["registration_access_token"] != .string("rat_mine"))
            #expect(reply.object["skip_consent"] == nil)
            #expect(reply.object["x-extra"] == nil)
        }
    }
}
