import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// RFC details of every answer: the bearer challenge, 405 with Allow, the client assertion
/// algorithms in metadata, and nosniff.
@Suite("Protocol details: WWW-Authenticate, 405, metadata algorithms, nosniff")
struct ProtocolDetailTests {
    enum Credential: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case none = "no Authorization header"
        case basic = "another scheme (Basic)"
        case wrongBearer = "a wrong bearer token"
        var testDescription: String { rawValue }

        var headers: HTTPFields {
            switch self {
            case .none: [:]
            case .basic: authorization("Basic " + Data("a:b".utf8).base64EncodedString())
            case .wrongBearer: bearer("rat_" + String(repeating: "A", count: 43))
            }
        }

        /// RFC 6750 §3.1: no error code when the request carried no bearer credential.
        var expectedChallenge: String {
            self == .wrongBearer ? #"Bearer error="invalid_token""# : "Bearer"
        }
    }

    @Test("RFC 6750 §3.1: WWW-Authenticate has an error code only when a bearer token was sent", arguments: Credential.allCases)
    func bearerChallenge(credential: Credential) async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let reply = try await server.get("/t/\(tenant.slug)/register/cl_\(String(repeating: "x", count: 24))", headers: credential.headers)
            #expect(reply.status == .unauthorized)
            #expect(reply.object["error"] == .string("invalid_token"))
            #expect(reply.header("WWW-Authenticate") == credential.expectedChallenge)
        }
    }

    @Test("RFC 9110 §15.5.6: a known OAuth path with another method is 405 OAuth JSON with Allow; an unknown path stays 404", arguments: [
        ("GET", "/register", "OPTIONS, POST"),
        ("PATCH", "/t/acme/register/cl_abc", "DELETE, GET, OPTIONS, PUT"),
        ("POST", "/.well-known/oauth-authorization-server", "GET, OPTIONS"),
        ("PUT", "/healthz", "GET"),
    ])
    func oauthMethodNotAllowed(method: String, path: String, allow: String) async throws {
        try await TestServer.run { server in
            let reply = try await server.request(HTTPRequest.Method(method)!, path, body: method == "GET" ? nil : "{}")
            #expect(reply.status == .methodNotAllowed, "\(reply.bodyText)")
            #expect(reply.header("Allow") == allow)
            #expect(reply.object["error"] == .string("invalid_request"))
            #expect(reply.header("Content-Type")?.hasPrefix("application/json") == true)
            let unknown = try await server.request(HTTPRequest.Method(method)!, "/no-such-path", body: method == "GET" ? nil : "{}")
            #expect(unknown.status == .notFound)
            #expect(unknown.header("Allow") == nil)
        }
    }

    @Test("RFC 9110 §15.5.6: a known /admin/v1 path with another method is 405 problem+json with Allow", arguments: [
        ("PUT", "/admin/v1/tenants", "GET, POST"),
        ("POST", "/admin/v1/keys/abc", "DELETE"),
        ("DELETE", "/admin/v1/audit", "GET"),
    ])
    func adminMethodNotAllowed(method: String, path: String, allow: String) async throws {
        try await TestServer.run { server in
            let reply = try await server.request(HTTPRequest.Method(method)!, path, body: "{}")
            #expect(reply.status == .methodNotAllowed, "\(reply.bodyText)")
            #expect(reply.header("Allow") == allow)
            #expect(reply.header("Content-Type") == "application/problem+json")
            #expect(reply.object["status"] == .number(405))
            let unknown = try await server.request(HTTPRequest.Method(method)!, "/admin/v1/no-such-thing", body: "{}")
            #expect(unknown.status == .notFound)
            #expect(unknown.header("Content-Type") == "application/problem+json")
        }
    }

    @Test("RFC 8414 §2: token_endpoint_auth_signing_alg_values_supported is present exactly when private_key_jwt is advertised, RS256 in it, none never")
    func clientAssertionAlgorithms() async throws {
        let withJWT = try await TestEnvironment.createTenant()
        var secretOnly = RegistrationPolicy()
        secretOnly.tokenEndpointAuthMethods = [.none, .clientSecretBasic]
        let withoutJWT = try await TestEnvironment.createTenant(policy: secretOnly)
        try await TestServer.run { server in
            let advertised = try await server.get("/t/\(withJWT.slug)/.well-known/oauth-authorization-server").object
            #expect(advertised["token_endpoint_auth_methods_supported"]?.arrayValue?.contains(.string("private_key_jwt")) == true)
            let algorithms = try #require(advertised["token_endpoint_auth_signing_alg_values_supported"]?.arrayValue)
            #expect(algorithms.contains(.string("RS256")))
            #expect(!algorithms.contains(.string("none")))
            #expect(!algorithms.contains(.string("HS256")), "a shared-key algorithm cannot sign a private_key_jwt assertion")
            let plain = try await server.get("/t/\(withoutJWT.slug)/.well-known/oauth-authorization-server").object
            #expect(plain["token_endpoint_auth_signing_alg_values_supported"] == nil)
        }
    }

    @Test("X-Content-Type-Options: nosniff on every answer: documents, errors, preflights, health and admin")
    func noSniffEverywhere() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let replies: [(String, TestServer.Reply)] = [
                ("metadata", try await server.get("/t/\(tenant.slug)/.well-known/oauth-authorization-server")),
                ("404", try await server.get("/no-such-path")),
                ("400", try await server.postJSON("/t/\(tenant.slug)/register", "{")),
                ("preflight", try await server.request(.options, "/t/\(tenant.slug)/register")),
                ("health", try await server.get("/healthz")),
                ("admin 401", try await server.get("/admin/v1/tenants")),
                ("405", try await server.request(.delete, "/healthz")),
            ]
            for (what, reply) in replies {
                #expect(reply.header("X-Content-Type-Options") == "nosniff", "\(what): \(reply.status)")
            }
        }
    }
}
