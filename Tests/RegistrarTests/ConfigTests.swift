import Testing
@testable import Registrar

/// Tenant slugs, trusted proxy ranges, database URLs and the public base URL.
@Suite("Tenants and configuration")
struct ConfigTests {
    // MARK: Tenant slugs

    @Test("Tenant slugs are DNS labels of 3–63 lower-case letters, digits and inner hyphens", arguments: [
        ("acme", true), ("abc", true), ("a-b", true), ("a1b", true), ("123", true), ("acme-corp-2", true), ("a--b", true),
        (String(repeating: "a", count: 63), true),
        ("ab", false), ("", false), (String(repeating: "a", count: 64), false), ("-abc", false), ("abc-", false),
        ("ACME", false), ("Acme", false), ("a_b", false), ("a.b", false), ("a b", false), ("acmé", false), ("ab\n", false),
    ])
    func slug(_ slug: String, valid: Bool) {
        #expect(Tenant.isValidSlug(slug) == valid)
    }

    // MARK: Trusted proxies

    @Test("IPRange membership for IPv4 CIDR, IPv6 CIDR and exact addresses", arguments: [
        ("10.0.0.0/8", "10.1.2.3", true),
        ("10.0.0.0/8", "10.255.255.255", true),
        ("10.0.0.0/8", "11.0.0.1", false),
        ("10.0.0.0/8", "9.255.255.255", false),
        ("192.168.1.0/24", "192.168.1.77", true),
        ("192.168.1.0/24", "192.168.2.1", false),
        ("172.16.0.0/12", "172.31.255.1", true),
        ("172.16.0.0/12", "172.32.0.1", false),
        ("10.1.2.3/8", "10.9.9.9", true),
        ("0.0.0.0/0", "203.0.113.9", true),
        ("0.0.0.0/0", "::1", false),
        ("127.0.0.1", "127.0.0.1", true),
        ("127.0.0.1", "127.0.0.2", false),
        ("127.0.0.1/32", "127.0.0.1", true),
        ("::1", "::1", true),
        ("::1", "::2", false),
        ("::1", "127.0.0.1", false),
        ("2001:db8::/32", "2001:db8:1::1", true),
        ("2001:db8::/32", "2001:db9::1", false),
        ("fd00::/8", "fdff:1234::1", true),
        ("fd00::/8", "fe80::1", false),
        ("10.0.0.0/8", "not an address", false),
        ("10.0.0.0/8", "", false),
    ])
    func ipRangeContains(_ range: String, _ address: String, contained: Bool) throws {
        let ipRange = try IPRange(range)
        #expect(ipRange.contains(address) == contained)
        #expect(ipRange.description == range)
    }

    @Test("A malformed IP range is refused", arguments: [
        "", "not-an-ip", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/abc", "::1/129", "256.0.0.1", "10.0.0", "10.0.0.0/8/8",
    ])
    func ipRangeMalformed(_ range: String) {
        #expect(throws: ConfigError.self) { try IPRange(range) }
    }

    // MARK: Database URLs

    @Test("A full postgres:// URL is parsed into its parts")
    func databaseURLFull() throws {
        let url = try DatabaseURL("postgres://registrar_app:s3cret@db.internal:6543/registrar?sslmode=require")
        #expect(url == DatabaseURL(host: "db.internal", port: 6543, username: "registrar_app", password: "s3cret", database: "registrar", tls: .require))
    }

    @Test("postgresql:// works too, with port 5432, no password, no database and sslmode=prefer by default")
    func databaseURLDefaults() throws {
        let url = try DatabaseURL("postgresql://owner@localhost")
        #expect(url == DatabaseURL(host: "localhost", port: 5432, username: "owner", password: nil, database: nil, tls: .prefer))
    }

    @Test("Each sslmode is read", arguments: [("disable", DatabaseURL.TLSMode.disable), ("prefer", .prefer), ("require", .require)])
    func databaseURLSSLMode(_ mode: String, expected: DatabaseURL.TLSMode) throws {
        #expect(try DatabaseURL("postgres://u:p@h/d?sslmode=\(mode)").tls == expected)
    }

    @Test("Percent-encoded user names and passwords are decoded once", arguments: [
        ("postgres://app:p%40ss%3Aword@db/registrar", "app", "p@ss:word"),
        ("postgres://app%2Bro:x@db/registrar", "app+ro", "x"),
        ("postgres://app:50%25off@db/registrar", "app", "50%off"),
        ("postgres://app:ab%2541@db/registrar", "app", "ab%41"),
        ("postgres://a%2541b:x@db/registrar", "a%41b", "x"),
    ])
    func databaseURLPercentDecoding(_ string: String, user: String, password: String) throws {
        let url = try DatabaseURL(string)
        #expect(url.username == user)
        #expect(url.password == password)
    }

    @Test("A database URL without the postgres scheme, a host or a user, or with an unknown sslmode, is refused", arguments: [
        "mysql://u:p@h/d", "http://u:p@h/d", "h:5432/d", "", "postgres://", "postgres:///d", "postgres://h/d", "postgres://@h/d",
        "postgres://u:p@h/d?sslmode=verify-full", "postgres://u:p@h/d?sslmode=",
    ])
    func databaseURLRefused(_ string: String) {
        #expect(throws: ConfigError.self) { try DatabaseURL(string) }
    }

    @Test("host=/directory names PostgreSQL's Unix socket in it, as libpq does: {directory}/.s.PGSQL.{port}, without TLS")
    func databaseURLSocket() throws {
        let url = try DatabaseURL("postgres://registrar_app@/registrar?host=/var/run/postgresql")
        #expect(url.socketPath == "/var/run/postgresql/.s.PGSQL.5432")
        #expect(url.tls == .disable)
        #expect(url.database == "registrar")
        #expect(url.endpoint == "/var/run/postgresql/.s.PGSQL.5432")
        let ported = try DatabaseURL("postgresql://owner:pw@localhost:6543/registrar?host=/tmp/pg/&sslmode=prefer")
        #expect(ported.socketPath == "/tmp/pg/.s.PGSQL.6543")
        #expect(ported.password == "pw")
        #expect(try DatabaseURL("postgres://u@/d?host=/tmp&port=6543").socketPath == "/tmp/.s.PGSQL.6543")
        #expect(try DatabaseURL("postgres://u@h/d").socketPath == nil)
        #expect(try DatabaseURL("postgres://u@h:7000/d").endpoint == "h:7000")
    }

    @Test("A socket host that is not an absolute path, a socket path past 107 bytes, or sslmode=require on a socket, is refused", arguments: [
        "postgres://u@/d?host=relative/dir", "postgres://u@/d?host=", "postgres://u@/d?host=/" + String(repeating: "d", count: 100),
        "postgres://u@/d?host=/tmp&sslmode=require", "postgres:///d?host=/tmp", "postgres://u@/d?host=/tmp&port=0",
        "postgres://u@/d?host=/tmp&port=5432x",
    ])
    func databaseURLSocketRefused(_ string: String) {
        #expect(throws: ConfigError.self) { try DatabaseURL(string) }
    }

    // MARK: Public base URL and base domain

    @Test("The public base URL is an http(s) origin; a trailing slash is stripped", arguments: [
        ("https://auth.example.com", "https://auth.example.com"),
        ("https://auth.example.com/", "https://auth.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ])
    func baseURLAccepted(_ value: String, expected: String) throws {
        #expect(try RegistrarConfig.checkBaseURL(value) == expected)
    }

    @Test("A public base URL with a path, query, fragment or another scheme is refused", arguments: [
        "https://auth.example.com/oauth", "https://auth.example.com/oauth/", "https://auth.example.com//", "https://auth.example.com?x=1",
        "https://auth.example.com#x", "ftp://auth.example.com", "auth.example.com", "", "https://", "https://user@auth.example.com",
        "javascript:alert(1)", "com.example.app:/x",
    ])
    func baseURLRefused(_ value: String) {
        #expect(throws: ConfigError.self) { try RegistrarConfig.checkBaseURL(value) }
    }

    @Test("The base domain must be a host name; it is stored lower-cased")
    func baseDomain() throws {
        let database = DatabaseURL(host: "localhost", username: "u")
        #expect(try RegistrarConfig(databaseURL: database, baseDomain: "Auth.Example.COM", sqlDirectory: sqlDirectory).baseDomain == "auth.example.com")
        #expect(try RegistrarConfig(databaseURL: database, baseDomain: "localhost", sqlDirectory: sqlDirectory).baseDomain == "localhost")
        for bad in ["com", "not a host", "*.example.com", "https://example.com", ""] {
            #expect(throws: ConfigError.self, "\(bad)") {
                try RegistrarConfig(databaseURL: database, baseDomain: bad, sqlDirectory: sqlDirectory)
            }
        }
        #expect(throws: ConfigError.self) {
            try RegistrarConfig(databaseURL: database, publicBaseURL: "https://auth.example.com/path", sqlDirectory: sqlDirectory)
        }
    }

    // MARK: Database connections

    @Test("Connections per event loop's own pool: 0 (none) to 64; anything else is refused, naming the range",
          arguments: [(0, true), (1, true), (3, true), (64, true), (-1, false), (65, false), (10_000, false)])
    func loopDatabaseConnections(_ value: Int, accepted: Bool) {
        if accepted {
            #expect((try? RegistrarConfig.checkLoopDatabaseConnections(value)) == value)
        } else {
            let error = #expect(throws: ConfigError.self) { try RegistrarConfig.checkLoopDatabaseConnections(value) }
            #expect(error?.description.contains("0 (none) to 64") == true)
        }
    }
}
