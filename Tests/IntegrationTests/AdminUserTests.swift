import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// A tenant's users through the management API, and what their changes do to sign-in.
@Suite("Admin API: users")
struct AdminUserTests {
    static func run<T: Sendable>(_ body: @escaping @Sendable (TestServer) async throws -> T) async throws -> T {
        try await SignInTests.run(body)
    }

    @Test("Admin API: create, get, list, disable, enable, reset the password of and delete a user; generated passwords are shown once and work")
    func lifecycle() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await Self.run { server in
            let admin = AdminCaller(server, key: key)
            let base = "/tenants/\(tenant.slug)/users"
            let email = UserFixture.uniqueEmail("admin")
            let created = try await admin.post(base, ["email": .string(email), "display_name": .string("Ada Lovelace")])
            #expect(created.status == .created, "\(created.bodyText)")
            #expect(created.header("Cache-Control") == "no-store")
            let id = try #require(created.object["id"]?.stringValue)
            let generated = try #require(created.object["password"]?.stringValue)
            #expect(generated.utf8.count == 43)
            #expect(created.object["status"]?.stringValue == "active")
            #expect(created.object["email_verified"] == .bool(false))
            #expect(created.object["display_name"]?.stringValue == "Ada Lovelace")

            // Stored as argon2id, never in clear.
            let stored = try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("SELECT password_hash FROM users WHERE user_id = \(UUID(uuidString: id)!)", logger: database.logger)
                        .first!.decode(String.self)
                }
            }
            #expect(stored.hasPrefix("$argon2id$"))
            #expect(!stored.contains(generated))

            let fetched = try await admin.get("\(base)/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched.object["email"]?.stringValue == email)
            #expect(fetched.object["password"] == nil)
            let listed = try await admin.get(base)
            #expect(listed.adminItems.map { $0["id"]?.stringValue } == [id])
            #expect(listed.adminItems.allSatisfy { $0["password"] == nil })

            let browser = SignInBrowser(server, tenant: tenant)
            #expect(try await browser.signIn(email: email, password: generated).status == .seeOther)
            #expect(try await admin.get("\(base)/\(id)").object["last_sign_in_at"] != nil)

            // Disabling ends the session at once and refuses sign-in.
            let disabled = try await admin.post("\(base)/\(id)/disable")
            #expect(disabled.status == .ok)
            #expect(disabled.object["status"]?.stringValue == "disabled")
            #expect(try await browser.signedInEmail() == nil)
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: email, password: generated).alert == SignInController.failedMessage)
            #expect(try await admin.get("\(base)?status=disabled").adminItems.count == 1)
            #expect(try await admin.get("\(base)?status=active").adminItems.isEmpty)
            let enabled = try await admin.post("\(base)/\(id)/enable")
            #expect(enabled.object["status"]?.stringValue == "active")
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: email, password: generated).status == .seeOther)

            // A chosen password replaces the old one and ends every session.
            let signedIn = SignInBrowser(server, tenant: tenant)
            #expect(try await signedIn.signIn(email: email, password: generated).status == .seeOther)
            let chosen = "a brand new passphrase"
            let reset = try await admin.post("\(base)/\(id)/password", ["password": .string(chosen)])
            #expect(reset.status == .ok, "\(reset.bodyText)")
            #expect(reset.object["password"] == nil)
            #expect(try await signedIn.signedInEmail() == nil)
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: email, password: generated).alert == SignInController.failedMessage)
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: email, password: chosen).status == .seeOther)
            // Without a body, one is generated.
            let regenerated = try await admin.send(.post, "\(base)/\(id)/password", raw: nil, contentType: nil)
            #expect(regenerated.status == .ok, "\(regenerated.bodyText)")
            let newPassword = try #require(regenerated.object["password"]?.stringValue)
            #expect(newPassword != generated)
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: email, password: newPassword).status == .seeOther)

            #expect(try await admin.delete("\(base)/\(id)").status == .noContent)
            AdminProblem.expect(try await admin.get("\(base)/\(id)"), .notFound)
            AdminProblem.expect(try await admin.delete("\(base)/\(id)"), .notFound)
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: email, password: newPassword).alert == SignInController.failedMessage)

            let actions = try await UserFixture.auditActions(tenant).map(\.action)
            for action in ["user.created", "user.disabled", "user.enabled", "user.password_reset", "user.deleted", "user.signed_in"] {
                #expect(actions.contains(action), "\(action) not audited: \(actions)")
            }
            let details = try await UserFixture.auditActions(tenant).map(\.details).joined()
            #expect(!details.contains(generated) && !details.contains(chosen) && !details.contains(newPassword))
        }
    }

    @Test("Admin API: each bad user input is a 400 problem naming its field", arguments: [
        (#"{"display_name":"No email"}"#, "email"),
        (#"{"email":"not-an-email"}"#, "email"),
        (#"{"email":"two@@example.com"}"#, "email"),
        (#"{"email":"space in@example.com"}"#, "email"),
        (#"{"email":"user@-bad-.example"}"#, "email"),
        (#"{"email":"user@exa..mple.com"}"#, "email"),
        (#"{"email":"ünï@example.com"}"#, "email"),
        (#"{"email":42}"#, "email"),
        (#"{"email":"ok@example.com","password":"too short"}"#, "password"),
        (#"{"email":"ok@example.com","password":"twelve chars\u0000!"}"#, "password"),
        (#"{"email":"ok@example.com","password":12345678901234}"#, "password"),
        (#"{"email":"ok@example.com","display_name":"tab\there"}"#, "display_name"),
        (#"{"email":"ok@example.com","email_verified":"yes"}"#, "email_verified"),
        (#"{"email":"ok@example.com","role":"admin"}"#, "role"),
    ])
    func validationProblems(body: String, field: String) async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await Self.run { server in
            let reply = try await AdminCaller(server, key: key).send(.post, "/tenants/\(tenant.slug)/users", raw: body)
            AdminProblem.expect(reply, .validation, field: field)
            let count = try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenant.id) { connection in
                    try await connection.run("SELECT count(*)::integer FROM users", logger: database.logger).first!.decode(Int.self)
                }
            }
            #expect(count == 0)
        }
    }

    @Test("Admin API: a display name longer than the column allows, counted in bytes, is a 400 problem, not a 500")
    func displayNameBytes() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        try await Self.run { server in
            // 150 characters of 4 bytes: within 400 characters, over 400 bytes.
            let name = String(repeating: "😀", count: 150)
            let reply = try await AdminCaller(server, key: key).post("/tenants/\(tenant.slug)/users",
                                                                     ["email": .string(UserFixture.uniqueEmail()), "display_name": .string(name)])
            AdminProblem.expect(reply, .validation, field: "display_name")
        }
    }

    @Test("Admin API: emails are unique per tenant ignoring case (409), but two tenants may share one")
    func emailUniqueIgnoringCase() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let other = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        let otherKey = try await AdminFixture.key(.admin, for: other)
        try await Self.run { server in
            let email = "Someone-\(UUID().uuidString.prefix(6))@Example.com"
            let admin = AdminCaller(server, key: key)
            #expect(try await admin.post("/tenants/\(tenant.slug)/users", ["email": .string(email)]).status == .created)
            for variant in [email, email.lowercased(), email.uppercased()] {
                AdminProblem.expect(try await admin.post("/tenants/\(tenant.slug)/users", ["email": .string(variant)]), .conflict, field: "email")
            }
            let elsewhere = try await AdminCaller(server, key: otherKey).post("/tenants/\(other.slug)/users", ["email": .string(email.lowercased())])
            #expect(elsewhere.status == .created)
        }
    }

    @Test("Admin API: tenant B's key cannot see, change or delete tenant A's users, and RLS hides users and sessions across tenants")
    func tenantIsolation() async throws {
        let tenantA = try await TestEnvironment.createTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let keyB = try await AdminFixture.key(.admin, for: tenantB)
        let userA = try await UserFixture.create(tenantA)
        let userB = try await UserFixture.create(tenantB)
        try await Self.run { server in
            #expect(try await SignInBrowser(server, tenant: tenantA).signIn(email: userA.email).status == .seeOther)
            #expect(try await SignInBrowser(server, tenant: tenantB).signIn(email: userB.email).status == .seeOther)
            let adminB = AdminCaller(server, key: keyB)
            let id = userA.id.uuidString.lowercased()
            AdminProblem.expect(try await adminB.get("/tenants/\(tenantA.slug)/users"), .notFound)
            // Through its own tenant's paths, A's user id names nothing.
            for (method, path) in [(HTTPRequest.Method.get, ""), (.delete, ""), (.post, "/disable"), (.post, "/password"), (.post, "/sessions/revoke")] {
                AdminProblem.expect(try await adminB.send(method, "/tenants/\(tenantB.slug)/users/\(id)\(path)", raw: nil, contentType: nil), .notFound)
            }
            #expect(try await adminB.get("/tenants/\(tenantB.slug)/users").adminItems.map { $0["id"]?.stringValue } == [userB.id.uuidString.lowercased()])
            #expect(try await UserFixture.sessionCount(tenantA, userID: userA.id) == 1)
        }
        let logger = TestEnvironment.logger
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenantA.id) { connection in
                // No tenant filter: RLS alone decides.
                let users = try await connection.run("SELECT user_id FROM users", logger: logger).map { try $0.decode(UUID.self) }
                #expect(users == [userA.id])
                let sessions = try await connection.run("SELECT DISTINCT user_id FROM sessions", logger: logger).map { try $0.decode(UUID.self) }
                #expect(sessions == [userA.id])
                let updated = try await connection.run("UPDATE users SET display_name = 'x' WHERE user_id = \(userB.id) RETURNING user_id", logger: logger)
                #expect(updated.isEmpty)
                let deleted = try await connection.run("DELETE FROM sessions WHERE user_id = \(userB.id) RETURNING user_id", logger: logger)
                #expect(deleted.isEmpty)
            }
            await #expect(throws: DatabaseError.self) {
                try await database.withTenant(tenantA.id) { connection in
                    try await connection.run("""
                        INSERT INTO users (tenant_id, email) VALUES (\(tenantB.id), 'planted@example.com')
                        """, logger: logger)
                }
            }
        }
        #expect(try await UserFixture.sessionCount(tenantB, userID: userB.id) == 1)
    }

    @Test("Admin API: revoking a user's sessions signs the user out in every browser at once")
    func revokeSessions() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        let user = try await UserFixture.create(tenant)
        let other = try await UserFixture.create(tenant)
        try await Self.run { server in
            let browsers = [SignInBrowser(server, tenant: tenant), SignInBrowser(server, tenant: tenant)]
            for browser in browsers { #expect(try await browser.signIn(email: user.email).status == .seeOther) }
            let bystander = SignInBrowser(server, tenant: tenant)
            #expect(try await bystander.signIn(email: other.email).status == .seeOther)
            let reply = try await AdminCaller(server, key: key).post("/tenants/\(tenant.slug)/users/\(user.id.uuidString.lowercased())/sessions/revoke")
            #expect(reply.status == .ok)
            #expect(reply.object["revoked_sessions"]?.intValue == 2)
            for browser in browsers { #expect(try await browser.signedInEmail() == nil) }
            #expect(try await bystander.signedInEmail() == other.email)
            #expect(try await UserFixture.auditActions(tenant).contains { $0.action == "user.sessions_revoked" })
        }
    }

    @Test("Admin API: user pages follow the cursor without duplicates or gaps; a foreign cursor is 400; viewers read but cannot write")
    func pagesAndRoles() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let admin = try await AdminFixture.key(.admin, for: tenant)
        let viewer = try await AdminFixture.key(.viewer, for: tenant)
        var created: Set<String> = []
        for index in 0..<7 { created.insert(try await UserFixture.create(tenant, email: UserFixture.uniqueEmail("page\(index)")).id.uuidString.lowercased()) }
        let expected = created
        try await Self.run { server in
            let reader = AdminCaller(server, key: viewer)
            let pages = try await reader.pages("/tenants/\(tenant.slug)/users", limit: 3)
            #expect(pages.map(\.count) == [3, 3, 1])
            let ids = pages.flatMap { $0 }.compactMap { $0.objectValue?["id"]?.stringValue }
            #expect(ids.count == 7)
            #expect(Set(ids) == expected)
            AdminProblem.expect(try await reader.get("/tenants/\(tenant.slug)/users?cursor=garbage"), .validation, field: "cursor")
            AdminProblem.expect(try await reader.get("/tenants/\(tenant.slug)/users?status=gone"), .validation, field: "status")
            AdminProblem.expect(try await reader.post("/tenants/\(tenant.slug)/users", ["email": .string(UserFixture.uniqueEmail())]), .forbidden)
            let filtered = try await AdminCaller(server, key: admin).get("/tenants/\(tenant.slug)/users?email_contains=PAGE3")
            #expect(filtered.adminItems.count == 1)
        }
    }

    @Test("CLI: a user created with a password from standard input, or with a generated one, signs in with it")
    func commandLineCreation() async throws {
        let tenant = try await TestEnvironment.createTenant()
        // What `registrar user create --password-stdin` reads: one line, its newline removed.
        let typed = try UserService.passwordFromInput(Data("piped in passphrase\n".utf8))
        #expect(typed == "piped in passphrase")
        let (fromStdin, generated) = try await TestEnvironment.withDatabase { database in
            let service = UserService(hasher: UserFixture.hasher, users: PostgresUserRepository(database: database),
                                      sessions: PostgresSessionRepository(database: database))
            let actor = AuditEvent(action: "", actorType: .system, actorID: "cli")
            let first = try await service.create(.init(email: UserFixture.uniqueEmail("stdin"), password: typed), tenantID: tenant.id, actor: actor)
            #expect(first.generatedPassword == nil)
            let second = try await service.create(.init(email: UserFixture.uniqueEmail("generated")), tenantID: tenant.id, actor: actor)
            return (first.user, (second.user, try #require(second.generatedPassword)))
        }
        try await Self.run { (server: TestServer) async throws in
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: fromStdin.email, password: typed).status == .seeOther)
            #expect(try await SignInBrowser(server, tenant: tenant).signIn(email: generated.0.email, password: generated.1).status == .seeOther)
        }
    }
}
