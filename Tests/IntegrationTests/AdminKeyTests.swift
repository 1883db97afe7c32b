import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Admin keys through the management API: created and shown once, listed without secrets,
/// revoked, and their last use recorded.
@Suite("Admin API: keys")
struct AdminKeyTests {
    @Test("Admin API: a platform key creates tenant keys of every tenant role, and each works as its role")
    func platformCreatesTenantKeys() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            var presented: [String: String] = [:]
            for role in ["admin", "viewer", "service"] {
                let reply = try await admin.post("/tenants/\(tenant.slug)/keys", ["role": .string(role), "label": .string("\(role) key")])
                #expect(reply.status == .created, "\(role): \(reply.bodyText)")
                #expect(reply.header("Cache-Control") == "no-store")
                #expect(reply.object["role"]?.stringValue == role)
                #expect(reply.object["tenant"]?.stringValue == tenant.slug)
                #expect(reply.object["label"]?.stringValue == "\(role) key")
                #expect(reply.object["revoked"] == .bool(false))
                let key = try #require(reply.object["key"]?.stringValue)
                let id = try #require(reply.object["id"]?.stringValue)
                #expect(AdminKey.parse(key) == id)
                presented[role] = key
            }
            let base = "/tenants/\(tenant.slug)"
            let tenantAdmin = AdminCaller(server, key: try #require(presented["admin"]))
            let viewer = AdminCaller(server, key: try #require(presented["viewer"]))
            let service = AdminCaller(server, key: try #require(presented["service"]))
            #expect(try await tenantAdmin.post("\(base)/initial-access-tokens", [:]).status == .created)
            #expect(try await viewer.get(base).status == .ok)
            AdminProblem.expect(try await viewer.post("\(base)/initial-access-tokens", [:]), .forbidden)
            AdminProblem.expect(try await service.get(base), .forbidden)
            #expect(try await service.post("\(base)/clients/authenticate", ["client_id": .string("nobody")]).status == .unauthorized,
                    "a service key reaches the client authentication API")
            // A tenant key cannot be a platform key.
            AdminProblem.expect(try await admin.post("\(base)/keys", ["role": .string("platform")]), .validation, field: "role")
        }
    }

    @Test("Admin API: a tenant admin creates its tenant's keys; a viewer cannot create keys")
    func tenantAdminCreatesKeys() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenant.id), (.viewer, tenant.id), (.service, tenant.id)])
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: keys[0].presented)
            let path = "/tenants/\(tenant.slug)/keys"
            for role in ["admin", "viewer", "service"] {
                let reply = try await admin.post(path, ["role": .string(role)])
                #expect(reply.status == .created, "\(role): \(reply.bodyText)")
                let created = try #require(reply.object["key"]?.stringValue)
                #expect(try await AdminCaller(server, key: created).get("/tenants/\(tenant.slug)").status == (role == "service" ? .forbidden : .ok))
            }
            AdminProblem.expect(try await admin.post(path, ["role": .string("platform")]), .validation, field: "role")
            AdminProblem.expect(try await admin.post(path, ["role": .string("owner")]), .validation, field: "role")
            AdminProblem.expect(try await admin.post(path, [:]), .validation, field: "role")

            let countBefore = try await admin.get(path).adminItems.count
            AdminProblem.expect(try await AdminCaller(server, key: keys[1].presented).post(path, ["role": .string("viewer")]), .forbidden)
            AdminProblem.expect(try await AdminCaller(server, key: keys[1].presented).post(path, ["role": .string("admin")]), .forbidden)
            AdminProblem.expect(try await AdminCaller(server, key: keys[2].presented).post(path, ["role": .string("admin")]), .forbidden)
            #expect(try await admin.get(path).adminItems.count == countBefore, "no key was created by the refused requests")
        }
    }

    @Test("Admin API: key lists never show secrets or hashes")
    func listShowsNoSecrets() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let created = try await admin.post("/tenants/\(tenant.slug)/keys", ["role": .string("viewer"), "label": .string("listed")])
            let presented = try #require(created.object["key"]?.stringValue)
            let id = try #require(created.object["id"]?.stringValue)
            let secret = String(try #require(presented.split(separator: ".").last))

            let listed = try await AdminCaller(server, key: presented).get("/tenants/\(tenant.slug)/keys")
            #expect(listed.status == .ok)
            let item = try #require(listed.adminItems.first { $0["id"]?.stringValue == id })
            #expect(item["label"]?.stringValue == "listed")
            #expect(item["role"]?.stringValue == "viewer")
            #expect(item["tenant"]?.stringValue == tenant.slug)
            for hidden in ["key", "secret", "secret_hash", "hash"] { #expect(item[hidden] == nil, "\(hidden) shown") }
            #expect(!listed.bodyText.contains(secret))
            #expect(!listed.bodyText.contains("$argon2"))

            let platformList = try await admin.get("/keys")
            #expect(!platformList.bodyText.contains(String(platform.split(separator: ".").last ?? "")))
            #expect(!platformList.bodyText.contains("$argon2"))
        }
    }

    @Test("Admin API: a revoked key stops working and is listed as revoked; only admins of its tenant or the platform may revoke it")
    func revokeKey() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let other = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenant.id), (.viewer, tenant.id), (.service, tenant.id), (.admin, other.id)])
        let (admin, viewer, service, otherAdmin) = (keys[0], keys[1], keys[2], keys[3])
        try await AdminFixture.run { server in
            // Another tenant's admin cannot even see the key; a viewer or service key may not revoke.
            AdminProblem.expect(try await AdminCaller(server, key: otherAdmin.presented).delete("/keys/\(viewer.key.id)"), .notFound)
            AdminProblem.expect(try await AdminCaller(server, key: viewer.presented).delete("/keys/\(service.key.id)"), .forbidden)
            AdminProblem.expect(try await AdminCaller(server, key: service.presented).delete("/keys/\(viewer.key.id)"), .forbidden)
            #expect(try await AdminCaller(server, key: viewer.presented).get("/tenants/\(tenant.slug)").status == .ok)

            let revoked = try await AdminCaller(server, key: admin.presented).delete("/keys/\(viewer.key.id)")
            #expect(revoked.status == .noContent, "\(revoked.bodyText)")
            AdminProblem.expect(try await AdminCaller(server, key: viewer.presented).get("/tenants/\(tenant.slug)"), .unauthorized)
            let item = try #require(try await AdminCaller(server, key: admin.presented).get("/tenants/\(tenant.slug)/keys")
                .adminItems.first { $0["id"]?.stringValue == viewer.key.id })
            #expect(item["revoked"] == .bool(true))
            #expect(item["revoked_at"]?.stringValue != nil)
            AdminProblem.expect(try await AdminCaller(server, key: admin.presented).delete("/keys/\(viewer.key.id)"), .notFound)
            // A tenant admin cannot revoke a platform key.
            let platform = try await AdminFixture.keyRecord(.platform)
            AdminProblem.expect(try await AdminCaller(server, key: admin.presented).delete("/keys/\(platform.key.id)"), .notFound)
            #expect(try await AdminCaller(server, key: platform.presented).get("/keys").status == .ok)
        }
    }

    @Test("Admin API: last_used_at appears on a key after it is used")
    func lastUsedAt() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenant.id), (.viewer, tenant.id)])
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: keys[0].presented)
            let listBefore = try await admin.get("/tenants/\(tenant.slug)/keys").adminItems
            let viewerBefore = try #require(listBefore.first { $0["id"]?.stringValue == keys[1].key.id })
            #expect(viewerBefore["last_used_at"] == nil)
            let adminItem = try #require(listBefore.first { $0["id"]?.stringValue == keys[0].key.id })
            #expect(adminItem["last_used_at"] != nil, "the request that listed the keys used the admin key")

            let before = Date().addingTimeInterval(-2)
            #expect(try await AdminCaller(server, key: keys[1].presented).get("/tenants/\(tenant.slug)").status == .ok)
            let viewerAfter = try #require(try await admin.get("/tenants/\(tenant.slug)/keys").adminItems.first { $0["id"]?.stringValue == keys[1].key.id })
            let used = try #require(viewerAfter["last_used_at"]?.stringValue)
            let date = try Date.ISO8601FormatStyle().parse(used)
            #expect(date >= before.addingTimeInterval(-1) && date <= Date().addingTimeInterval(2))
        }
    }

    @Test("Admin API: platform keys are created, listed and revoked by platform keys only")
    func platformKeys() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        let tenantAdmin = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let created = try await admin.post("/keys", ["role": .string("platform"), "label": .string("second operator")])
            #expect(created.status == .created, "\(created.bodyText)")
            #expect(created.object["tenant"] == nil)
            let id = try #require(created.object["id"]?.stringValue)
            let presented = try #require(created.object["key"]?.stringValue)
            AdminProblem.expect(try await admin.post("/keys", ["role": .string("admin")]), .validation, field: "role")

            let listed = try await AdminCaller(server, key: presented).get("/keys")
            #expect(listed.status == .ok)
            let item = try #require(listed.adminItems.first { $0["id"]?.stringValue == id })
            #expect(item["role"]?.stringValue == "platform")
            #expect(item["label"]?.stringValue == "second operator")
            #expect(item["key"] == nil)
            #expect(listed.adminItems.allSatisfy { $0["role"]?.stringValue == "platform" && $0["tenant"] == nil })
            #expect(!listed.bodyText.contains(String(presented.split(separator: ".").last ?? "")))

            AdminProblem.expect(try await AdminCaller(server, key: tenantAdmin).get("/keys"), .forbidden)
            AdminProblem.expect(try await AdminCaller(server, key: tenantAdmin).post("/keys", ["role": .string("platform")]), .forbidden)

            #expect(try await admin.delete("/keys/\(id)").status == .noContent)
            AdminProblem.expect(try await AdminCaller(server, key: presented).get("/keys"), .unauthorized)
            let after = try #require(try await admin.get("/keys").adminItems.first { $0["id"]?.stringValue == id })
            #expect(after["revoked"] == .bool(true))
        }
    }
}
