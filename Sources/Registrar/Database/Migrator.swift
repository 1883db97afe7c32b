import Crypto
import Foundation
import Logging
import PostgresNIO

/// Forward-only migrations from the numbered files in `sql/` (`0001_name.sql`, …).
///
/// Each pending file runs in its own transaction together with its row in `schema_migrations`
/// (version, name, SHA-256 of the file). A file that was applied and has since changed stops
/// everything: the database no longer matches what the code believes it is. An advisory lock
/// lets many instances start with `--migrate` at once; one migrates, the others wait and find
/// nothing left to do.
public struct Migrator: Sendable {
    /// The schema version this build of the code needs. A test keeps it equal to the newest file.
    public static let codeSchemaVersion = 21

    public struct Migration: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let sql: String
        public var checksum: String { SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined() }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case directoryNotFound(String)
        case badFileName(String)
        case duplicateVersion(Int)
        case checksumChanged(version: Int, name: String)
        case pending(applied: Int, required: Int)
        case failed(version: Int, name: String, reason: String)

        public var description: String {
            switch self {
            case .directoryNotFound(let path): "migrations directory not found: \(path) (set --sql-dir or REGISTRAR_SQL_DIR)"
            case .badFileName(let name): "migration file name must look like 0001_name.sql: \(name)"
            case .duplicateVersion(let version): "two migration files have version \(version)"
            case .checksumChanged(let version, let name): "migration \(version) (\(name)) was applied but its file has changed since; restore the original file"
            case .pending(let applied, let required): "database schema is at version \(applied) but this server needs \(required); run 'registrar migrate' or start with --migrate"
            case .failed(let version, let name, let reason): "migration \(version) (\(name)) failed: \(reason)"
            }
        }
    }

    public let migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Reads `NNNN_name.sql` files from a directory.
    public init(directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure.directoryNotFound(directory)
        }
        var migrations: [Migration] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory).sorted() where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), stem[..<underscore].allSatisfy(\.isASCIIDigit),
                  let version = Int(stem[..<underscore]), version > 0 else {
                throw Failure.badFileName(file)
            }
            if migrations.contains(where: { $0.version == version }) { throw Failure.duplicateVersion(version) }
            let sql = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        self.init(migrations: migrations)
    }

    /// The directory to read: the one given, else `./sql`, else `share/registrar/sql` beside the executable.
    public static func locateDirectory(_ explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        let candidates = [
            FileManager.default.currentDirectoryPath + "/sql",
            (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments.first ?? "")).resolvingSymlinksInPath()
                .deletingLastPathComponent().appendingPathComponent("../share/registrar/sql").standardized.path,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? candidates[0]
    }

    /// The version the database must reach: the newest file, and never less than the code needs.
    public var requiredVersion: Int { max(Self.codeSchemaVersion, migrations.last?.version ?? 0) }

    static let lockKey: Int64 = 0x5265_6769_7374_7261  // "Registra"

    /// Applies every pending migration. Returns the versions applied.
    @discardableResult
    public func migrate(client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let applied = try await appliedChecksums(connection, logger: logger, createTable: true)
                try verify(applied)
                var done: [Int] = []
                for migration in migrations where applied[migration.version] == nil {
                    try await apply(migration, on: connection, logger: logger)
                    logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                    done.append(migration.version)
                }
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return done
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    /// Refuses a database whose schema is older than the code or whose applied files changed.
    public func check(client: PostgresClient, logger: Logger) async throws {
        try await client.withConnection { connection in
            let applied = try await appliedChecksums(connection, logger: logger, createTable: false)
            try verify(applied)
            let current = applied.keys.max() ?? 0
            if let missing = migrations.first(where: { applied[$0.version] == nil }) {
                throw Failure.pending(applied: min(current, missing.version - 1), required: requiredVersion)
            }
            if current < requiredVersion { throw Failure.pending(applied: current, required: requiredVersion) }
        }
    }

    func verify(_ applied: [Int: String]) throws {
        for migration in migrations {
            if let checksum = applied[migration.version], checksum != migration.checksum {
                throw Failure.checksumChanged(version: migration.version, name: migration.name)
            }
        }
    }

    func appliedChecksums(_ connection: PostgresConnection, logger: Logger, createTable: Bool) async throws -> [Int: String] {
        if createTable {
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
        } else {
            let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
            for try await present in exists.decode(Bool.self) where !present { return [:] }
        }
        var result: [Int: String] = [:]
        let rows = try await connection.query("SELECT version, checksum FROM schema_migrations", logger: logger)
        for try await (version, checksum) in rows.decode((Int, String).self) {
            result[version] = checksum
        }
        return result
    }

    func apply(_ migration: Migration, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("BEGIN", logger: logger)
        do {
            for statement in SQLStatementSplitter.split(migration.sql) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))",
                logger: logger)
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            let reason = (error as? PSQLError)?.serverInfo?[.message] ?? String(describing: error)
            throw Failure.failed(version: migration.version, name: migration.name, reason: reason)
        }
    }
}

/// Splits a migration file into statements at top-level semicolons, leaving alone semicolons in
/// quotes, quoted identifiers, dollar-quoted bodies and comments (the extended query protocol
/// takes one statement at a time).
public enum SQLStatementSplitter {
    public static func split(_ sql: String) -> [String] {
        let characters = Array(sql.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0
        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty, !isOnlyComments(text) { statements.append(text) }
            current = String.UnicodeScalarView()
        }
        while index < characters.count {
            let character = characters[index]
            let next = index + 1 < characters.count ? characters[index + 1] : nil
            if character == "-" && next == "-" {
                while index < characters.count && characters[index] != "\n" { current.append(characters[index]); index += 1 }
                continue
            }
            if character == "/" && next == "*" {
                // Block comments nest in PostgreSQL.
                var depth = 0
                while index < characters.count {
                    let here = characters[index]
                    let after = index + 1 < characters.count ? characters[index + 1] : nil
                    if here == "/" && after == "*" {
                        depth += 1
                    } else if here == "*" && after == "/" {
                        depth -= 1
                        if depth == 0 {
                            current.append(here); current.append("/"); index += 2
                            break
                        }
                    } else {
                        current.append(here); index += 1
                        continue
                    }
                    current.append(here); current.append(after!); index += 2
                }
                continue
            }
            if character == "'" || character == "\"" {
                // In an E'…' string a backslash escapes the next character.
                let escapes = character == "'" && isEscapeStringPrefix(characters, before: index)
                current.append(character); index += 1
                while index < characters.count {
                    let here = characters[index]
                    current.append(here)
                    if escapes && here == "\\" && index + 1 < characters.count {
                        current.append(characters[index + 1]); index += 2; continue
                    }
                    if here == character {
                        if index + 1 < characters.count && characters[index + 1] == character {
                            current.append(characters[index + 1]); index += 2; continue
                        }
                        index += 1
                        break
                    }
                    index += 1
                }
                continue
            }
            if character == "$", let tag = dollarTag(characters, at: index) {
                current.append(contentsOf: tag); index += tag.count
                while index < characters.count {
                    if characters[index] == "$", Array(characters[index..<min(index + tag.count, characters.count)]) == tag {
                        current.append(contentsOf: tag); index += tag.count
                        break
                    }
                    current.append(characters[index]); index += 1
                }
                continue
            }
            if character == ";" {
                flush(); index += 1
                continue
            }
            current.append(character); index += 1
        }
        flush()
        return statements
    }

    /// `$$` or `$tag$` starting at `index`.
    static func dollarTag(_ characters: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var end = index + 1
        while end < characters.count, characters[end] == "_" || characters[end].properties.isAlphabetic || ("0"..."9").contains(characters[end]) {
            end += 1
        }
        guard end < characters.count, characters[end] == "$" else { return nil }
        if end > index + 1, ("0"..."9").contains(characters[index + 1]) { return nil }
        return Array(characters[index...end])
    }

    /// Whether the quote at `index` opens an `E'…'` string: an E not itself ending an identifier.
    static func isEscapeStringPrefix(_ characters: [Unicode.Scalar], before index: Int) -> Bool {
        guard index >= 1, characters[index - 1] == "E" || characters[index - 1] == "e" else { return false }
        guard index >= 2 else { return true }
        let previous = characters[index - 2]
        return !(previous == "_" || previous.properties.isAlphabetic || ("0"..."9").contains(previous))
    }

    static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") || $0.trimmingCharacters(in: .whitespaces).isEmpty }
    }
}
