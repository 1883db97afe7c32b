import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Platform actions (tenants, domains, platform keys) leave a trail in a log of their own, which
/// deleting a tenant, with cascade=true too, does not erase; platform keys read it at /admin/v1/audit.
@Suite("Platform audit log")
struct PlatformAuditTests {
    /// Every event about `slug`, newest first, read through the API.
    static func events(_ admin: AdminCaller, tenant slug: String) async throws -> [[String: JSONValue]] {
        try await admin.pages("/audit?tenant=\(slug)", limit: 2).flatMap { $0 }.compactMap(\.objectValue)
    }

    @Test("Platform audit: a tenant's creation, rename, domains and cascade deletion are recorded with the platform key, request id and source, and outlive the tenant")
    func tenantLifecycleIsAuditedAndSurvivesCascade() async throws {
        let (platformKey, platform) = try await AdminFixture.keyRecord(.platform)
        let slug = TestEnvironment.uniqueSlug("pa")
        let domain = "\(slug).customer.test"
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let created = try await admin.post("/tenants", ["slug": .string(slug), "display_name": .string("Before")])
            try #require(created.status == .created, "\(created.bodyText)")
            let etag = try #require(created.header("ETag"))
            let renamed = try await admin.patch("/tenants/\(slug)", ["display_name": .string("After")], headers: [.ifMatch: etag])
            try #require(renamed.status == .ok, "\(renamed.bodyText)")
            try #require(try await admin.post("/tenants/\(slug)/domains", ["host": .string(domain)]).status == .created)
            let tenant = try #require(try await TestEnvironment.withDatabase { try await PostgresTenantRepository(database: $0).find(slug: slug) })
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            let deleted = try await admin.delete("/tenants/\(slug)?cascade=true", headers: [HTTPField.Name("X-Request-Id")!: "delete-\(slug)"])
            try #require(deleted.status == .noContent, "\(deleted.bodyText)")

            let events = try await Self.events(admin, tenant: slug)
            // Newest first; the cascade removes the domain in the same statement as the tenant.
            let actions = events.map { $0["action"]?.stringValue ?? "" }
            #expect(actions.sorted() == ["tenant.created", "tenant.deleted", "tenant.domain_added", "tenant.domain_removed", "tenant.updated"],
                    "\(events)")
            #expect(actions.last == "tenant.created")
            #expect(Array(actions.dropFirst(2)) == ["tenant.domain_added", "tenant.updated", "tenant.created"])
            for event in events {
                #expect(event["actor_type"] == .string("admin_key"))
                #expect(event["actor_id"] == .string(platformKey.id))
                #expect(event["tenant_id"] == .string(tenant.id.uuidString.lowercased()))
                #expect(event["source_address"] == .string(admin.sourceAddress))
            }
            let deletion = try #require(events.first { $0["action"] == .string("tenant.deleted") })
            #expect(deletion["request_id"] == .string("delete-\(slug)"))
            #expect(deletion["tenant"] == .string(slug))
            let rename = try #require(events.first { $0["action"] == .string("tenant.updated") })
            #expect(rename["details"]?.objectValue?["display_name"] == .string("After"))
            let added = try #require(events.first { $0["action"] == .string("tenant.domain_added") })
            #expect(added["details"]?.objectValue?["host"] == .string(domain))
        }
    }

    @Test("Platform audit: creating and revoking a platform key is recorded, never with its secret")
    func platformKeysAreAudited() async throws {
        let (creator, platform) = try await AdminFixture.keyRecord(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let created = try await admin.post("/keys", ["role": .string("platform"), "label": .string("audited")])
            try #require(created.status == .created, "\(created.bodyText)")
            let id = try #require(created.object["id"]?.stringValue)
            let secret = try #require(created.object["key"]?.stringValue)
            try #require(try await admin.delete("/keys/\(id)").status == .noContent)

            let page = try await admin.get("/audit?actor=\(creator.id)")
            #expect(page.status == .ok)
            #expect(!page.bodyText.contains(secret))
            let items = try #require(page.object["items"]?.arrayValue).compactMap(\.objectValue)
            let mine = items.filter { $0["details"]?.objectValue?["key_id"] == .string(id) }
            #expect(mine.map { $0["action"]?.stringValue ?? "" } == ["platform_key.revoked", "platform_key.created"])
        }
    }

    @Test("Platform audit: only platform keys read it; tenant keys get 403, no key 401")
    func onlyPlatformKeysRead() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let tenantAdmin = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            AdminProblem.expect(try await AdminCaller(server, key: tenantAdmin).get("/audit"), .forbidden)
            AdminProblem.expect(try await AdminCaller(server, key: nil).get("/audit"), .unauthorized)
        }
    }

    @Test("Platform audit: pages are keyset-paginated newest first without gaps or repeats; a foreign cursor is 400")
    func keysetPagination() async throws {
        let platform = try await AdminFixture.key(.platform)
        let slug = TestEnvironment.uniqueSlug("pp")
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            try #require(try await admin.post("/tenants", ["slug": .string(slug)]).status == .created)
            for index in 0..<4 {
                try #require(try await admin.post("/tenants/\(slug)/domains", ["host": .string("d\(index).\(slug).test")]).status == .created)
            }
            let pages = try await admin.pages("/audit?tenant=\(slug)", limit: 2)
            let ids = pages.flatMap { $0 }.compactMap { $0.objectValue?["id"]?.stringValue }.compactMap { Int64($0) }
            #expect(ids.count == 5)
            #expect(ids == ids.sorted(by: >))
            #expect(Set(ids).count == ids.count)
            AdminProblem.expect(try await admin.get("/audit?cursor=%%%"), .validation)
        }
    }
}
