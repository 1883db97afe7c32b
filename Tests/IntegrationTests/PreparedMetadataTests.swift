import Foundation
import Testing
@testable import Registrar

/// Metadata is served from prepared bytes, and those bytes follow the tenant's policy: a new
/// policy version is a new document at once, the same version the very same bytes.
@Suite("Prepared metadata documents")
struct PreparedMetadataTests {
    @Test("Prepared metadata: repeated requests get identical bytes; a policy change shows at once")
    func followsPolicyVersion() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let path = "/t/\(tenant.slug)/.well-known/oauth-authorization-server"
            let first = try await server.get(path)
            let second = try await server.get(path)
            #expect(first.status == .ok)
            #expect(first.bodyText == second.bodyText)
            #expect(first.header("Content-Type") == "application/json")
            #expect(first.header("Cache-Control") == "public, max-age=60")

            var policy = RegistrationPolicy()
            policy.tokenEndpointAuthMethods = [.none, .clientSecretBasic]
            try await Stored.setPolicy(policy, for: tenant)
            let changed = try await server.get(path)
            #expect(changed.object["token_endpoint_auth_methods_supported"] == .array([.string("none"), .string("client_secret_basic")]), "\(changed.status) \(changed.bodyText)")
            #expect(changed.object["token_endpoint_auth_signing_alg_values_supported"] == nil)
        }
    }
}
