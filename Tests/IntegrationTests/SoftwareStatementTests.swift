import Foundation
import HTTPTypes
import JWTKit
import PostgresNIO
import Testing
@testable import Registrar

/// RFC 7591 §2.3 software statements, signed with jwt-kit in the test and sent over HTTP.
@Suite("RFC 7591 software statements")
struct SoftwareStatementTests {
    static let bodyClient: [String: JSONValue] = [
        "client_name": .string("From the body"),
        "redirect_uris": .array([.string("http://127.0.0.1:1111/body")]),
        "token_endpoint_auth_method": .string("none"),
        "software_id": .string("body-software"),
    ]

    static func tenant(trusting issuers: [StatementIssuer], mode: RegistrationPolicy.SoftwareStatementMode = .optional) async throws -> Tenant {
        var policy = RegistrationPolicy()
        policy.registrationAccess = .open
        policy.softwareStatementMode = mode
        policy.trustedSoftwareStatementIssuers = issuers.map(\.trusted)
        return try await TestEnvironment.createTenant(policy: policy)
    }

    static func issuer(of tenant: Tenant) -> String { "http://localhost/t/\(tenant.slug)" }

    static func registration(with statement: String?, _ body: [String: JSONValue] = bodyClient) -> String {
        var body = body
        if let statement { body["software_statement"] = .string(statement) }
        return jsonBody(body)
    }

    static func expectRefused(_ reply: TestServer.Reply, _ error: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == .badRequest, "\(reply.status) \(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.object["error"] == .string(error), "\(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.header("Content-Type") == "application/json", sourceLocation: sourceLocation)
    }

    static func statementClaims(for tenant: Tenant) -> [String: JSONValue] {
        [
            "aud": .string(issuer(of: tenant)),
            "iat": .number(Date().timeIntervalSince1970.rounded(.down)),
            "exp": .number(Date().timeIntervalSince1970.rounded(.down) + 600),
            "software_id": .string("statement-software"),
            "client_name": .string("From the statement"),
            "redirect_uris": .array([.string("http://127.0.0.1:2222/statement")]),
        ]
    }

    @Test("RFC 7591 §2.3: a valid statement's claims override the JSON body, and the claims are stored with the client")
    func claimsOverrideBody() async throws {
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer])
        let claims = Self.statementClaims(for: tenant)
        let statement = try await issuer.sign(claims)
        let client = try await TestServer.run { server in
            try await server.register(tenant, Self.registration(with: statement))
        }
        #expect(client.body["client_name"] == .string("From the statement"))
        #expect(client.body["software_id"] == .string("statement-software"))
        #expect(client.body["redirect_uris"] == .array([.string("http://127.0.0.1:2222/statement")]))
        // Members the statement does not assert still come from the body.
        #expect(client.body["token_endpoint_auth_method"] == .string("none"))
        // The statement itself is not echoed as metadata, nor are its JWT claims.
        #expect(client.body["iss"] == nil)
        #expect(client.body["aud"] == nil)

        let stored = try #require(try await Stored.client(tenant, client.clientID))
        #expect(stored.metadata.clientName == "From the statement")
        #expect(stored.metadata.softwareID == "statement-software")
        let storedClaims = try #require(stored.softwareStatement?.objectValue)
        #expect(storedClaims["iss"] == .string(issuer.name))
        #expect(storedClaims["software_id"] == .string("statement-software"))
        #expect(storedClaims["client_name"] == .string("From the statement"))
        #expect(storedClaims["redirect_uris"] == claims["redirect_uris"])
    }

    @Test("RFC 7591 §2.3: a statement from a trusted issuer's name but signed with another key is invalid_software_statement")
    func untrustedKey() async throws {
        let trusted = StatementIssuer()
        let impostor = StatementIssuer(name: trusted.name)
        let tenant = try await Self.tenant(trusting: [trusted])
        let statement = try await impostor.sign(Self.statementClaims(for: tenant))
        try await TestServer.run { server in
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: statement)), "invalid_software_statement")
        }
        #expect(try await Stored.clientCount(tenant) == 0)
    }

    @Test("RFC 7591 §3.2.2: a statement from an issuer the tenant does not trust is unapproved_software_statement")
    func untrustedIssuer() async throws {
        let trusted = StatementIssuer()
        let stranger = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [trusted])
        let statement = try await stranger.sign(Self.statementClaims(for: tenant))
        try await TestServer.run { server in
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: statement)), "unapproved_software_statement")
        }
        #expect(try await Stored.clientCount(tenant) == 0)
    }

    @Test("RFC 7591 §2.3: an expired statement is invalid_software_statement, judged by the server's clock")
    func expiredStatement() async throws {
        let clock = TestClock()
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer])
        var claims = Self.statementClaims(for: tenant)
        claims["iat"] = .number(clock.now.timeIntervalSince1970)
        claims["exp"] = .number(clock.now.timeIntervalSince1970 + 300)
        let statement = try await issuer.sign(claims)
        var expiredLongAgo = claims
        expiredLongAgo["iat"] = .number(clock.now.timeIntervalSince1970 - 7200)
        expiredLongAgo["exp"] = .number(clock.now.timeIntervalSince1970 - 3600)
        let stale = try await issuer.sign(expiredLongAgo)
        try await TestServer.run(overrides: clock.overrides) { server in
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: stale)), "invalid_software_statement")
            #expect(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: statement)).status == .created)
            clock.advance(by: 300 + SoftwareStatementVerifier.allowedSkew + 1)
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: statement)), "invalid_software_statement")
        }
        #expect(try await Stored.clientCount(tenant) == 1)
    }

    @Test("RFC 7591 §2.3: an unsigned statement (alg none) is invalid_software_statement")
    func algNone() async throws {
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer])
        let statement = issuer.unsigned(Self.statementClaims(for: tenant))
        #expect(statement.hasSuffix("."))
        try await TestServer.run { server in
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: statement)), "invalid_software_statement")
        }
        #expect(try await Stored.clientCount(tenant) == 0)
    }

    @Test("RFC 7591 §2.3: an HS256 statement (MAC keyed with the issuer's public JWK Set) is invalid_software_statement")
    func hmacStatement() async throws {
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer])
        let statement = try await issuer.signHS256(Self.statementClaims(for: tenant))
        let header = SoftwareStatementVerifier.decodeSegment(statement.split(separator: ".")[0])
        #expect(header?["alg"] == .string("HS256"))
        try await TestServer.run { server in
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: statement)), "invalid_software_statement")
        }
        #expect(try await Stored.clientCount(tenant) == 0)
    }

    @Test("RFC 7591 §2.3: a statement whose aud names another issuer is refused; one naming this tenant is accepted")
    func audienceMustNameThisIssuer() async throws {
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer])
        let otherTenant = try await Self.tenant(trusting: [issuer])
        var claims = Self.statementClaims(for: tenant)
        claims["aud"] = .string(Self.issuer(of: otherTenant))
        let forOther = try await issuer.sign(claims)
        claims["aud"] = .array([.string("https://elsewhere.example"), .string(Self.issuer(of: otherTenant))])
        let forOthers = try await issuer.sign(claims)
        claims["aud"] = .array([.string("https://elsewhere.example"), .string(Self.issuer(of: tenant))])
        let forThis = try await issuer.sign(claims)
        try await TestServer.run { server in
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: forOther)), "invalid_software_statement")
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: forOthers)), "invalid_software_statement")
            #expect(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: forThis)).status == .created)
            // The statement meant for the other tenant works there.
            #expect(try await server.postJSON("/t/\(otherTenant.slug)/register", Self.registration(with: forOther)).status == .created)
        }
        #expect(try await Stored.clientCount(tenant) == 1)
    }

    @Test("RFC 7591 §2.3: in required mode, a registration without a statement is invalid_software_statement")
    func requiredMode() async throws {
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer], mode: .required)
        let statement = try await issuer.sign(Self.statementClaims(for: tenant))
        try await TestServer.run { server in
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", Self.registration(with: nil)), "invalid_software_statement")
            var nullStatement = Self.bodyClient
            nullStatement["software_statement"] = .null
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", jsonBody(nullStatement)), "invalid_software_statement")
            let accepted = try await server.register(tenant, Self.registration(with: statement))
            #expect(accepted.body["software_id"] == .string("statement-software"))
        }
        #expect(try await Stored.clientCount(tenant) == 1)
    }

    @Test("RFC 7591 §2.3: in ignore mode, a garbage statement is ignored and the body is registered as sent")
    func ignoreMode() async throws {
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer], mode: .ignore)
        let signed = try await issuer.sign(Self.statementClaims(for: tenant))
        try await TestServer.run { server in
            for garbage: JSONValue in [.string("this is not a JWT"), .number(42), .string(signed)] {
                var body = Self.bodyClient
                body["software_statement"] = garbage
                let client = try await server.register(tenant, jsonBody(body))
                #expect(client.body["client_name"] == .string("From the body"))
                #expect(client.body["software_id"] == .string("body-software"))
                #expect(client.body["software_statement"] == nil)
                #expect(try await Stored.client(tenant, client.clientID)?.softwareStatement == nil)
            }
        }
    }

    @Test("RFC 7591 §2.3: a software_statement that is not a string, or not a JWT, is invalid_software_statement", arguments: [
        JSONValue.number(42), .object(["alg": .string("none")]), .string("not-a-jwt"), .string("a.b.c"),
    ])
    func malformedStatement(statement: JSONValue) async throws {
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer])
        var body = Self.bodyClient
        body["software_statement"] = statement
        let request = jsonBody(body)
        try await TestServer.run { server in
            Self.expectRefused(try await server.postJSON("/t/\(tenant.slug)/register", request), "invalid_software_statement")
        }
        #expect(try await Stored.clientCount(tenant) == 0)
    }

    @Test("RFC 7592 §2.2 with RFC 7591 §2.3: on PUT, a required statement is required again and its claims override the body")
    func statementOnUpdate() async throws {
        let issuer = StatementIssuer()
        let tenant = try await Self.tenant(trusting: [issuer], mode: .required)
        var claims = Self.statementClaims(for: tenant)
        let statement = try await issuer.sign(claims)
        claims["client_name"] = .string("Statement v2")
        let statementV2 = try await issuer.sign(claims)
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.registration(with: statement))
            let before = try await Stored.registration(tenant, client.clientID)
            var replacement = Self.bodyClient
            replacement["client_id"] = .string(client.clientID)
            let refused = try await server.putJSON(client.path, jsonBody(replacement), headers: bearer(client.registrationAccessToken))
            Self.expectRefused(refused, "invalid_software_statement")
            #expect(try await Stored.registration(tenant, client.clientID) == before)

            replacement["software_statement"] = .string(statementV2)
            let updated = try await server.putJSON(client.path, jsonBody(replacement), headers: bearer(client.registrationAccessToken))
            #expect(updated.status == .ok, "\(updated.bodyText)")
            #expect(updated.object["client_name"] == .string("Statement v2"))
            #expect(updated.object["redirect_uris"] == .array([.string("http://127.0.0.1:2222/statement")]))
            #expect(try await Stored.client(tenant, client.clientID)?.softwareStatement?["client_name"] == .string("Statement v2"))
        }
    }
}
