import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// The token endpoint with codes that the real `/authorize` and consent form issued.
@Suite("Token endpoint after /authorize")
struct TokenAuthorizeFlowTests {
    @Test("A code from /authorize + consent exchanges at /token, refreshes, and revoking the grant ends the tokens")
    func authorizeThenToken() async throws {
        let fixture = try await AuthorizeFixture.make(scope: ["openid", "profile", "email", "offline_access"])
        let resource = "https://mcp-\(fixture.tenant.slug).example.com/mcp"
        try await fixture.registerResource(resource)
        try await TestServer.run { server in
            let page = try await fixture.authorize(server, fixture.query(["scope": "openid email offline_access", "resource": resource + "/"]))
            #expect(page.status == .ok, "\(page.status)")
            let allowed = try await fixture.submitConsent(server, page: page, decision: "allow")
            let code = try #require(AuthorizeFixture.redirectQuery(allowed)?.values("code").first, "\(allowed.status)")
            let token = "/t/\(fixture.tenant.slug)/token"
            let form: [(String, String)] = [("grant_type", "authorization_code"), ("code", code), ("code_verifier", AuthorizeFixture.verifier),
                                            ("redirect_uri", "https://app.example.com/callback"), ("client_id", fixture.clientID),
                                            ("resource", resource)]
            let headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            let reply = try await server.request(.post, token, headers: headers, body: TokenFixture.form(form))
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(reply.object["scope"] == .string("openid email offline_access"))
            let access = try TokenFixture.claims(try #require(reply.object["access_token"]?.stringValue))
            #expect(access["aud"] == .string(resource))
            #expect(access["sub"] == .string(fixture.user.id.uuidString.lowercased()))
            let id = try TokenFixture.claims(try #require(reply.object["id_token"]?.stringValue))
            #expect(id["email"] == .string(fixture.user.email))
            let refresh = try #require(reply.object["refresh_token"]?.stringValue)
            let refreshed = try await server.request(.post, token, headers: headers, body: TokenFixture.form(
                [("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", fixture.clientID)]))
            #expect(refreshed.status == .ok, "\(refreshed.bodyText)")
            let successor = try #require(refreshed.object["refresh_token"]?.stringValue)

            // The user revokes the grant: the family it was issued under ends.
            let grant = try #require(try await fixture.grantRow())
            let revoked = try await TestEnvironment.withDatabase { database in
                try await PostgresTokenFamilyRepository(database: database).revokeFamilies(grantID: grant.grantID, tenantID: fixture.tenant.id)
            }
            #expect(revoked == 1)
            let after = try await server.request(.post, token, headers: headers, body: TokenFixture.form(
                [("grant_type", "refresh_token"), ("refresh_token", successor), ("client_id", fixture.clientID)]))
            #expect(after.object["error"] == .string("invalid_grant"))
        }
    }
}
