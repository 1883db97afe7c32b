import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import Registrar

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server.")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Listen address (env REGISTRAR_HOST).") var host: String?
    @Option(help: "Listen port (env REGISTRAR_PORT, default 8080).") var port: Int?
    @Option(name: .customLong("public-base-url"), help: "Public origin, e.g. https://auth.example.com (env REGISTRAR_PUBLIC_BASE_URL).")
    var publicBaseURL: String?
    @Option(name: .customLong("base-domain"), help: "Serve tenants at {slug}.{base domain} (env REGISTRAR_BASE_DOMAIN).")
    var baseDomain: String?
    @Option(name: .customLong("trusted-proxy"), help: "Address or CIDR whose X-Forwarded-* headers are believed; repeatable (env REGISTRAR_TRUSTED_PROXIES, comma-separated).")
    var trustedProxies: [String] = []
    @OptionGroup var argon2Options: Argon2Options
    @Option(name: .customLong("worker-threads"), help: "argon2 worker threads (env REGISTRAR_WORKER_THREADS, default: cores).")
    var workerThreads: Int?
    @Option(name: .customLong("argon2-queue-limit"), help: "Hashes allowed to wait before 503 (env REGISTRAR_ARGON2_QUEUE_LIMIT, default 64).")
    var argon2QueueLimit: Int?
    @Option(name: .customLong("service-documentation"), help: "RFC 8414 service_documentation URL (env REGISTRAR_SERVICE_DOCUMENTATION).")
    var serviceDocumentation: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (env REGISTRAR_LOG_LEVEL, default info).")
    var logLevel: String?
    @Option(name: .customLong("openapi-file"), help: "OpenAPI document served at /admin/v1/openapi.json (env REGISTRAR_OPENAPI_FILE; default openapi/admin-v1.json).")
    var openAPIFile: String?
    @Flag(name: .customLong("no-rate-limits"), help: "Turn the shared rate limits off (env REGISTRAR_RATE_LIMITS=off), e.g. behind an edge limiter.")
    var noRateLimits = false
    @Option(name: .customLong("reaper-interval"), help: "Seconds between client reaper passes; 0 turns the reaper off on this instance (env REGISTRAR_REAPER_INTERVAL, default 300).")
    var reaperInterval: Int?
    @Flag(help: "Apply pending migrations before serving (env REGISTRAR_MIGRATE=1).")
    var migrate = false

    func run() async throws {
        let config = try makeConfig()
        let levelName = logLevel ?? Environment.string("REGISTRAR_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw CLIError("unknown log level '\(levelName)'") }
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "registrar")
        if migrate || Environment.bool("REGISTRAR_MIGRATE") {
            let migrator = try Migrator(directory: config.sqlDirectory)
            let owner = config.migrationDatabaseURL ?? config.databaseURL
            do {
                _ = try await withDeadline(.seconds(60), "migration (database \(owner.host):\(owner.port))") {
                    try await withPostgresClient(owner, logger: logger) { client in
                        try await migrator.migrate(client: client, logger: logger)
                    }
                }
            } catch {
                throw CLIError("migration failed: \(describe(error))")
            }
        }
        let app = try buildApplication(config: config, logger: logger)
        do {
            try await app.runService()
        } catch {
            throw CLIError("server stopped: \(describe(error))")
        }
    }

    func makeConfig() throws -> RegistrarConfig {
        let proxies = trustedProxies.isEmpty
            ? (Environment.string("REGISTRAR_TRUSTED_PROXIES")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? [])
            : trustedProxies
        let port = try positive(port, "port", "REGISTRAR_PORT", default: 8080)
        guard port <= 65535 else { throw CLIError("port must be at most 65535") }
        let argon2 = try argon2Options.parameters()
        let queueLimit = try argon2QueueLimit ?? Environment.int("REGISTRAR_ARGON2_QUEUE_LIMIT") ?? 64
        guard queueLimit >= 0 else { throw CLIError("--argon2-queue-limit (REGISTRAR_ARGON2_QUEUE_LIMIT) must not be negative") }
        let reaperSeconds = try reaperInterval ?? Environment.int("REGISTRAR_REAPER_INTERVAL") ?? 300
        guard reaperSeconds >= 0 else { throw CLIError("--reaper-interval (REGISTRAR_REAPER_INTERVAL) must not be negative") }
        var config = try RegistrarConfig(
            databaseURL: database.applicationURL(),
            migrationDatabaseURL: (database.migrationDatabaseURL ?? Environment.string("MIGRATION_DATABASE_URL")).map(DatabaseURL.init),
            host: host ?? Environment.string("REGISTRAR_HOST") ?? "127.0.0.1",
            port: port,
            publicBaseURL: publicBaseURL ?? Environment.string("REGISTRAR_PUBLIC_BASE_URL") ?? "http://localhost:\(port)",
            baseDomain: baseDomain ?? Environment.string("REGISTRAR_BASE_DOMAIN"),
            trustedProxies: proxies.map(IPRange.init),
            argon2: argon2,
            argon2Threads: try positive(workerThreads, "worker-threads", "REGISTRAR_WORKER_THREADS", default: System.coreCount),
            argon2QueueLimit: queueLimit,
            serviceDocumentation: serviceDocumentation ?? Environment.string("REGISTRAR_SERVICE_DOCUMENTATION"),
            sqlDirectory: database.resolvedSQLDirectory,
            openAPIFile: openAPIFile ?? Environment.string("REGISTRAR_OPENAPI_FILE") ?? RegistrarConfig.locateOpenAPIFile(),
            bootstrapKey: Environment.string("REGISTRAR_BOOTSTRAP_KEY"))
        config.tokenTagKey = try Environment.string("REGISTRAR_TOKEN_TAG_KEY").map(TokenTagKey.init(base64URL:))
        config.rateLimiting = !(noRateLimits || Environment.string("REGISTRAR_RATE_LIMITS")?.lowercased() == "off")
        config.reaperInterval = reaperSeconds > 0 ? .seconds(reaperSeconds) : nil
        return config
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending migrations from sql/ with the owner role.")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let url = try database.ownerURL()
        let migrator = try Migrator(directory: database.resolvedSQLDirectory)
        let logger = quietLogger("registrar.migrate")
        let applied: [Int]
        do {
            applied = try await withDeadline(.seconds(60), "database \(url.host):\(url.port)") {
                try await withPostgresClient(url, logger: logger) { client in
                    try await migrator.migrate(client: client, logger: logger)
                }
            }
        } catch {
            throw CLIError("migration failed: \(describe(error))")
        }
        print(applied.isEmpty ? "schema is current (version \(migrator.requiredVersion))" : "applied: \(applied.map(String.init).joined(separator: ", "))")
    }
}
