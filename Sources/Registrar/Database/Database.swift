import Foundation
import Logging
import Synchronization
import NIOCore
import PostgresNIO

/// The way every repository reaches PostgreSQL: a tenant's work runs in a transaction that sets
/// `registrar.tenant_id` for that transaction only, so row-level security shows that tenant's
/// rows and nothing else, even if a query forgot its own `tenant_id` filter.
public struct Database: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    /// How long one unit of work may wait for a connection and run; past it the work is
    /// cancelled and reported as the database being unavailable (503), never a hang. Within a
    /// request it is shortened to what is left of the request's deadline (`RequestExpiry`).
    public let timeout: Duration
    /// The per-loop pools of the statements that ask for the caller's loop; nil: the main pool.
    let loopLocal: LoopLocalPools?

    public init(client: PostgresClient, logger: Logger, timeout: Duration = .seconds(10)) {
        self.init(client: client, logger: logger, timeout: timeout, loopLocal: nil)
    }

    init(client: PostgresClient, logger: Logger, timeout: Duration, loopLocal: LoopLocalPools?) {
        self.client = client
        self.logger = logger
        self.timeout = timeout
        self.loopLocal = loopLocal
    }

    /// Runs `body` in a transaction scoped to one tenant.
    public func withTenant<T: Sendable>(_ tenantID: UUID, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await transaction { connection, timeout in
            try await connection.query("""
                SELECT set_config('registrar.tenant_id', \(tenantID.uuidString), true), set_config('statement_timeout', \(timeout), true)
                """, logger: logger)
            return try await body(connection)
        }
    }

    /// Runs `body` in a transaction that may change the tenant registry (create, rename, delete).
    public func withPlatformScope<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        // Who acts, for the platform audit log that this transaction's triggers write (sql/0009).
        let actor = PlatformActor.current?.snapshot
        return try await transaction { connection, timeout in
            try await connection.query("""
                SELECT set_config('registrar.scope', 'platform', true), set_config('statement_timeout', \(timeout), true),
                       set_config('registrar.actor_type', \(actor?.actorType ?? ""), true),
                       set_config('registrar.actor_id', \(actor?.actorID ?? ""), true),
                       set_config('registrar.request_id', \(actor?.requestID ?? ""), true),
                       set_config('registrar.source_address', \(actor?.sourceAddress ?? ""), true)
                """, logger: logger)
            return try await body(connection)
        }
    }

    /// `statement_timeout` for work starting now: what is left of the request's deadline, at
    /// most the database timeout, so that PostgreSQL itself stops a statement nobody will wait
    /// for (a cancelled client-side wait alone leaves it running). At least 1 ms: 0 means none.
    static func statementTimeout(_ limit: Duration) -> String {
        let remaining = RequestExpiry.bounded(limit)
        let milliseconds = remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
        return String(max(1, milliseconds))
    }

    /// A single statement outside any tenant (tenant resolution, readiness).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let (client, logger) = (client, logger)
        do {
            return try await RegistrarMetrics.timeDatabase("query") {
                try await withDeadline(RequestExpiry.bounded(timeout), "database") {
                    try await client.query(query, logger: logger).collect()
                }
            }
        } catch {
            throw DatabaseError(error)
        }
    }

    /// A statement of a hot path, prepared once per pooled connection (`PreparedSQL`): the
    /// same bounds, metrics and error mapping as `query`.
    @discardableResult
    func execute<SQL: PreparedSQL>(_ statement: SQL.Type, _ bindings: PostgresBindings) async throws -> [PostgresRow] {
        assert(PreparedNames.claim(SQL.name, for: SQL.self), "two prepared statements are named \(SQL.name)")
        let reservation = reservation(for: SQL.self)
        defer { reservation?.release() }
        let (client, logger) = (reservation?.client ?? client, logger)
        do {
            return try await RegistrarMetrics.timeDatabase("query") {
                try await withDeadline(RequestExpiry.bounded(timeout), "database") {
                    do {
                        var rows: [PostgresRow] = []
                        for try await row in try await client.execute(PreparedQuery<SQL>(bindings: bindings), logger: logger) {
                            rows.append(row)
                        }
                        return rows
                    } catch let error as PSQLError where PreparedNames.isStale(error) {
                        // A migration replaced what the statement was prepared against while this
                        // connection kept it (or it failed to prepare, and the driver keeps that
                        // failure): run it unprepared, so the schema change surprises nobody.
                        return try await client.query(PostgresQuery(unsafeSQL: SQL.sql, binds: bindings), logger: logger).collect()
                    }
                }
            }
        } catch {
            throw DatabaseError(error)
        }
    }

    /// A place in the pool of the caller's loop for `SQL`, when it asks for one, the caller is on
    /// a loop and that loop's pool has room; nil: the main pool serves it.
    func reservation<SQL: PreparedSQL>(for statement: SQL.Type) -> LoopLocalPools.Reservation? {
        SQL.runsOnTheCallersLoop ? loopLocal?.reserve() : nil
    }

    private func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, String) async throws -> T) async throws -> T {
        let (client, logger) = (client, logger)
        let statementTimeout = Self.statementTimeout(timeout)
        do {
            return try await RegistrarMetrics.timeDatabase("transaction") {
                try await withDeadline(RequestExpiry.bounded(timeout), "database") {
                    try await client.withTransaction(logger: logger) { connection in
                        try await body(connection, statementTimeout)
                    }
                }
            }
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError, !(closureError is PSQLError) {
                throw closureError
            }
            throw DatabaseError(error.closureError ?? error.beginError ?? error.commitError ?? error)
        } catch let error as DatabaseError {
            throw error
        } catch let error as PSQLError {
            throw DatabaseError(error)
        } catch let error as DeadlineExceeded {
            throw DatabaseError(error)
        }
    }
}

/// A database failure, classified at the repository boundary so that handlers can answer a
/// conflict as a domain error and an outage as 503, and never leak SQL into a response.
public struct DatabaseError: Error, CustomStringConvertible {
    public enum Kind: Sendable {
        case uniqueViolation, checkViolation, foreignKeyViolation, unavailable
        /// SQLSTATE class 22: a value PostgreSQL cannot take (a NUL byte, a date or number out of
        /// range). It came from the request, so it is the caller's error, not the server's.
        case invalidInput
        case other
    }
    public let kind: Kind
    /// The violated constraint, when PostgreSQL names one.
    public let constraint: String?
    public let underlying: String

    init(_ error: any Error) {
        if let error = error as? DatabaseError {
            self = error
            return
        }
        var kind = Kind.other
        var constraint: String?
        if error is DeadlineExceeded {
            kind = .unavailable
            self.underlying = String(describing: error)
        } else if let psql = error as? PSQLError {
            switch psql.code {
            case .server:
                let state = psql.serverInfo?[.sqlState] ?? ""
                constraint = psql.serverInfo?[.constraintName]
                switch state {
                case "23505": kind = .uniqueViolation
                case "23514": kind = .checkViolation
                case "23503": kind = .foreignKeyViolation
                // 57014: cancelled by statement_timeout, i.e. past its deadline.
                case "57P01", "57P02", "57P03", "53300", "57014": kind = .unavailable
                case let state where state.hasPrefix("22"): kind = .invalidInput
                default: kind = .other
                }
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown:
                kind = .unavailable
            default:
                kind = .other
            }
            self.underlying = "\(psql.code) \(psql.serverInfo?[.sqlState] ?? "") \(psql.serverInfo?[.message] ?? "")"
        } else {
            self.underlying = String(describing: error)
        }
        self.kind = kind
        self.constraint = constraint
    }

    public var description: String { "database error (\(kind)): \(underlying)" }
}

extension PostgresConnection {
    /// Runs one statement, turning driver errors into `DatabaseError` at the repository boundary.
    /// Rows are collected here so that an error arriving mid-stream is classified too.
    @discardableResult
    func run(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        do {
            return try await self.query(query, logger: logger).collect()
        } catch {
            throw DatabaseError(error)
        }
    }
}

/// The text of a statement that runs on a hot path (the token endpoint, introspection, client
/// lookups, the limiter). PostgreSQL parses, analyses and plans an unnamed statement at every
/// execution; prepared once per pooled connection it only binds and runs (a grant's lookup
/// function went from 8,400 to 14,000 calls a second under pgbench). Parameters are `$1`…, bound
/// in order; their types are those of the first execution's bindings, so every call site of one
/// statement binds the same Swift types (a NULL leaves the type to the function's signature).
protocol PreparedSQL {
    /// The statement's name on every connection: unique in the process, at most 63 bytes.
    static var name: String { get }
    static var sql: String { get }
    /// Whether it runs on a connection of the caller's event loop (`LoopLocalPools`). Only for a
    /// statement that is never sent while its task holds a transaction open.
    static var runsOnTheCallersLoop: Bool { get }
}

extension PreparedSQL {
    static var runsOnTheCallersLoop: Bool { false }
}

/// Which type holds each prepared statement's name, so that a name given twice is caught (in
/// debug builds) at its first use, and which errors mean a connection's prepared statement no
/// longer fits the schema.
enum PreparedNames {
    private static let owners = Mutex<[String: ObjectIdentifier]>([:])

    /// Records `type` as the holder of `name`; false if another type holds it.
    static func claim(_ name: String, for type: Any.Type) -> Bool {
        owners.withLock { owners in
            let owner = owners[name, default: ObjectIdentifier(type)]
            owners[name] = owner
            return owner == ObjectIdentifier(type)
        }
    }

    /// SQLSTATE 0A000 "cached plan must not change result type" (the function's result changed),
    /// 42883 undefined function (its signature changed) and 42P01 undefined table.
    static func isStale(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return ["0A000", "42883", "42P01"].contains(state)
    }
}

/// A `PreparedSQL` statement as PostgresNIO prepares it: named after the type that holds its text.
struct PreparedQuery<SQL: PreparedSQL>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var sql: String { SQL.sql }
    static var name: String { SQL.name }
    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

