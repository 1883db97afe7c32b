import Foundation
import HTTPTypes
import PostgresNIO
import Synchronization
import Testing
@testable import Registrar

/// Support for the management API tests (`Admin*Tests`): keys created the way the CLI creates
/// them, a caller that speaks to `/admin/v1` with one key, and registrations through the real
/// RFC 7591 endpoint. Every name here starts with `Admin` so that it cannot clash with the
/// support files of other suites.
enum AdminFixture {
    static let prefix = "/admin/v1"

    /// Creates admin keys directly in the database, as `registrar keys create` does.
    static func createKeys(_ specs: [(role: AdminKey.Role, tenantID: UUID?)], label: String = "admin-tests")
        async throws -> [(key: AdminKey, presented: String)] {
        try await TestEnvironment.withDatabase { database in
            let hasher = Argon2Hasher(parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1), threads: 1)
            let result: Result<[(key: AdminKey, presented: String)], any Error>
            do {
                let service = AdminKeyService(hasher: hasher, keys: PostgresAdminKeyRepository(database: database), tags: .development)
                var created: [(key: AdminKey, presented: String)] = []
                for spec in specs {
                    let (key, presented) = try await service.create(role: spec.role, tenantID: spec.tenantID, label: label, audit: nil)
                    created.append((key, presented))
                }
                result = .success(created)
            } catch {
                result = .failure(error)
            }
            try await hasher.shutdown()
            return try result.get()
        }
    }

    /// One key, presented form only.
    static func key(_ role: AdminKey.Role, for tenant: Tenant? = nil) async throws -> String {
        try await createKeys([(role, tenant?.id)])[0].presented
    }

    /// One key with its stored record (for its id).
    static func keyRecord(_ role: AdminKey.Role, for tenant: Tenant? = nil) async throws -> (key: AdminKey, presented: String) {
        try await createKeys([(role, tenant?.id)])[0]
    }

    /// A server that believes `X-Forwarded-For` from the test client, so that every test (and,
    /// where many registrations are made, every request) can come from its own address and
    /// never share a per-address limit with tests running alongside.
    static func run<T: Sendable>(overrides: AppOverrides = .init(), _ body: @escaping @Sendable (TestServer) async throws -> T) async throws -> T {
        try await TestServer.run(configure: { config in
            config.trustedProxies = [try IPRange("127.0.0.0/8"), try IPRange("::1/128")]
        }, overrides: overrides, body)
    }

    /// A random documentation-range address (RFC 5737), as the source of a request.
    static func randomAddress() -> String {
        "198.51.\(Int.random(in: 0...255)).\(Int.random(in: 1...254))"
    }

    static let loopbackRedirect = "http://127.0.0.1:33418/callback"
    static let trustedRedirect = "https://claude.ai/api/mcp/auth_callback"

    /// A public client (no secret) with a loopback redirect: registers under the default policy.
    static func publicClient(_ name: String = "Admin test public client") -> [String: JSONValue] {
        ["client_name": .string(name), "redirect_uris": .array([.string(loopbackRedirect)]), "token_endpoint_auth_method": .string("none")]
    }

    /// A confidential client (`client_secret_post`) with a trusted redirect.
    static func confidentialClient(_ name: String = "Admin test confidential client") -> [String: JSONValue] {
        ["client_name": .string(name), "redirect_uris": .array([.string(trustedRedirect)]),
         "token_endpoint_auth_method": .string("client_secret_post")]
    }

    /// Registers through `POST /t/{slug}/register` from a fresh source address; requires 201.
    static func register(_ server: TestServer, _ tenant: Tenant, _ body: [String: JSONValue], initialAccessToken: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) async throws -> AdminRegistration {
        var headers: HTTPFields = [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: randomAddress()]
        if let initialAccessToken { headers[.authorization] = "Bearer \(initialAccessToken)" }
        let reply = try await server.request(.post, "/t/\(tenant.slug)/register", headers: headers, body: JSONValue.object(body).encodedString())
        try #require(reply.status == .created, "registration refused: \(reply.status) \(reply.bodyText)", sourceLocation: sourceLocation)
        return try AdminRegistration(reply)
    }

    /// The registration endpoint's answer without requiring success.
    static func tryRegister(_ server: TestServer, _ tenant: Tenant, _ body: [String: JSONValue], initialAccessToken: String? = nil)
        async throws -> TestServer.Reply {
        var headers: HTTPFields = [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: randomAddress()]
        if let initialAccessToken { headers[.authorization] = "Bearer \(initialAccessToken)" }
        return try await server.request(.post, "/t/\(tenant.slug)/register", headers: headers, body: JSONValue.object(body).encodedString())
    }

    /// RFC 7592 read of a client with its registration access token.
    static func readConfiguration(_ server: TestServer, _ tenant: Tenant, _ clientID: String, token: String) async throws -> TestServer.Reply {
        try await server.request(.get, "/t/\(tenant.slug)/register/\(clientID)",
                                 headers: [.authorization: "Bearer \(token)", HTTPField.Name("X-Forwarded-For")!: randomAddress()])
    }

    /// Number of clients the tenant holds, read directly from the database.
    static func clientCount(_ tenant: Tenant) async throws -> Int {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try #require(try await connection.run("SELECT count(*)::integer FROM clients", logger: TestEnvironment.logger).first)
                    .decode(Int.self)
            }
        }
    }

    /// Changes what the registration endpoint cannot: where a client came from.
    static func setRegisteredVia(_ tenant: Tenant, _ clientID: String, _ origin: RegisteredClient.Origin) async throws {
        let updated = try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("UPDATE clients SET registered_via = \(origin.rawValue) WHERE client_id = \(clientID) RETURNING client_id",
                                         logger: TestEnvironment.logger).count
            }
        }
        try #require(updated == 1)
    }

    /// An RFC 3339 date-time the API's date filters accept (whole seconds, UTC).
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// Waits until just past the next whole second and returns that second, so that everything
    /// before the call happened strictly before it and everything after strictly after.
    static func nextWholeSecond() async throws -> Date {
        let now = Date().timeIntervalSince1970
        let boundary = now.rounded(.down) + 1
        try await Task.sleep(for: .milliseconds(Int((boundary - now) * 1000) + 150))
        return Date(timeIntervalSince1970: boundary)
    }
}

/// What a 201 from the registration endpoint handed out.
struct AdminRegistration: Sendable {
    let clientID: String
    let registrationAccessToken: String
    let clientSecret: String?

    init(_ reply: TestServer.Reply) throws {
        let body = reply.object
        clientID = try #require(body["client_id"]?.stringValue)
        registrationAccessToken = try #require(body["registration_access_token"]?.stringValue)
        clientSecret = body["client_secret"]?.stringValue
    }
}

/// A caller of `/admin/v1`: one key (or none), the platform host unless told otherwise, and its
/// own source address.
struct AdminCaller: Sendable {
    let server: TestServer
    /// The whole `Authorization` value, or nil for none.
    let authorization: String?
    var host: String = TestServer.platformHost
    let sourceAddress = AdminFixture.randomAddress()

    init(_ server: TestServer, key: String?, host: String = TestServer.platformHost) {
        self.server = server
        self.authorization = key.map { "Bearer \($0)" }
        self.host = host
    }

    init(_ server: TestServer, authorization: String?) {
        self.server = server
        self.authorization = authorization
    }

    func headers(_ extra: HTTPFields) -> HTTPFields {
        var headers = extra
        if let authorization, headers[.authorization] == nil { headers[.authorization] = authorization }
        headers[HTTPField.Name("X-Forwarded-For")!] = sourceAddress
        return headers
    }

    func get(_ path: String, headers: HTTPFields = [:]) async throws -> TestServer.Reply {
        try await server.request(.get, AdminFixture.prefix + path, host: host, headers: self.headers(headers))
    }

    func delete(_ path: String, headers: HTTPFields = [:]) async throws -> TestServer.Reply {
        try await server.request(.delete, AdminFixture.prefix + path, host: host, headers: self.headers(headers))
    }

    /// Sends a raw body with a content type (nil: none at all).
    func send(_ method: HTTPRequest.Method, _ path: String, raw: String?, contentType: String? = "application/json",
              headers: HTTPFields = [:]) async throws -> TestServer.Reply {
        var headers = self.headers(headers)
        if let contentType { headers[.contentType] = contentType }
        return try await server.request(method, AdminFixture.prefix + path, host: host, headers: headers, body: raw)
    }

    func post(_ path: String, _ body: [String: JSONValue] = [:], headers: HTTPFields = [:]) async throws -> TestServer.Reply {
        try await send(.post, path, raw: JSONValue.object(body).encodedString(), headers: headers)
    }

    func put(_ path: String, _ body: [String: JSONValue], headers: HTTPFields = [:]) async throws -> TestServer.Reply {
        try await send(.put, path, raw: JSONValue.object(body).encodedString(), headers: headers)
    }

    func patch(_ path: String, _ body: [String: JSONValue], headers: HTTPFields = [:]) async throws -> TestServer.Reply {
        try await send(.patch, path, raw: JSONValue.object(body).encodedString(), headers: headers)
    }

    /// Follows `next_cursor` until the end; returns every page's items, in order.
    func pages(_ path: String, limit: Int, maximumPages: Int = 1000,
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> [[JSONValue]] {
        var pages: [[JSONValue]] = []
        var cursor: String?
        repeat {
            let separator = path.contains("?") ? "&" : "?"
            var url = "\(path)\(separator)limit=\(limit)"
            if let cursor { url += "&cursor=\(cursor)" }
            let reply = try await get(url)
            try #require(reply.status == .ok, "\(url): \(reply.status) \(reply.bodyText)", sourceLocation: sourceLocation)
            let items = try #require(reply.object["items"]?.arrayValue, sourceLocation: sourceLocation)
            #expect(items.count <= limit, sourceLocation: sourceLocation)
            pages.append(items)
            cursor = reply.object["next_cursor"]?.stringValue
            try #require(pages.count <= maximumPages, "too many pages", sourceLocation: sourceLocation)
        } while cursor != nil
        return pages
    }
}

/// Checks of RFC 9457 problem documents.
enum AdminProblem {
    /// Status, `application/problem+json`, `type`/`title`/`status` members, no-store; returns the body.
    @discardableResult
    static func expect(_ reply: TestServer.Reply, _ kind: Problem.Kind, field: String? = nil,
                       sourceLocation: SourceLocation = #_sourceLocation) -> [String: JSONValue] {
        #expect(reply.status == kind.status, "expected \(kind.status), got \(reply.status): \(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.header("Content-Type") == "application/problem+json", sourceLocation: sourceLocation)
        let body = reply.object
        #expect(body["type"]?.stringValue == "urn:registrar:problem:\(kind.rawValue)", "body: \(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(body["title"]?.stringValue == kind.title, sourceLocation: sourceLocation)
        #expect(body["status"]?.intValue == Int(kind.status.code), sourceLocation: sourceLocation)
        if let field {
            #expect(invalidParamNames(reply).contains(field), "invalid_params should name \(field): \(reply.bodyText)",
                    sourceLocation: sourceLocation)
        }
        return body
    }

    static func invalidParamNames(_ reply: TestServer.Reply) -> [String] {
        (reply.object["invalid_params"]?.arrayValue ?? []).compactMap { $0.objectValue?["name"]?.stringValue }
    }
}

extension TestServer.Reply {
    /// The `items` of a list response.
    var adminItems: [[String: JSONValue]] {
        (object["items"]?.arrayValue ?? []).compactMap(\.objectValue)
    }
}

/// A clock the server reads (`AppOverrides.now`), moved by the test.
final class AdminClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date) { current = Mutex(start) }

    var now: Date { current.withLock { $0 } }

    func set(_ date: Date) { current.withLock { $0 = date } }

    var overrides: AppOverrides {
        var overrides = AppOverrides()
        overrides.now = { [self] in self.now }
        return overrides
    }
}
