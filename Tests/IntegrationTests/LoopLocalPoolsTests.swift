import Foundation
import NIOCore
import NIOPosix
import PostgresNIO
import Testing
@testable import Registrar

/// The event loops' own pools: a hot statement sent from a loop must find a connection on that
/// same loop, and everything else must keep to the main pool.
@Suite("Loop-local database pools")
struct LoopLocalPoolsTests {
    enum OnTheCallersLoop: PreparedSQL {
        static let runsOnTheCallersLoop = true
        static let name = "registrar_test_loop_local"
        static let sql = "SELECT pg_backend_pid()"
    }
    enum OnTheMainPool: PreparedSQL {
        static let name = "registrar_test_main_pool"
        static let sql = "SELECT pg_backend_pid()"
    }

    /// Runs `body` with pools on `group`'s loops (one connection each), running.
    static func withPools<T: Sendable>(on group: MultiThreadedEventLoopGroup,
                                       _ body: @Sendable (LoopLocalPools) async throws -> T) async throws -> T {
        try await TestEnvironment.prepare()
        let pools = LoopLocalPools(configuration: try TestEnvironment.applicationURL().clientConfiguration(maximumConnections: 1, keepsConnections: true),
                                   group: group, logger: TestEnvironment.logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            for client in pools.clients { tasks.addTask { await client.run() } }
            defer { tasks.cancelAll() }
            return try await body(pools)
        }
    }

    @Test("Asked from a loop, the pool is that loop's, and its connection lives on that loop")
    func eachLoopHasItsOwnPool() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        try await Self.withPools(on: group) { pools in
            #expect(pools.clients.count == 2)
            var seen: Set<ObjectIdentifier> = []
            for loop in group.makeIterator() {
                let client = try #require(try await loop.submit { () -> PostgresClient? in
                    let reservation = pools.reserve()
                    defer { reservation?.release() }
                    return reservation?.client
                }.get())
                seen.insert(ObjectIdentifier(client))
                let connectionLoop = try await client.withConnection { $0.eventLoop }
                #expect(connectionLoop === loop)
                let one = try await client.query("SELECT 1").collect().first?.decode(Int.self)
                #expect(one == 1)
                // Planned once per connection, not at every execution.
                let planning = try await client.query("SHOW plan_cache_mode").collect().first?.decode(String.self)
                #expect(planning == "force_generic_plan")
            }
            #expect(seen.count == 2, "two loops, two pools")
        }
        try await group.shutdownGracefully()
    }

    @Test("Pools other than the loops' keep PostgreSQL's planning; no connection of the service compiles statements with JIT")
    func planningOfThePools() async throws {
        try await TestEnvironment.prepare()
        let (jit, planning) = try await withPostgresClient(try TestEnvironment.applicationURL(), logger: TestEnvironment.logger) { client in
            try await client.query("SELECT current_setting('jit'), current_setting('plan_cache_mode')").collect()[0].decode((String, String).self)
        }
        #expect(jit == "off")
        #expect(planning == "auto")
    }

    @Test("Off the loops there is no loop-local pool")
    func noneOffTheLoops() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try await Self.withPools(on: group) { pools in
            let off = await Task.detached { pools.reserve() == nil }.value
            #expect(off)
        }
        try await group.shutdownGracefully()
    }

    @Test("Only a statement that asks for the caller's loop goes to it; others, and callers off the loops, use the main pool")
    func statementsChooseTheirPool() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        try await TestEnvironment.withDatabase { main in
            try await Self.withPools(on: group) { pools in
                let database = Database(client: main.client, logger: main.logger, timeout: .seconds(10), loopLocal: pools)
                let (hot, ordinary) = try await loop.submit { () -> (PostgresClient?, Bool) in
                    let hot = database.reservation(for: OnTheCallersLoop.self)
                    defer { hot?.release() }
                    return (hot?.client, database.reservation(for: OnTheMainPool.self) == nil)
                }.get()
                #expect(hot === pools.clients[0])
                #expect(ordinary)
                #expect(database.reservation(for: OnTheCallersLoop.self) == nil, "off the loops the main pool serves")
                // Either way the statement runs, prepared, and answers.
                let pid = try await database.execute(OnTheCallersLoop.self, PostgresBindings()).first?.decode(Int32.self)
                #expect(pid != nil)
            }
        }
        try await group.shutdownGracefully()
    }

    @Test("A loop's pool takes four statements per connection at once; the next goes to the main pool instead of waiting")
    func overflowGoesToTheMainPool() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        try await Self.withPools(on: group) { pools in
            let (taken, overflow, afterRelease) = try await loop.submit { () -> (Int, Bool, Bool) in
                let taken = (0..<LoopLocalPools.queueFactor).compactMap { _ in pools.reserve() }
                let overflow = pools.reserve()
                taken.first?.release()
                let again = pools.reserve()
                for reservation in taken.dropFirst() { reservation.release() }
                again?.release()
                return (taken.count, overflow == nil, again != nil)
            }.get()
            #expect(taken == LoopLocalPools.queueFactor, "one connection takes queueFactor statements")
            #expect(overflow, "the pool is full: the statement is the main pool's")
            #expect(afterRelease, "one released, the pool has room again")
        }
        try await group.shutdownGracefully()
    }
}
