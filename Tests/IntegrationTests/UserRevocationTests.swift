import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// What ending a user's access does to the tokens already issued, and sign-in guesses in parallel.
@Suite("Users: revocation of issued tokens")
struct UserRevocationTests {
    enum Change: String, CaseIterable, CustomTestStringConvertible {
        case disable, revokeSessions, resetPassword, delete
        var testDescription: String { rawValue }

        func apply(_ admin: AdminCaller, _ fixture: AuthorizeFixture) async throws -> TestServer.Reply {
            let base = "/tenants/\(fixture.tenant.slug)/users/\(fixture.user.id.uuidString.lowercased())"
            return switch self {
            case .disable: try await admin.post("\(base)/disable")
            case .revokeSessions: try await admin.post("\(base)/sessions/revoke")
            case .resetPassword: try await admin.send(.post, "\(base)/password", raw: nil, contentType: nil)
            case .delete: try await admin.delete(base)
            }
        }
    }

    @Test("Users: disabling, revoking the sessions of, resetting the password of or deleting a user revokes its refresh tokens (invalid_grant) and lists its access tokens as revoked",
          arguments: Change.allCases)
    func endingAccessRevokesTokens(change: Change) async throws {
        let fixture = try await AuthorizeFixture.make()
        let key = try await AdminFixture.key(.admin, for: fixture.tenant)
        try await SignInTests.run { server in
            let (accessToken, refreshToken) = try await fixture.issueTokens(server)
            let before = try await fixture.revocationState(accessToken: accessToken)
            #expect(!before.revoked)
            #expect(before.liveFamilies == 1)

            let reply = try await change.apply(AdminCaller(server, key: key), fixture)
            #expect(reply.status.code < 300, "\(change): \(reply.status) \(reply.bodyText)")

            let after = try await fixture.revocationState(accessToken: accessToken)
            #expect(after.revoked, "\(change): the access token is not on the revocation list")
            #expect(after.liveFamilies == 0)
            let refreshed = try await fixture.refresh(server, refreshToken)
            #expect(refreshed.status == .badRequest, "\(change): \(refreshed.bodyText)")
            #expect(refreshed.object["error"]?.stringValue == "invalid_grant")
            #expect(try await UserFixture.sessionCount(fixture.tenant, userID: fixture.user.id) == 0)
        }
    }

    @Test("Users: enabling a user again revokes nothing")
    func enablingRevokesNothing() async throws {
        let fixture = try await AuthorizeFixture.make()
        let key = try await AdminFixture.key(.admin, for: fixture.tenant)
        try await SignInTests.run { server in
            let (accessToken, refreshToken) = try await fixture.issueTokens(server)
            let reply = try await AdminCaller(server, key: key).post("/tenants/\(fixture.tenant.slug)/users/\(fixture.user.id.uuidString.lowercased())/enable")
            #expect(reply.status == .ok)
            #expect(try await fixture.revocationState(accessToken: accessToken).revoked == false)
            #expect(try await fixture.refresh(server, refreshToken).status == .ok)
        }
    }

    @Test("Sign-in: parallel guesses at one account cannot outrun its limit: every attempt is counted before argon2 runs")
    func parallelGuessesAreCountedBeforeHashing() async throws {
        let tenant = try await TestEnvironment.createTenant(policy: AbuseAndLifecycleTests.policy {
            $0.rateLimits.failedSignInsPerAccount = RateLimit(limit: 1, periodSeconds: 3600, burst: 3)
        })
        let user = try await UserFixture.create(tenant)
        try await SignInTests.run { server in
            // Each from its own address, so only the per-account budget applies; forms fetched first.
            var prepared: [(SignInBrowser, String)] = []
            for _ in 0..<12 {
                let browser = SignInBrowser(server, tenant: tenant)
                prepared.append((browser, try #require(try await browser.signInPage().formField("csrf_token"))))
            }
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for (browser, token) in prepared {
                    group.addTask { try await browser.submit(email: user.email, password: "a wrong guess here", csrf: token, returnTo: nil).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 9, "\(statuses)")
            #expect(statuses.filter { $0 == .ok }.count == 3, "\(statuses)")
            let failures = try await UserFixture.auditActions(tenant).filter { $0.action == "user.sign_in_failed" }
            #expect(failures.count == 3)
        }
    }
}
