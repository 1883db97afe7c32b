import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

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
/// A loop's pool takes at most `queueFactor` times as many statements at once as it has
/// connections (waiting their turn there is cheaper than crossing to another loop); beyond that,
/// say while its connections wait for a row lock, statements go to the main pool rather than
/// queue behind them until their deadline.
///
/// Their connections plan every prepared statement once (`plan_cache_mode`): PostgreSQL would
/// otherwise keep planning a grant's lookup afresh at each execution, since its generic plan
/// never looks cheaper than the custom ones (three set-returning functions and a CASE), and that
/// planning cost a refresh grant a third of PostgreSQL's time. Every statement sent here finds
/// rows by key, so one plan serves every parameter.
final class LoopLocalPools: Sendable {
    /// One loop's pool and how many statements it runs now.
    final class Slot: Sendable {
        let client: PostgresClient
        let capacity: Int
        let inFlight = Atomic<Int>(0)

        init(client: PostgresClient, capacity: Int) {
            self.client = client
            self.capacity = capacity
        }
    }

    /// A statement's place in its loop's pool, running or waiting; `release()` exactly once.
    struct Reservation: Sendable {
        let slot: Slot
        var client: PostgresClient { slot.client }
        func release() { slot.inFlight.subtract(1, ordering: .relaxed) }
    }

    /// Statements one connection of a loop's pool takes at once, running or waiting.
    static let queueFactor = 4

    private let slots: [ObjectIdentifier: Slot]
    /// Every pool, to be run as a service beside the main pool.
    var clients: [PostgresClient] { slots.values.map(\.client) }

    /// One pool per loop of `group`, each with `configuration`'s connections.
    init(configuration: PostgresClient.Configuration, group: MultiThreadedEventLoopGroup = .singleton, logger: Logger) {
        var configuration = configuration
        configuration.options.additionalStartupParameters.append(("plan_cache_mode", "force_generic_plan"))
        var slots: [ObjectIdentifier: Slot] = [:]
        for loop in group.makeIterator() {
            let client = PostgresClient(configuration: configuration, eventLoopGroup: loop, backgroundLogger: logger)
            slots[ObjectIdentifier(loop)] = Slot(client: client, capacity: configuration.options.maximumConnections * Self.queueFactor)
        }
        self.slots = slots
    }

    /// A place in the pool of the caller's loop, if it is on one and that pool has room; nil off
    /// the loops (then the main pool serves).
    func reserve() -> Reservation? {
        guard let slot = MultiThreadedEventLoopGroup.currentEventLoop.flatMap({ slots[ObjectIdentifier($0)] }) else { return nil }
        guard slot.inFlight.wrappingAdd(1, ordering: .relaxed).newValue <= slot.capacity else {
            slot.inFlight.subtract(1, ordering: .relaxed)
            return nil
        }
        return Reservation(slot: slot)
    }
}
