import Foundation
import Testing
@testable import Registrar

/// Item 5 of the authorization server: the metadata lists every endpoint and what each accepts,
/// in both documents and for every way a tenant is reached.
@Suite("Authorization server metadata")
struct AuthorizationServerMetadataTests {
    @Test("RFC 8414 §2 / RFC 9207 §3: the document names every endpoint under the issuer, query responses and the iss parameter",
          arguments: [ResolutionMode.path, .subdomain, .customDomain])
    func endpoints(mode: ResolutionMode) async throws {
        let (_, host, prefix, issuer) = try await mode.newTenant()
        try await TestServer.run { server in
            for document in ["oauth-authorization-server", "openid-configuration"] {
                let path = mode == .path ? "/.well-known/\(document)\(prefix)" : "/.well-known/\(document)"
                let reply = try await server.get(path, host: host)
                #expect(reply.status == .ok)
                let body = try #require(reply.json)
                expectNoEmptyValues(body)
                let object = reply.object
                for (member, suffix) in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"), ("revocation_endpoint", "/revoke"),
                                         ("introspection_endpoint", "/introspect"), ("jwks_uri", "/jwks.json"), ("userinfo_endpoint", "/userinfo")] {
                    #expect(object[member] == .string(issuer + suffix), "\(document) \(member)")
                }
                #expect(object["response_modes_supported"] == .array([.string("query")]))
                #expect(object["authorization_response_iss_parameter_supported"] == .bool(true))
                #expect(object["id_token_signing_alg_values_supported"] == .array([.string("ES256")]))
                #expect(object["subject_types_supported"] == .array([.string("public")]))
            }
        }
    }

    @Test("The auth methods are listed per endpoint: revocation as the token endpoint, introspection never 'none'; signing algorithms with private_key_jwt")
    func authMethodsPerEndpoint() async throws {
        var policy = RegistrationPolicy()
        policy.tokenEndpointAuthMethods = [.none, .clientSecretBasic, .privateKeyJWT]
        let withJWT = try await TestEnvironment.createTenant(policy: policy)
        policy.tokenEndpointAuthMethods = [.none]
        policy.defaultTokenEndpointAuthMethod = .none
        let publicOnly = try await TestEnvironment.createTenant(policy: policy)
        try await TestServer.run { server in
            let jwt = try await server.get("/.well-known/oauth-authorization-server/t/\(withJWT.slug)").object
            let methods = JSONValue.array([.string("none"), .string("client_secret_basic"), .string("private_key_jwt")])
            #expect(jwt["token_endpoint_auth_methods_supported"] == methods)
            #expect(jwt["revocation_endpoint_auth_methods_supported"] == methods)
            #expect(jwt["introspection_endpoint_auth_methods_supported"]
                == .array([.string("client_secret_basic"), .string("private_key_jwt"), .string("client_secret_post")]))
            let algorithms = try #require(jwt["token_endpoint_auth_signing_alg_values_supported"])
            #expect(algorithms.arrayValue?.contains(.string("RS256")) == true)
            #expect(algorithms.arrayValue?.contains(.string("none")) == false)
            #expect(jwt["revocation_endpoint_auth_signing_alg_values_supported"] == algorithms)
            #expect(jwt["introspection_endpoint_auth_signing_alg_values_supported"] == algorithms)

            // Resource servers always authenticate with their secret, so introspection lists it
            // even where clients are public only; no signing algorithms without private_key_jwt.
            let open = try await server.get("/.well-known/oauth-authorization-server/t/\(publicOnly.slug)").object
            #expect(open["revocation_endpoint_auth_methods_supported"] == .array([.string("none")]))
            #expect(open["introspection_endpoint_auth_methods_supported"] == .array([.string("client_secret_basic"), .string("client_secret_post")]))
            for member in ["token", "revocation", "introspection"] {
                #expect(open["\(member)_endpoint_auth_signing_alg_values_supported"] == nil)
            }
        }
    }

    @Test("OIDC Discovery §3: openid-configuration adds claims_supported and says request_uri is not supported; RFC 8414 metadata does not")
    func openIDAdditions() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let oidc = try await server.get("/t/\(tenant.slug)/.well-known/openid-configuration").object
            let claims = oidc["claims_supported"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(Set(["sub", "iss", "aud", "exp", "iat", "email", "email_verified", "name", "nonce", "at_hash", "auth_time"]).isSubset(of: claims))
            #expect(oidc["request_uri_parameter_supported"] == .bool(false))
            #expect(oidc["scopes_supported"]?.arrayValue?.contains(.string("openid")) == true)
            let oauth = try await server.get("/.well-known/oauth-authorization-server/t/\(tenant.slug)").object
            #expect(oauth["claims_supported"] == nil)
            #expect(oauth["request_uri_parameter_supported"] == nil)
            // Apart from the OIDC additions, the two documents agree.
            var stripped = oidc
            stripped["claims_supported"] = nil
            stripped["request_uri_parameter_supported"] = nil
            #expect(stripped == oauth)
        }
    }

    @Test("A tenant named like a well-known document gets the RFC 8414 document at its RFC 8414 URL")
    func documentChosenByRouteNotPath() async throws {
        let slug = "openid-configuration"
        let tenant = try await TestEnvironment.withDatabase { database in
            let repository = PostgresTenantRepository(database: database)
            if let existing = try await repository.find(slug: slug) { return existing }
            return try await repository.create(slug: slug, displayName: "Named like a document", domains: [])
        }
        try await TestServer.run { server in
            let oauth = try await server.get("/.well-known/oauth-authorization-server/t/\(tenant.slug)").object
            let oidc = try await server.get("/.well-known/openid-configuration/t/\(tenant.slug)").object
            #expect(oauth["claims_supported"] == nil)
            #expect(oidc["claims_supported"] != nil)
        }
    }
}
