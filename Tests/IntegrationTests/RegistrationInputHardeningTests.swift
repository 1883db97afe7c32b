import Foundation
import HTTPTypes
import JWTKit
import PostgresNIO
import Testing
@testable import Registrar

/// Bad input reaching the registration endpoint and the admin API through HTTP and a real
/// PostgreSQL: each gets a 400 in the endpoint's own format, never a 500.
@Suite("Registration input hardening")
struct RegistrationInputHardeningTests {
    static func openTenant(_ change: (inout RegistrationPolicy) -> Void = { _ in }) async throws -> Tenant {
        var policy = RegistrationPolicy()
        policy.registrationAccess = .open
        policy.allowedScopes = []
        change(&policy)
        return try await TestEnvironment.createTenant(policy: policy)
    }

    static func post(_ server: TestServer, _ tenant: Tenant, raw: String) async throws -> TestServer.Reply {
        try await server.request(.post, "/t/\(tenant.slug)/register",
                                 headers: [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: AdminFixture.randomAddress()],
                                 body: raw)
    }

    /// The `index`-th shortest RFC 6749 §3.3 scope token: distinct and short.
    static func scopeToken(_ index: Int) -> String {
        let alphabet = Array(0x21...0x7E).filter { $0 != 0x22 && $0 != 0x5C }.map { Character(Unicode.Scalar(UInt8($0))) }
        var index = index
        var token = ""
        repeat {
            token.append(alphabet[index % alphabet.count])
            index = index / alphabet.count - 1
        } while index >= 0
        return token
    }

    static func counter(_ tenant: Tenant) async throws -> Int? {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("SELECT dcr_clients FROM tenant_client_counts WHERE tenant_id = \(tenant.id)",
                                         logger: TestEnvironment.logger).first?.decode(Int.self)
            }
        }
    }

    @Test("An anonymous 64 KiB body of ~18,000 distinct scope tokens gets a 400 invalid_client_metadata")
    func scopeFloodRefused() async throws {
        let tenant = try await Self.openTenant()
        let scope = (0..<18_000).map(Self.scopeToken).joined(separator: " ")
        let body = JSONValue.object(["redirect_uris": .array([.string("http://127.0.0.1:9/cb")]), "scope": .string(scope)]).encodedString()
        #expect(body.utf8.count <= 64 * 1024)
        let reply = try await TestServer.run { server in try await Self.post(server, tenant, raw: body) }
        #expect(reply.status == .badRequest, "\(reply.status) \(reply.bodyText)")
        #expect(reply.object["error"] == .string("invalid_client_metadata"))
    }

    @Test("RFC 7493 §2.3: a registration with a member twice is invalid_client_metadata; the admin API answers a validation problem")
    func duplicateMembersRefused() async throws {
        let tenant = try await Self.openTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let reply = try await Self.post(server, tenant, raw: #"{"redirect_uris":["http://127.0.0.1:9/a"],"redirect_uris":["https://evil.example/b"]}"#)
            #expect(reply.status == .badRequest, "\(reply.bodyText)")
            #expect(reply.object["error"] == .string("invalid_client_metadata"))
            #expect(reply.object["error_description"]?.stringValue?.contains("redirect_uris") == true)
            #expect(try await AdminFixture.clientCount(tenant) == 0)

            let admin = AdminCaller(server, key: platform)
            let slug = TestEnvironment.uniqueSlug()
            let problem = try await admin.send(.post, "/tenants", raw: #"{"slug":"\#(slug)","slug":"other-\#(slug)"}"#)
            AdminProblem.expect(problem, .validation)
            #expect(try await TestEnvironment.withDatabase { try await PostgresTenantRepository(database: $0).find(slug: slug) } == nil)
        }
    }

    @Test("max_clients counts with a counter row kept by the inserts and deletes themselves")
    func clientCounterRow() async throws {
        let tenant = try await Self.openTenant { $0.maxClients = 2 }
        let initial = try await Self.counter(tenant)
        #expect(initial == nil || initial == 0)
        let body: [String: JSONValue] = ["redirect_uris": .array([.string("http://127.0.0.1:9/cb")]), "token_endpoint_auth_method": .string("none")]
        try await AdminFixture.run { server in
            let first = try await AdminFixture.register(server, tenant, body)
            _ = try await AdminFixture.register(server, tenant, body)
            #expect(try await Self.counter(tenant) == 2)
            let refused = try await AdminFixture.tryRegister(server, tenant, body)
            #expect(refused.status == .forbidden)
            #expect(try await Self.counter(tenant) == 2)
            let deleted = try await server.request(.delete, "/t/\(tenant.slug)/register/\(first.clientID)",
                                                   headers: [.authorization: "Bearer \(first.registrationAccessToken)"])
            #expect(deleted.status == .noContent)
            #expect(try await Self.counter(tenant) == 1)
            _ = try await AdminFixture.register(server, tenant, body)
            #expect(try await Self.counter(tenant) == 2)
        }
        #expect(try await AdminFixture.clientCount(tenant) == 2)
    }

    @Test("A label of 150 flag emoji (300 code points) is a 400 for admin keys and initial access tokens, not a 500")
    func multiCodePointLabels() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        let flags = String(repeating: "🇯🇵", count: 150)
        #expect(flags.count == 150 && flags.unicodeScalars.count == 300)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            AdminProblem.expect(try await admin.post("/tenants/\(tenant.slug)/keys", ["role": .string("viewer"), "label": .string(flags)]),
                                .validation, field: "label")
            AdminProblem.expect(try await admin.post("/tenants/\(tenant.slug)/initial-access-tokens", ["label": .string(flags)]),
                                .validation, field: "label")
            // 100 flags are 200 code points: the most the column takes.
            let fits = String(repeating: "🇯🇵", count: 100)
            #expect(try await admin.post("/tenants/\(tenant.slug)/keys", ["role": .string("viewer"), "label": .string(fits)]).status == .created)
            #expect(try await admin.post("/tenants/\(tenant.slug)/initial-access-tokens", ["label": .string(fits)]).status == .created)
        }
        // The services refuse it too, whoever calls them (the CLI).
        await #expect(throws: PolicyError.self) {
            try await TestEnvironment.withDatabase { database in
                try await AdminKeyService(hasher: Argon2Hasher(),
                                          keys: PostgresAdminKeyRepository(database: database))
                    .create(role: .viewer, tenantID: tenant.id, label: flags, audit: nil)
            }
        }
    }

    @Test("Design §3: the platform host, the base domain and names under it cannot be custom domains", arguments: [
        TestServer.platformHost, TestServer.baseDomain, "acme.\(TestServer.baseDomain)", "a.b.\(TestServer.baseDomain)", "ACME.\(TestServer.baseDomain.uppercased())",
    ])
    func reservedCustomDomainsRefused(_ host: String) async throws {
        let tenant = try await TestEnvironment.createTenant()
        let platform = try await AdminFixture.key(.platform)
        try await AdminFixture.run { server in
            let admin = AdminCaller(server, key: platform)
            let added = try await admin.post("/tenants/\(tenant.slug)/domains", ["host": .string(host)])
            if host == TestServer.platformHost {
                // "localhost" has no dot, so it was never a custom domain; it is still refused.
                #expect(added.status == .badRequest, "\(added.bodyText)")
            } else {
                AdminProblem.expect(added, .validation, field: "host")
            }
            let created = try await admin.post("/tenants", ["slug": .string(TestEnvironment.uniqueSlug()), "domains": .array([.string(host)])])
            #expect(created.status == .badRequest, "\(created.bodyText)")
            let elsewhere = "login.\(TestEnvironment.uniqueSlug()).example"
            #expect(try await admin.post("/tenants/\(tenant.slug)/domains", ["host": .string(elsewhere)]).status == .created)
        }
    }

    // MARK: Software statements (RFC 7591 §2.3)

    static let audience = "https://issuer.registrar.test"

    static func verify(_ statement: String, _ issuer: StatementIssuer, now: Date = Date()) async -> OAuthError? {
        do {
            _ = try await SoftwareStatementVerifier.verify(statement, trustedIssuers: [issuer.trusted], audience: audience, now: now)
            return nil
        } catch let error as OAuthError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("A software statement needs exp, or an iat no older than the maximum age")
    func statementLifetimeRequired() async throws {
        let issuer = StatementIssuer()
        let now = Date()
        let clock = now.timeIntervalSince1970.rounded(.down)
        let neither = await Self.verify(try await issuer.sign(["software_id": .string("s")]), issuer, now: now)
        #expect(neither?.code == .invalidSoftwareStatement)
        #expect(neither?.errorDescription?.contains("exp") == true)
        let stale = await Self.verify(try await issuer.sign(["iat": .number(clock - SoftwareStatementVerifier.maximumAgeWithoutExpiry - 3_600)]), issuer, now: now)
        #expect(stale?.code == .invalidSoftwareStatement)
        #expect(await Self.verify(try await issuer.sign(["iat": .number(clock - 60)]), issuer, now: now) == nil)
        #expect(await Self.verify(try await issuer.sign(["exp": .number(clock + 600)]), issuer, now: now) == nil)
    }

    @Test("RFC 7515 §4.1.11: a software statement with a crit header is refused")
    func statementCritRefused() async throws {
        let issuer = StatementIssuer()
        var header = JWTHeader()
        header.crit = ["exp"]
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: issuer.key, kid: "statement-key")
        let claims: [String: JSONValue] = ["iss": .string(issuer.name), "exp": .number(Date().timeIntervalSince1970.rounded(.down) + 600)]
        let statement = try await keys.sign(StatementClaims(claims: claims), kid: "statement-key", header: header)
        let error = await Self.verify(statement, issuer)
        #expect(error?.code == .invalidSoftwareStatement)
        #expect(error?.errorDescription?.contains("crit") == true)
    }
}
