import Foundation
import Synchronization
import Testing
@testable import Registrar

/// Issue 9: one tenant's registration flood must not starve another tenant's registrations of
/// the argon2 pool, over HTTP against the real server and PostgreSQL.
@Suite("argon2 fair share", .serialized)
struct Argon2FairShareTests {
    static let body = #"{"client_name":"fair share","redirect_uris":["http://127.0.0.1:40000/callback"],"token_endpoint_auth_method":"none"}"#

    @Test("A registration flood on tenant A leaves tenant B's registration success rate above 90 %")
    func floodLeavesOtherTenantsRegistering() async throws {
        var open = RegistrationPolicy()
        open.registrationAccess = .open
        let tenantA = try await TestEnvironment.createTenant(policy: open)
        let tenantB = try await TestEnvironment.createTenant(policy: open)
        let (aStatuses, bStatuses) = try await TestServer.run(configure: { config in
            // One slow thread, eight waiting slots: A may hold 1 + 2 of the 9, B finds room.
            config.argon2 = .init(memoryKiB: 8 * 1024, iterations: 2, parallelism: 1)
            config.argon2Threads = 1
            config.argon2QueueLimit = 8
            config.rateLimiting = false
        }) { server in
            let stop = FloodStop()
            let flood = Task {
                try await withThrowingTaskGroup(of: [Int].self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            var statuses: [Int] = []
                            while !stop.isSet {
                                statuses.append(try await server.postJSON("/t/\(tenantA.slug)/register", Self.body).status.code)
                            }
                            return statuses
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
            }
            // B starts once A's flood is being shed.
            var a503 = false
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while !a503 && ContinuousClock.now < deadline {
                a503 = try await server.postJSON("/t/\(tenantA.slug)/register", Self.body).status.code == 503
            }
            var b: [Int] = []
            for _ in 0..<20 { b.append(try await server.postJSON("/t/\(tenantB.slug)/register", Self.body).status.code) }
            stop.set()
            return (try await flood.value, b)
        }
        let bCreated = bStatuses.filter { $0 == 201 }.count
        #expect(aStatuses.contains(503), "A's flood is shed")
        #expect(aStatuses.contains(201), "A still registers at its share")
        #expect(Double(bCreated) / Double(bStatuses.count) > 0.9, "B: \(bStatuses)")
        #expect(bStatuses.allSatisfy { $0 == 201 || $0 == 503 }, "\(bStatuses)")
    }
}

/// Tells the flooding tasks to stop.
private final class FloodStop: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
