import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// Browser-based MCP clients must be able to read error answers of the open endpoints: every
/// status carries CORS and exposes the headers a client acts on. It also pins the middleware
/// order through HTTP: CORS outside error rendering, error rendering outside the deadline.
@Suite("CORS on error answers of the open endpoints")
struct CORSOnErrorTests {
    static let origin: HTTPFields = [HTTPField.Name("Origin")!: "https://app.example"]

    static func expectReadableByBrowsers(_ reply: TestServer.Reply, _ status: HTTPResponse.Status, _ what: String,
                                         sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == status, "\(what): \(reply.status) \(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.header("Access-Control-Allow-Origin") == "*", "\(what): no CORS", sourceLocation: sourceLocation)
        let exposed = Set((reply.header("Access-Control-Expose-Headers") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        for name in ["WWW-Authenticate", "Retry-After", "RateLimit", "RateLimit-Policy"] {
            #expect(exposed.contains(name), "\(what): \(name) not exposed", sourceLocation: sourceLocation)
        }
        #expect(reply.object["error"]?.stringValue != nil, "\(what): not OAuth error JSON", sourceLocation: sourceLocation)
        #expect(reply.header("X-Content-Type-Options") == "nosniff", "\(what)", sourceLocation: sourceLocation)
        #expect(reply.header("X-Request-Id") != nil, "\(what)", sourceLocation: sourceLocation)
    }

    @Test("CORS: 400, 401 and 404 of the open endpoints carry Access-Control-Allow-Origin and expose WWW-Authenticate, Retry-After, RateLimit")
    func clientErrorsCarryCORS() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let invalid = try await server.postJSON("/t/\(tenant.slug)/register", #"{"redirect_uris":["not a uri"]}"#, headers: Self.origin)
            Self.expectReadableByBrowsers(invalid, .badRequest, "400 register")
            let unauthorized = try await server.get("/t/\(tenant.slug)/register/cl_\(String(repeating: "x", count: 24))", headers: Self.origin)
            Self.expectReadableByBrowsers(unauthorized, .unauthorized, "401 client configuration")
            #expect(unauthorized.header("WWW-Authenticate") != nil)
            let missing = try await server.get("/t/no-such-tenant-\(UUID().uuidString.prefix(8).lowercased())/.well-known/oauth-authorization-server",
                                               headers: Self.origin)
            Self.expectReadableByBrowsers(missing, .notFound, "404 unknown tenant")
        }
    }

    @Test("CORS: a 429 of /register carries CORS, so a browser can read Retry-After and RateLimit")
    func tooManyRequestsCarriesCORS() async throws {
        var policy = RegistrationPolicy()
        policy.rateLimits.registerPerAddress = RateLimit(limit: 1, periodSeconds: 3600, burst: 1)
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        try await TestServer.run { server in
            #expect(try await server.postJSON("/t/\(tenant.slug)/register", RegistrationEndpointTests.publicClient, headers: Self.origin).status == .created)
            let refused = try await server.postJSON("/t/\(tenant.slug)/register", RegistrationEndpointTests.publicClient, headers: Self.origin)
            Self.expectReadableByBrowsers(refused, .tooManyRequests, "429 register")
            #expect(refused.header("RateLimit") != nil)
        }
    }

    @Test("Middleware order: a request past its deadline (hung database) is a 503 in OAuth JSON with Retry-After, CORS, nosniff and a request id")
    func deadlineUnavailableCarriesCORS() async throws {
        let database = try await SilentServer.start()
        var overrides = AppOverrides()
        overrides.databaseTimeout = .seconds(60)
        overrides.requestTimeout = .seconds(1)
        let port = database.port
        do {
            try await TestServer.run(configure: { config in
                config.databaseURL = DatabaseURL(host: "127.0.0.1", port: port, username: "nobody", database: "none", tls: .disable)
            }, overrides: overrides, startupCheck: false) { server in
                let start = ContinuousClock.now
                let reply = try await server.get("/t/some-tenant/.well-known/oauth-authorization-server", headers: Self.origin)
                #expect(ContinuousClock.now - start < .seconds(5), "the deadline did not cut the hung request short")
                Self.expectReadableByBrowsers(reply, .serviceUnavailable, "503 deadline")
                #expect(reply.object["error"] == .string("temporarily_unavailable"))
                #expect(reply.header("Retry-After") == "1")
            }
        } catch {
            await database.stop()
            throw error
        }
        await database.stop()
    }
}
