import Dispatch
import NIOCore
import NIOPosix

/// An event loop group whose `any()` is `next()`: each new database connection goes to the
/// next loop in turn.
///
/// PostgresNIO opens a pool's connections on `eventLoopGroup.any()`, which is the current loop
/// when asked from one. The pool opens its connections from one task, so with the plain group
/// every connection lands on that task's loop. With the NIO loops as the global executor, a task
/// resumes on the loop of the connection that answered it, so all database work, and most
/// request work after it, then ran on one loop while the other loops idled (measured: one loop
/// had four times the other's CPU during refresh grants).
final class BalancedEventLoopGroup: EventLoopGroup {
    let base: any EventLoopGroup

    init(_ base: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.base = base
    }

    func next() -> any EventLoop { base.next() }
    func any() -> any EventLoop { base.next() }
    func makeIterator() -> EventLoopIterator { base.makeIterator() }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        base.shutdownGracefully(queue: queue, callback)
    }

    func _preconditionSafeToSyncShutdown(file: StaticString, line: UInt) {
        base._preconditionSafeToSyncShutdown(file: file, line: line)
    }
}
