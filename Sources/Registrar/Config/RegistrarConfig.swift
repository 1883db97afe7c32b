import Foundation
import NIOCore

/// Everything the server reads from flags and the environment, typed and checked once at start.
public struct RegistrarConfig: Sendable {
    /// The application role's connection (RLS applies to it).
    public var databaseURL: DatabaseURL
    /// The owner role's connection, for migrations; the application URL when not given.
    public var migrationDatabaseURL: DatabaseURL?
    public var host: String
    public var port: Int
    /// Scheme, host and optional port the platform is reached at, e.g. `https://auth.example.com`.
    /// Path-based issuers are `{publicBaseURL}/t/{slug}`.
    public var publicBaseURL: String
    /// `{slug}.{baseDomain}` hosts resolve to tenants; nil turns host-based tenants off.
    public var baseDomain: String?
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Host` are believed.
    public var trustedProxies: [IPRange]
    /// The guarded outbound client: its allowlist of special-use ranges and extra CA file.
    public var outbound = GuardedHTTPClient.Configuration()
    public var argon2: Argon2Hasher.Parameters
    public var argon2Threads: Int
    public var argon2QueueLimit: Int
    /// Connections of each event loop's own database pool, for the token endpoint's and
    /// introspection's single statements (`LoopLocalPools`), beside the main pool; 0 turns them off.
    public var loopDatabaseConnections = 3
    /// RFC 8414 `service_documentation`, when the operator has a page for it.
    public var serviceDocumentation: String?
    public var sqlDirectory: String
    /// Largest JSON body accepted on JSON endpoints (design §8).
    public var maximumBodyBytes: Int
    /// The OpenAPI document served at `/admin/v1/openapi.json`.
    public var openAPIFile: String?
    /// Shared rate limits on (design §8); off only to measure their cost or behind an edge limiter.
    public var rateLimiting = true
    /// Limits across every tenant, the ceiling on tenants' own limits, and IPv6 aggregation.
    public var platformRateLimits = PlatformRateLimits()
    /// How often this instance runs the client reaper; nil turns it off here.
    public var reaperInterval: Duration? = .seconds(300)
    /// A separate listener for `GET /metrics` (same host address); nil serves it on the main port,
    /// platform host only.
    public var metricsPort: Int?
    /// The Bearer token a scraper must present at `/metrics`; nil leaves it open.
    public var metricsToken: String?
    /// Tenant slugs as a metrics label: one series per tenant, so only on the operator's request.
    public var metricsTenantLabels = false
    /// A platform admin key stored at start if missing (`REGISTRAR_BOOTSTRAP_KEY`), for containers.
    public var bootstrapKey: String?
    /// The server key of the tokens' keyed pre-check (`REGISTRAR_TOKEN_TAG_KEY`, design §4),
    /// shared by every instance. See `resolvedTokenTagKey()` for what happens without one.
    public var tokenTagKey: TokenTagKey?
    /// The key that seals every tenant's private signing keys (`REGISTRAR_KEY_ENCRYPTION_KEY`,
    /// design §4), shared by every instance. Required: see `resolvedKeyEncryptionKey()`.
    public var keyEncryptionKey: KeyEncryptionKey?

    public init(
        databaseURL: DatabaseURL, migrationDatabaseURL: DatabaseURL? = nil, host: String = "127.0.0.1", port: Int = 8080,
        publicBaseURL: String = "http://localhost:8080", baseDomain: String? = nil, trustedProxies: [IPRange] = [],
        argon2: Argon2Hasher.Parameters = .init(), argon2Threads: Int = System.coreCount, argon2QueueLimit: Int = 64,
        serviceDocumentation: String? = nil, sqlDirectory: String = Migrator.locateDirectory(nil), maximumBodyBytes: Int = 64 * 1024,
        openAPIFile: String? = RegistrarConfig.locateOpenAPIFile(), bootstrapKey: String? = nil
    ) throws {
        self.databaseURL = databaseURL
        self.migrationDatabaseURL = migrationDatabaseURL
        self.host = host
        self.port = port
        self.publicBaseURL = try Self.checkBaseURL(publicBaseURL)
        self.baseDomain = try baseDomain.map { domain in
            let domain = domain.lowercased()
            guard URIParser.isValidDNSName(domain), domain.contains(".") || domain == "localhost" else {
                throw ConfigError("base domain '\(domain)' is not a host name")
            }
            return domain
        }
        self.trustedProxies = trustedProxies
        self.argon2 = argon2
        self.argon2Threads = argon2Threads
        self.argon2QueueLimit = argon2QueueLimit
        self.serviceDocumentation = serviceDocumentation
        self.sqlDirectory = sqlDirectory
        self.maximumBodyBytes = maximumBodyBytes
        self.openAPIFile = openAPIFile
        if let bootstrapKey, AdminKey.parse(bootstrapKey) == nil {
            throw ConfigError("the bootstrap key must look like rk_{16 letters or digits}.{43 base64url characters}")
        }
        self.bootstrapKey = bootstrapKey
    }

    /// `loopDatabaseConnections` as given by an operator: 0 (off) to 64 per loop.
    public static func checkLoopDatabaseConnections(_ value: Int) throws -> Int {
        guard (0...64).contains(value) else {
            throw ConfigError("database connections per event loop must be from 0 (none) to 64, not \(value)")
        }
        return value
    }

    /// The configured tag key; without one, a fixed development key only while the server listens
    /// on loopback (nothing else can reach it). A server reachable from elsewhere refuses to
    /// start, since a known key would let anyone forge tags and reach argon2 at will.
    public func resolvedTokenTagKey() throws -> TokenTagKey {
        if let tokenTagKey { return tokenTagKey }
        guard ["127.0.0.1", "::1", "localhost"].contains(host.lowercased()) else {
            throw ConfigError("REGISTRAR_TOKEN_TAG_KEY is required when listening on \(host): 32 random bytes in base64url, the same on every instance")
        }
        return .development
    }

    /// The configured key-encryption key. There is no development fallback: keys sealed under a
    /// known key would be readable by anyone with the database, and keys sealed under a random
    /// one would be lost at the next start. So the server refuses to start without one.
    public func resolvedKeyEncryptionKey() throws -> KeyEncryptionKey {
        guard let keyEncryptionKey else {
            throw ConfigError("REGISTRAR_KEY_ENCRYPTION_KEY (or --key-encryption-key) is required: it seals the tenants' token signing keys; "
                              + "make one with \(KeyEncryptionKey.howToMakeOne) and give every instance the same one")
        }
        return keyEncryptionKey
    }

    /// `openapi/admin-v1.json` in the working directory, else in `share/registrar` beside the executable.
    public static func locateOpenAPIFile() -> String? {
        let executable = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments.first ?? "")).resolvingSymlinksInPath()
        let candidates = [
            FileManager.default.currentDirectoryPath + "/openapi/admin-v1.json",
            executable.deletingLastPathComponent().appendingPathComponent("../share/registrar/openapi/admin-v1.json").standardized.path,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// An http(s) origin with no path, query or trailing slash: issuers are built from it.
    static func checkBaseURL(_ value: String) throws -> String {
        let trimmed = value.hasSuffix("/") ? String(value.dropLast()) : value
        guard let parts = try? URIParser.parse(trimmed), parts.scheme == "http" || parts.scheme == "https",
              parts.host != nil, parts.rest.isEmpty
        else {
            throw ConfigError("public base URL '\(value)' must look like https://host[:port] with no path")
        }
        return trimmed
    }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `postgres://user:password@host:port/database?sslmode=disable|prefer|require`, or with
/// `?host=/directory` PostgreSQL's Unix socket in that directory (libpq's convention: the socket is
/// `{directory}/.s.PGSQL.{port}`). A database on the same machine is cheaper to reach through its
/// socket than through loopback TCP: each statement skips the TCP stack on both ends.
public struct DatabaseURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String?
    public enum TLSMode: String, Sendable { case disable, prefer, require }
    public var tls: TLSMode
    /// The directory of PostgreSQL's Unix socket; nil connects over TCP to `host`.
    public var socketDirectory: String?

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String? = nil, tls: TLSMode = .prefer,
                socketDirectory: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.socketDirectory = socketDirectory
    }

    /// The socket's path, when connecting through one.
    public var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    /// Where the database is, for messages: `host:port` or the socket's path.
    public var endpoint: String { socketPath ?? "\(host):\(port)" }

    /// A socket address holds at most 107 bytes of path (`sun_path`, less its NUL).
    static let maximumSocketPathBytes = 107

    public init(_ string: String) throws {
        guard let components = URLComponents(string: string), let scheme = components.scheme,
              scheme == "postgres" || scheme == "postgresql"
        else {
            throw ConfigError("database URL must look like postgres://user:password@host:port/database")
        }
        let query = components.queryItems ?? []
        let socketDirectory = query.first(where: { $0.name == "host" })?.value
        if let socketDirectory {
            guard socketDirectory.hasPrefix("/"), !socketDirectory.utf8.contains(0) else {
                throw ConfigError("the database URL's host parameter must be the absolute path of PostgreSQL's socket directory")
            }
        } else {
            guard let host = components.host, !host.isEmpty else { throw ConfigError("database URL has no host") }
        }
        guard let user = components.user, !user.isEmpty else { throw ConfigError("database URL has no user name") }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var tls = TLSMode.prefer
        if let mode = query.first(where: { $0.name == "sslmode" })?.value {
            guard let parsed = TLSMode(rawValue: mode) else { throw ConfigError("sslmode must be disable, prefer or require") }
            tls = parsed
        }
        if socketDirectory != nil {
            // libpq ignores sslmode on a socket; a URL that demands TLS there is refused instead of
            // quietly connecting without it.
            guard tls != .require else { throw ConfigError("sslmode=require cannot be met through a Unix socket (host=…)") }
            tls = .disable
        }
        // libpq also takes the port as a parameter (with a socket, the URL often has no authority port).
        var port = components.port ?? 5432
        if let value = query.first(where: { $0.name == "port" })?.value {
            guard let parsed = Int(value), (1...65_535).contains(parsed), value.allSatisfy(\.isASCIIDigit) else {
                throw ConfigError("the database URL's port parameter must be a number from 1 to 65535")
            }
            port = parsed
        }
        // URLComponents.user and .password are already percent-decoded.
        self.init(host: components.host ?? "", port: port, username: user,
                  password: components.password, database: database.isEmpty ? nil : database, tls: tls,
                  socketDirectory: socketDirectory.map { $0.count > 1 && $0.hasSuffix("/") ? String($0.dropLast()) : $0 })
        if let socketPath, socketPath.utf8.count > Self.maximumSocketPathBytes {
            throw ConfigError("the socket path \(socketPath) is longer than \(Self.maximumSocketPathBytes) bytes")
        }
    }
}

/// An address or CIDR range, for trusted proxies.
public struct IPRange: Sendable, Equatable, CustomStringConvertible {
    let network: [UInt8]
    let prefixLength: Int
    public let description: String

    public init(_ string: String) throws {
        let pieces = string.split(separator: "/", maxSplits: 1)
        guard let address = pieces.first, let bytes = Self.bytes(String(address)) else {
            throw ConfigError("'\(string)' is not an IP address or CIDR range")
        }
        var length = bytes.count * 8
        if pieces.count == 2 {
            guard !pieces[1].isEmpty, pieces[1].allSatisfy(\.isASCIIDigit), let value = Int(pieces[1]), value <= length else {
                throw ConfigError("'\(string)' has a bad prefix length")
            }
            length = value
        }
        self.network = bytes
        self.prefixLength = length
        self.description = string
    }

    /// A plain address rather than a range.
    public var isSingleAddress: Bool { prefixLength == network.count * 8 }

    public func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address), bytes.count == network.count else { return false }
        var remaining = prefixLength
        for index in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != network[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    static func bytes(_ address: String) -> [UInt8]? {
        guard let socket = try? SocketAddress(ipAddress: address, port: 0) else { return nil }
        switch socket {
        case .v4(let v4):
            return withUnsafeBytes(of: v4.address.sin_addr.s_addr) { Array($0) }
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d; compare it as IPv4.
            if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return Array(bytes.suffix(4))
            }
            return bytes
        default:
            return nil
        }
    }
}
