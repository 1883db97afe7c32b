import Foundation
import PostgresNIO
import Testing
@testable import Registrar

/// Row-level security is the second wall: even a query that forgets its tenant filter, run as the
/// application role, sees only the rows of the tenant set for its transaction.
@Suite("Tenant isolation")
struct TenantIsolationTests {
    static func registerClient(in tenant: Tenant) async throws -> String {
        try await TestServer.run { server in
            let reply = try await server.postJSON("/t/\(tenant.slug)/register", RegistrationEndpointTests.publicClient)
            return try #require(reply.object["client_id"]?.stringValue)
        }
    }

    @Test("Security: RLS shows tenant A's transaction none of tenant B's clients, policies or audit events")
    func rowLevelSecurityHidesOtherTenants() async throws {
        let tenantA = try await TestEnvironment.createTenant(policy: RegistrationPolicy())
        let tenantB = try await TestEnvironment.createTenant(policy: RegistrationPolicy())
        let clientA = try await Self.registerClient(in: tenantA)
        let clientB = try await Self.registerClient(in: tenantB)
        let logger = TestEnvironment.logger
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenantA.id) { connection in
                // No tenant filter at all: RLS alone decides.
                let clients = try await connection.run("SELECT client_id FROM clients", logger: logger).map { try $0.decode(String.self) }
                #expect(clients == [clientA])
                let explicit = try await connection.run("SELECT count(*)::integer FROM clients WHERE tenant_id = \(tenantB.id)", logger: logger)
                #expect(try explicit.first?.decode(Int.self) == 0)
                let policies = try await connection.run("SELECT tenant_id FROM tenant_policies", logger: logger).map { try $0.decode(UUID.self) }
                #expect(policies == [tenantA.id])
                let audit = try await connection.run("SELECT DISTINCT tenant_id FROM audit_events", logger: logger).map { try $0.decode(UUID.self) }
                #expect(audit == [tenantA.id])
                let byID = try await connection.run("SELECT count(*)::integer FROM clients WHERE client_id = \(clientB)", logger: logger)
                #expect(try byID.first?.decode(Int.self) == 0)
            }
        }
    }

    @Test("Security: without a tenant set, the application role sees no tenant rows at all")
    func noTenantNoRows() async throws {
        let tenant = try await TestEnvironment.createTenant()
        _ = try await Self.registerClient(in: tenant)
        let count = try await TestEnvironment.withDatabase { database in
            try await database.query("SELECT count(*)::integer FROM clients").first?.decode(Int.self)
        }
        #expect(count == 0)
    }

    @Test("Security: RLS refuses writing a row for another tenant, and UPDATE/DELETE of another tenant touch nothing")
    func rowLevelSecurityRefusesCrossTenantWrites() async throws {
        let tenantA = try await TestEnvironment.createTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let clientB = try await Self.registerClient(in: tenantB)
        let logger = TestEnvironment.logger
        await #expect(throws: DatabaseError.self) {
            try await TestEnvironment.withDatabase { database in
                try await database.withTenant(tenantA.id) { connection in
                    try await connection.run("""
                        INSERT INTO audit_events (tenant_id, action, actor_type) VALUES (\(tenantB.id), 'forged', 'anonymous')
                        """, logger: logger)
                }
            }
        }
        let touched = try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenantA.id) { connection in
                let updated = try await connection.run("UPDATE clients SET status = 'disabled' WHERE client_id = \(clientB) RETURNING client_id", logger: logger)
                let deleted = try await connection.run("DELETE FROM clients WHERE tenant_id = \(tenantB.id) RETURNING client_id", logger: logger)
                return updated.count + deleted.count
            }
        }
        #expect(touched == 0)
        let stillThere = try await TestEnvironment.withDatabase { database in
            try await PostgresClientRepository(database: database).find(tenantID: tenantB.id, clientID: clientB)
        }
        #expect(stillThere?.status == .active)
    }

    @Test("Security: the repository cannot find tenant A's client through tenant B")
    func repositoryFiltersByTenant() async throws {
        let tenantA = try await TestEnvironment.createTenant()
        let tenantB = try await TestEnvironment.createTenant()
        let clientA = try await Self.registerClient(in: tenantA)
        let (inA, inB) = try await TestEnvironment.withDatabase { database in
            let repository = PostgresClientRepository(database: database)
            return (try await repository.find(tenantID: tenantA.id, clientID: clientA),
                    try await repository.find(tenantID: tenantB.id, clientID: clientA))
        }
        #expect(inA?.clientID == clientA)
        #expect(inB == nil)
    }

    @Test("Security: the application role is no superuser, does not own the tables and cannot bypass RLS")
    func applicationRoleIsConfined() async throws {
        let row = try await TestEnvironment.withDatabase { database in
            try await database.query("""
                SELECT r.rolsuper, r.rolbypassrls, (SELECT tableowner FROM pg_tables WHERE tablename = 'clients')
                FROM pg_roles r WHERE r.rolname = current_user
                """).first?.decode((Bool, Bool, String).self)
        }
        let (superuser, bypass, owner) = try #require(row)
        #expect(!superuser)
        #expect(!bypass)
        #expect(owner != (try TestEnvironment.applicationURL().username))
    }
}
