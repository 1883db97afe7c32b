import Foundation
import Logging
import PostgresNIO
import Testing
@testable import Registrar

/// The real PostgreSQL that `scripts/test` starts: the application role's URL and the owner's.
/// Migrations run once per test process, through the same migrator the server uses.
enum TestEnvironment {
    struct Missing: Error, CustomStringConvertible {
        let name: String
        var description: String { "\(name) is not set: run the tests with scripts/test, which starts a throwaway PostgreSQL" }
    }

    static func url(_ name: String) throws -> DatabaseURL {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw Missing(name: name) }
        return try DatabaseURL(value)
    }

    static func applicationURL() throws -> DatabaseURL { try url("REGISTRAR_TEST_DATABASE_URL") }
    static func ownerURL() throws -> DatabaseURL { try url("REGISTRAR_TEST_MIGRATION_DATABASE_URL") }

    /// `sql/` of this checkout.
    static let sqlDirectory: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("sql").path

    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    private static let migration = Task<Void, any Error> {
        let migrator = try Migrator(directory: sqlDirectory)
        _ = try await withPostgresClient(try ownerURL(), logger: logger) { client in
            try await migrator.migrate(client: client, logger: logger)
        }
    }

    /// Waits until the schema is current.
    static func prepare() async throws {
        try await migration.value
    }

    /// A pool on the application role for arranging and inspecting data directly.
    static func withDatabase<T: Sendable>(_ body: @Sendable (Database) async throws -> T) async throws -> T {
        try await prepare()
        return try await TestAdmission.databases.run {
            try await withPostgresClient(try applicationURL(), logger: logger) { client in
                try await body(Database(client: client, logger: logger))
            }
        }
    }

    /// A fresh slug, so that tests running in parallel never share a tenant.
    static func uniqueSlug(_ prefix: String = "t") -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return prefix + "-" + String((0..<12).map { _ in alphabet.randomElement()! })
    }

    /// Creates a tenant (optionally with custom domains and a policy) and returns it.
    static func createTenant(domains: [String] = [], policy: RegistrationPolicy? = nil) async throws -> Tenant {
        try await withDatabase { database in
            let repository = PostgresTenantRepository(database: database)
            var tenant = try await repository.create(slug: uniqueSlug(), displayName: "Test tenant", domains: domains)
            if let policy {
                tenant.policyVersion = try await repository.setPolicy(policy, for: tenant.id)
                tenant.policy = policy
            }
            return tenant
        }
    }
}
