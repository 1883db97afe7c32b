import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Client ID metadata documents at `/authorize` and `/token` (draft-ietf-oauth-client-id-metadata-document-01),
/// fetched over real HTTPS from a document server on loopback, which Registrar reaches only
/// through the explicit allowlist and the test CA.
@Suite("Client ID metadata documents at /authorize and /token")
struct MetadataDocumentClientTests {
    typealias Fixture = AuthorizeFixture
    static let redirect = "https://app.example.com/callback"

    /// A signed-in user in a tenant that accepts documents from the document server's hosts.
    static func fixture(_ change: (inout RegistrationPolicy) -> Void = { _ in }) async throws -> Fixture {
        var policy = RegistrationPolicy()
        policy.metadataDocuments.allowedHosts = ["docs.test", "claude.test"]
        policy.trustedRedirectHosts.append("app.example.com")
        change(&policy)
        return try await Fixture.make(policy: policy)
    }

    /// A Registrar that resolves the document server's names to loopback and may reach it.
    static func run<T: Sendable>(allowLoopback: Bool = true, _ body: @escaping @Sendable (TestServer, DocumentServer) async throws -> T) async throws -> T {
        try await DocumentServer.run { documents in
            var overrides = AppOverrides()
            overrides.hostResolver = DocumentServer.resolver
            overrides.outboundTimeout = .milliseconds(800)
            return try await TestServer.run(configure: { config in
                config.outbound.allowedRanges = allowLoopback ? [try IPRange("127.0.0.1/32")] : []
                config.outbound.extraCAFile = DocumentServer.authority.caFile
            }, overrides: overrides) { server in
                try await body(server, documents)
            }
        }
    }

    static func document(_ url: String, _ changes: [String: JSONValue?] = [:]) -> String {
        var object: [String: JSONValue] = [
            "client_id": .string(url), "client_name": .string("Docs <App>"),
            "redirect_uris": .array([.string(redirect)]),
            "grant_types": .array([.string("authorization_code"), .string("refresh_token")]),
        ]
        for (name, value) in changes { object[name] = value }
        return JSONValue.object(object).encodedString()
    }

    static func authorize(_ server: TestServer, _ fixture: Fixture, clientID: String, redirect: String = redirect,
                          _ changes: [String: String?] = [:]) async throws -> TestServer.Reply {
        var changes = changes
        changes["client_id"] = clientID
        changes["redirect_uri"] = redirect
        return try await fixture.authorize(server, fixture.query(changes))
    }

    static func storedClient(_ fixture: Fixture, _ clientID: String) async throws -> RegisteredClient? {
        let tenantID = fixture.tenant.id
        return try await TestEnvironment.withDatabase { database in
            try await PostgresClientRepository(database: database).find(tenantID: tenantID, clientID: clientID)
        }
    }

    static func exchange(_ server: TestServer, _ fixture: Fixture, code: String, clientID: String, redirect: String = redirect,
                         extra: [(String, String)] = []) async throws -> TestServer.Reply {
        try await TokenFixture.post(server, fixture.tenant, "token", [
            ("grant_type", "authorization_code"), ("code", code), ("code_verifier", Fixture.verifier), ("redirect_uri", redirect),
            ("client_id", clientID),
        ] + extra)
    }

    @Test("A valid document: consent shows the document's host and the redirect's, the code exchanges at /token, and the client row is cimd")
    func validDocumentFlow() async throws {
        let fixture = try await Self.fixture()
        try await Self.run { server, documents in
            let url = documents.url("/clients/app.json")
            documents.serve("/clients/app.json", json: Self.document(url))
            let page = try await Self.authorize(server, fixture, clientID: url)
            #expect(page.status == .ok, "\(page.bodyText)")
            #expect(page.bodyText.contains("published by <strong>docs.test</strong>"))
            #expect(page.bodyText.contains("<strong>app.example.com</strong>"))
            #expect(page.bodyText.contains("Docs &lt;App&gt;"))
            let allowed = try await fixture.submitConsent(server, page: page, decision: "allow")
            let code = try #require(Fixture.redirectQuery(allowed)?.values("code").first, "\(allowed.status) \(allowed.bodyText)")
            let reply = try await Self.exchange(server, fixture, code: code, clientID: url)
            #expect(reply.status == .ok, "\(reply.bodyText)")
            let access = try TokenFixture.claims(try #require(reply.object["access_token"]?.stringValue))
            #expect(access["client_id"] == .string(url))
            let stored = try #require(try await Self.storedClient(fixture, url))
            #expect(stored.registeredVia == .cimd)
            #expect(stored.registrationAccessTokenHash == nil && stored.clientSecretHash == nil)
            #expect(stored.metadata.tokenEndpointAuthMethod == TokenEndpointAuthMethod.none)
            // The consent page, the consent form's own re-validation and /token: one fetch.
            #expect(documents.hits("/clients/app.json") == 1)
            let audit = try await TokenFixture.count(fixture.tenant, "audit_events", where: "action = 'client.registered' AND client_id = '\(url)'")
            #expect(audit == 1)
        }
    }

    @Test("§4.1: a client_id mismatch, the trailing-slash variant and a forbidden secret show an error page and store nothing")
    func documentRefusals() async throws {
        let fixture = try await Self.fixture()
        try await Self.run { server, documents in
            let cases: [(String, String, String)] = [
                ("/mismatch.json", Self.document(documents.url("/other.json")), "mismatch"),
                ("/slash.json/", Self.document(documents.url("/slash.json")), "trailing-slash variant"),
                ("/secret.json", Self.document(documents.url("/secret.json"), ["client_secret": .string("s3cret")]), "client_secret"),
                ("/basic.json", Self.document(documents.url("/basic.json"), ["token_endpoint_auth_method": .string("client_secret_basic")]),
                 "shared-secret method"),
                ("/plain.html", "<html>not json</html>", "not JSON"),
            ]
            for (path, body, note) in cases {
                documents.serve(path, json: body)
                let url = documents.url(path)
                AuthorizeEndpointTests.expectErrorPage(try await Self.authorize(server, fixture, clientID: url), note)
                #expect(try await Self.storedClient(fixture, url) == nil, "\(note): nothing stored")
                #expect(documents.hits(path) == 1, "\(note)")
            }
        }
    }

    @Test("draft -01 §4: a non-200, a redirect (not followed), an oversized or slow document and a non-https URL are errors, never cached")
    func fetchFailures() async throws {
        let fixture = try await Self.fixture()
        try await Self.run { server, documents in
            documents.serve("/good.json", json: Self.document(documents.url("/good.json")))
            documents.serve("/moved.json", .init(status: .movedPermanently, headers: [.location: documents.url("/good.json")], body: ""))
            documents.serve("/missing.json", .init(status: .notFound, body: "{}"))
            documents.serve("/big.json", json: Self.document(documents.url("/big.json"), ["software_id": .string(String(repeating: "x", count: 6000))]))
            documents.serve("/slow.json", .init(body: Self.document(documents.url("/slow.json")), delay: .seconds(2)))
            for path in ["/moved.json", "/missing.json", "/big.json", "/slow.json"] {
                let url = documents.url(path)
                let started = ContinuousClock.now
                AuthorizeEndpointTests.expectErrorPage(try await Self.authorize(server, fixture, clientID: url), path)
                #expect(ContinuousClock.now - started < .seconds(2), "\(path): no hang")
                #expect(try await Self.storedClient(fixture, url) == nil, "\(path): nothing stored")
            }
            #expect(documents.hits("/good.json") == 0, "the redirect was not followed")
            AuthorizeEndpointTests.expectErrorPage(
                try await Self.authorize(server, fixture, clientID: "http://docs.test:\(documents.port)/good.json"), "http")
            #expect(documents.hits("/good.json") == 0)
            // An error is not remembered: once the document is there, it works.
            documents.serve("/missing.json", json: Self.document(documents.url("/missing.json")))
            #expect(try await Self.authorize(server, fixture, clientID: documents.url("/missing.json")).status == .ok)
            #expect(documents.hits("/missing.json") == 2)
        }
    }

    @Test("Policy: an untrusted document host, a host resolving to a private address, and documents turned off are refused without a fetch")
    func policyRefusals() async throws {
        let fixture = try await Self.fixture()
        let off = try await Self.fixture { $0.metadataDocuments.enabled = false }
        try await Self.run { server, documents in
            documents.serve("/app.json", json: Self.document(documents.url("/app.json", host: "untrusted.test")))
            let untrusted = try await Self.authorize(server, fixture, clientID: documents.url("/app.json", host: "untrusted.test"))
            AuthorizeEndpointTests.expectErrorPage(untrusted, "untrusted host")
            #expect(untrusted.bodyText.contains("untrusted.test"))
            #expect(documents.hits("/app.json") == 0)

            let privateHost = try await Self.fixture { $0.metadataDocuments.allowedHosts = ["private.test"] }
            let refused = try await Self.authorize(server, privateHost, clientID: "https://private.test/app.json")
            AuthorizeEndpointTests.expectErrorPage(refused, "private address")
            #expect(refused.bodyText.contains("private"))

            documents.serve("/on.json", json: Self.document(documents.url("/on.json")))
            AuthorizeEndpointTests.expectErrorPage(try await Self.authorize(server, off, clientID: documents.url("/on.json")), "turned off")
            #expect(documents.hits("/on.json") == 0)
            // Metadata says so only where documents are on, keeping none among the methods.
            let on = try await server.get("/t/\(fixture.tenant.slug)/.well-known/oauth-authorization-server")
            #expect(on.object["client_id_metadata_document_supported"] == .bool(true))
            #expect(on.object["token_endpoint_auth_methods_supported"]?.arrayValue?.contains(.string("none")) == true)
            let offMetadata = try await server.get("/t/\(off.tenant.slug)/.well-known/oauth-authorization-server")
            #expect(offMetadata.object["client_id_metadata_document_supported"] == nil)
        }
    }

    @Test("The registration gates apply: untrusted redirect hosts, initial-access-token-only and statement-only tenants refuse documents")
    func registrationGates() async throws {
        let untrustedRedirect = try await Self.fixture { $0.trustedRedirectHosts = ["claude.ai"] }
        let tokenOnly = try await Self.fixture { $0.registrationAccess = .initialAccessToken }
        let open = try await Self.fixture { $0.registrationAccess = .open; $0.trustedRedirectHosts = [] }
        try await Self.run { server, documents in
            documents.serve("/gated.json", json: Self.document(documents.url("/gated.json")))
            let refused = try await Self.authorize(server, untrustedRedirect, clientID: documents.url("/gated.json"))
            AuthorizeEndpointTests.expectErrorPage(refused, "untrusted redirect host")
            #expect(refused.bodyText.contains("trusts"))
            let gated = try await Self.authorize(server, tokenOnly, clientID: documents.url("/gated.json"))
            AuthorizeEndpointTests.expectErrorPage(gated, "initial access token only")
            #expect(documents.hits("/gated.json") == 2, "the gate applies to what the document says")
            #expect(try await Self.authorize(server, open, clientID: documents.url("/gated.json")).status == .ok, "an open tenant")
        }
    }

    @Test("A changed document is stored and audited as client.updated; client_credentials is never a document's")
    func documentChanges() async throws {
        let fixture = try await Self.fixture { $0.grantTypes = [.authorizationCode, .refreshToken, .clientCredentials] }
        try await Self.run { server, documents in
            let url = documents.url("/changing.json")
            documents.serve("/changing.json", json: Self.document(url, [
                "grant_types": .array([.string("authorization_code"), .string("client_credentials")]),
                "token_endpoint_auth_method": .string("private_key_jwt"), "jwks": StatementIssuer().jwks,
            ]))
            #expect(try await Self.authorize(server, fixture, clientID: url).status == .ok)
            #expect(try await Self.storedClient(fixture, url)?.metadata.grantTypes == [.authorizationCode])
            try await Self.expire(fixture, url)
            documents.serve("/changing.json", json: Self.document(url, ["client_name": .string("Renamed")]))
            #expect(try await Self.authorize(server, fixture, clientID: url).status == .ok)
            #expect(try await Self.storedClient(fixture, url)?.metadata.clientName == "Renamed")
            let updated = try await TokenFixture.count(fixture.tenant, "audit_events", where: "action = 'client.updated' AND client_id = '\(url)'")
            #expect(updated == 1)
            // Fetched again with nothing changed: no event.
            try await Self.expire(fixture, url)
            #expect(try await Self.authorize(server, fixture, clientID: url).status == .ok)
            #expect(try await TokenFixture.count(fixture.tenant, "audit_events", where: "action = 'client.updated' AND client_id = '\(url)'") == 1)
        }
    }

    @Test("With an empty allowlist, a document on loopback is refused")
    func loopbackRefusedWithoutAllowlist() async throws {
        let fixture = try await Self.fixture()
        try await Self.run(allowLoopback: false) { server, documents in
            documents.serve("/app.json", json: Self.document(documents.url("/app.json")))
            let reply = try await Self.authorize(server, fixture, clientID: documents.url("/app.json"))
            AuthorizeEndpointTests.expectErrorPage(reply, "loopback")
            #expect(reply.bodyText.contains("loopback"))
            #expect(documents.hits("/app.json") == 0)
        }
    }

    @Test("§4.4: a document is used from the row within max-age, revalidated after (304 renews it), and one gone ends the client")
    func caching() async throws {
        let fixture = try await Self.fixture()
        try await Self.run { server, documents in
            let url = documents.url("/cached.json")
            documents.serve("/cached.json", json: Self.document(url), headers: [.contentType: "text/plain", .cacheControl: "max-age=600", .eTag: "\"v1\""])
            #expect(try await Self.authorize(server, fixture, clientID: url).status == .ok, "text/plain is read as JSON")
            #expect(try await Self.authorize(server, fixture, clientID: url).status == .ok)
            #expect(documents.hits("/cached.json") == 1, "within max-age")
            let stored = try #require(try await Self.storedClient(fixture, url)?.document)
            #expect(abs(stored.expiresAt.timeIntervalSince(stored.fetchedAt) - 600) < 1)
            #expect(stored.etag == "\"v1\"")

            // Past its expiry the host is asked again, conditionally; a 304 keeps the client.
            try await Self.expire(fixture, url)
            documents.serve("/cached.json", .init(status: .notModified, headers: [.cacheControl: "max-age=900"], body: ""))
            #expect(try await Self.authorize(server, fixture, clientID: url).status == .ok)
            #expect(documents.hits("/cached.json") == 2)
            #expect(documents.lastHeaders("/cached.json")?[.ifNoneMatch] == "\"v1\"")
            let renewed = try #require(try await Self.storedClient(fixture, url)?.document)
            #expect(renewed.expiresAt > Date().addingTimeInterval(800))

            // A document that is gone: the client stops working once the stored fetch expires.
            try await Self.expire(fixture, url)
            documents.serve("/cached.json", .init(status: .notFound, body: ""))
            AuthorizeEndpointTests.expectErrorPage(try await Self.authorize(server, fixture, clientID: url), "gone")
            #expect(try await Self.storedClient(fixture, url)?.registeredVia == .cimd, "the row stays for admins to see")
        }
    }

    static func expire(_ fixture: Fixture, _ url: String) async throws {
        try await TokenFixture.execute(fixture.tenant,
            "UPDATE clients SET document_expires_at = now() - interval '1 second' WHERE client_id = '\(url)'")
    }

    @Test("ChatGPT's document: token_endpoint_auth_methods_supported with private_key_jwt through jwks_uri")
    func chatGPTStyleDocument() async throws {
        let fixture = try await Self.fixture()
        try await Self.run { server, documents in
            let url = documents.url("/chatgpt.json")
            let keys = StatementIssuer()
            documents.serve("/jwks.json", json: keys.jwks.encodedString())
            documents.serve("/chatgpt.json", json: Self.document(url, [
                "token_endpoint_auth_methods_supported": .array([.string("none"), .string("private_key_jwt")]),
                "jwks_uri": .string(documents.url("/jwks.json")),
                "scope": .string("openid profile"),
            ]))
            let page = try await Self.authorize(server, fixture, clientID: url)
            #expect(page.status == .ok, "\(page.bodyText)")
            let allowed = try await fixture.submitConsent(server, page: page, decision: "allow")
            let code = try #require(Fixture.redirectQuery(allowed)?.values("code").first)
            #expect(try await Self.storedClient(fixture, url)?.metadata.tokenEndpointAuthMethod == .privateKeyJWT)
            // The public-client form alone no longer authenticates it.
            #expect(try await Self.exchange(server, fixture, code: code, clientID: url).status == .unauthorized)
            let page2 = try await Self.authorize(server, fixture, clientID: url)
            let code2 = try #require(Fixture.redirectQuery(page2)?.values("code").first, "\(page2.status)")
            let assertion = try await keys.sign(AdminClientAssertionTests.claims(url, audience: TokenFixture.issuer(fixture.tenant) + "/token"))
            let reply = try await Self.exchange(server, fixture, code: code2, clientID: url, extra: [
                ("client_assertion", assertion), ("client_assertion_type", ClientAssertionVerifier.assertionType),
            ])
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(documents.hits("/jwks.json") == 1)
        }
    }

    @Test("Claude Desktop's document lists jwt-bearer: it is dropped and the client works")
    func claudeDesktopStyleDocument() async throws {
        let fixture = try await Self.fixture()
        try await Self.run { server, documents in
            let url = documents.url("/oauth/mcp-oauth-client-metadata", host: "claude.test")
            documents.serve("/oauth/mcp-oauth-client-metadata", json: Self.document(url, [
                "client_name": .string("Claude"),
                "grant_types": .array([.string("authorization_code"), .string("refresh_token"),
                                       .string("urn:ietf:params:oauth:grant-type:jwt-bearer")]),
                "token_endpoint_auth_method": .string("none"),
            ]))
            let page = try await Self.authorize(server, fixture, clientID: url)
            #expect(page.status == .ok, "\(page.bodyText)")
            #expect(try await Self.storedClient(fixture, url)?.metadata.grantTypes == [.authorizationCode, .refreshToken])
        }
    }

    @Test("Claude Code's port-less http://localhost/callback is used on an ephemeral port, with consent every time")
    func claudeCodeStyleDocument() async throws {
        let fixture = try await Self.fixture()
        try await Self.run { server, documents in
            let url = documents.url("/oauth/claude-code-client-metadata", host: "claude.test")
            documents.serve("/oauth/claude-code-client-metadata", json: Self.document(url, [
                "client_name": .string("Claude Code"),
                "redirect_uris": .array([.string("http://localhost/callback"), .string("http://127.0.0.1/callback")]),
                "token_endpoint_auth_method": .string("none"),
            ]))
            let ephemeral = "http://localhost:49152/callback"
            for round in 1...2 {
                let page = try await Self.authorize(server, fixture, clientID: url, redirect: ephemeral)
                #expect(page.status == .ok, "round \(round): consent asked again: \(page.bodyText)")
                let allowed = try await fixture.submitConsent(server, page: page, decision: "allow")
                let code = try #require(Fixture.redirectQuery(allowed, to: ephemeral + "?")?.values("code").first, "\(allowed.status)")
                let reply = try await Self.exchange(server, fixture, code: code, clientID: url, redirect: ephemeral)
                #expect(reply.status == .ok, "\(reply.bodyText)")
            }
        }
    }

    @Test("At /token a document that cannot be used is invalid_client; admins list, disable and audit document clients like others")
    func tokenEndpointAndAdmin() async throws {
        let fixture = try await Self.fixture()
        let key = try await AdminFixture.key(.admin, for: fixture.tenant)
        try await Self.run { server, documents in
            let url = documents.url("/admin.json")
            documents.serve("/admin.json", json: Self.document(url))
            let page = try await Self.authorize(server, fixture, clientID: url)
            let allowed = try await fixture.submitConsent(server, page: page, decision: "allow")
            let code = try #require(Fixture.redirectQuery(allowed)?.values("code").first)

            let unknown = try await Self.exchange(server, fixture, code: code, clientID: documents.url("/nothing-here.json"))
            TokenFixture.expectError(unknown, .invalidClient, .unauthorized)
            let untrusted = try await Self.exchange(server, fixture, code: code, clientID: documents.url("/admin.json", host: "untrusted.test"))
            TokenFixture.expectError(untrusted, .invalidClient, .unauthorized)

            let admin = AdminCaller(server, key: key)
            let list = try await admin.get("/tenants/\(fixture.tenant.slug)/clients?registered_via=cimd")
            #expect(list.status == .ok, "\(list.bodyText)")
            let items = list.object["items"]?.arrayValue ?? list.object["clients"]?.arrayValue ?? []
            #expect(items.contains { $0.objectValue?["client_id"] == .string(url) && $0.objectValue?["registered_via"] == .string("cimd") },
                    "\(list.bodyText)")
            let encoded = url.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? url
            let disabled = try await admin.post("/tenants/\(fixture.tenant.slug)/clients/\(encoded)/disable")
            #expect(disabled.status == .ok, "\(disabled.bodyText)")
            // Disabled by an admin: a fresh document does not bring it back.
            try await Self.expire(fixture, url)
            AuthorizeEndpointTests.expectErrorPage(try await Self.authorize(server, fixture, clientID: url), "disabled")
            #expect(documents.hits("/admin.json") == 2)
            let rat = try await admin.post("/tenants/\(fixture.tenant.slug)/clients/\(encoded)/registration-access-token")
            #expect(rat.status == .conflict, "\(rat.bodyText)")
        }
    }

    @Test("Design §7: the reaper disables a document's client that was never used, and its document brings it back")
    func reaperAndRevival() async throws {
        let fixture = try await Self.fixture { $0.reapNeverUsedAfterHours = 1 }
        try await Self.run { server, documents in
            let url = documents.url("/reaped.json")
            documents.serve("/reaped.json", json: Self.document(url))
            #expect(try await Self.authorize(server, fixture, clientID: url).status == .ok)
            let (tenantID, policy) = (fixture.tenant.id, fixture.tenant.policy)
            let result = try await TestEnvironment.withDatabase { database in
                let reaper = ClientReaper(repository: PostgresClientReaperRepository(database: database),
                                          now: { Date().addingTimeInterval(2 * 3600) }, logger: TestEnvironment.logger)
                return try await reaper.run(tenantID: tenantID, policy: policy)
            }
            #expect(result.disabled.contains(url))
            #expect(try await Self.storedClient(fixture, url)?.status == .disabled)
            try await Self.expire(fixture, url)
            #expect(try await Self.authorize(server, fixture, clientID: url).status == .ok)
            #expect(try await Self.storedClient(fixture, url)?.status == .active)
        }
    }

    @Test("Tenant isolation: a document's client stored for tenant A is not tenant B's; B fetches and stores its own")
    func tenantIsolation() async throws {
        let a = try await Self.fixture()
        let b = try await Self.fixture()
        try await Self.run { server, documents in
            let url = documents.url("/shared.json")
            documents.serve("/shared.json", json: Self.document(url))
            let first = try await Self.authorize(server, a, clientID: url)
            #expect(first.status == .ok)
            let before = try await Self.storedClient(b, url)
            #expect(before == nil)
            let second = try await Self.authorize(server, b, clientID: url)
            #expect(second.status == .ok)
            #expect(documents.hits("/shared.json") == 2)
            let stored = try await Self.storedClient(b, url)
            #expect(stored?.tenantID == b.tenant.id)
        }
    }
}
