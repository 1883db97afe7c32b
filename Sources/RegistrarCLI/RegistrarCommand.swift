import ArgumentParser
import Foundation
import Logging
import Registrar

/// `registrar`: serve, migrate, and manage tenants. Every flag falls back to an environment
/// variable, so a container can be configured without arguments.
@main
struct RegistrarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registrar",
        abstract: "Multi-tenant OAuth 2.0 client registration service and authorization server.",
        subcommands: [Serve.self, Migrate.self, TenantCommand.self, PolicyCommand.self, InitialAccessTokenCommand.self, KeyCommand.self, ClientCommand.self,
                      ResourceCommand.self, IdentityProviderCommand.self, UserCommand.self, SigningKeyCommand.self, AuditCommand.self, PlatformAuditCommand.self, HashRateCommand.self]
    )

    /// Errors are one line on standard error and a non-zero exit; help goes to standard output.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if let serve = command as? Serve, serve.installNIOExecutorIfWanted() == false {
                FileHandle.standardError.write(Data("registrar: the NIO executor could not be installed; using the default one\n".utf8))
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
            } else {
                let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "failed"
                FileHandle.standardError.write(Data("registrar: \(message)\n".utf8))
            }
            Foundation.exit(code.rawValue)
        }
    }
}

/// Database connection options shared by every command that talks to PostgreSQL.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "Application role connection (env DATABASE_URL).")
    var databaseURL: String?

    @Option(name: .customLong("migration-database-url"), help: "Owner role connection for migrations (env MIGRATION_DATABASE_URL; default: --database-url).")
    var migrationDatabaseURL: String?

    @Option(name: .customLong("sql-dir"), help: "Directory of numbered migration files (env REGISTRAR_SQL_DIR; default ./sql).")
    var sqlDirectory: String?

    func applicationURL() throws -> DatabaseURL {
        guard let value = databaseURL ?? Environment.string("DATABASE_URL") else {
            throw CLIError("no database configured: set --database-url or DATABASE_URL")
        }
        return try DatabaseURL(value)
    }

    func ownerURL() throws -> DatabaseURL {
        if let value = migrationDatabaseURL ?? Environment.string("MIGRATION_DATABASE_URL") { return try DatabaseURL(value) }
        return try applicationURL()
    }

    var resolvedSQLDirectory: String { Migrator.locateDirectory(sqlDirectory ?? Environment.string("REGISTRAR_SQL_DIR")) }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum Environment {
    static func string(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    static func int(_ name: String) throws -> Int? {
        guard let value = string(name) else { return nil }
        guard let int = Int(value) else { throw CLIError("\(name) must be a whole number, not '\(value)'") }
        return int
    }

    static func bool(_ name: String) -> Bool {
        ["1", "true", "yes", "on"].contains(string(name)?.lowercased() ?? "")
    }
}

func describe(_ error: any Error) -> String {
    String(describing: error)
}

func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .error
    return logger
}
