import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// What ends with a grant or a client: codes not yet redeemed, refresh tokens, and access tokens
/// at introspection (RFC 7009 §2, RFC 7662 §2.2).
@Suite("Revocation cascades")
struct RevocationCascadeTests {
    @Test("A code issued before its grant was revoked cannot be redeemed afterwards")
    func codeDiesWithItsGrant() async throws {
        let fixture = try await AuthorizeFixture.make()
        let key = try await AdminFixture.key(.admin, for: fixture.tenant)
        try await SignInTests.run { server in
            var reply = try await fixture.authorize(server, fixture.query(["scope": "openid profile"]))
            if reply.status == .ok { reply = try await fixture.submitConsent(server, page: reply, decision: "allow") }
            let code = try #require(AuthorizeFixture.redirectQuery(reply)?.values("code").first)

            let admin = AdminCaller(server, key: key)
            let grants = "/tenants/\(fixture.tenant.slug)/users/\(fixture.user.id.uuidString.lowercased())/grants"
            #expect(try await admin.delete(grants).status == .noContent)

            var form = FormParameters()
            for (name, value) in [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", "https://app.example.com/callback"),
                                  ("client_id", fixture.clientID), ("code_verifier", AuthorizeFixture.verifier)] { form.append(name, value) }
            let token = try await server.request(.post, "\(fixture.prefix)/token", headers: [.contentType: "application/x-www-form-urlencoded"],
                                                 body: form.encoded)
            #expect(token.status == .badRequest)
            #expect(token.object["error"]?.stringValue == "invalid_grant")
        }
    }

    enum ClientChange: String, CaseIterable, CustomTestStringConvertible {
        case disable, delete
        var testDescription: String { rawValue }
    }

    @Test("Disabling or deleting a client lists its access tokens as revoked and ends its refresh tokens", arguments: ClientChange.allCases)
    func clientChangeRevokesTokens(change: ClientChange) async throws {
        let fixture = try await AuthorizeFixture.make()
        let key = try await AdminFixture.key(.admin, for: fixture.tenant)
        try await SignInTests.run { server in
            let (accessToken, refreshToken) = try await fixture.issueTokens(server)
            #expect(try await fixture.revocationState(accessToken: accessToken).revoked == false)
            let admin = AdminCaller(server, key: key)
            let path = "/tenants/\(fixture.tenant.slug)/clients/\(fixture.clientID)"
            let reply = switch change {
            case .disable: try await admin.post(path + "/disable")
            case .delete: try await admin.delete(path)
            }
            #expect(reply.status.code < 300, "\(reply.status) \(reply.bodyText)")
            let after = try await fixture.revocationState(accessToken: accessToken)
            #expect(after.revoked)
            #expect(after.liveFamilies == 0)
            let refreshed = try await fixture.refresh(server, refreshToken)
            #expect(refreshed.status.code >= 400)
        }
    }
}
