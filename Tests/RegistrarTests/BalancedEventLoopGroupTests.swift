import NIOCore
import NIOPosix
import Testing
@testable import Registrar

/// The database pool's connections are opened on `any()`; they must spread over the loops.
@Suite("BalancedEventLoopGroup")
struct BalancedEventLoopGroupTests {
    /// The loops `any()` answers when asked `count` times from a task on `loop`.
    static func loopsAnswered(by group: any EventLoopGroup, askedOn loop: any EventLoop, count: Int) async throws -> Set<ObjectIdentifier> {
        try await loop.submit {
            Set((0..<count).map { _ in ObjectIdentifier(group.any()) })
        }.get()
    }

    @Test("Asked from one of its loops, any() goes round all the loops instead of answering that loop each time")
    func anyGoesRoundTheLoops() async throws {
        let base = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        let balanced = BalancedEventLoopGroup(base)
        let first = base.next()
        // The plain group answers the loop it is asked on: every connection would land there.
        #expect(try await Self.loopsAnswered(by: base, askedOn: first, count: 6) == [ObjectIdentifier(first)])
        #expect(try await Self.loopsAnswered(by: balanced, askedOn: first, count: 6).count == 3)
        try await base.shutdownGracefully()
    }

    @Test("Its loops are the base group's")
    func loopsAreTheBaseGroups() async throws {
        let base = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let balanced = BalancedEventLoopGroup(base)
        let baseLoops = Set(base.makeIterator().map(ObjectIdentifier.init))
        #expect(Set(balanced.makeIterator().map(ObjectIdentifier.init)) == baseLoops)
        #expect(baseLoops.contains(ObjectIdentifier(balanced.next())))
        try await base.shutdownGracefully()
    }
}
