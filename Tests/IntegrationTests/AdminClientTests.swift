import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// A tenant's clients through the management API: listing (pagination, filters) and lifecycle.
@Suite("Admin API: clients")
struct AdminClientTests {
    @Test("Admin API: client pages under concurrent registrations have no duplicates and no gaps")
    func paginationUnderConcurrentInserts() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.viewer, for: tenant)
        try await AdminFixture.run { server in
            // ~30 clients before the first page is read, a few at a time.
            var existing: Set<String> = []
            for batch in 0..<6 {
                try await withThrowingTaskGroup(of: String.self) { group in
                    for index in 0..<5 {
                        group.addTask {
                            try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Existing \(batch)-\(index)")).clientID
                        }
                    }
                    for try await id in group { existing.insert(id) }
                }
            }
            try #require(existing.count == 30)

            let viewer = AdminCaller(server, key: key)
            let background = Task {
                var added: [String] = []
                for index in 0..<10 {
                    added.append(try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Concurrent \(index)")).clientID)
                }
                return added
            }
            var seen: [String] = []
            var interleaved: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                var path = "/tenants/\(tenant.slug)/clients?limit=7"
                if let cursor { path += "&cursor=\(cursor)" }
                let reply = try await viewer.get(path)
                try #require(reply.status == .ok, "\(reply.bodyText)")
                let items = reply.adminItems
                #expect(items.count <= 7)
                seen += items.compactMap { $0["client_id"]?.stringValue }
                cursor = reply.object["next_cursor"]?.stringValue
                pages += 1
                // A registration between every two pages, for certain.
                interleaved.append(try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Between pages \(pages)")).clientID)
                try #require(pages < 100)
            } while cursor != nil
            let added = try await background.value

            #expect(Set(seen).count == seen.count, "a client appeared on two pages: \(seen.count - Set(seen).count) duplicates")
            let missing = existing.subtracting(seen)
            #expect(missing.isEmpty, "clients that existed before the first page are missing: \(missing)")
            let known = existing.union(added).union(interleaved)
            #expect(Set(seen).isSubset(of: known))
            #expect(pages >= 5)
            // Everything is there afterwards.
            let all = try await viewer.pages("/tenants/\(tenant.slug)/clients", limit: 200).flatMap { $0 }
            #expect(Set(all.compactMap { $0.objectValue?["client_id"]?.stringValue }) == known)
        }
    }

    @Test("Admin API: a client list cursor that the API did not return is 400")
    func cursorGarbage() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            for _ in 0..<3 { _ = try await AdminFixture.register(server, tenant, AdminFixture.publicClient()) }
            let first = try await admin.get("/tenants/\(tenant.slug)/clients?limit=2")
            let cursor = try #require(first.object["next_cursor"]?.stringValue)
            let second = try await admin.get("/tenants/\(tenant.slug)/clients?limit=2&cursor=\(cursor)")
            #expect(second.status == .ok)
            #expect(second.adminItems.count == 1)
            #expect(second.object["next_cursor"] == nil)
            for garbage in ["garbage!", "%%%", String(repeating: "A", count: 300), SecretGenerator.base64URL(Array("no-dot".utf8)),
                            SecretGenerator.base64URL(Array("abc.def".utf8))] {
                AdminProblem.expect(try await admin.get("/tenants/\(tenant.slug)/clients?cursor=\(garbage)"), .validation, field: "cursor")
            }
        }
    }

    @Test("Admin API: clients filter by name_contains, registered_via, status and created_after/before")
    func clientFilters() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        let start = Date(timeIntervalSince1970: 1_614_556_800)  // 2021-03-01T00:00:00Z
        let clock = AdminClock(start)
        try await AdminFixture.run(overrides: clock.overrides) { server in
            let admin = AdminCaller(server, key: key)
            var ids: [String: String] = [:]
            for (offset, name) in [(0, "Alpha Widget"), (100, "beta WIDGET"), (200, "Gamma"), (300, "100% Sure")] {
                clock.set(start.addingTimeInterval(TimeInterval(offset)))
                ids[name] = try await AdminFixture.register(server, tenant, AdminFixture.publicClient(name)).clientID
            }
            clock.set(start.addingTimeInterval(1000))
            try await AdminFixture.setRegisteredVia(tenant, try #require(ids["100% Sure"]), .admin)
            #expect(try await admin.post("/tenants/\(tenant.slug)/clients/\(try #require(ids["Gamma"]))/disable").status == .ok)

            func names(_ query: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String] {
                let reply = try await admin.get("/tenants/\(tenant.slug)/clients?\(query)")
                #expect(reply.status == .ok, "\(query): \(reply.bodyText)", sourceLocation: sourceLocation)
                return reply.adminItems.compactMap { $0["client_name"]?.stringValue }
            }
            func at(_ offset: Int) -> String { AdminFixture.timestamp(start.addingTimeInterval(TimeInterval(offset))) }

            #expect(try await names("") == ["100% Sure", "Gamma", "beta WIDGET", "Alpha Widget"], "newest first")
            #expect(try await names("name_contains=widget") == ["beta WIDGET", "Alpha Widget"], "case-insensitive")
            #expect(try await names("name_contains=%25") == ["100% Sure"], "% is a literal")
            #expect(try await names("name_contains=_") == [], "_ is a literal")
            #expect(try await names("name_contains=nobody") == [])
            #expect(try await names("registered_via=admin") == ["100% Sure"])
            #expect(try await names("registered_via=dcr") == ["Gamma", "beta WIDGET", "Alpha Widget"])
            #expect(try await names("registered_via=cimd") == [])
            #expect(try await names("status=disabled") == ["Gamma"])
            #expect(try await names("status=active") == ["100% Sure", "beta WIDGET", "Alpha Widget"])
            #expect(try await names("created_after=\(at(150))") == ["100% Sure", "Gamma"])
            #expect(try await names("created_before=\(at(150))") == ["beta WIDGET", "Alpha Widget"])
            #expect(try await names("created_after=\(at(50))&created_before=\(at(250))") == ["Gamma", "beta WIDGET"])
            #expect(try await names("name_contains=a&status=active&registered_via=dcr&created_after=\(at(50))") == ["beta WIDGET"])
            // Filters combine with pagination.
            let pages = try await admin.pages("/tenants/\(tenant.slug)/clients?status=active", limit: 1)
            #expect(pages.flatMap { $0 }.compactMap { $0.objectValue?["client_name"]?.stringValue } == ["100% Sure", "beta WIDGET", "Alpha Widget"])
        }
    }

    @Test("Admin API: GET of a client shows its metadata and lifecycle and never a secret or hash")
    func getClient() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.viewer, for: tenant)
        try await AdminFixture.run { server in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient("Inspected"))
            let reply = try await AdminCaller(server, key: key).get("/tenants/\(tenant.slug)/clients/\(client.clientID)")
            #expect(reply.status == .ok)
            #expect(reply.header("Cache-Control") == "no-store")
            let body = reply.object
            #expect(body["client_id"]?.stringValue == client.clientID)
            #expect(body["client_name"]?.stringValue == "Inspected")
            #expect(body["status"]?.stringValue == "active")
            #expect(body["registered_via"]?.stringValue == "dcr")
            #expect(body["token_endpoint_auth_method"]?.stringValue == "client_secret_post")
            #expect(body["redirect_uris"] == .array([.string(AdminFixture.trustedRedirect)]))
            #expect(body["client_secret_expires_at"]?.intValue == 0)
            #expect(body["created_at"]?.stringValue != nil)
            #expect(body["last_used_at"] == nil, "never used yet")
            for hidden in ["client_secret", "registration_access_token", "client_secret_hash", "registration_access_token_hash"] {
                #expect(body[hidden] == nil, "\(hidden) must not be shown")
            }
            let secret = try #require(client.clientSecret)
            #expect(!reply.bodyText.contains(secret))
            #expect(!reply.bodyText.contains(client.registrationAccessToken))
            #expect(!reply.bodyText.contains("$argon2"))
            expectNoEmptyValues(reply.json ?? .null)
        }
    }

    @Test("Admin API: a disabled client loses RFC 7592 access and authentication; enabled, it has both again")
    func disableAndEnable() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenant.id), (.service, tenant.id)])
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: keys[0].presented)
            let service = AdminCaller(server, key: keys[1].presented)
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let credentials: [String: JSONValue] = ["client_id": .string(client.clientID), "client_secret": .string(try #require(client.clientSecret))]
            let base = "/tenants/\(tenant.slug)/clients/\(client.clientID)"
            // Used once while active, so that any cache of verified tokens is warm.
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status == .ok)
            #expect(try await service.post("/tenants/\(tenant.slug)/clients/authenticate", credentials).status == .ok)

            let disabled = try await admin.post("\(base)/disable")
            #expect(disabled.status == .ok, "\(disabled.bodyText)")
            #expect(disabled.object["status"]?.stringValue == "disabled")
            #expect(try await admin.get(base).object["status"]?.stringValue == "disabled")
            let read = try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken)
            #expect(read.status == .unauthorized)
            AdminProblem.expect(try await service.post("/tenants/\(tenant.slug)/clients/authenticate", credentials), .unauthorized)

            let enabled = try await admin.post("\(base)/enable")
            #expect(enabled.status == .ok)
            #expect(enabled.object["status"]?.stringValue == "active")
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status == .ok)
            #expect(try await service.post("/tenants/\(tenant.slug)/clients/authenticate", credentials).status == .ok)
        }
    }

    @Test("Admin API: DELETE of a client removes it everywhere")
    func deleteClient() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            let other = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            let deleted = try await admin.delete("/tenants/\(tenant.slug)/clients/\(client.clientID)")
            #expect(deleted.status == .noContent, "\(deleted.bodyText)")
            AdminProblem.expect(try await admin.get("/tenants/\(tenant.slug)/clients/\(client.clientID)"), .notFound)
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status
                    == .unauthorized)
            #expect(try await AdminFixture.clientCount(tenant) == 1)
            #expect(try await admin.get("/tenants/\(tenant.slug)/clients").adminItems.compactMap { $0["client_id"]?.stringValue } == [other.clientID])
            AdminProblem.expect(try await admin.delete("/tenants/\(tenant.slug)/clients/\(client.clientID)"), .notFound)
        }
    }

    @Test("Admin API: a rotated secret replaces the old one at once")
    func rotateSecret() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let keys = try await AdminFixture.createKeys([(.admin, tenant.id), (.service, tenant.id)])
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: keys[0].presented)
            let service = AdminCaller(server, key: keys[1].presented)
            let client = try await AdminFixture.register(server, tenant, AdminFixture.confidentialClient())
            let old = try #require(client.clientSecret)
            let authenticate = "/tenants/\(tenant.slug)/clients/authenticate"
            #expect(try await service.post(authenticate, ["client_id": .string(client.clientID), "client_secret": .string(old)]).status == .ok)

            let rotated = try await admin.post("/tenants/\(tenant.slug)/clients/\(client.clientID)/secret")
            #expect(rotated.status == .ok, "\(rotated.bodyText)")
            #expect(rotated.header("Cache-Control") == "no-store")
            #expect(rotated.object["client_id"]?.stringValue == client.clientID)
            #expect(rotated.object["client_secret_expires_at"]?.intValue == 0)
            let new = try #require(rotated.object["client_secret"]?.stringValue)
            #expect(new != old)

            AdminProblem.expect(try await service.post(authenticate, ["client_id": .string(client.clientID), "client_secret": .string(old)]),
                                .unauthorized)
            let passed = try await service.post(authenticate, ["client_id": .string(client.clientID), "client_secret": .string(new)])
            #expect(passed.status == .ok, "\(passed.bodyText)")
            #expect(passed.object["active"] == .bool(true))
            // The RFC 7592 credential is not affected.
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status == .ok)
        }
    }

    @Test("Admin API: a reissued registration access token replaces the old one at once")
    func reissueRegistrationAccessToken() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: key)
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient())
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status == .ok)

            let reissued = try await admin.post("/tenants/\(tenant.slug)/clients/\(client.clientID)/registration-access-token")
            #expect(reissued.status == .ok, "\(reissued.bodyText)")
            #expect(reissued.header("Cache-Control") == "no-store")
            let token = try #require(reissued.object["registration_access_token"]?.stringValue)
            #expect(token != client.registrationAccessToken)
            #expect(reissued.object["registration_client_uri"]?.stringValue == "http://localhost/t/\(tenant.slug)/register/\(client.clientID)")

            let old = try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken)
            #expect(old.status == .unauthorized, "the old token must die at once, without any grace: \(old.status)")
            let new = try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: token)
            #expect(new.status == .ok, "\(new.bodyText)")
            #expect(new.object["client_id"]?.stringValue == client.clientID)
        }
    }

    @Test("Admin API: reissuing the registration access token also ends a rotated-out token's grace")
    func reissueEndsGrace() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await AdminFixture.run { server in
            let client = try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Graceful"))
            // An RFC 7592 update rotates the token; the old one keeps a grace (60 s by default).
            var replacement = AdminFixture.publicClient("Graceful, renamed")
            replacement["client_id"] = .string(client.clientID)
            let updated = try await server.request(.put, "/t/\(tenant.slug)/register/\(client.clientID)",
                                                   headers: [.authorization: "Bearer \(client.registrationAccessToken)", .contentType: "application/json",
                                                             HTTPField.Name("X-Forwarded-For")!: AdminFixture.randomAddress()],
                                                   body: JSONValue.object(replacement).encodedString())
            try #require(updated.status == .ok, "\(updated.bodyText)")
            let rotated = try #require(updated.object["registration_access_token"]?.stringValue)
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status == .ok,
                    "the rotated-out token is in its grace")

            let reissued = try await AdminCaller(server, key: key).post("/tenants/\(tenant.slug)/clients/\(client.clientID)/registration-access-token")
            let fresh = try #require(reissued.object["registration_access_token"]?.stringValue)
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: client.registrationAccessToken).status
                    == .unauthorized, "the token in its grace dies with the reissue")
            #expect(try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: rotated).status == .unauthorized)
            let read = try await AdminFixture.readConfiguration(server, tenant, client.clientID, token: fresh)
            #expect(read.status == .ok)
            #expect(read.object["client_name"]?.stringValue == "Graceful, renamed")
        }
    }
}
