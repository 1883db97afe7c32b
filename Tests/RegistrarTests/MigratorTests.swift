import Foundation
import Testing
@testable import Registrar

/// Splitting migration files into statements (PostgreSQL lexical rules, §4.1 of its manual).
@Suite("SQLStatementSplitter")
struct SQLStatementSplitterTests {
    static let cases: [(String, [String])] = [
        ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1;SELECT 2", ["SELECT 1", "SELECT 2"]),
        ("  SELECT 1  ;\n\n  SELECT 2\n", ["SELECT 1", "SELECT 2"]),
        (";;; SELECT 1;;", ["SELECT 1"]),
        ("", []),
        // Quoted strings and identifiers.
        ("INSERT INTO t VALUES ('a;b'); SELECT 2;", ["INSERT INTO t VALUES ('a;b')", "SELECT 2"]),
        ("SELECT 'it''s; fine'; SELECT 2", ["SELECT 'it''s; fine'", "SELECT 2"]),
        ("SELECT '';SELECT ';'", ["SELECT ''", "SELECT ';'"]),
        ("SELECT \"a;b\" FROM t; SELECT 2", ["SELECT \"a;b\" FROM t", "SELECT 2"]),
        ("SELECT \"we\"\"ird;\" FROM t; SELECT 2", ["SELECT \"we\"\"ird;\" FROM t", "SELECT 2"]),
        ("SELECT '\"'; SELECT \"'\"; SELECT 3", ["SELECT '\"'", "SELECT \"'\"", "SELECT 3"]),
        // Dollar quoting.
        ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$; SELECT 2",
         ["CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$", "SELECT 2"]),
        ("DO $body$ BEGIN PERFORM 1; PERFORM 2; END $body$; SELECT 2",
         ["DO $body$ BEGIN PERFORM 1; PERFORM 2; END $body$", "SELECT 2"]),
        ("DO $outer$ BEGIN EXECUTE $inner$ SELECT 1; $inner$; END $outer$; SELECT 2",
         ["DO $outer$ BEGIN EXECUTE $inner$ SELECT 1; $inner$; END $outer$", "SELECT 2"]),
        ("SELECT $a$ $$ ; $b$ $a$; SELECT 2", ["SELECT $a$ $$ ; $b$ $a$", "SELECT 2"]),
        ("SELECT $$it's; \"here\"$$; SELECT 2", ["SELECT $$it's; \"here\"$$", "SELECT 2"]),
        ("PREPARE q AS SELECT $1; SELECT 2", ["PREPARE q AS SELECT $1", "SELECT 2"]),
        ("PREPARE q AS SELECT $1, $2; SELECT 2", ["PREPARE q AS SELECT $1, $2", "SELECT 2"]),
        // Comments.
        ("SELECT 1; -- comment ; still comment\nSELECT 2;", ["SELECT 1", "-- comment ; still comment\nSELECT 2"]),
        ("SELECT 1 -- don't; split\n; SELECT 2", ["SELECT 1 -- don't; split", "SELECT 2"]),
        ("SELECT /* ; */ 1; SELECT 2", ["SELECT /* ; */ 1", "SELECT 2"]),
        ("/* don't $$ ; */ SELECT 1; SELECT 2", ["/* don't $$ ; */ SELECT 1", "SELECT 2"]),
        ("-- only a comment\n", []),
        ("SELECT 1;\n-- trailing comment ;\n-- another\n", ["SELECT 1"]),
        ("SELECT 1 /* unterminated ; comment", ["SELECT 1 /* unterminated ; comment"]),
    ]

    @Test("Statements are split at top-level semicolons only", arguments: cases)
    func split(_ sql: String, expected: [String]) {
        #expect(SQLStatementSplitter.split(sql) == expected)
    }

    @Test("PostgreSQL block comments nest: a semicolon inside a nested comment does not split")
    func nestedBlockComments() {
        // PostgreSQL manual §4.1.5: "C-style block comments can be nested, as specified in the SQL
        // standard but unlike C".
        #expect(SQLStatementSplitter.split("/* outer /* inner */ ; still outer */ SELECT 1; SELECT 2")
            == ["/* outer /* inner */ ; still outer */ SELECT 1", "SELECT 2"])
    }

    @Test("PostgreSQL escape strings: a semicolon after \\' inside E'…' does not split")
    func escapeStrings() {
        // PostgreSQL manual §4.1.2.2: in E'…' strings, \' is a quote character inside the string.
        #expect(SQLStatementSplitter.split("SELECT E'it\\'s; fine'; SELECT 2") == ["SELECT E'it\\'s; fine'", "SELECT 2"])
    }

    @Test("Every statement of 0001_tenants_clients_audit.sql is non-empty and balanced")
    func schemaFileStatements() throws {
        let sql = try String(contentsOfFile: sqlDirectory + "/0001_tenants_clients_audit.sql", encoding: .utf8)
        let statements = SQLStatementSplitter.split(sql)
        #expect(statements.count > 20)
        for statement in statements {
            #expect(!statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            #expect(!SQLStatementSplitter.isOnlyComments(statement), "\(statement)")
            #expect(statement.components(separatedBy: "$$").count % 2 == 1, "unbalanced $$ in: \(statement)")
            #expect(statement.filter { $0 == "(" }.count == statement.filter { $0 == ")" }.count, "unbalanced parentheses in: \(statement)")
        }
        // The dollar-quoted bodies stay whole.
        #expect(statements.contains { $0.contains("DO $$\nBEGIN") && $0.hasSuffix("$$") && $0.contains("END IF;") })
        #expect(statements.contains { $0.contains("CREATE FUNCTION registrar_resolve_tenant") && $0.contains("RETURN QUERY") && $0.hasSuffix("$$") })
        #expect(statements.contains { $0.contains("CREATE TABLE clients") })
        #expect(statements.contains { $0.hasPrefix("GRANT EXECUTE ON FUNCTION") })
    }
}

/// Loading numbered migration files.
@Suite("Migrator")
struct MigratorTests {
    /// A fresh temporary directory holding `files`, removed after `body`.
    static func withDirectory<T>(_ files: [String: String], _ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("registrar-migrator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, contents) in files {
            try contents.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return try body(directory.path)
    }

    static func failure(_ files: [String: String]) throws -> Migrator.Failure? {
        try withDirectory(files) { path in
            do {
                _ = try Migrator(directory: path)
                return nil
            } catch let failure as Migrator.Failure {
                return failure
            }
        }
    }

    @Test("codeSchemaVersion equals the newest migration file in sql/")
    func codeSchemaVersionMatchesFiles() throws {
        let migrator = try Migrator(directory: sqlDirectory)
        let newest = try #require(migrator.migrations.last)
        #expect(Migrator.codeSchemaVersion == newest.version)
        #expect(migrator.requiredVersion == Migrator.codeSchemaVersion)
    }

    @Test("The files in sql/ are numbered from 1 upwards, each number once, each with a name (gaps allowed)")
    func repositoryMigrationsAreOrdered() throws {
        let migrator = try Migrator(directory: sqlDirectory)
        #expect(!migrator.migrations.isEmpty)
        let versions = migrator.migrations.map(\.version)
        #expect(versions.first == 1)
        #expect(versions == Array(Set(versions)).sorted(), "versions must rise strictly")
        for migration in migrator.migrations {
            #expect(!migration.name.isEmpty)
            #expect(!SQLStatementSplitter.split(migration.sql).isEmpty)
        }
    }

    @Test("Migration files are read in version order; other files are ignored")
    func loadsInOrder() throws {
        let migrator = try Self.withDirectory([
            "0002_second.sql": "SELECT 2;",
            "0010_tenth.sql": "SELECT 10;",
            "0001_first.sql": "SELECT 1;",
            "README.md": "not a migration",
            "0003_notes.txt": "not a migration either",
        ]) { try Migrator(directory: $0) }
        #expect(migrator.migrations.map(\.version) == [1, 2, 10])
        #expect(migrator.migrations.map(\.name) == ["first", "second", "tenth"])
        #expect(migrator.migrations.map(\.sql) == ["SELECT 1;", "SELECT 2;", "SELECT 10;"])
        #expect(migrator.requiredVersion == max(10, Migrator.codeSchemaVersion))
    }

    @Test("A migration file name must look like 0001_name.sql", arguments: [
        "abc.sql", "0001.sql", "0000_zero.sql", "x001_name.sql", "-001_negative.sql", "_name.sql", "1a_name.sql",
    ])
    func badFileName(_ name: String) throws {
        #expect(try Self.failure(["0001_ok.sql": "SELECT 1;", name: "SELECT 1;"]) == .badFileName(name))
    }

    @Test("Two migration files with the same version are refused", arguments: [
        ["0001_a.sql", "0001_b.sql"], ["0001_a.sql", "1_b.sql"], ["0002_a.sql", "002_b.sql"],
    ])
    func duplicateVersion(_ names: [String]) throws {
        let expected = try #require(Int(names[0].prefix { $0 != "_" }))
        #expect(try Self.failure(Dictionary(uniqueKeysWithValues: names.map { ($0, "SELECT 1;") })) == .duplicateVersion(expected))
    }

    @Test("A missing migrations directory is refused")
    func missingDirectory() {
        let path = "/nonexistent/registrar-\(UUID().uuidString)"
        #expect(throws: Migrator.Failure.directoryNotFound(path)) { try Migrator(directory: path) }
    }

    @Test("A migration's checksum is the SHA-256 of its text")
    func checksum() {
        let migration = Migrator.Migration(version: 1, name: "x", sql: "SELECT 1;")
        #expect(migration.checksum == SecretGenerator.sha256Hex("SELECT 1;"))
        #expect(migration.checksum.count == 64)
        #expect(Migrator.Migration(version: 1, name: "x", sql: "SELECT 1; ").checksum != migration.checksum)
    }

    @Test("An applied migration whose file changed since is refused")
    func changedFileRefused() throws {
        let migration = Migrator.Migration(version: 1, name: "first", sql: "SELECT 1;")
        let migrator = Migrator(migrations: [migration, .init(version: 2, name: "second", sql: "SELECT 2;")])
        #expect(throws: Migrator.Failure.checksumChanged(version: 1, name: "first")) {
            try migrator.verify([1: SecretGenerator.sha256Hex("SELECT 1; -- edited")])
        }
        try migrator.verify([1: migration.checksum])
        try migrator.verify([:])
    }
}
