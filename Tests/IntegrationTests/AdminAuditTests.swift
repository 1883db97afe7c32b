import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import Registrar

/// The audit log through the management API: what is recorded, filters, order, pages, the
/// NDJSON export, and that the application itself cannot rewrite history.
@Suite("Admin API: audit")
struct AdminAuditTests {
    /// What one tenant's history holds after a round of administration.
    struct History: Sendable {
        let tenant: Tenant
        let platformKeyID: String
        let adminKeyID: String
        let adminKey: String
        let clientID: String
        let otherClientID: String
    }

    /// Registers two clients, changes the policy, mints and revokes a token, creates and revokes a
    /// key, disables a client and rotates its secret.
    static func makeHistory(_ server: TestServer) async throws -> History {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.keyRecord(.platform)
        let platformCaller = AdminCaller(server, key: platform.presented)
        let created = try await platformCaller.post("/tenants/\(tenant.slug)/keys", ["role": .string("admin"), "label": .string("auditor")])
        try #require(created.status == .created)
        let adminKey = try #require(created.object["key"]?.stringValue)
        let adminKeyID = try #require(created.object["id"]?.stringValue)
        let admin = AdminCaller(server, key: adminKey)
        let base = "/tenants/\(tenant.slug)"

        let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient("Audited"))
        let other = try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Bystander"))
        var policy = try await admin.get("\(base)/policy").object
        policy["registration_access"] = .string("open")
        try #require(try await admin.put("\(base)/policy", policy).status == .ok)
        let minted = try await admin.post("\(base)/initial-access-tokens", ["label": .string("audited token")])
        let tokenID = try #require(minted.object["id"]?.stringValue)
        try #require(try await admin.delete("\(base)/initial-access-tokens/\(tokenID)").status == .noContent)
        let key = try await admin.post("\(base)/keys", ["role": .string("viewer")])
        let keyID = try #require(key.object["id"]?.stringValue)
        try #require(try await admin.delete("/keys/\(keyID)").status == .noContent)
        try #require(try await admin.post("\(base)/clients/\(client.clientID)/disable").status == .ok)
        try #require(try await admin.post("\(base)/clients/\(client.clientID)/secret").status == .ok)
        return History(tenant: tenant, platformKeyID: platform.key.id, adminKeyID: adminKeyID, adminKey: adminKey,
                       clientID: client.clientID, otherClientID: other.clientID)
    }

    static func events(_ reply: TestServer.Reply) -> [[String: JSONValue]] { reply.adminItems }

    @Test("Admin API: registration, policy change, token, key and client changes are all audited")
    func eventsRecorded() async throws {
        try await AdminFixture.run { server in
            let history = try await Self.makeHistory(server)
            let admin = AdminCaller(server, key: history.adminKey)
            let reply = try await admin.get("/tenants/\(history.tenant.slug)/audit?limit=200")
            #expect(reply.status == .ok)
            #expect(reply.header("Cache-Control") == "no-store")
            let events = Self.events(reply)
            let actions = events.compactMap { $0["action"]?.stringValue }
            for action in ["client.registered", "policy.changed", "initial_access_token.minted", "initial_access_token.revoked",
                           "admin_key.created", "admin_key.revoked", "client.disabled", "client.secret_rotated"] {
                #expect(actions.contains(action), "\(action) missing from \(actions)")
            }
            #expect(actions.filter { $0 == "client.registered" }.count == 2)
            #expect(actions.filter { $0 == "admin_key.created" }.count == 2)

            let policy = try #require(events.first { $0["action"]?.stringValue == "policy.changed" })
            #expect(policy["actor_type"]?.stringValue == "admin_key")
            #expect(policy["actor_id"]?.stringValue == history.adminKeyID)
            let details = try #require(policy["details"]?.objectValue)
            #expect(details["before"]?.objectValue?["registration_access"]?.stringValue == "open_for_trusted_redirects")
            #expect(details["after"]?.objectValue?["registration_access"]?.stringValue == "open")
            #expect(details["version"]?.intValue != nil)

            let firstKey = try #require(events.last { $0["action"]?.stringValue == "admin_key.created" })
            #expect(firstKey["actor_id"]?.stringValue == history.platformKeyID, "the platform key created the first tenant key")
            #expect(firstKey["details"]?.objectValue?["key_id"]?.stringValue == history.adminKeyID)
            #expect(firstKey["details"]?.objectValue?["role"]?.stringValue == "admin")

            let disabled = try #require(events.first { $0["action"]?.stringValue == "client.disabled" })
            #expect(disabled["client_id"]?.stringValue == history.clientID)
            #expect(disabled["request_id"]?.stringValue != nil)
            #expect(disabled["source_address"]?.stringValue != nil)
            let rotated = try #require(events.first { $0["action"]?.stringValue == "client.secret_rotated" })
            #expect(rotated["client_id"]?.stringValue == history.clientID)
            let minted = try #require(events.first { $0["action"]?.stringValue == "initial_access_token.minted" })
            #expect(minted["details"]?.objectValue?["label"]?.stringValue == "audited token")
            // No secret ever lands in the log.
            #expect(!reply.bodyText.contains(String(history.adminKey.split(separator: ".").last ?? "")))
            #expect(!reply.bodyText.contains("$argon2"))
        }
    }

    @Test("Admin API: audit events are listed newest first and page without gaps or duplicates")
    func newestFirstAndPaginated() async throws {
        try await AdminFixture.run { server in
            let history = try await Self.makeHistory(server)
            let admin = AdminCaller(server, key: history.adminKey)
            let path = "/tenants/\(history.tenant.slug)/audit"
            let all = Self.events(try await admin.get("\(path)?limit=200"))
            let ids = all.compactMap { $0["id"]?.stringValue.flatMap { Int64($0) } }
            #expect(ids.count == all.count)
            #expect(ids == ids.sorted(by: >), "newest first")
            #expect(all.first?["action"]?.stringValue == "client.secret_rotated")
            #expect(all.count >= 10)

            let pages = try await admin.pages(path, limit: 3)
            #expect(pages.count == (all.count + 2) / 3)
            let paged = pages.flatMap { $0 }.compactMap { $0.objectValue?["id"]?.stringValue.flatMap { Int64($0) } }
            #expect(paged == ids, "pages concatenate to the full list")
            // The viewer sees the same; the cursor is opaque but checked.
            AdminProblem.expect(try await admin.get("\(path)?cursor=not-a-cursor!"), .validation, field: "cursor")
        }
    }

    @Test("Admin API: audit filters by action, client_id and actor")
    func filters() async throws {
        try await AdminFixture.run { server in
            let history = try await Self.makeHistory(server)
            let admin = AdminCaller(server, key: history.adminKey)
            let path = "/tenants/\(history.tenant.slug)/audit"

            let disabled = Self.events(try await admin.get("\(path)?action=client.disabled"))
            #expect(disabled.count == 1)
            #expect(disabled.first?["client_id"]?.stringValue == history.clientID)

            let registered = Self.events(try await admin.get("\(path)?action=client.registered"))
            #expect(Set(registered.compactMap { $0["client_id"]?.stringValue }) == [history.clientID, history.otherClientID])

            let byClient = Self.events(try await admin.get("\(path)?client_id=\(history.clientID)"))
            #expect(byClient.compactMap { $0["action"]?.stringValue } == ["client.secret_rotated", "client.disabled", "client.registered"])
            #expect(byClient.allSatisfy { $0["client_id"]?.stringValue == history.clientID })

            let byActor = Self.events(try await admin.get("\(path)?actor=\(history.adminKeyID)"))
            #expect(!byActor.isEmpty)
            #expect(byActor.allSatisfy { $0["actor_id"]?.stringValue == history.adminKeyID })
            #expect(Set(byActor.compactMap { $0["action"]?.stringValue }) == [
                "policy.changed", "initial_access_token.minted", "initial_access_token.revoked", "admin_key.created", "admin_key.revoked",
                "client.disabled", "client.secret_rotated",
            ])
            let byPlatform = Self.events(try await admin.get("\(path)?actor=\(history.platformKeyID)"))
            #expect(byPlatform.compactMap { $0["action"]?.stringValue } == ["admin_key.created"])

            let combined = Self.events(try await admin.get("\(path)?action=client.disabled&client_id=\(history.otherClientID)"))
            #expect(combined.isEmpty)
            #expect(Self.events(try await admin.get("\(path)?action=no.such.action")).isEmpty)
        }
    }

    @Test("Admin API: audit filters by since and until, and the NDJSON export covers exactly a time range")
    func timeRangeAndExport() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let base = "/tenants/\(tenant.slug)"
            let early = try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Early"))
            #expect(try await admin.post("\(base)/clients/\(early.clientID)/disable").status == .ok)
            let boundary = try await AdminFixture.nextWholeSecond()
            let late = try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Late"))
            #expect(try await admin.post("\(base)/clients/\(late.clientID)/disable").status == .ok)
            #expect(try await admin.post("\(base)/clients/\(late.clientID)/enable").status == .ok)
            let end = try await AdminFixture.nextWholeSecond()
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient("After"))
            let t = AdminFixture.timestamp(boundary)
            let u = AdminFixture.timestamp(end)

            func clientActions(_ query: String) async throws -> [String] {
                let reply = try await admin.get("\(base)/audit?\(query)")
                #expect(reply.status == .ok, "\(query): \(reply.bodyText)")
                return Self.events(reply).map { "\($0["action"]?.stringValue ?? "?") \($0["client_id"]?.stringValue == early.clientID ? "early" : $0["client_id"]?.stringValue == late.clientID ? "late" : "other")" }
            }
            #expect(try await clientActions("until=\(t)") == ["client.disabled early", "client.registered early"])
            #expect(try await clientActions("since=\(t)&until=\(u)") == ["client.enabled late", "client.disabled late", "client.registered late"])
            #expect(try await clientActions("since=\(u)") == ["client.registered other"])

            let export = try await admin.get("\(base)/audit/export?since=\(t)&until=\(u)")
            #expect(export.status == .ok)
            #expect(export.header("Content-Type") == "application/x-ndjson")
            #expect(export.header("Cache-Control") == "no-store")
            #expect(export.bodyText.hasSuffix("\n"))
            let lines = export.bodyText.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.count == 3)
            var exported: [[String: JSONValue]] = []
            for line in lines {
                let object = try JSONValue.parseObject(Array(line.utf8))
                exported.append(object)
            }
            #expect(exported.compactMap { $0["action"]?.stringValue } == ["client.registered", "client.disabled", "client.enabled"], "oldest first")
            #expect(exported.allSatisfy { $0["client_id"]?.stringValue == late.clientID })
            for event in exported {
                let at = try Date.ISO8601FormatStyle().parse(try #require(event["occurred_at"]?.stringValue))
                #expect(at >= boundary && at < end)
            }

            // The whole history: one object per line, the same events as the list.
            let full = try await admin.get("\(base)/audit/export")
            let fullLines = full.bodyText.split(separator: "\n")
            let listed = Self.events(try await admin.get("\(base)/audit?limit=200"))
            #expect(fullLines.count == listed.count)
            let exportedIDs = try fullLines.map { try #require(JSONValue.parseObject(Array($0.utf8))["id"]?.stringValue) }
            #expect(exportedIDs == listed.compactMap { $0["id"]?.stringValue }.reversed())
        }
    }

    @Test("Admin API: the application role can neither UPDATE nor DELETE audit events")
    func auditIsImmutable() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await AdminFixture.run { server in
            _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
        }
        let logger = TestEnvironment.logger
        await #expect(throws: DatabaseError.self) {
            try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("UPDATE audit_events SET action = 'forged' WHERE tenant_id = \(tenant.id)", logger: logger)
                }
            }
        }
        await #expect(throws: DatabaseError.self) {
            try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("DELETE FROM audit_events WHERE tenant_id = \(tenant.id)", logger: logger)
                }
            }
        }
        await #expect(throws: DatabaseError.self) {
            try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("TRUNCATE audit_events", logger: logger)
                }
            }
        }
        // The error is a permission error, and the history is intact.
        let underlying = try await TestEnvironment.withDatabase { database in
            do {
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("DELETE FROM audit_events WHERE tenant_id = \(tenant.id)", logger: logger)
                }
                return "deleted"
            } catch let error as DatabaseError {
                return error.underlying
            }
        }
        #expect(underlying.contains("42501") || underlying.lowercased().contains("permission denied"), "\(underlying)")
        let actions = try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("SELECT action FROM audit_events WHERE tenant_id = \(tenant.id)", logger: logger).map { try $0.decode(String.self) }
            }
        }
        #expect(actions == ["client.registered"])
    }
}
