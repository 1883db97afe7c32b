import Foundation
import HTTPTypes
import Testing
@testable import Registrar

@Suite("RFC 8414 metadata and tenant resolution")
struct MetadataEndpointTests {
    static let documents = ["oauth-authorization-server", "openid-configuration"]

    @Test("RFC 8414 §3.1: path-inserted and path-appended URLs serve the path issuer's metadata", arguments: documents)
    func pathIssuer(document: String) async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            for path in ["/.well-known/\(document)/t/\(tenant.slug)", "/t/\(tenant.slug)/.well-known/\(document)"] {
                let reply = try await server.get(path)
                #expect(reply.status == .ok, "\(path)")
                #expect(reply.header("Content-Type") == "application/json")
                #expect(reply.object["issuer"] == .string("http://localhost/t/\(tenant.slug)"))
                #expect(reply.object["registration_endpoint"] == .string("http://localhost/t/\(tenant.slug)/register"))
            }
        }
    }

    @Test("RFC 8414 §3: host-based issuers serve metadata at the root well-known URLs", arguments: [ResolutionMode.subdomain, .customDomain])
    func hostIssuer(mode: ResolutionMode) async throws {
        let (_, host, _, issuer) = try await mode.newTenant()
        try await TestServer.run { server in
            for document in Self.documents {
                let reply = try await server.get("/.well-known/\(document)", host: host)
                #expect(reply.status == .ok)
                #expect(reply.object["issuer"] == .string(issuer))
                #expect(reply.object["registration_endpoint"] == .string("\(issuer)/register"))
            }
        }
    }

    @Test("RFC 8414 §2: the document lists what is supported, with S256 and no null or empty member")
    func documentContents() async throws {
        var policy = RegistrationPolicy()
        policy.allowedScopes = ["mcp:tools", "mcp:read"]
        policy.defaultScopes = ["mcp:read"]
        policy.tokenEndpointAuthMethods = [.none, .clientSecretBasic]
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        try await TestServer.run(configure: { $0.serviceDocumentation = "https://docs.example.com/registrar" }) { server in
            let reply = try await server.get("/.well-known/oauth-authorization-server/t/\(tenant.slug)")
            let body = try #require(reply.json)
            expectNoEmptyValues(body)
            #expect(!reply.bodyText.contains("null"))
            #expect(body["issuer"]?.stringValue?.hasSuffix("/") == false)
            #expect(body["response_types_supported"] == .array([.string("code")]))
            #expect(body["code_challenge_methods_supported"] == .array([.string("S256")]))
            #expect(body["grant_types_supported"] == .array([.string("authorization_code"), .string("refresh_token")]))
            #expect(body["token_endpoint_auth_methods_supported"] == .array([.string("none"), .string("client_secret_basic")]))
            #expect(body["scopes_supported"] == .array([.string("mcp:tools"), .string("mcp:read")]))
            #expect(body["service_documentation"] == .string("https://docs.example.com/registrar"))
            #expect(reply.header("Access-Control-Allow-Origin") == "*")
        }
    }

    @Test("Design §3: unknown, malformed and suspended tenants get the same 404 JSON")
    func unknownTenantsLookAlike() async throws {
        let suspended = try await TestEnvironment.createTenant()
        _ = try await TestEnvironment.withDatabase { database in
            try await database.withPlatformScope { connection in
                try await connection.run("UPDATE tenants SET status = 'suspended' WHERE tenant_id = \(suspended.id)", logger: TestEnvironment.logger)
            }
        }
        try await TestServer.run { server in
            let replies = [
                try await server.get("/.well-known/oauth-authorization-server/t/\(TestEnvironment.uniqueSlug("nobody"))"),
                try await server.get("/.well-known/oauth-authorization-server/t/NOT_A_SLUG"),
                try await server.get("/.well-known/oauth-authorization-server/t/\(suspended.slug)"),
                try await server.get("/.well-known/oauth-authorization-server", host: "unknown.customer.test"),
                try await server.get("/.well-known/oauth-authorization-server", host: "nobody-here.\(TestServer.baseDomain)"),
                try await server.postJSON("/t/\(suspended.slug)/register", RegistrationEndpointTests.publicClient),
            ]
            for reply in replies {
                #expect(reply.status == .notFound)
                #expect(reply.header("Content-Type") == "application/json")
                #expect(reply.bodyText == replies[0].bodyText)
            }
        }
    }

    @Test("Design §3: the platform host has no tenant of its own, and /t/{slug} is only served on the platform host")
    func pathTenantsOnlyOnPlatformHost() async throws {
        let domain = "\(TestEnvironment.uniqueSlug("cd")).customer.test"
        let tenant = try await TestEnvironment.createTenant(domains: [domain])
        let other = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let platformRoot = try await server.get("/.well-known/oauth-authorization-server")
            #expect(platformRoot.status == .notFound)
            let otherTenantOnCustomDomain = try await server.get("/t/\(other.slug)/.well-known/oauth-authorization-server", host: domain)
            #expect(otherTenantOnCustomDomain.status == .notFound)
            let pathOnSubdomain = try await server.get("/t/\(tenant.slug)/.well-known/oauth-authorization-server", host: "\(tenant.slug).\(TestServer.baseDomain)")
            #expect(pathOnSubdomain.status == .notFound)
        }
    }

    @Test("Design §3: the issuer comes from configuration, not from a forged Host or X-Forwarded-Host")
    func issuerNotEchoedFromHeaders() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let reply = try await server.get("/.well-known/oauth-authorization-server/t/\(tenant.slug)",
                                             headers: [HTTPField.Name("X-Forwarded-Host")!: "evil.example"])
            #expect(reply.object["issuer"] == .string("http://localhost/t/\(tenant.slug)"))
        }
    }

    @Test("Real clients: unused well-known URLs answer 404 JSON, never a redirect or 5xx", arguments: [
        "/.well-known/oauth-protected-resource", "/.well-known/unknown", "/.well-known/oauth-authorization-server/extra/path", "/nothing-here",
    ])
    func unusedWellKnown(path: String) async throws {
        try await TestServer.run { server in
            let reply = try await server.get(path)
            #expect(reply.status == .notFound)
            #expect(reply.object["error"] == .string("not_found"))
        }
    }

    @Test("Real clients: browser-based MCP clients get CORS preflight answers on metadata and registration")
    func corsPreflight() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let headers: HTTPFields = [.origin: "http://localhost:6274", .accessControlRequestMethod: "POST"]
            for path in ["/t/\(tenant.slug)/register", "/.well-known/oauth-authorization-server/t/\(tenant.slug)"] {
                let reply = try await server.request(.options, path, headers: headers)
                #expect(reply.status == .noContent)
                #expect(reply.header("Access-Control-Allow-Origin") == "*")
                #expect(reply.header("Access-Control-Allow-Headers")?.contains("MCP-Protocol-Version") == true)
            }
            let health = try await server.get("/healthz")
            #expect(health.header("Access-Control-Allow-Origin") == nil)
        }
    }
}
