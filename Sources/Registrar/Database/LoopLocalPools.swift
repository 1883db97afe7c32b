import NIOCore
import NIOPosix
import PostgresNIO

/// One small pool per event loop, whose connections all live on that loop, for the statements
/// of the token endpoint and introspection (`PreparedSQL.runsOnTheCallersLoop`).
///
/// With the loops as the global executor, a statement sent on a connection of another loop
/// costs two hand-offs between threads: the write is queued to the connection's loop (a wakeup
/// of its thread), and the task resumes there when the answer comes, so the response is written
/// from there to the request's channel (another wakeup). On the caller's own loop the request,
/// the statement and the response stay on one thread.
///
/// Only single statements that run outside any transaction use these pools, so a statement never
/// waits for one of their connections while holding a row lock: a small pool cannot deadlock
/// against a transaction that needs a connection of it (the main pool keeps every transaction).
final class LoopLocalPools: Sendable {
    private let pools: [ObjectIdentifier: PostgresClient]
    /// Every pool, to be run as a service beside the main pool.
    let clients: [PostgresClient]

    /// One pool per loop of `group`, each with `configuration`'s connections.
    init(configuration: PostgresClient.Configuration, group: MultiThreadedEventLoopGroup = .singleton, logger: Logger) {
        var pools: [ObjectIdentifier: PostgresClient] = [:]
        var clients: [PostgresClient] = []
        for loop in group.makeIterator() {
            let client = PostgresClient(configuration: configuration, eventLoopGroup: loop, backgroundLogger: logger)
            pools[ObjectIdentifier(loop)] = client
            clients.append(client)
        }
        self.pools = pools
        self.clients = clients
    }

    /// The pool of the loop the caller runs on; nil off the loops (then the main pool serves).
    func current() -> PostgresClient? {
        MultiThreadedEventLoopGroup.currentEventLoop.flatMap { pools[ObjectIdentifier($0)] }
    }
}
