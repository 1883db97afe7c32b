import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Tenants through the management API: create, read, list, change, domains, delete.
@Suite("Admin API: tenants")
struct AdminTenantTests {
    @Test("Admin API: POST /tenants creates a tenant and GET returns it with the same ETag")
    func createAndGet() async throws {
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let slug = TestEnvironment.uniqueSlug("adm")
            let domain = "\(slug).customer.test"
            let created = try await admin.post("/tenants", ["slug": .string(slug), "display_name": .string("Acme Corp"),
                                                            "domains": .array([.string(domain.uppercased())])])
            #expect(created.status == .created, "\(created.bodyText)")
            #expect(created.header("Content-Type") == "application/json")
            #expect(created.header("Cache-Control") == "no-store")
            let body = created.object
            #expect(body["slug"]?.stringValue == slug)
            #expect(body["display_name"]?.stringValue == "Acme Corp")
            #expect(body["status"]?.stringValue == "active")
            #expect(body["domains"] == .array([.string(domain)]), "domains are stored lower-cased")
            #expect(body["issuer"]?.stringValue == "http://localhost/t/\(slug)")
            let id = try #require(body["id"]?.stringValue)
            #expect(UUID(uuidString: id) != nil)
            #expect(body["created_at"]?.stringValue.flatMap { try? Date.ISO8601FormatStyle().parse($0) } != nil)
            let etag = try #require(created.header("ETag"))
            #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))

            let read = try await admin.get("/tenants/\(slug)")
            #expect(read.status == .ok)
            #expect(read.header("ETag") == etag)
            #expect(read.object == body)

            // The new tenant serves OAuth at once, at its path and at its domain.
            let metadata = try await server.get("/t/\(slug)/.well-known/oauth-authorization-server")
            #expect(metadata.status == .ok)
            #expect(metadata.object["issuer"]?.stringValue == "http://localhost/t/\(slug)")

            // Without a display name the slug is used.
            let bare = TestEnvironment.uniqueSlug("adm")
            let plain = try await admin.post("/tenants", ["slug": .string(bare)])
            #expect(plain.object["display_name"]?.stringValue == bare)
            #expect(plain.object["domains"] == .array([]))
        }
    }

    @Test("Admin API: GET /tenants pages by slug without duplicates and shows every tenant once")
    func listWithPagination() async throws {
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            // Slugs that sort early ("0…"), so that the first small pages reach them.
            let stem = "0adm-" + String(TestEnvironment.uniqueSlug("x").dropFirst(2).prefix(8))
            let mine = (1...5).map { "\(stem)-\($0)" }
            for slug in mine {
                #expect(try await admin.post("/tenants", ["slug": .string(slug)]).status == .created)
            }
            // Small pages first, then large ones from the same cursor chain.
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let limit = pages < 4 ? 2 : 200
                var path = "/tenants?limit=\(limit)"
                if let cursor { path += "&cursor=\(cursor)" }
                let reply = try await admin.get(path)
                try #require(reply.status == .ok, "\(reply.bodyText)")
                let items = reply.adminItems
                #expect(items.count <= limit)
                if reply.object["next_cursor"] != nil { #expect(items.count == limit, "a page with a next cursor is full") }
                seen += items.compactMap { $0["slug"]?.stringValue }
                cursor = reply.object["next_cursor"]?.stringValue
                pages += 1
                try #require(pages < 500)
            } while cursor != nil
            #expect(Set(seen).count == seen.count, "a slug appeared on two pages")
            let found = seen.filter { $0.hasPrefix(stem) }
            #expect(found == mine)
        }
    }

    @Test("Admin API: PATCH changes the name and status; a suspended tenant's OAuth endpoints answer 404")
    func patchNameAndStatus() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let path = "/tenants/\(tenant.slug)"
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            let before = try #require(try await admin.get(path).header("ETag"))

            let renamed = try await admin.patch(path, ["display_name": .string("Renamed Tenant")])
            #expect(renamed.status == .ok)
            #expect(renamed.object["display_name"]?.stringValue == "Renamed Tenant")
            #expect(renamed.object["status"]?.stringValue == "active")
            let afterRename = try #require(renamed.header("ETag"))
            #expect(afterRename != before)

            let metadataPath = "/t/\(tenant.slug)/.well-known/oauth-authorization-server"
            #expect(try await server.get(metadataPath).status == .ok)
            let suspended = try await admin.patch(path, ["status": .string("suspended")], headers: [.ifMatch: afterRename])
            #expect(suspended.status == .ok, "\(suspended.bodyText)")
            #expect(suspended.object["status"]?.stringValue == "suspended")
            #expect(suspended.object["display_name"]?.stringValue == "Renamed Tenant", "an omitted field keeps its value")

            #expect(try await server.get(metadataPath).status == .notFound)
            #expect(try await server.get("/.well-known/oauth-authorization-server/t/\(tenant.slug)").status == .notFound)
            #expect(try await AdminFixture.tryRegister(server, tenant, AdminFixture.publicClient()).status == .notFound)
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status
                    == .notFound)
            // The admin API still shows it.
            #expect(try await admin.get(path).object["status"]?.stringValue == "suspended")

            let reactivated = try await admin.patch(path, ["status": .string("active")])
            #expect(reactivated.status == .ok)
            #expect(try await server.get(metadataPath).status == .ok)
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status == .ok)
        }
    }

    @Test("Admin API: a custom domain added serves the tenant's metadata with that Host; removed, it is 404")
    func addAndRemoveDomain() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let domain = "\(TestEnvironment.uniqueSlug("auth")).customer.test"
            let metadataPath = "/.well-known/oauth-authorization-server"
            #expect(try await server.get(metadataPath, host: domain).status == .notFound)

            let etagBefore = try #require(try await admin.get("/tenants/\(tenant.slug)").header("ETag"))
            let added = try await admin.post("/tenants/\(tenant.slug)/domains", ["host": .string(domain)])
            #expect(added.status == .created, "\(added.bodyText)")
            #expect(added.header("ETag") != etagBefore, "the tenant changed, so its ETag did")
            AdminProblem.expect(try await admin.patch("/tenants/\(tenant.slug)", ["display_name": .string("Stale")], headers: [.ifMatch: etagBefore]),
                                .preconditionFailed)
            #expect(added.object["domains"] == .array([.string(domain)]))
            #expect(try await admin.get("/tenants/\(tenant.slug)").object["domains"] == .array([.string(domain)]))

            let metadata = try await server.get(metadataPath, host: domain)
            #expect(metadata.status == .ok, "\(metadata.bodyText)")
            #expect(metadata.object["issuer"]?.stringValue == "https://\(domain)")
            #expect(metadata.object["registration_endpoint"]?.stringValue == "https://\(domain)/register")

            let removed = try await admin.delete("/tenants/\(tenant.slug)/domains/\(domain)")
            #expect(removed.status == .noContent, "\(removed.bodyText)")
            #expect(try await admin.get("/tenants/\(tenant.slug)").object["domains"] == .array([]))
            #expect(try await server.get(metadataPath, host: domain).status == .notFound)
            AdminProblem.expect(try await admin.delete("/tenants/\(tenant.slug)/domains/\(domain)"), .notFound)
        }
    }

    @Test("Admin API: DELETE of an empty tenant succeeds and the tenant is gone")
    func deleteEmptyTenant() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        let tenantKey = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let deleted = try await admin.delete("/tenants/\(tenant.slug)")
            #expect(deleted.status == .noContent, "\(deleted.bodyText)")
            AdminProblem.expect(try await admin.get("/tenants/\(tenant.slug)"), .notFound)
            #expect(try await server.get("/t/\(tenant.slug)/.well-known/oauth-authorization-server").status == .notFound)
            // Its keys went with it.
            AdminProblem.expect(try await AdminCaller(server, key: tenantKey).get("/tenants/\(tenant.slug)"), .unauthorized)
            AdminProblem.expect(try await admin.delete("/tenants/\(tenant.slug)"), .notFound)
        }
    }

    @Test("Admin API: DELETE of a tenant with clients is refused, then ?cascade=true deletes it and its clients")
    func deleteWithCascade() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            _ = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            AdminProblem.expect(try await admin.delete("/tenants/\(tenant.slug)"), .conflict)
            #expect(try await AdminFixture.clientCount(tenant) == 2)

            let deleted = try await admin.delete("/tenants/\(tenant.slug)?cascade=true")
            #expect(deleted.status == .noContent, "\(deleted.bodyText)")
            AdminProblem.expect(try await admin.get("/tenants/\(tenant.slug)"), .notFound)
            #expect(try await AdminFixture.clientCount(tenant) == 0)
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status
                    == .notFound)
        }
    }
}
