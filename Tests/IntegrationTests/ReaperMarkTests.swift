import Foundation
import PostgresNIO
import Testing
@testable import Registrar

/// The reaper deletes only clients it disabled itself: an admin's enable or disable clears its
/// mark, and enabling counts as a use (design §7).
@Suite("Client reaper: the mark belongs to the reaper")
struct ReaperMarkTests {
    static func reapingTenant() async throws -> Tenant {
        try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.reapNeverUsedAfterHours = 24
            $0.reapDeleteAfterDays = 7
        })
    }

    static func status(_ tenant: Tenant, _ clientID: String) async throws -> String? {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("SELECT status FROM clients WHERE tenant_id = \(tenant.id) AND client_id = \(clientID)",
                                         logger: TestEnvironment.logger).first?.decode(String.self)
            }
        }
    }

    /// Registers `count` never-used public clients through the real endpoint.
    static func register(_ server: TestServer, _ tenant: Tenant, count: Int) async throws -> [String] {
        var ids: [String] = []
        for _ in 0..<count {
            ids.append(try await AdminFixture.register(server, tenant, AdminFixture.publicClient("Reaper mark")).clientID)
        }
        return ids
    }

    @Test("Design §7: an admin's enable clears the reaper's mark and counts as a use, so the next passes keep the client")
    func enableSurvivesNextPass() async throws {
        let clock = ManualClock()
        let tenant = try await Self.reapingTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        var overrides = AppOverrides()
        overrides.now = { clock.now }
        try await AdminFixture.run(overrides: overrides) { server in
            let admin = AdminCaller(server, key: key)
            let ids = try await Self.register(server, tenant, count: 2)
            let (enabled, untouched) = (ids[0], ids[1])
            try await TestEnvironment.withDatabase { database in
                let reaper = ClientReaper(repository: PostgresClientReaperRepository(database: database), now: { clock.now },
                                          logger: TestEnvironment.logger)
                clock.advance(by: 25 * 3600)
                let first = try await reaper.run(tenantID: tenant.id, policy: tenant.policy)
                #expect(Set(first.disabled) == Set(ids))

                let reply = try await admin.post("/tenants/\(tenant.slug)/clients/\(enabled)/enable")
                #expect(reply.status == .ok, "\(reply.bodyText)")
                let next = try await reaper.run(tenantID: tenant.id, policy: tenant.policy)
                #expect(!next.disabled.contains(enabled))
                #expect(try await Self.status(tenant, enabled) == "active")

                clock.advance(by: 8 * 86400)
                let later = try await reaper.run(tenantID: tenant.id, policy: tenant.policy)
                #expect(later.deleted == [untouched])
                #expect(!later.disabled.contains(enabled))
                #expect(try await Self.status(tenant, enabled) == "active")
            }
        }
    }

    @Test("Design §7: a client an admin disabled by hand is never deleted by the reaper, even one the reaper had disabled before")
    func manualDisableIsNeverDeleted() async throws {
        let clock = ManualClock()
        let tenant = try await Self.reapingTenant()
        let key = try await AdminFixture.key(.admin, for: tenant)
        var overrides = AppOverrides()
        overrides.now = { clock.now }
        try await AdminFixture.run(overrides: overrides) { server in
            let admin = AdminCaller(server, key: key)
            let ids = try await Self.register(server, tenant, count: 2)
            let (reapedThenManual, manualOnly) = (ids[0], ids[1])
            #expect(try await admin.post("/tenants/\(tenant.slug)/clients/\(manualOnly)/disable").status == .ok)
            try await TestEnvironment.withDatabase { database in
                let reaper = ClientReaper(repository: PostgresClientReaperRepository(database: database), now: { clock.now },
                                          logger: TestEnvironment.logger)
                clock.advance(by: 25 * 3600)
                #expect(try await reaper.run(tenantID: tenant.id, policy: tenant.policy).disabled == [reapedThenManual])
                #expect(try await admin.post("/tenants/\(tenant.slug)/clients/\(reapedThenManual)/enable").status == .ok)
                #expect(try await admin.post("/tenants/\(tenant.slug)/clients/\(reapedThenManual)/disable").status == .ok)
                for _ in 0..<3 {
                    clock.advance(by: 30 * 86400)
                    let pass = try await reaper.run(tenantID: tenant.id, policy: tenant.policy)
                    #expect(pass.deleted.filter(ids.contains).isEmpty)
                }
                #expect(try await Self.status(tenant, reapedThenManual) == "disabled")
                #expect(try await Self.status(tenant, manualOnly) == "disabled")
            }
        }
    }
}
