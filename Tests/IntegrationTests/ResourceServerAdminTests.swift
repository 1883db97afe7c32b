import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Item 6 of the authorization server: a tenant's resource servers through the management API,
/// and what each must publish (RFC 9728) so that MCP clients find the tenant's issuer.
@Suite("Resource servers: admin API")
struct ResourceServerAdminTests {
    @Test("Resource servers: create shows the credential once; read, list, change and delete never show it; every change is audited")
    func lifecycle() async throws {
        let tenant = try await ResourceFixture.tenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let create = try await admin.post(ResourceFixture.path(tenant), ResourceFixture.body([
                "resource": "https://MCP.Example.com/mcp", "display_name": "Acme MCP", "scopes": ResourceFixture.scopes,
            ]))
            #expect(create.status == .created, "\(create.bodyText)")
            #expect(create.header("Cache-Control") == "no-store")
            let created = create.object
            let id = try #require(created["id"]?.stringValue)
            let credential = try #require(created["credential"]?.stringValue)
            #expect(ResourceServer.isIssuedID(id))
            #expect(ResourceServer.isCredentialShaped(credential))
            #expect(create.header("Location") == "/admin/v1" + ResourceFixture.path(tenant, "/\(id)"))
            #expect(created["resource"] == .string("https://mcp.example.com/mcp"), "scheme and host are stored in lower case")
            #expect(created["display_name"] == .string("Acme MCP"))
            #expect(created["default"] == .bool(false))
            expectNoEmptyValues(create.json!)

            let read = try await admin.get(ResourceFixture.path(tenant, "/\(id)"))
            #expect(read.status == .ok)
            #expect(read.object["credential"] == nil)
            #expect(!read.bodyText.contains(credential))
            #expect(!read.bodyText.contains("argon2"), "no hash either")
            let list = try await admin.get(ResourceFixture.path(tenant))
            #expect(list.adminItems.map { $0["id"]?.stringValue } == [id])
            #expect(!list.bodyText.contains(credential))
            #expect(list.adminItems.first?["credential"] == nil)

            let changed = try await admin.patch(ResourceFixture.path(tenant, "/\(id)"), ResourceFixture.body(["display_name": "Acme tools", "scopes": ["mcp:tools"]]))
            #expect(changed.status == .ok, "\(changed.bodyText)")
            #expect(changed.object["display_name"] == .string("Acme tools"))
            #expect(changed.object["scopes"] == .array([.string("mcp:tools")]))
            #expect(changed.object["resource"] == .string("https://mcp.example.com/mcp"), "absent members stay as they are")
            #expect(changed.object["protected_resource_metadata"]?.objectValue?["scopes_supported"] == .array([.string("mcp:tools")]))

            let rotated = try await admin.post(ResourceFixture.path(tenant, "/\(id)/credential"))
            #expect(rotated.status == .ok)
            let fresh = try #require(rotated.object["credential"]?.stringValue)
            #expect(fresh != credential && ResourceServer.isCredentialShaped(fresh))

            #expect(try await admin.delete(ResourceFixture.path(tenant, "/\(id)")).status == .noContent)
            AdminProblem.expect(try await admin.get(ResourceFixture.path(tenant, "/\(id)")), .notFound)
            AdminProblem.expect(try await admin.delete(ResourceFixture.path(tenant, "/\(id)")), .notFound)
            AdminProblem.expect(try await admin.post(ResourceFixture.path(tenant, "/\(id)/credential")), .notFound)

            let audit = try await admin.get("/tenants/\(tenant.slug)/audit")
            let actions = audit.adminItems.compactMap { $0["action"]?.stringValue }
            for action in ["resource_server.created", "resource_server.updated", "resource_server.credential_rotated", "resource_server.deleted"] {
                #expect(actions.contains(action), "\(action) missing from \(actions)")
            }
            let createdEvent = audit.adminItems.first { $0["action"] == .string("resource_server.created") }
            #expect(createdEvent?["details"]?.objectValue?["resource_server_id"] == .string(id))
            #expect(!audit.bodyText.contains(credential) && !audit.bodyText.contains(fresh), "credentials never reach the audit log")
        }
    }

    static let invalidBodies: [(String, [String: JSONValue], String)] = [
        ("no resource", ResourceFixture.body(["display_name": "x"]), "resource"),
        ("no display name", ResourceFixture.body(["resource": "https://mcp.example.com/mcp"]), "display_name"),
        ("blank display name", ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "  "]), "display_name"),
        ("resource not a string", ResourceFixture.body(["resource": 5, "display_name": "x"]), "resource"),
        ("relative resource", ResourceFixture.body(["resource": "/mcp", "display_name": "x"]), "resource"),
        ("fragment", ResourceFixture.body(["resource": "https://mcp.example.com/mcp#x", "display_name": "x"]), "resource"),
        ("query", ResourceFixture.body(["resource": "https://mcp.example.com/mcp?x=1", "display_name": "x"]), "resource"),
        ("http off loopback", ResourceFixture.body(["resource": "http://mcp.example.com/mcp", "display_name": "x"]), "resource"),
        ("other scheme", ResourceFixture.body(["resource": "urn:example:mcp", "display_name": "x"]), "resource"),
        ("scopes not an array", ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "x", "scopes": "mcp:tools"]), "scopes"),
        ("scope not a string", ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "x", "scopes": [1]]), "scopes"),
        ("scope with a quote", ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "x", "scopes": ["a\"b"]]), "scopes"),
        ("scope twice", ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "x", "scopes": ["mcp:tools", "mcp:tools"]]), "scopes"),
        ("scope the policy does not allow", ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "x", "scopes": ["admin:all"]]), "scopes"),
        ("default not a boolean", ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "x", "default": "yes"]), "default"),
        ("unknown member", ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "x", "credential": "rss_mine"]), "credential"),
    ]

    @Test("Resource servers: each invalid registration is a 400 problem naming its field, and stores nothing", arguments: invalidBodies)
    func invalidRegistration(_ name: String, _ body: [String: JSONValue], _ field: String) async throws {
        let tenant = try await ResourceFixture.tenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            AdminProblem.expect(try await admin.post(ResourceFixture.path(tenant), body), .validation, field: field)
            #expect(try await admin.get(ResourceFixture.path(tenant)).adminItems.isEmpty, "\(name): nothing stored")
        }
    }

    @Test("Resource servers: a second URL equal in canonical form is a 409, on create and on change; bad ?issuer= is 400")
    func duplicatesAndIssuerChoice() async throws {
        let tenant = try await ResourceFixture.tenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            _ = try await ResourceFixture.create(admin, tenant, ResourceFixture.body(["resource": "https://mcp.example.com/mcp", "display_name": "One"]))
            for spelling in ["https://MCP.EXAMPLE.COM/mcp", "https://mcp.example.com:443/mcp/", "HTTPS://mcp.example.com/mcp"] {
                AdminProblem.expect(try await admin.post(ResourceFixture.path(tenant), ResourceFixture.body(["resource": spelling, "display_name": "Again"])), .conflict)
            }
            let other = try await ResourceFixture.create(admin, tenant, ResourceFixture.body(["resource": "https://mcp.example.com/other", "display_name": "Two"]))
            let otherID = try #require(other["id"]?.stringValue)
            AdminProblem.expect(try await admin.patch(ResourceFixture.path(tenant, "/\(otherID)"), ResourceFixture.body(["resource": "https://mcp.example.com/mcp/"])), .conflict)
            #expect(try await admin.get(ResourceFixture.path(tenant, "/\(otherID)")).object["resource"] == .string("https://mcp.example.com/other"),
                    "a refused change changes nothing")
            AdminProblem.expect(try await admin.patch(ResourceFixture.path(tenant, "/\(otherID)"), ResourceFixture.body(["resource": "ftp://x"])), .validation, field: "resource")
            AdminProblem.expect(try await admin.get(ResourceFixture.path(tenant, "/\(otherID)?issuer=https://evil.example")), .validation, field: "issuer")
            AdminProblem.expect(try await admin.get(ResourceFixture.path(tenant, "/rs_notanid")), .notFound)
            AdminProblem.expect(try await admin.get(ResourceFixture.path(tenant, "?cursor=garbage")), .validation, field: "cursor")
        }
    }

    @Test("RFC 9728: the document is byte-exact, and authorization_servers[0] is the issuer the tenant's own metadata names, for path, subdomain and custom-domain tenants",
          arguments: ResolutionMode.allCases)
    func protectedResourceMetadata(_ mode: ResolutionMode) async throws {
        let domain = "\(TestEnvironment.uniqueSlug("rs")).customer.test"
        let tenant = try await ResourceFixture.tenant(domains: mode == .customDomain ? [domain] : [])
        let key = try await AdminFixture.key(.admin, for: tenant)
        let (host, prefix, issuer) = mode.location(of: tenant, customDomain: domain)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let created = try await ResourceFixture.create(admin, tenant, ResourceFixture.body([
                "resource": "https://MCP.example.com/mcp/", "display_name": "Acme \"MCP\"", "scopes": ["mcp:tools", "mcp:resources"],
            ]), query: "?issuer=\(issuer)")
            let id = try #require(created["id"]?.stringValue)

            // The tenant's own RFC 8414 metadata, fetched where clients fetch it.
            let wellKnown = prefix.isEmpty ? "/.well-known/oauth-authorization-server" : "/.well-known/oauth-authorization-server\(prefix)"
            let metadata = try await server.get(wellKnown, host: host)
            try #require(metadata.status == .ok, "\(metadata.bodyText)")
            let announced = try #require(metadata.object["issuer"]?.stringValue)
            #expect(announced == issuer)

            let expected = "{\"authorization_servers\":[\"\(announced)\"],\"bearer_methods_supported\":[\"header\"],"
                + "\"resource\":\"https://mcp.example.com/mcp/\",\"resource_name\":\"Acme \\\"MCP\\\"\",\"scopes_supported\":[\"mcp:tools\",\"mcp:resources\"]}"
            #expect(created["protected_resource_metadata"]?.encodedString() == expected)
            #expect(created["issuer"] == .string(announced))
            #expect(created["jwks_uri"] == .string(announced + "/jwks.json"))
            #expect(created["introspection_endpoint"] == .string(announced + "/introspect"))
            #expect(created["protected_resource_metadata_url"] == .string("https://mcp.example.com/.well-known/oauth-protected-resource/mcp/"))
            #expect(created["www_authenticate"]?.stringValue
                == "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp/\", scope=\"mcp:tools mcp:resources\"")

            let document = try await admin.get(ResourceFixture.path(tenant, "/\(id)/protected-resource-metadata?issuer=\(issuer)"))
            #expect(document.status == .ok)
            #expect(document.header("Content-Type")?.hasPrefix("application/json") == true)
            #expect(document.bodyText == expected, "served exactly as the MCP server must serve it")
            let read = try await admin.get(ResourceFixture.path(tenant, "/\(id)?issuer=\(issuer)"))
            #expect(read.object["protected_resource_metadata"]?.encodedString() == expected)
        }
    }

    @Test("RFC 9728: without ?issuer= the documents name the tenant's own host (custom domain, else subdomain), which its metadata announces")
    func preferredIssuer() async throws {
        let domain = "\(TestEnvironment.uniqueSlug("rs")).customer.test"
        let withDomain = try await ResourceFixture.tenant(domains: [domain])
        let plain = try await ResourceFixture.tenant()
        let keyA = try await AdminFixture.key(.admin, for: withDomain)
        let keyB = try await AdminFixture.key(.admin, for: plain)
        try await AdminFixture.run { server in
            let a = try await ResourceFixture.create(AdminCaller(server, key: keyA), withDomain, ["resource": "https://a.example/mcp", "display_name": "A"])
            #expect(a["issuer"] == .string("https://\(domain)"))
            let b = try await ResourceFixture.create(AdminCaller(server, key: keyB), plain, ["resource": "https://b.example/mcp", "display_name": "B"])
            let issuer = "https://\(plain.slug).\(TestServer.baseDomain)"
            #expect(b["issuer"] == .string(issuer))
            let metadata = try await server.get("/.well-known/oauth-authorization-server", host: "\(plain.slug).\(TestServer.baseDomain)")
            #expect(metadata.object["issuer"] == .string(issuer))
            #expect(b["protected_resource_metadata"]?.objectValue?["authorization_servers"] == .array([.string(issuer)]))
        }
    }

    @Test("RFC 9728 §3.1 / MCP 2025-11-25: the challenge names the metadata URL, and a scope only when the server has scopes")
    func challengeWithoutScopes() async throws {
        let tenant = try await ResourceFixture.tenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let created = try await ResourceFixture.create(AdminCaller(server, key: key), tenant, ["resource": "https://mcp.example.com", "display_name": "Root"])
            #expect(created["www_authenticate"]?.stringValue == "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource\"")
            #expect(created["protected_resource_metadata"]?.objectValue?["scopes_supported"] == nil)
            #expect(created["scopes"] == nil)
        }
    }

    @Test("Resource servers: making one the default takes the mark from the previous default; defaultAudience follows")
    func defaultAudience() async throws {
        let tenant = try await ResourceFixture.tenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let audience = { try await TestEnvironment.withDatabase { try await PostgresResourceServerRepository(database: $0).defaultAudience(tenant: tenant.id) } }
            #expect(try await audience() == nil, "no resource server: the caller uses the issuer")
            let first = try #require(try await ResourceFixture.create(admin, tenant, ResourceFixture.body(["resource": "https://one.example/mcp", "display_name": "One"]))["id"]?.stringValue)
            #expect(try await audience()?.id == first, "the only one is the default audience")
            let second = try #require(try await ResourceFixture.create(admin, tenant, ResourceFixture.body(["resource": "https://two.example/mcp", "display_name": "Two"]))["id"]?.stringValue)
            #expect(try await audience() == nil, "two and none marked: no default")
            _ = try await ResourceFixture.create(admin, tenant, ResourceFixture.body(["resource": "https://three.example/mcp", "display_name": "Three", "default": true]))
            #expect(try await audience()?.audience == "https://three.example/mcp")
            let marked = try await admin.patch(ResourceFixture.path(tenant, "/\(second)"), ResourceFixture.body(["default": true]))
            #expect(marked.object["default"] == .bool(true))
            #expect(try await audience()?.id == second)
            let all = try await admin.get(ResourceFixture.path(tenant)).adminItems
            #expect(all.filter { $0["default"] == .bool(true) }.compactMap { $0["id"]?.stringValue } == [second], "exactly one default")
            #expect(try await admin.patch(ResourceFixture.path(tenant, "/\(second)"), ResourceFixture.body(["default": false])).object["default"] == .bool(false))
            #expect(try await audience() == nil)
        }
    }

    @Test("Resource servers: pages of the list have no duplicates and no gaps")
    func pagination() async throws {
        let tenant = try await ResourceFixture.tenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try #require(try await ResourceFixture.create(admin, tenant, ResourceFixture.body(["resource": "https://h.example/mcp\(index)", "display_name": "S"]))["id"]?.stringValue))
            }
            let pages = try await admin.pages(ResourceFixture.path(tenant), limit: 2)
            #expect(pages.count == 3)
            #expect(pages.flatMap { $0 }.compactMap { $0.objectValue?["id"]?.stringValue } == ids, "oldest first, each once")
        }
    }

    @Test("Resource servers: a viewer reads but cannot change; another tenant's key sees nothing (404)")
    func access() async throws {
        let tenantA = try await ResourceFixture.tenant()
        let tenantB = try await ResourceFixture.tenant()
        let adminA = try await AdminFixture.key(.admin, for: tenantA)
        let viewerA = try await AdminFixture.key(.viewer, for: tenantA)
        let adminB = try await AdminFixture.key(.admin, for: tenantB)
        try await AdminFixture.run { server in
            let id = try #require(try await ResourceFixture.create(AdminCaller(server, key: adminA), tenantA,
                                                                  ["resource": "https://a.example/mcp", "display_name": "A"])["id"]?.stringValue)
            let viewer = AdminCaller(server, key: viewerA)
            #expect(try await viewer.get(ResourceFixture.path(tenantA, "/\(id)")).status == .ok)
            AdminProblem.expect(try await viewer.post(ResourceFixture.path(tenantA), ResourceFixture.body(["resource": "https://v.example", "display_name": "V"])), .forbidden)
            AdminProblem.expect(try await viewer.post(ResourceFixture.path(tenantA, "/\(id)/credential")), .forbidden)
            AdminProblem.expect(try await viewer.delete(ResourceFixture.path(tenantA, "/\(id)")), .forbidden)

            let other = AdminCaller(server, key: adminB)
            AdminProblem.expect(try await other.get(ResourceFixture.path(tenantA)), .notFound)
            AdminProblem.expect(try await other.get(ResourceFixture.path(tenantA, "/\(id)")), .notFound)
            AdminProblem.expect(try await other.get(ResourceFixture.path(tenantB, "/\(id)")), .notFound)
            AdminProblem.expect(try await other.delete(ResourceFixture.path(tenantB, "/\(id)")), .notFound)
            AdminProblem.expect(try await other.post(ResourceFixture.path(tenantB, "/\(id)/credential")), .notFound)
            #expect(try await other.get(ResourceFixture.path(tenantB)).adminItems.isEmpty)
            AdminProblem.expect(try await AdminCaller(server, key: nil).get(ResourceFixture.path(tenantA)), .unauthorized)
            #expect(try await AdminCaller(server, key: adminA).get(ResourceFixture.path(tenantA, "/\(id)")).status == .ok, "still there")
        }
    }

    @Test("Security: RLS shows tenant B's transaction none of tenant A's resource servers; the repository finds them only in A")
    func rowLevelSecurity() async throws {
        let tenantA = try await ResourceFixture.tenant()
        let tenantB = try await ResourceFixture.tenant()
        let key = try await AdminFixture.key(.admin, for: tenantA)
        let id = try await AdminFixture.run { server in
            try #require(try await ResourceFixture.create(AdminCaller(server, key: key), tenantA,
                                                         ["resource": "https://a.example/mcp", "display_name": "A", "default": true])["id"]?.stringValue)
        }
        let logger = TestEnvironment.logger
        try await TestEnvironment.withDatabase { database in
            let unfiltered = try await database.withTenant(tenantB.id) { connection in
                try await connection.run("SELECT count(*)::integer FROM resource_servers", logger: logger).first!.decode(Int.self)
            }
            #expect(unfiltered == 0, "no tenant filter at all: RLS alone hides A's rows")
            let seenByA = try await database.withTenant(tenantA.id) { connection in
                try await connection.run("SELECT resource_id FROM resource_servers", logger: logger).map { try $0.decode(String.self) }
            }
            #expect(seenByA == [id])
            let written = try await database.withTenant(tenantB.id) { connection in
                try await connection.run("UPDATE resource_servers SET display_name = 'taken' WHERE resource_id = \(id) RETURNING resource_id", logger: logger).count
            }
            #expect(written == 0)
            let repository = PostgresResourceServerRepository(database: database)
            #expect(try await repository.find(id: id, tenant: tenantB.id) == nil)
            #expect(try await repository.find(uri: "https://A.example/mcp/", tenant: tenantB.id) == nil)
            #expect(try await repository.defaultAudience(tenant: tenantB.id) == nil)
            #expect(try await repository.find(uri: "https://A.example/mcp/", tenant: tenantA.id)?.id == id, "found in A by any spelling")
            #expect(try await repository.find(uri: "https://a.example/mcp#x", tenant: tenantA.id) == nil, "a malformed resource names nothing")
            #expect(try await repository.list(tenant: tenantB.id).isEmpty)
        }
    }
}
