import Foundation
import PostgresNIO
import Testing
@testable import Registrar

/// The token endpoint reads a grant's code or refresh token in the client's lookup statement
/// (`TokenGrantRepository.findClient(…alongWith:)`): what it reads must be exactly what the
/// separate reads find, in the caller's tenant only, and nothing once a limiter check refused.
@Suite("Token grants: the credential read beside the client")
struct TokenGrantLookupTests {
    typealias F = TokenFixture

    static let address = "192.0.2.77"

    static func checks(_ tenant: Tenant) -> [RateLimitCheck] {
        [.failures(from: address, tenantID: tenant.id, limit: tenant.policy.rateLimits.failedAuthenticationsPerAddress)]
    }

    @Test("Prepared statements have names of their own, each within PostgreSQL's 63-byte identifiers")
    func preparedStatementNames() {
        let names = [PostgresRateLimiter.Check.name, PostgresTokenGrantRepository.FindCode.name, PostgresTokenGrantRepository.RedeemCode.name,
                     PostgresTokenGrantRepository.FindRefreshToken.name, PostgresTokenGrantRepository.SpendRefreshToken.name,
                     PostgresTokenGrantRepository.AccessTokenRevoked.name, PostgresTokenGrantRepository.FindClientAndCode.name,
                     PostgresTokenGrantRepository.FindClientAndRefreshToken.name, PostgresResourceServerRepository.FindForIntrospection.name,
                     PostgresClientRepository.FindClient.name, PostgresClientRepository.FindClientAfterChecking.name]
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { !$0.isEmpty && $0.utf8.count <= 63 })
    }

    /// A statement prepared against a function whose result a migration then changes.
    enum ShapeProbe: PreparedSQL {
        static let name = "registrar_test_shape_probe"
        static let sql = "SELECT * FROM registrar_test_shape_probe($1)"
    }

    static func owner(_ sql: String) async throws {
        _ = try await withPostgresClient(try TestEnvironment.ownerURL(), logger: TestEnvironment.logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger).collect()
        }
    }

    @Test("A migration that changes a function's result under prepared statements is answered unprepared, not failed")
    func preparedStatementsSurviveSchemaChanges() async throws {
        try await TestEnvironment.prepare()
        try await Self.owner("DROP FUNCTION IF EXISTS registrar_test_shape_probe(text)")
        try await Self.owner("CREATE FUNCTION registrar_test_shape_probe(p text) RETURNS TABLE (a text) LANGUAGE sql AS $$ SELECT p $$")
        try await TestEnvironment.withDatabase { database in
            func probe(_ value: String) async throws -> [PostgresRow] {
                var bindings = PostgresBindings()
                bindings.append(value)
                return try await database.execute(ShapeProbe.self, bindings)
            }
            // Every connection of the pool prepares it.
            async let first = probe("one")
            async let second = probe("two")
            #expect(try await first.first?.decode(String.self) == "one")
            #expect(try await second.first?.decode(String.self) == "two")
            try await Self.owner("DROP FUNCTION registrar_test_shape_probe(text)")
            try await Self.owner("CREATE FUNCTION registrar_test_shape_probe(p text) RETURNS TABLE (a text, b text) LANGUAGE sql AS $$ SELECT p, 'new' $$")
            for value in ["three", "four", "five"] {
                let row = try #require(try await probe(value).first)
                let (echoed, added) = try row.decode((String, String).self)
                #expect(echoed == value && added == "new")
            }
        }
        try await Self.owner("DROP FUNCTION registrar_test_shape_probe(text)")
    }

    @Test("The lookup beside the client finds the refresh token and the code the separate reads find, unknown ones as none")
    func readsWhatTheSeparateReadsFind() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let refreshHash = OpaqueToken.hash(try #require(response["refresh_token"]?.stringValue))
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let codeHash = OpaqueToken.hash(try await F.issue(bound, tenant: tenant))
            try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenGrantRepository(database: database)
                let byRefresh = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant),
                                                                alongWith: .refreshToken(hash: refreshHash))
                #expect(byRefresh.client?.clientID == client.clientID)
                guard case .refreshToken(let token?) = byRefresh.credential else { Issue.record("no refresh token read"); return }
                let separate = try #require(try await repository.findRefreshToken(hash: refreshHash, tenantID: tenant.id))
                #expect(token.familyID == separate.familyID && token.clientID == client.clientID && token.scopes == separate.scopes)
                #expect(token.expiresAt == separate.expiresAt && token.user?.userID == separate.user?.userID && token.rotatedAt == nil)

                let byCode = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant),
                                                             alongWith: .authorizationCode(hash: codeHash))
                #expect(byCode.client?.clientID == client.clientID)
                guard case .authorizationCode(let code?) = byCode.credential else { Issue.record("no code read"); return }
                #expect(code.code.clientID == client.clientID && code.code.codeChallenge == bound.challenge && !code.consumed)
                #expect(code.code.user.userID == bound.userID && code.code.redirectURI == bound.redirectURI)

                let unknown = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant),
                                                              alongWith: .refreshToken(hash: OpaqueToken.hash(OpaqueToken.refreshToken())))
                #expect(unknown.client?.clientID == client.clientID)
                guard case .refreshToken(nil) = unknown.credential else { Issue.record("an unknown refresh token was read"); return }
            }
        }
    }

    @Test("Row-level tenancy: tenant B's lookup finds neither tenant A's client nor its refresh token or code")
    func anotherTenantReadsNothing() async throws {
        let tenant = try await F.tenant()
        let other = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let refreshHash = OpaqueToken.hash(try #require(response["refresh_token"]?.stringValue))
            let codeHash = OpaqueToken.hash(try await F.issue(F.code(for: client, user: try await F.createUser(tenant), tenant: tenant,
                                                                     redirect: F.publicRedirect), tenant: tenant))
            try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenGrantRepository(database: database)
                let byRefresh = try await repository.findClient(tenantID: other.id, clientID: client.clientID, afterChecking: Self.checks(other),
                                                                alongWith: .refreshToken(hash: refreshHash))
                #expect(byRefresh.client == nil)
                guard case .refreshToken(nil) = byRefresh.credential else { Issue.record("tenant A's refresh token was read in tenant B"); return }
                let byCode = try await repository.findClient(tenantID: other.id, clientID: client.clientID, afterChecking: Self.checks(other),
                                                             alongWith: .authorizationCode(hash: codeHash))
                #expect(byCode.client == nil)
                guard case .authorizationCode(nil) = byCode.credential else { Issue.record("tenant A's code was read in tenant B"); return }
            }
        }
    }

    @Test("A refusing limiter check answers the refusal instead of the client and the credential")
    func refusedCheckReadsNothing() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let refreshHash = OpaqueToken.hash(try #require(response["refresh_token"]?.stringValue))
            try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenGrantRepository(database: database)
                let once = [RateLimitCheck("lookup_test", key: "lookup:\(UUID().uuidString)", tenantID: tenant.id,
                                           limit: RateLimit(limit: 1, periodSeconds: 3600))]
                let first = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: once,
                                                            alongWith: .refreshToken(hash: refreshHash))
                #expect(first.client != nil)
                await #expect(throws: RateLimitExceeded.self) {
                    _ = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: once,
                                                        alongWith: .refreshToken(hash: refreshHash))
                }
            }
        }
    }
    // MARK: A public client's refresh grant in one statement

    static func plan(at now: Date = Date(), scopes: [String]? = nil, resources: [String] = []) -> PlannedRefresh {
        PlannedRefresh(now: now, successor: OpaqueToken.refreshToken(), idleExpiresAt: now.addingTimeInterval(3600),
                       accessToken: PlannedAccessToken(jti: SecretGenerator.randomToken(), issuedAt: now, expiresAt: now.addingTimeInterval(600)),
                       scopes: scopes, resources: resources)
    }

    @Test("With a plan, the lookup spends a public client's current refresh token: rotated out, the successor stored in its family, the jti recorded")
    func lookupSpendsAsPlanned() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let hash = OpaqueToken.hash(try #require(response["refresh_token"]?.stringValue))
            let plan = Self.plan(scopes: ["email"], resources: [F.issuer(tenant)])
            try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenGrantRepository(database: database)
                let read = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant),
                                                           alongWith: .refreshToken(hash: hash, spend: plan))
                guard case .refreshTokenSpent(let token, .issued, let spent) = read.credential else {
                    Issue.record("not spent: \(read.credential)"); return
                }
                #expect(spent == plan && token.rotatedAt == nil && read.client?.clientID == client.clientID)
                let presented = try #require(try await repository.findRefreshToken(hash: hash, tenantID: tenant.id))
                #expect(presented.rotatedAt != nil)
                let successor = try #require(try await repository.findRefreshToken(hash: OpaqueToken.hash(plan.successor), tenantID: tenant.id))
                #expect(successor.familyID == token.familyID && successor.rotatedAt == nil)
                #expect(abs(successor.expiresAt.timeIntervalSince(min(token.absoluteExpiresAt, plan.idleExpiresAt))) < 0.001)
            }
            #expect(try await F.count(tenant, "family_access_tokens", where: "jti = '\(plan.accessToken.jti)'") == 1)
        }
    }

    /// What makes the lookup leave a token to the two-statement path; each case returns the plan
    /// and the client asking, after changing what it must.
    enum Unspendable: String, CaseIterable, Sendable {
        case widerScope, resourceNotGranted, resourceInAnotherCase, expired, anotherClient, disabledClient, disabledUser,
             confidentialClient, metadataOfAnotherMethod, notPlanned
    }

    @Test("The lookup spends nothing when any of its checks fails, and reads the token as without a plan", arguments: Unspendable.allCases)
    func lookupLeavesTheRestToTheGrant(_ reason: Unspendable) async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let confidential = reason == .confidentialClient
            let client = confidential ? try await F.confidentialClient(server, tenant) : try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: confidential ? F.confidentialRedirect : F.publicRedirect)
            let hash = OpaqueToken.hash(try #require(response["refresh_token"]?.stringValue))
            var asking = client.clientID
            var plan: PlannedRefresh? = Self.plan()
            switch reason {
            case .widerScope: plan = Self.plan(scopes: ["email", "mcp:admin"])
            case .resourceNotGranted: plan = Self.plan(resources: ["https://elsewhere.example.com"])
            case .resourceInAnotherCase: plan = Self.plan(resources: ["HTTP://LOCALHOST/t/\(tenant.slug)"])
            case .expired: plan = Self.plan(at: Date().addingTimeInterval(400 * 86_400))
            case .anotherClient: asking = try await F.publicClient(server, tenant).clientID
            case .disabledClient: try await F.execute(tenant, "UPDATE clients SET status = 'disabled' WHERE client_id = '\(client.clientID)'")
            case .disabledUser: try await F.execute(tenant, "UPDATE users SET status = 'disabled'")
            case .confidentialClient: break
            case .metadataOfAnotherMethod:
                // A row whose column and metadata disagree (hand-edited): the client is judged by its metadata.
                try await F.execute(tenant, """
                    UPDATE clients SET metadata = jsonb_set(metadata, '{token_endpoint_auth_method}', '"private_key_jwt"')
                    WHERE client_id = '\(client.clientID)'
                    """)
            case .notPlanned: plan = nil
            }
            try await TestEnvironment.withDatabase { [asking, plan] database in
                let repository = PostgresTokenGrantRepository(database: database)
                let read = try await repository.findClient(tenantID: tenant.id, clientID: asking, afterChecking: Self.checks(tenant),
                                                           alongWith: .refreshToken(hash: hash, spend: plan))
                guard case .refreshToken(let token?) = read.credential else { Issue.record("\(reason): \(read.credential)"); return }
                #expect(token.rotatedAt == nil)
                #expect(try await repository.findRefreshToken(hash: hash, tenantID: tenant.id)?.rotatedAt == nil, "\(reason) spent the token")
            }
            #expect(try await F.count(tenant, "refresh_tokens") == 1)
        }
    }

    @Test("A public client that presents a secret is refused without its refresh token being spent")
    func secretFromAPublicClientSpendsNothing() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let token = try #require(response["refresh_token"]?.stringValue)
            let refused = try await F.post(server, tenant, "token", [("grant_type", "refresh_token"), ("refresh_token", token),
                                                                     ("client_id", client.clientID), ("client_secret", "guess")])
            F.expectError(refused, .invalidClient)
            #expect(try await F.count(tenant, "refresh_tokens", where: "rotated_at IS NOT NULL") == 0)
            let reply = try await F.refresh(server, tenant, client, token)
            #expect(reply.status == .ok, "\(reply.bodyText)")
        }
    }

    @Test("Over HTTP, a public client's refresh with a resource in another case is narrowed on the two-statement path")
    func canonicalResourceOverHTTP() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let token = try #require(response["refresh_token"]?.stringValue)
            let reply = try await F.refresh(server, tenant, client, token, extra: [("resource", "HTTP://LOCALHOST/t/\(tenant.slug)")])
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(try F.claims(try #require(reply.object["access_token"]?.stringValue))["aud"] == .string(F.issuer(tenant)))
        }
    }

    // MARK: A public client's code exchange in one statement

    static func redemption(_ bound: F.Code, at now: Date = Date(), verifier: String? = nil, redirectURI: String?? = .none,
                           resources: [String] = [], refreshToken: String? = OpaqueToken.refreshToken()) -> PlannedRedemption {
        PlannedRedemption(now: now, familyID: UUID(), challenge: PKCE.challenge(for: verifier ?? bound.verifier),
                          redirectURI: redirectURI ?? bound.redirectURI, resources: resources, refreshToken: refreshToken,
                          refreshExpiresAt: now.addingTimeInterval(3600), absoluteExpiresAt: now.addingTimeInterval(7200),
                          accessToken: PlannedAccessToken(jti: SecretGenerator.randomToken(), issuedAt: now, expiresAt: now.addingTimeInterval(600)))
    }

    @Test("With a plan, the lookup redeems a public client's code: consumed into the planned family, its refresh token and the jti recorded")
    func lookupRedeemsAsPlanned() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let hash = OpaqueToken.hash(try await F.issue(bound, tenant: tenant))
            let plan = Self.redemption(bound, resources: bound.resources)
            try await TestEnvironment.withDatabase { database in
                let repository = PostgresTokenGrantRepository(database: database)
                let read = try await repository.findClient(tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant),
                                                           alongWith: .authorizationCode(hash: hash, redeem: plan))
                guard case .authorizationCodeRedeemed(let found, .issued, let redeemed) = read.credential else {
                    Issue.record("not redeemed: \(read.credential)"); return
                }
                #expect(redeemed == plan && !found.consumed && found.code.clientID == client.clientID)
                let consumed = try #require(try await repository.findAuthorizationCode(hash: hash, tenantID: tenant.id))
                #expect(consumed.consumed)
                let first = try #require(plan.refreshToken)
                let refresh = try #require(try await repository.findRefreshToken(hash: OpaqueToken.hash(first), tenantID: tenant.id))
                #expect(refresh.familyID == plan.familyID && refresh.clientID == client.clientID && refresh.scopes == bound.scopes)
                #expect(abs(refresh.absoluteExpiresAt.timeIntervalSince(plan.absoluteExpiresAt)) < 0.001)
                #expect(abs(refresh.expiresAt.timeIntervalSince(plan.refreshExpiresAt)) < 0.001)
            }
            #expect(try await F.count(tenant, "family_access_tokens", where: "jti = '\(plan.accessToken.jti)'") == 1)
        }
    }

    @Test("A client that did not register the refresh grant has its code redeemed with no refresh token stored")
    func lookupRedeemsWithoutRefreshToken() async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant, grants: ["authorization_code"])
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let hash = OpaqueToken.hash(try await F.issue(bound, tenant: tenant))
            let plan = Self.redemption(bound)
            try await TestEnvironment.withDatabase { database in
                let read = try await PostgresTokenGrantRepository(database: database).findClient(
                    tenantID: tenant.id, clientID: client.clientID, afterChecking: Self.checks(tenant), alongWith: .authorizationCode(hash: hash, redeem: plan))
                guard case .authorizationCodeRedeemed(_, .issued, _) = read.credential else { Issue.record("not redeemed: \(read.credential)"); return }
            }
            #expect(try await F.count(tenant, "refresh_tokens") == 0)
            #expect(try await F.count(tenant, "token_families", where: """
                family_id = '\(plan.familyID.uuidString.lowercased())'
                AND abs(extract(epoch FROM absolute_expires_at) - \(plan.accessToken.expiresAt.timeIntervalSince1970)) < 0.001
                """) == 1, "without a refresh token the family lasts as long as its access token")
        }
    }

    enum Unredeemable: String, CaseIterable, Sendable {
        case wrongVerifier, otherRedirect, redirectOmitted, resourceNotGranted, resourceInAnotherCase, expired, anotherClient,
             disabledClient, disabledUser, consumed, confidentialClient, unreadableMetadata, notPlanned
    }

    @Test("The lookup redeems nothing when any of its checks fails, and reads the code as without a plan", arguments: Unredeemable.allCases)
    func lookupLeavesTheCodeToTheExchange(_ reason: Unredeemable) async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let confidential = reason == .confidentialClient
            let client = confidential ? try await F.confidentialClient(server, tenant) : try await F.publicClient(server, tenant)
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant,
                               redirect: confidential ? F.confidentialRedirect : F.publicRedirect)
            let hash = OpaqueToken.hash(try await F.issue(bound, tenant: tenant))
            var asking = client.clientID
            var plan: PlannedRedemption? = Self.redemption(bound)
            switch reason {
            case .wrongVerifier: plan = Self.redemption(bound, verifier: F.pkce().verifier)
            case .otherRedirect: plan = Self.redemption(bound, redirectURI: bound.redirectURI + "/other")
            case .redirectOmitted: plan = Self.redemption(bound, redirectURI: .some(nil))
            case .resourceNotGranted: plan = Self.redemption(bound, resources: ["https://elsewhere.example.com"])
            case .resourceInAnotherCase: plan = Self.redemption(bound, resources: ["HTTP://LOCALHOST/t/\(tenant.slug)"])
            case .expired: plan = Self.redemption(bound, at: Date().addingTimeInterval(3600))
            case .anotherClient: asking = try await F.publicClient(server, tenant).clientID
            case .disabledClient: try await F.execute(tenant, "UPDATE clients SET status = 'disabled' WHERE client_id = '\(client.clientID)'")
            case .disabledUser: try await F.execute(tenant, "UPDATE users SET status = 'disabled'")
            case .consumed: try await F.execute(tenant, "UPDATE authorization_codes SET consumed_at = now()")
            case .unreadableMetadata:
                try await F.execute(tenant, "UPDATE clients SET metadata = metadata - 'redirect_uris' WHERE client_id = '\(client.clientID)'")
            case .confidentialClient: break
            case .notPlanned: plan = nil
            }
            try await TestEnvironment.withDatabase { [asking, plan] database in
                let repository = PostgresTokenGrantRepository(database: database)
                let read = try await repository.findClient(tenantID: tenant.id, clientID: asking, afterChecking: Self.checks(tenant),
                                                           alongWith: .authorizationCode(hash: hash, redeem: plan))
                guard case .authorizationCode(let found?) = read.credential else { Issue.record("\(reason): \(read.credential)"); return }
                #expect(found.consumed == (reason == .consumed))
            }
            #expect(try await F.count(tenant, "token_families") == 0, "\(reason) redeemed the code")
        }
    }

    @Test("A NUL byte in resource or redirect_uri is answered as any other mismatch, never by a failed lookup", arguments: ["resource", "redirect_uri"])
    func nulBytesAreAnsweredAsMismatches(_ parameter: String) async throws {
        let tenant = try await F.tenant()
        try await AdminFixture.run { server in
            let client = try await F.publicClient(server, tenant)
            let (response, _) = try await F.tokens(server, tenant, client, redirect: F.publicRedirect)
            let token = try #require(response["refresh_token"]?.stringValue)
            if parameter == "resource" {
                F.expectError(try await F.refresh(server, tenant, client, token, extra: [("resource", "https://a.example\u{0}")]), .invalidTarget)
            }
            let bound = F.code(for: client, user: try await F.createUser(tenant), tenant: tenant, redirect: F.publicRedirect)
            let code = try await F.issue(bound, tenant: tenant)
            let extra = parameter == "resource" ? [("resource", "https://a.example\u{0}")] : []
            var sent = bound
            if parameter == "redirect_uri" { sent.redirectURI = F.publicRedirect + "\u{0}" }
            let reply = try await F.exchange(server, tenant, client, code: code, sent, extra: extra)
            F.expectError(reply, parameter == "resource" ? .invalidTarget : .invalidGrant)
            // The refresh token and the code are still usable.
            #expect(try await F.refresh(server, tenant, client, token).status == .ok)
            #expect(try await F.exchange(server, tenant, client, code: code, bound).status == .ok)
        }
    }
}
