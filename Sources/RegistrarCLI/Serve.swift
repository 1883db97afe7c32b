import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
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
    @Option(name: .customLong("outbound-allow"), help: "Address or CIDR the outbound fetcher (metadata documents, jwks_uri) may reach although it is private, loopback or otherwise special-use; repeatable, empty by default (env REGISTRAR_OUTBOUND_ALLOW, comma-separated).")
    var outboundAllow: [String] = []
    @Option(name: .customLong("outbound-ca-file"), help: "PEM file of CA certificates the outbound fetcher trusts besides the system's (env REGISTRAR_OUTBOUND_CA_FILE).")
    var outboundCAFile: String?
    @OptionGroup var argon2Options: Argon2Options
    @Option(name: .customLong("worker-threads"), help: "argon2 worker threads (env REGISTRAR_WORKER_THREADS, default: cores).")
    var workerThreads: Int?
    @Option(name: .customLong("argon2-queue-limit"), help: "Hashes allowed to wait before 503 (env REGISTRAR_ARGON2_QUEUE_LIMIT, default 64).")
    var argon2QueueLimit: Int?
    @Option(name: .customLong("loop-database-connections"), help: "Database connections of each event loop's own pool, for the token endpoint and introspection, beside the main pool's 20; 0 turns them off (env REGISTRAR_LOOP_DATABASE_CONNECTIONS, default 3).")
    var loopDatabaseConnections: Int?
    @Option(name: .customLong("service-documentation"), help: "RFC 8414 service_documentation URL (env REGISTRAR_SERVICE_DOCUMENTATION).")
    var serviceDocumentation: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (env REGISTRAR_LOG_LEVEL, default info).")
    var logLevel: String?
    @Option(name: .customLong("openapi-file"), help: "OpenAPI document served at /admin/v1/openapi.json (env REGISTRAR_OPENAPI_FILE; default openapi/admin-v1.json).")
    var openAPIFile: String?
    @Flag(name: .customLong("no-rate-limits"), help: "Turn the shared rate limits off (env REGISTRAR_RATE_LIMITS=off), e.g. behind an edge limiter.")
    var noRateLimits = false
    @Option(name: .customLong("ipv6-prefix-length"), help: "IPv6 sources share per-address limits per prefix of this length, 1-128 (env REGISTRAR_IPV6_PREFIX_LENGTH, default 64).")
    var ipv6PrefixLength: Int?
    @Option(name: .customLong("tenant-rate-limit-ceiling"), help: "LIMIT/SECONDS:BURST a tenant's policy may raise any of its limits to (env REGISTRAR_TENANT_RATE_LIMIT_CEILING, default 6000/60:2000).")
    var tenantRateLimitCeiling: String?
    @Option(name: .customLong("platform-register-limit"), help: "LIMIT/SECONDS:BURST of POST /register per address, all tenants together (env REGISTRAR_PLATFORM_REGISTER_LIMIT, default 6000/60:1000).")
    var platformRegisterLimit: String?
    @Option(name: .customLong("platform-failed-authentication-limit"), help: "LIMIT/SECONDS:BURST of failed authentications per address, all tenants together (env REGISTRAR_PLATFORM_FAILED_AUTHENTICATION_LIMIT, default 600/60:200).")
    var platformFailedAuthenticationLimit: String?
    @Option(name: .customLong("tenant-lookup-limit"), help: "LIMIT/SECONDS:BURST of tenant lookups that miss the cache, per address (env REGISTRAR_TENANT_LOOKUP_LIMIT, default 3000/60:1000).")
    var tenantLookupLimit: String?
    @Option(name: .customLong("reaper-interval"), help: "Seconds between client reaper passes; 0 turns the reaper off on this instance (env REGISTRAR_REAPER_INTERVAL, default 300).")
    var reaperInterval: Int?
    @Option(name: .customLong("metrics-port"), help: "Serve GET /metrics on its own listener at this port instead of the platform host (env REGISTRAR_METRICS_PORT).")
    var metricsPort: Int?
    @Option(name: .customLong("metrics-token"), help: "Bearer token a scraper must present at /metrics (env REGISTRAR_METRICS_TOKEN; prefer the environment).")
    var metricsToken: String?
    @Flag(name: .customLong("metrics-tenant-labels"), help: "Label request and registration metrics by tenant: one series per tenant (env REGISTRAR_METRICS_TENANT_LABELS=1).")
    var metricsTenantLabels = false
    @Option(name: .customLong("key-encryption-key"), help: "32 random bytes in base64url that seal the tenants' signing keys; required (env REGISTRAR_KEY_ENCRYPTION_KEY; prefer the environment).")
    var keyEncryptionKey: String?
    @Flag(help: "Apply pending migrations before serving (env REGISTRAR_MIGRATE=1).")
    var migrate = false
    @Flag(name: .customLong("no-nio-executor"), help: "Keep the default Swift concurrency executor instead of running tasks on the NIO event loops (env REGISTRAR_NIO_EXECUTOR=off).")
    var noNIOExecutor = false

    /// Makes the NIO event loops the global executor, so that request tasks run on the loops that
    /// do the I/O and timers are the loops' own, without hops to another thread pool. It must
    /// happen before any task runs, so `main` calls it right after parsing, before `run`.
    /// Returns whether it is in place; nil when it was turned off.
    func installNIOExecutorIfWanted() -> Bool? {
        guard !noNIOExecutor, Environment.string("REGISTRAR_NIO_EXECUTOR")?.lowercased() != "off" else { return nil }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

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
                _ = try await withDeadline(.seconds(60), "migration (database \(owner.endpoint))") {
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
        let allowed = outboundAllow.isEmpty
            ? (Environment.string("REGISTRAR_OUTBOUND_ALLOW")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? [])
            : outboundAllow
        config.outbound.allowedRanges = try allowed.map(IPRange.init)
        config.outbound.extraCAFile = outboundCAFile ?? Environment.string("REGISTRAR_OUTBOUND_CA_FILE")
        if let file = config.outbound.extraCAFile, !FileManager.default.isReadableFile(atPath: file) {
            throw CLIError("--outbound-ca-file (REGISTRAR_OUTBOUND_CA_FILE): \(file) cannot be read")
        }
        config.tokenTagKey = try Environment.string("REGISTRAR_TOKEN_TAG_KEY").map(TokenTagKey.init(base64URL:))
        config.keyEncryptionKey = try (keyEncryptionKey ?? Environment.string("REGISTRAR_KEY_ENCRYPTION_KEY")).map(KeyEncryptionKey.init(base64URL:))
        // Refused here already, so the message comes before any connection is tried.
        _ = try config.resolvedKeyEncryptionKey()
        config.loopDatabaseConnections = try RegistrarConfig.checkLoopDatabaseConnections(
            try loopDatabaseConnections ?? Environment.int("REGISTRAR_LOOP_DATABASE_CONNECTIONS") ?? config.loopDatabaseConnections)
        config.rateLimiting = !(noRateLimits || Environment.string("REGISTRAR_RATE_LIMITS")?.lowercased() == "off")
        config.reaperInterval = reaperSeconds > 0 ? .seconds(reaperSeconds) : nil
        var platform = PlatformRateLimits()
        platform.ipv6PrefixLength = try ipv6PrefixLength ?? Environment.int("REGISTRAR_IPV6_PREFIX_LENGTH") ?? 64
        guard (1...128).contains(platform.ipv6PrefixLength) else {
            throw CLIError("--ipv6-prefix-length (REGISTRAR_IPV6_PREFIX_LENGTH) must be from 1 to 128")
        }
        platform.tenantCeiling = try rateLimit(tenantRateLimitCeiling, "tenant-rate-limit-ceiling", "REGISTRAR_TENANT_RATE_LIMIT_CEILING", default: platform.tenantCeiling)
        platform.registerPerAddress = try rateLimit(platformRegisterLimit, "platform-register-limit", "REGISTRAR_PLATFORM_REGISTER_LIMIT", default: platform.registerPerAddress)
        platform.failedAuthenticationsPerAddress = try rateLimit(platformFailedAuthenticationLimit, "platform-failed-authentication-limit",
                                                                 "REGISTRAR_PLATFORM_FAILED_AUTHENTICATION_LIMIT", default: platform.failedAuthenticationsPerAddress)
        platform.tenantLookupsPerAddress = try rateLimit(tenantLookupLimit, "tenant-lookup-limit", "REGISTRAR_TENANT_LOOKUP_LIMIT", default: platform.tenantLookupsPerAddress)
        // Below the defaults, no tenant policy could be written at all.
        guard (try? RateLimits().check(ceiling: platform.tenantCeiling, field: "rate_limits")) != nil else {
            throw CLIError("--tenant-rate-limit-ceiling (REGISTRAR_TENANT_RATE_LIMIT_CEILING) must allow the default limits (at least 120/60:100)")
        }
        config.platformRateLimits = platform
        if let metricsPort = try metricsPort ?? Environment.int("REGISTRAR_METRICS_PORT") {
            guard (1...65535).contains(metricsPort), metricsPort != port else {
                throw CLIError("--metrics-port (REGISTRAR_METRICS_PORT) must be a port from 1 to 65535 other than --port")
            }
            config.metricsPort = metricsPort
        }
        config.metricsToken = metricsToken ?? Environment.string("REGISTRAR_METRICS_TOKEN")
        config.metricsTenantLabels = metricsTenantLabels || Environment.bool("REGISTRAR_METRICS_TENANT_LABELS")
        return config
    }

    /// A `LIMIT/SECONDS[:BURST]` flag, else its environment variable, else the default.
    func rateLimit(_ flag: String?, _ name: String, _ variable: String, default value: RateLimit) throws -> RateLimit {
        guard let text = flag ?? Environment.string(variable) else { return value }
        guard let limit = RateLimit(spec: text) else {
            throw CLIError("--\(name) (\(variable)) must look like LIMIT/SECONDS or LIMIT/SECONDS:BURST, e.g. \(value.spec)")
        }
        return limit
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
            applied = try await withDeadline(.seconds(60), "database \(url.endpoint)") {
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
