import Foundation
import HTTPTypes
import Testing
@testable import Registrar

@Suite("Operations: health, request ids, proxies, migrations")
struct OperationsTests {
    @Test("Operations: /healthz answers ok and /readyz reports the schema version")
    func health() async throws {
        try await TestServer.run { server in
            let live = try await server.get("/healthz")
            #expect(live.status == .ok)
            #expect(live.object["status"] == .string("ok"))
            let ready = try await server.get("/readyz")
            #expect(ready.status == .ok)
            #expect(ready.object["schema_version"]?.intValue == Migrator.codeSchemaVersion)
        }
    }

    @Test("Operations: /readyz answers 503 when the database cannot be reached")
    func readinessWithoutDatabase() async throws {
        var overrides = AppOverrides()
        overrides.databaseTimeout = .seconds(1)
        try await TestServer.run(configure: { config in
            config.databaseURL = DatabaseURL(host: "127.0.0.1", port: 1, username: "nobody", database: "none", tls: .disable)
        }, overrides: overrides, startupCheck: false) { server in
            let ready = try await server.get("/readyz")
            #expect(ready.status == .serviceUnavailable)
            let health = try await server.get("/healthz")
            #expect(health.status == .ok)
        }
    }

    @Test("Operations: every response carries a request id; a sane incoming one is echoed, an insane one replaced")
    func requestIDs() async throws {
        try await TestServer.run { server in
            let generated = try await server.get("/healthz")
            #expect((generated.header("X-Request-Id") ?? "").count >= 8)
            let echoed = try await server.get("/healthz", headers: [HTTPField.Name("X-Request-Id")!: "abc-123"])
            #expect(echoed.header("X-Request-Id") == "abc-123")
            let replaced = try await server.get("/healthz", headers: [HTTPField.Name("X-Request-Id")!: "bad id <script>"])
            #expect(replaced.header("X-Request-Id") != "bad id <script>")
        }
    }

    static func recordedSource(trustedProxies: [String], forwardedFor: String) async throws -> String? {
        let tenant = try await TestEnvironment.createTenant()
        let reply = try await TestServer.run(configure: { $0.trustedProxies = try trustedProxies.map(IPRange.init) }) { server in
            try await server.postJSON("/t/\(tenant.slug)/register", RegistrationEndpointTests.publicClient,
                                      headers: [HTTPField.Name("X-Forwarded-For")!: forwardedFor])
        }
        let clientID = try #require(reply.object["client_id"]?.stringValue)
        return try await TestEnvironment.withDatabase { database in
            try await PostgresClientRepository(database: database).find(tenantID: tenant.id, clientID: clientID)?.sourceAddress
        }
    }

    @Test("Design §3: X-Forwarded-For from an untrusted peer is ignored")
    func spoofedForwardedForIgnored() async throws {
        let source = try await Self.recordedSource(trustedProxies: [], forwardedFor: "203.0.113.9")
        #expect(source == "127.0.0.1")
    }

    @Test("Design §3: X-Forwarded-For from a trusted proxy gives the nearest untrusted hop")
    func trustedProxyForwardedFor() async throws {
        let source = try await Self.recordedSource(trustedProxies: ["127.0.0.0/8"], forwardedFor: "198.51.100.7, 203.0.113.9")
        #expect(source == "203.0.113.9")
    }

    /// A copy of sql/ in a temporary folder, altered by `change`.
    static func alteredSQLDirectory(_ change: (String) throws -> Void) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-sql-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: TestEnvironment.sqlDirectory) {
            try FileManager.default.copyItem(atPath: TestEnvironment.sqlDirectory + "/" + file, toPath: directory + "/" + file)
        }
        try change(directory)
        return directory
    }

    @Test("Migrations: a changed migration file that was already applied stops the server from starting")
    func changedMigrationRefused() async throws {
        let directory = try Self.alteredSQLDirectory { directory in
            let path = directory + "/0001_tenants_clients_audit.sql"
            try (String(contentsOfFile: path, encoding: .utf8) + "\n-- edited\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let error = try await TestServer.startupError { $0.sqlDirectory = directory }
        #expect(error as? Migrator.Failure == .checksumChanged(version: 1, name: "tenants_clients_audit"))
    }

    @Test("Migrations: the server refuses a schema older than its code")
    func pendingMigrationRefused() async throws {
        let directory = try Self.alteredSQLDirectory { directory in
            try "CREATE TABLE never_applied (id integer);".write(toFile: directory + "/9999_future.sql", atomically: true, encoding: .utf8)
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let error = try await TestServer.startupError { $0.sqlDirectory = directory }
        #expect(error as? Migrator.Failure == .pending(applied: Migrator.codeSchemaVersion, required: 9999))
    }

    @Test("Migrations: migrating again applies nothing, and concurrent migrators do not collide")
    func migrationIsIdempotentAndLocked() async throws {
        try await TestEnvironment.prepare()
        let migrator = try Migrator(directory: TestEnvironment.sqlDirectory)
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await withPostgresClient(try TestEnvironment.ownerURL(), logger: TestEnvironment.logger) { client in
                        try await migrator.migrate(client: client, logger: TestEnvironment.logger)
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(applied.isEmpty)
    }
}

@Suite("Tenant cache")
struct TenantCacheTests {
    @Test("Design §2: a cached tenant serves requests, and this instance's admin writes take effect at once")
    func cacheForgetsOnAdminWrite() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let key = try await TestEnvironment.withDatabase { database in
            let hasher = Argon2Hasher(parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1), threads: 1)
            defer { Task { try? await hasher.shutdown() } }
            return try await AdminKeyService(hasher: hasher, keys: PostgresAdminKeyRepository(database: database))
                .create(role: .platform, tenantID: nil, label: "cache test", audit: nil).1
        }
        var overrides = AppOverrides()
        overrides.tenantCacheLifetime = .seconds(300)
        try await TestServer.run(overrides: overrides, tenantCache: true) { server in
            let path = "/.well-known/oauth-authorization-server/t/\(tenant.slug)"
            #expect(try await server.get(path).status == .ok)
            // A change behind the server's back is not seen while the entry lives…
            try await TestEnvironment.withDatabase { database in
                _ = try await database.withPlatformScope { connection in
                    try await connection.run("UPDATE tenants SET status = 'suspended' WHERE tenant_id = \(tenant.id)", logger: TestEnvironment.logger)
                }
            }
            #expect(try await server.get(path).status == .ok)
            // …but a change through this instance's admin API is, at once.
            let patch = try await server.request(.patch, "/admin/v1/tenants/\(tenant.slug)",
                                                 headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                                                 body: #"{"status":"suspended"}"#)
            #expect(patch.status == .ok)
            #expect(try await server.get(path).status == .notFound)
        }
    }
}
