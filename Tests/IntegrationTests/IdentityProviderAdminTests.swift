import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// A tenant's upstream OpenID providers through the management API.
@Suite("Identity providers: admin API")
struct IdentityProviderAdminTests {
    static func path(_ tenant: Tenant, _ rest: String = "") -> String { "/tenants/\(tenant.slug)/identity-providers" + rest }

    static func body(_ changes: [String: JSONValue] = [:]) -> [String: JSONValue] {
        var body: [String: JSONValue] = [
            "id": .string("entra"), "display_name": .string("Contoso"), "issuer": .string("https://login.example/organizations/v2.0"),
            "client_id": .string("a-client"), "client_secret": .string("the-upstream-secret-value"),
            "allowed_email_domains": .array([.string("contoso.example")]),
        ]
        for (name, value) in changes { body[name] = value }
        return body
    }

    @Test("Create seals the secret and never shows it; list, get and delete; changes are audited; another tenant sees none")
    func lifecycle() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let other = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        let otherKey = try await AdminFixture.key(.admin, for: other)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let created = try await admin.post(Self.path(tenant), Self.body())
            #expect(created.status == .created, "\(created.bodyText)")
            #expect(created.header("Location") == "/admin/v1" + Self.path(tenant, "/entra"))
            #expect(!created.bodyText.contains("the-upstream-secret-value"))
            #expect(created.object["scopes"] == .array([.string("openid"), .string("email"), .string("profile")]))
            #expect(created.object["redirect_uris"]?.arrayValue?.contains(.string("http://localhost/t/\(tenant.slug)/signin/callback")) == true)
            let sealed = try await TestEnvironment.withDatabase { database in
                try await PostgresIdentityProviderRepository(database: database).find(id: "entra", tenant: tenant.id)?.sealedSecret
            }
            let stored = try #require(sealed)
            #expect(!String(decoding: stored, as: UTF8.self).contains("the-upstream-secret-value"))
            let opened = try TestServer.keyEncryptionKey.open(stored, purpose: IdentityProvider.secretPurpose, tenantID: tenant.id, binding: "entra")
            #expect(String(decoding: opened, as: UTF8.self) == "the-upstream-secret-value")
            #expect(throws: (any Error).self) {
                _ = try TestServer.keyEncryptionKey.open(stored, purpose: IdentityProvider.secretPurpose, tenantID: other.id, binding: "entra")
            }

            #expect(try await admin.post(Self.path(tenant), Self.body()).status == .conflict)
            let list = try await admin.get(Self.path(tenant))
            #expect(list.adminItems.map { $0["id"]?.stringValue } == ["entra"])
            #expect(!list.bodyText.contains("the-upstream-secret-value"))
            #expect(try await admin.get(Self.path(tenant, "/entra")).object["allowed_email_domains"] == .array([.string("contoso.example")]))

            // Tenant isolation: the other tenant's admin sees and deletes nothing of it.
            let outsider = AdminCaller(server, key: otherKey)
            #expect(try await outsider.get(Self.path(other)).adminItems.isEmpty)
            let foreign = try await outsider.get(Self.path(tenant))
            #expect(foreign.status == .forbidden || foreign.status == .notFound, "\(foreign.status)")
            #expect(!foreign.bodyText.contains("Contoso"))
            #expect(try await outsider.get(Self.path(other, "/entra")).status == .notFound)
            #expect(try await outsider.delete(Self.path(other, "/entra")).status == .notFound)

            #expect(try await admin.delete(Self.path(tenant, "/entra")).status == .noContent)
            #expect(try await admin.get(Self.path(tenant, "/entra")).status == .notFound)
            #expect(try await admin.delete(Self.path(tenant, "/entra")).status == .notFound)
            let audited = try await TokenFixture.count(tenant, "audit_events", where: "action IN ('identity_provider.created', 'identity_provider.deleted')")
            #expect(audited == 2)
        }
    }

    static let invalidBodies: [(String, [String: JSONValue], String)] = [
        ("http issuer", ["issuer": .string("http://login.example")], "issuer"),
        ("bad id", ["id": .string("-x")], "id"),
        ("no secret", ["client_secret": .null], "client_secret"),
        ("unknown member", ["roles": .bool(true)], "roles"),
    ]

    @Test("Each invalid provider is a 400 problem naming its member, and stores nothing", arguments: invalidBodies)
    func invalid(_ name: String, _ changes: [String: JSONValue], _ field: String) async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let reply = try await AdminCaller(server, key: key).post(Self.path(tenant), Self.body(changes))
            #expect(reply.status == .badRequest, "\(name): \(reply.bodyText)")
            #expect(reply.header("Content-Type")?.hasPrefix("application/problem+json") == true)
            #expect(reply.bodyText.contains(field), "\(name)")
            #expect(try await TokenFixture.count(tenant, "identity_providers") == 0)
        }
    }
}
