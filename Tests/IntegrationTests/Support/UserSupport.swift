import Foundation
import HTTPTypes
import Synchronization
import Testing
@testable import Registrar

/// Users for the sign-in tests, stored through the same service the admin API and CLI use.
enum UserFixture {
    static let password = "correct horse battery staple"

    /// The hasher of the test server's parameters, so that stored hashes need no rehash.
    static let hasher = Argon2Hasher(parameters: .init(memoryKiB: 256, iterations: 1, parallelism: 1), threads: 1, queueLimit: 64)

    static func uniqueEmail(_ prefix: String = "user") -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())@example.com"
    }

    @discardableResult
    static func create(_ tenant: Tenant, email: String = uniqueEmail(), password: String? = UserFixture.password,
                       displayName: String = "Test user") async throws -> User {
        try await TestEnvironment.withDatabase { database in
            let service = UserService(hasher: hasher, users: PostgresUserRepository(database: database),
                                      sessions: PostgresSessionRepository(database: database))
            return try await service.create(.init(email: email, displayName: displayName, password: password), tenantID: tenant.id,
                                            actor: AuditEvent(action: "", actorType: .system, actorID: "tests")).user
        }
    }

    static func sessionCount(_ tenant: Tenant, userID: UUID) async throws -> Int {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("SELECT count(*)::integer FROM sessions WHERE user_id = \(userID)", logger: database.logger)
                    .first!.decode(Int.self)
            }
        }
    }

    static func auditActions(_ tenant: Tenant) async throws -> [(action: String, actorID: String?, details: String)] {
        try await TestEnvironment.withDatabase { database in
            try await database.withTenant(tenant.id) { connection in
                try await connection.run("SELECT action, actor_id, details::text FROM audit_events ORDER BY event_id", logger: database.logger)
                    .map { try $0.decode((String, String?, String).self) }
            }
        }
    }
}

/// One `Set-Cookie` value taken apart.
struct SetCookie: Sendable, Equatable {
    let name: String
    let value: String
    let attributes: [String: String]

    init?(_ header: String) {
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, let equals = first.firstIndex(of: "=") else { return nil }
        name = String(first[..<equals])
        value = String(first[first.index(after: equals)...])
        var attributes: [String: String] = [:]
        for part in parts.dropFirst() {
            let pieces = part.split(separator: "=", maxSplits: 1)
            attributes[pieces[0].lowercased()] = pieces.count > 1 ? String(pieces[1]) : ""
        }
        self.attributes = attributes
    }

    func has(_ attribute: String) -> Bool { attributes[attribute.lowercased()] != nil }
}

extension TestServer.Reply {
    var setCookies: [SetCookie] { headers[values: .setCookie].compactMap(SetCookie.init) }

    func setCookie(named name: String) -> SetCookie? { setCookies.first { $0.name == name } }

    /// The value of a hidden form field of the page.
    func formField(_ name: String) -> String? {
        guard let range = bodyText.range(of: "name=\"\(name)\" value=\"") else { return nil }
        let rest = bodyText[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end]).replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// The text of the page's alert, if it shows one.
    var alert: String? {
        guard let start = bodyText.range(of: "role=\"alert\""), let open = bodyText[start.upperBound...].firstIndex(of: ">") else { return nil }
        let rest = bodyText[bodyText.index(after: open)...]
        guard let close = rest.range(of: "</p>") else { return nil }
        return String(rest[..<close.lowerBound])
    }
}

/// A browser for one tenant: a cookie jar (name → value, as the browser would send them to the
/// tenant's paths), its own source address, and the forms of the sign-in pages.
final class SignInBrowser: Sendable {
    let server: TestServer
    let host: String
    /// `/t/{slug}` for a path tenant, "" for a host tenant.
    let prefix: String
    let address: String
    private let jar = Mutex<[String: String]>([:])

    init(_ server: TestServer, host: String = TestServer.platformHost, prefix: String, address: String = AdminFixture.randomAddress()) {
        self.server = server
        self.host = host
        self.prefix = prefix
        self.address = address
    }

    convenience init(_ server: TestServer, tenant: Tenant) {
        self.init(server, prefix: "/t/\(tenant.slug)")
    }

    var cookies: [String: String] { jar.withLock { $0 } }

    func setCookie(_ name: String, _ value: String?) { jar.withLock { $0[name] = value } }

    /// The session cookie's name at a path tenant.
    var sessionCookieName: String { prefix.isEmpty ? "__Host-registrar_session" : "registrar_session_\(prefix.split(separator: "/").last!)" }
    var session: String? { cookies[sessionCookieName] }

    func headers(_ extra: HTTPFields = [:]) -> HTTPFields {
        var headers = extra
        headers[HTTPField.Name("X-Forwarded-For")!] = address
        let cookies = self.cookies
        if !cookies.isEmpty { headers[.cookie] = cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        return headers
    }

    /// Sends a request with the jar's cookies and stores what the answer sets.
    func send(_ method: HTTPRequest.Method, _ path: String, form: [(String, String)]? = nil, contentType: String? = nil) async throws -> TestServer.Reply {
        var extra: HTTPFields = [:]
        var body: String?
        if let form {
            extra[.contentType] = contentType ?? "application/x-www-form-urlencoded"
            body = Self.encode(form)
        }
        let reply = try await server.request(method, path, host: host, headers: headers(extra), body: body)
        jar.withLock { jar in
            for cookie in reply.setCookies {
                if cookie.attributes["max-age"] == "0" { jar[cookie.name] = nil } else { jar[cookie.name] = cookie.value }
            }
        }
        return reply
    }

    static func encode(_ form: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
    }

    func signInPage(returnTo: String? = nil, query: String = "") async throws -> TestServer.Reply {
        var path = "\(prefix)/signin"
        var parameters: [String] = []
        if let returnTo { parameters.append("return_to=" + Self.encode([("", returnTo)]).dropFirst()) }
        if !query.isEmpty { parameters.append(query) }
        if !parameters.isEmpty { path += "?" + parameters.joined(separator: "&") }
        return try await send(.get, path)
    }

    var authorizePath: String { "\(prefix)/authorize?client_id=cl_test&state=xyz" }

    /// Opens the sign-in page and submits it.
    /// - Parameter query: more of the page's query, e.g. `prompt=login` to get the form despite a session.
    func signIn(email: String, password: String = UserFixture.password, returnTo: String? = nil, query: String = "") async throws -> TestServer.Reply {
        let returnTo = returnTo ?? authorizePath
        let page = try await signInPage(returnTo: returnTo, query: query)
        let token = try #require(page.formField("csrf_token"), "no CSRF token on the page: \(page.bodyText)")
        return try await submit(email: email, password: password, csrf: token, returnTo: returnTo)
    }

    func submit(email: String, password: String = UserFixture.password, csrf: String?, returnTo: String?) async throws -> TestServer.Reply {
        var form: [(String, String)] = [("email", email), ("password", password)]
        if let csrf { form.append(("csrf_token", csrf)) }
        if let returnTo { form.append(("return_to", returnTo)) }
        return try await send(.post, "\(prefix)/signin", form: form)
    }

    /// Whether the server sees a signed-in session (the sign-out page names the user).
    func signedInEmail() async throws -> String? {
        let page = try await send(.get, "\(prefix)/signout")
        guard page.status == .ok, page.formField("csrf_token") != nil,
              let start = page.bodyText.range(of: "<strong>"), let end = page.bodyText.range(of: "</strong>") else { return nil }
        return String(page.bodyText[start.upperBound..<end.lowerBound])
    }
}
