import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// RFC 7592 §2.1 reads audited as one coalesced `client.read` event per client per window.
@Suite("Coalesced read audit")
struct ReadAuditCoalescingTests {
    static let publicClient = ClientConfigurationTests.publicClient

    /// Reads far past the per-client default, so that these tests count reads, not refusals.
    static func generousTenant() async throws -> Tenant {
        var policy = RegistrationPolicy()
        policy.rateLimits.clientConfigurationPerClient = RateLimit(limit: 10_000, periodSeconds: 60)
        return try await TestEnvironment.createTenant(policy: policy)
    }

    static func reads(_ tenant: Tenant, client clientID: String) async throws -> [JSONValue] {
        try await Stored.auditEvents(tenant).filter { $0.clientID == clientID && $0.action == "client.read" }
            .map { try JSONValue.object(JSONValue.parseObject(Array($0.details.utf8))) }
    }

    static func count(_ details: JSONValue) -> Int {
        details.objectValue?["count"]?.intValue ?? -1
    }

    @Test("N reads write no row per request, and a graceful shutdown leaves client.read rows whose counts sum to N")
    func shutdownFlushLosesNothing() async throws {
        let tenant = try await Self.generousTenant()
        let readsPerClient = [7, 13, 1]
        let clients = try await TestServer.run { server in
            var clients: [String] = []
            for reads in readsPerClient {
                let client = try await server.register(tenant, Self.publicClient)
                for _ in 0..<reads {
                    #expect(try await server.get(client.path, headers: bearer(client.registrationAccessToken)).status == .ok)
                }
                clients.append(client.clientID)
            }
            // The window (a minute by default) has not closed: nothing was written per read.
            for clientID in clients {
                #expect(try await Self.reads(tenant, client: clientID).isEmpty)
            }
            return clients
        }
        for (clientID, expected) in zip(clients, readsPerClient) {
            let rows = try await Self.reads(tenant, client: clientID)
            #expect(rows.count == 1, "one coalesced row per client per window")
            #expect(rows.map(Self.count).reduce(0, +) == expected)
        }
    }

    @Test("Coalesced reads are written within the window while the server runs, with the client as actor")
    func flushWithinWindow() async throws {
        let tenant = try await Self.generousTenant()
        var overrides = AppOverrides()
        overrides.readAuditFlushInterval = .milliseconds(200)
        try await TestServer.run(overrides: overrides) { server in
            let client = try await server.register(tenant, Self.publicClient)
            for _ in 0..<5 {
                #expect(try await server.get(client.path, headers: bearer(client.registrationAccessToken)).status == .ok)
            }
            var total = 0
            for _ in 0..<50 where total < 5 {
                try await Task.sleep(for: .milliseconds(100))
                total = try await Self.reads(tenant, client: client.clientID).map(Self.count).reduce(0, +)
            }
            #expect(total == 5)
            let event = try #require(try await Stored.auditEvents(tenant).first { $0.action == "client.read" })
            #expect(event.actorType == "client")
            #expect(event.actorID == client.clientID)
        }
    }

    @Test("A refused read is not counted as a read")
    func refusedReadsAreNotCounted() async throws {
        let tenant = try await Self.generousTenant()
        let clientID = try await TestServer.run { server in
            let client = try await server.register(tenant, Self.publicClient)
            #expect(try await server.get(client.path, headers: bearer(client.registrationAccessToken)).status == .ok)
            let wrong = "rat_" + String(repeating: "A", count: 43)
            #expect(try await server.get(client.path, headers: bearer(wrong)).status == .unauthorized)
            return client.clientID
        }
        #expect(try await Self.reads(tenant, client: clientID).map(Self.count) == [1])
    }
}
