import Foundation
import HTTPTypes
import PostgresNIO
import Testing
@testable import Registrar

/// RFC 7592 client configuration over HTTP against real PostgreSQL.
@Suite("RFC 7592 client configuration endpoint")
struct ClientConfigurationTests {
    static let publicClient = #"{"client_name":"Claude Code (my-server)","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none","scope":"openid"}"#
    static let confidentialClient = #"{"client_name":"Confidential","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"client_secret_post","grant_types":["authorization_code","refresh_token"]}"#

    /// The one 401 body of RFC 7592 §2 / RFC 6750 §3.1, byte for byte: every failure answers exactly this.
    static let invalidTokenBody = OAuthError.invalidToken.jsonBody.encodedString()

    /// A full replacement (RFC 7592 §2.2) that keeps the client's identity, redirects and auth method.
    static func replacement(of client: RegisteredReply, _ changes: [String: JSONValue] = [:]) -> String {
        var body: [String: JSONValue] = [
            "client_id": .string(client.clientID),
            "redirect_uris": client.body["redirect_uris"] ?? .null,
            "token_endpoint_auth_method": client.body["token_endpoint_auth_method"] ?? .null,
        ]
        for (key, value) in changes { body[key] = value }
        return jsonBody(body.filter { $0.value != .null })
    }

    /// `bearerSent: false` for a request without a bearer credential: RFC 6750 §3.1 then wants
    /// a challenge without an error code.
    static func expectInvalidToken(_ reply: TestServer.Reply, _ what: String, bearerSent: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == .unauthorized, "\(what): \(reply.status) \(reply.bodyText)", sourceLocation: sourceLocation)
        #expect(reply.bodyText == invalidTokenBody, "\(what): body differs", sourceLocation: sourceLocation)
        #expect(reply.header("WWW-Authenticate") == (bearerSent ? #"Bearer error="invalid_token""# : "Bearer"), "\(what)", sourceLocation: sourceLocation)
        #expect(reply.header("Cache-Control") == "no-store", "\(what)", sourceLocation: sourceLocation)
    }

    // MARK: - The registration access token

    enum TokenFailure: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case missingHeader = "missing Authorization header"
        case basicScheme = "Basic scheme"
        case malformedToken = "malformed token"
        case wrongToken = "wrong token"
        case otherClientsToken = "client A's token on client B's URI"
        case otherTenant = "the same token on another tenant's path"
        case unknownClient = "unknown client id"
        case deletedClient = "deleted client"
        case disabledClient = "disabled client"
        case rotatedOutAfterGrace = "rotated-out token after the grace"

        var testDescription: String { rawValue }
    }

    @Test("RFC 7592 §2 / RFC 6750 §3.1: every registration access token failure is one byte-identical 401 with WWW-Authenticate, on GET, PUT and DELETE",
          arguments: TokenFailure.allCases)
    func everyTokenFailureIsTheSame401(failure: TokenFailure) async throws {
        let clock = TestClock()
        let tenant = try await TestEnvironment.createTenant()
        let otherTenant = try await TestEnvironment.createTenant()
        try await TestServer.run(overrides: clock.overrides) { server in
            let a = try await server.register(tenant, Self.publicClient)
            let b = try await server.register(tenant, Self.publicClient)
            var path = a.path
            var headers = bearer(a.registrationAccessToken)
            switch failure {
            case .missingHeader:
                headers = [:]
            case .basicScheme:
                headers = authorization("Basic " + Data("\(a.clientID):\(a.registrationAccessToken)".utf8).base64EncodedString())
            case .malformedToken:
                headers = bearer("not-a-registration-access-token")
            case .wrongToken:
                headers = bearer("rat_" + String(repeating: "A", count: 43))
            case .otherClientsToken:
                path = b.path
            case .otherTenant:
                path = "/t/\(otherTenant.slug)/register/\(a.clientID)"
            case .unknownClient:
                path = "/t/\(tenant.slug)/register/cl_\(String(repeating: "x", count: 24))"
            case .deletedClient:
                let deleted = try await server.delete(a.path, headers: headers)
                try #require(deleted.status == .noContent)
            case .disabledClient:
                try await Stored.disable(tenant, a.clientID)
            case .rotatedOutAfterGrace:
                let updated = try await server.putJSON(a.path, Self.replacement(of: a), headers: headers)
                try #require(updated.status == .ok)
                try #require(updated.object["registration_access_token"]?.stringValue != nil)
                clock.advance(by: TimeInterval(RegistrationPolicy.default.registrationAccessTokenGraceSeconds) + 1)
            }
            let before = try await Stored.registration(tenant, a.clientID)

            let bearerSent = failure != .missingHeader && failure != .basicScheme
            Self.expectInvalidToken(try await server.get(path, headers: headers), "GET", bearerSent: bearerSent)
            Self.expectInvalidToken(try await server.putJSON(path, Self.replacement(of: a, ["client_name": .string("changed")]), headers: headers), "PUT", bearerSent: bearerSent)
            Self.expectInvalidToken(try await server.delete(path, headers: headers), "DELETE", bearerSent: bearerSent)

            // Nothing was changed by the refused requests.
            #expect(try await Stored.registration(tenant, a.clientID) == before)
            #expect(try await Stored.client(tenant, b.clientID) != nil)
        }
    }

    @Test("RFC 7592 §2: the client configuration endpoint is reached in every tenant resolution mode", arguments: ResolutionMode.allCases)
    func configurationInEveryMode(mode: ResolutionMode) async throws {
        let (_, host, prefix, issuer) = try await mode.newTenant()
        try await TestServer.run { server in
            let registered = try await server.postJSON("\(prefix)/register", Self.publicClient, host: host)
            #expect(registered.status == .created)
            let client = try RegisteredReply(registered)
            #expect(registered.object["registration_client_uri"] == .string("\(issuer)/register/\(client.clientID)"))
            let read = try await server.get(client.path, host: host, headers: bearer(client.registrationAccessToken))
            #expect(read.status == .ok, "\(read.bodyText)")
            #expect(read.object["client_id"] == .string(client.clientID))
        }
    }

    // MARK: - Read

    @Test("RFC 7592 §2.1: GET answers 200 with the current registration and never the client_secret")
    func readReturnsRegistrationWithoutSecret() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.confidentialClient)
            #expect(client.clientSecret != nil)
            let read = try await server.get(client.path, headers: bearer(client.registrationAccessToken))
            #expect(read.status == .ok)
            #expect(read.header("Cache-Control") == "no-store")
            #expect(read.header("Content-Type") == "application/json")
            let body = read.object
            #expect(body["client_secret"] == nil)
            #expect(!read.bodyText.contains(try #require(client.clientSecret)))
            #expect(!read.bodyText.contains(client.registrationAccessToken))
            // Rotation on update only (the default): a read hands out no new token.
            #expect(body["registration_access_token"] == nil)
            #expect(body["client_secret_expires_at"] == .number(0))
            var expected = client.body
            expected["client_secret"] = nil
            expected["registration_access_token"] = nil
            #expect(body == expected)
            expectNoEmptyValues(.object(body))
        }
    }

    @Test("Design §4: repeated reads with the same token succeed (verified-token cache) and are audited as one coalesced read")
    func repeatedReadsSucceed() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let client = try await TestServer.run { server in
            let client = try await server.register(tenant, Self.publicClient)
            for _ in 0..<5 {
                let read = try await server.get(client.path, headers: bearer(client.registrationAccessToken))
                #expect(read.status == .ok)
                #expect(read.object["client_id"] == .string(client.clientID))
            }
            return client
        }
        let events = try await Stored.auditEvents(tenant).filter { $0.clientID == client.clientID }
        #expect(events.map(\.action) == ["client.registered", "client.read"])
        #expect(try JSONValue.parseObject(Array(events.last!.details.utf8))["count"] == .number(5))
    }

    // MARK: - Update

    @Test("RFC 7592 §2.2: a PUT carrying a server-owned member is refused with invalid_client_metadata and changes nothing",
          arguments: ["registration_access_token", "registration_client_uri", "client_secret_expires_at", "client_id_issued_at"])
    func serverOwnedMembersRefused(member: String) async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.confidentialClient)
            let before = try await Stored.registration(tenant, client.clientID)
            let value: JSONValue = switch member {
            case "registration_access_token": .string(client.registrationAccessToken)
            case "registration_client_uri": client.body["registration_client_uri"]!
            case "client_secret_expires_at": .number(0)
            default: client.body["client_id_issued_at"]!
            }
            let reply = try await server.putJSON(client.path, Self.replacement(of: client, [member: value, "client_name": .string("changed")]),
                                                 headers: bearer(client.registrationAccessToken))
            #expect(reply.status == .badRequest, "\(reply.bodyText)")
            #expect(reply.object["error"] == .string("invalid_client_metadata"))
            #expect(try await Stored.registration(tenant, client.clientID) == before)
        }
    }

    @Test("RFC 7592 §2.2: a PUT without the client's client_id, or with another one, is refused and changes nothing", arguments: [
        "missing", "other", "number", "null",
    ])
    func clientIDMustMatch(variant: String) async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.publicClient)
            let other = try await server.register(tenant, Self.publicClient)
            let before = try await Stored.registration(tenant, client.clientID)
            let clientID: JSONValue = switch variant {
            case "other": .string(other.clientID)
            case "number": .number(1)
            default: .null
            }
            var body = try JSONValue.parseObject(Array(Self.replacement(of: client, ["client_name": .string("changed")]).utf8))
            if variant == "missing" { body["client_id"] = nil } else { body["client_id"] = clientID }
            let reply = try await server.putJSON(client.path, jsonBody(body), headers: bearer(client.registrationAccessToken))
            #expect(reply.status == .badRequest, "\(reply.bodyText)")
            #expect(reply.object["error"] == .string("invalid_client_metadata"))
            #expect(try await Stored.registration(tenant, client.clientID) == before)
            #expect(try await Stored.client(tenant, other.clientID)?.metadata.clientName == "Claude Code (my-server)")
        }
    }

    @Test("RFC 7592 §2.2: a client_secret in a PUT must be the current one: a wrong one is refused, the right one accepted")
    func clientSecretMustMatch() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.confidentialClient)
            let secret = try #require(client.clientSecret)
            let before = try await Stored.registration(tenant, client.clientID)
            let wrongSecret = "rcs_" + String(repeating: "B", count: 43)
            let refused = try await server.putJSON(client.path, Self.replacement(of: client, ["client_secret": .string(wrongSecret), "client_name": .string("changed")]),
                                                   headers: bearer(client.registrationAccessToken))
            #expect(refused.status == .badRequest, "\(refused.bodyText)")
            #expect(refused.object["error"] == .string("invalid_client_metadata"))
            #expect(try await Stored.registration(tenant, client.clientID) == before)

            let accepted = try await server.putJSON(client.path, Self.replacement(of: client, ["client_secret": .string(secret), "client_name": .string("changed")]),
                                                    headers: bearer(client.registrationAccessToken))
            #expect(accepted.status == .ok, "\(accepted.bodyText)")
            #expect(accepted.object["client_name"] == .string("changed"))
            // The secret stays the same: no new one is issued, the stored hash is untouched.
            #expect(accepted.object["client_secret"] == nil)
            let after = try #require(try await Stored.client(tenant, client.clientID))
            #expect(after.clientSecretHash == before?.clientSecretHash)
            #expect(after.metadata.clientName == "changed")
        }
    }

    @Test("RFC 7592 §2.2: a refused PUT (a javascript: redirect) leaves the stored registration unchanged")
    func refusedUpdateChangesNothing() async throws {
        let clock = TestClock()
        let tenant = try await TestEnvironment.createTenant()
        let clientID = try await TestServer.run(overrides: clock.overrides) { server in
            let client = try await server.register(tenant, Self.publicClient)
            let before = try #require(try await Stored.client(tenant, client.clientID))
            clock.advance(by: 5)
            let reply = try await server.putJSON(client.path, Self.replacement(of: client, [
                "redirect_uris": .array([.string("javascript:alert(1)")]), "client_name": .string("changed"),
            ]), headers: bearer(client.registrationAccessToken))
            #expect(reply.status == .badRequest)
            #expect(reply.object["error"] == .string("invalid_redirect_uri"))
            let after = try #require(try await Stored.client(tenant, client.clientID))
            #expect(after.metadata.redirectURIs == before.metadata.redirectURIs)
            #expect(after.updatedAt == before.updatedAt)
            #expect(Stored.Registration(after) == Stored.Registration(before))
            // Not rotated either: the token still works and reads the old registration.
            let read = try await server.get(client.path, headers: bearer(client.registrationAccessToken))
            #expect(read.status == .ok)
            #expect(read.object["redirect_uris"] == .array([.string("http://127.0.0.1:33418/callback")]))
            #expect(read.object["client_name"] == .string("Claude Code (my-server)"))
            return client.clientID
        }
        #expect(try await Stored.actions(tenant, client: clientID) == ["client.registered", "client.read"])
    }

    @Test("RFC 7592 §2.2: PUT is a full replacement: omitted fields return to their defaults")
    func omittedFieldsReturnToDefaults() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let client = try await server.register(tenant, #"{"client_name":"Named","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none","scope":"openid","grant_types":["authorization_code","refresh_token"],"client_uri":"https://example.com","contacts":["ops@example.com"]}"#)
            #expect(client.body["client_name"] == .string("Named"))
            let reply = try await server.putJSON(client.path, Self.replacement(of: client), headers: bearer(client.registrationAccessToken))
            #expect(reply.status == .ok, "\(reply.bodyText)")
            let body = reply.object
            #expect(body["client_name"] == nil)
            #expect(body["client_uri"] == nil)
            #expect(body["contacts"] == nil)
            #expect(body["scope"] == .string("openid profile email"))
            #expect(body["grant_types"] == .array([.string("authorization_code")]))
            let stored = try #require(try await Stored.client(tenant, client.clientID))
            #expect(stored.metadata.clientName == nil)
            #expect(stored.metadata.clientURI == nil)
            #expect(stored.metadata.contacts.isEmpty)
            #expect(stored.metadata.scope == ["openid", "profile", "email"])
            // And a read shows the replacement, not the original.
            let token = try #require(body["registration_access_token"]?.stringValue)
            let read = try await server.get(client.path, headers: bearer(token))
            #expect(read.object["client_name"] == nil)
        }
    }

    @Test("RFC 7592 §2.2: switching a public client to confidential returns a new client_secret and stores its hash")
    func publicToConfidential() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.publicClient)
            #expect(try await Stored.client(tenant, client.clientID)?.clientSecretHash == nil)
            let reply = try await server.putJSON(client.path, Self.replacement(of: client, ["token_endpoint_auth_method": .string("client_secret_basic")]),
                                                 headers: bearer(client.registrationAccessToken))
            #expect(reply.status == .ok, "\(reply.bodyText)")
            let secret = try #require(reply.object["client_secret"]?.stringValue)
            #expect(secret.hasPrefix("rcs_"))
            #expect(reply.object["client_secret_expires_at"] == .number(0))
            #expect(reply.object["token_endpoint_auth_method"] == .string("client_secret_basic"))
            let stored = try #require(try await Stored.client(tenant, client.clientID))
            let hash = try #require(stored.clientSecretHash)
            #expect(hash.hasPrefix("$argon2id$"))
            #expect(Argon2Hasher.verifySync(secret, encoded: hash))
            #expect(stored.metadata.tokenEndpointAuthMethod == .clientSecretBasic)
            // The secret is shown once: the next read does not carry it.
            let token = try #require(reply.object["registration_access_token"]?.stringValue)
            let read = try await server.get(client.path, headers: bearer(token))
            #expect(read.status == .ok)
            #expect(read.object["client_secret"] == nil)
            #expect(read.object["client_secret_expires_at"] == .number(0))
        }
    }

    @Test("RFC 7592 §2.2: switching a confidential client to public drops its secret hash")
    func confidentialToPublic() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.confidentialClient)
            #expect(try await Stored.client(tenant, client.clientID)?.clientSecretHash != nil)
            let reply = try await server.putJSON(client.path, Self.replacement(of: client, ["token_endpoint_auth_method": .string("none")]),
                                                 headers: bearer(client.registrationAccessToken))
            #expect(reply.status == .ok, "\(reply.bodyText)")
            #expect(reply.object["client_secret"] == nil)
            #expect(reply.object["client_secret_expires_at"] == nil)
            #expect(reply.object["token_endpoint_auth_method"] == .string("none"))
            let stored = try #require(try await Stored.client(tenant, client.clientID))
            #expect(stored.clientSecretHash == nil)
            #expect(stored.clientSecretExpiresAt == nil)
            #expect(stored.metadata.tokenEndpointAuthMethod == TokenEndpointAuthMethod.none)
        }
    }

    // MARK: - Delete

    @Test("RFC 7592 §2.3: DELETE answers 204; afterwards GET and a second DELETE answer 401 and the row is gone")
    func deleteDeprovisions() async throws {
        let tenant = try await TestEnvironment.createTenant()
        try await TestServer.run { server in
            let client = try await server.register(tenant, Self.confidentialClient)
            let deleted = try await server.delete(client.path, headers: bearer(client.registrationAccessToken))
            #expect(deleted.status == .noContent)
            #expect(deleted.bodyText.isEmpty)
            #expect(try await Stored.client(tenant, client.clientID) == nil)
            Self.expectInvalidToken(try await server.get(client.path, headers: bearer(client.registrationAccessToken)), "GET after DELETE")
            Self.expectInvalidToken(try await server.delete(client.path, headers: bearer(client.registrationAccessToken)), "second DELETE")
            #expect(try await Stored.clientCount(tenant) == 0)
        }
    }

    // MARK: - Rotation

    @Test("RFC 7592 §3 on_update: PUT returns a new token; the old one works inside the grace and fails after it")
    func rotationOnUpdate() async throws {
        let clock = TestClock()
        var policy = RegistrationPolicy()
        policy.registrationAccessTokenRotation = .onUpdate
        policy.registrationAccessTokenGraceSeconds = 120
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        try await TestServer.run(overrides: clock.overrides) { server in
            let client = try await server.register(tenant, Self.publicClient)
            let old = client.registrationAccessToken
            // A read does not rotate.
            let read = try await server.get(client.path, headers: bearer(old))
            #expect(read.status == .ok)
            #expect(read.object["registration_access_token"] == nil)

            let updated = try await server.putJSON(client.path, Self.replacement(of: client, ["client_name": .string("v2")]), headers: bearer(old))
            #expect(updated.status == .ok)
            let new = try #require(updated.object["registration_access_token"]?.stringValue)
            #expect(new != old)
            #expect(new.hasPrefix("rat_") && new.count == 47)

            #expect(try await server.get(client.path, headers: bearer(new)).status == .ok)
            clock.advance(by: 119)
            #expect(try await server.get(client.path, headers: bearer(old)).status == .ok, "the old token works inside the grace")
            clock.advance(by: 2)
            Self.expectInvalidToken(try await server.get(client.path, headers: bearer(old)), "old token after the grace")
            #expect(try await server.get(client.path, headers: bearer(new)).status == .ok)
        }
    }

    @Test("RFC 7592 §3 every_use: every GET returns a new registration access token")
    func rotationEveryUse() async throws {
        let clock = TestClock()
        var policy = RegistrationPolicy()
        policy.registrationAccessTokenRotation = .everyUse
        policy.registrationAccessTokenGraceSeconds = 30
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        try await TestServer.run(overrides: clock.overrides) { server in
            let client = try await server.register(tenant, Self.publicClient)
            var seen: Set<String> = [client.registrationAccessToken]
            var current = client.registrationAccessToken
            for _ in 0..<3 {
                let read = try await server.get(client.path, headers: bearer(current))
                #expect(read.status == .ok, "\(read.bodyText)")
                let next = try #require(read.object["registration_access_token"]?.stringValue)
                #expect(!seen.contains(next))
                seen.insert(next)
                current = next
            }
            clock.advance(by: 31)
            Self.expectInvalidToken(try await server.get(client.path, headers: bearer(client.registrationAccessToken)), "first token after the grace")
            let read = try await server.get(client.path, headers: bearer(current))
            #expect(read.status == .ok)
            #expect(read.object["registration_access_token"]?.stringValue.map { !seen.contains($0) } == true)
        }
    }

    @Test("RFC 7592 §3 never: PUT returns no new token and the old one keeps working")
    func rotationNever() async throws {
        let clock = TestClock()
        var policy = RegistrationPolicy()
        policy.registrationAccessTokenRotation = .never
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        try await TestServer.run(overrides: clock.overrides) { server in
            let client = try await server.register(tenant, Self.publicClient)
            let updated = try await server.putJSON(client.path, Self.replacement(of: client, ["client_name": .string("v2")]),
                                                   headers: bearer(client.registrationAccessToken))
            #expect(updated.status == .ok)
            #expect(updated.object["registration_access_token"] == nil)
            #expect(updated.object["client_name"] == .string("v2"))
            let read = try await server.get(client.path, headers: bearer(client.registrationAccessToken))
            #expect(read.status == .ok)
            #expect(read.object["registration_access_token"] == nil)
            clock.advance(by: 86_400)
            #expect(try await server.get(client.path, headers: bearer(client.registrationAccessToken)).status == .ok)
        }
    }

    // MARK: - Audit

    @Test("Design §5: every read, update and delete writes an audit event with the client as actor")
    func everyOperationIsAudited() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let client = try await TestServer.run { server in
            let client = try await server.register(tenant, Self.publicClient)
            #expect(try await server.get(client.path, headers: bearer(client.registrationAccessToken)).status == .ok)
            let updated = try await server.putJSON(client.path, Self.replacement(of: client, ["client_name": .string("v2")]),
                                                   headers: bearer(client.registrationAccessToken))
            #expect(updated.status == .ok)
            let token = try #require(updated.object["registration_access_token"]?.stringValue)
            #expect(try await server.delete(client.path, headers: bearer(token)).status == .noContent)
            return client
        }
        let events = try await Stored.auditEvents(tenant).filter { $0.clientID == client.clientID }
        // The read is written coalesced, at the end of its window (here the shutdown), after the writes.
        #expect(events.map(\.action) == ["client.registered", "client.updated", "client.deleted", "client.read"])
        for event in events.dropFirst() {
            #expect(event.actorType == "client")
            #expect(event.actorID == client.clientID)
        }
        let update = try #require(events.first { $0.action == "client.updated" })
        #expect(update.details.contains("client_name"))
        for event in events {
            #expect(!event.details.contains(client.registrationAccessToken))
        }
    }
}

extension ClientConfigurationTests {
    /// Whether the server, at `now`, accepts `token` for the stored client: the current hash, or
    /// the previous one inside its grace (`RegistrationAccessTokenAuthenticator`'s rule).
    static func accepts(_ token: String, _ client: RegisteredClient, at now: Date) -> Bool {
        if let current = client.registrationAccessTokenHash, Argon2Hasher.verifySync(token, encoded: current) { return true }
        guard let previous = client.previousRegistrationAccessTokenHash, let until = client.previousRegistrationAccessTokenValidUntil,
              until > now else { return false }
        return Argon2Hasher.verifySync(token, encoded: previous)
    }

    @Test("RFC 7592 §3: two concurrent requests that rotate the token never hand out a registration access token that does not work",
          arguments: [RegistrationPolicy.TokenRotation.everyUse, .onUpdate])
    func concurrentRotationsKeepEveryIssuedTokenValid(rotation: RegistrationPolicy.TokenRotation) async throws {
        let clock = TestClock()
        var policy = RegistrationPolicy()
        policy.registrationAccessTokenRotation = rotation
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        // Several clients, each sending two requests at the same moment with its token: GETs under
        // every_use, PUTs under on_update.
        let issued = try await TestServer.run(overrides: clock.overrides) { server in
            var clients: [RegisteredReply] = []
            for _ in 0..<4 { clients.append(try await server.register(tenant, Self.publicClient)) }
            let registered = clients
            return try await withThrowingTaskGroup(of: (String, TestServer.Reply).self) { group in
                for client in registered {
                    for _ in 0..<2 {
                        group.addTask {
                            let headers = bearer(client.registrationAccessToken)
                            let reply = rotation == .everyUse
                                ? try await server.get(client.path, headers: headers)
                                : try await server.putJSON(client.path, Self.replacement(of: client), headers: headers)
                            return (client.clientID, reply)
                        }
                    }
                }
                var issued: [String: [String]] = [:]
                for try await (clientID, reply) in group {
                    #expect(reply.status == .ok || reply.status == .unauthorized, "\(reply.bodyText)")
                    issued[clientID, default: []].append(try #require(reply.object["registration_access_token"]?.stringValue))
                }
                return issued
            }
        }
        #expect(issued.count == 4)
        for (clientID, tokens) in issued {
            #expect(tokens.count == 2)
            let stored = try #require(try await Stored.client(tenant, clientID))
            // Each token was just handed out in a 200: without any clock movement, each must be accepted,
            // as the current token or as the previous one inside its grace.
            let dead = tokens.filter { !Self.accepts($0, stored, at: clock.now) }
            #expect(dead.isEmpty, "client \(clientID): \(dead.count) of the 2 tokens just handed out are accepted neither as current nor inside the grace")
        }
    }

    @Test("RFC 7592 §2.2: a successful PUT is not undone by concurrent reads under every_use rotation")
    func concurrentReadDoesNotRevertUpdate() async throws {
        var policy = RegistrationPolicy()
        policy.registrationAccessTokenRotation = .everyUse
        let tenant = try await TestEnvironment.createTenant(policy: policy)
        // Several clients; each gets one PUT and a few GETs at the same moment, all with its token.
        // Under every_use each request consumes the token, so a PUT that loses the race may be
        // refused (401); one that answered 200 must never be undone by a read.
        let accepted = try await TestServer.run { server in
            var clients: [RegisteredReply] = []
            for _ in 0..<20 { clients.append(try await server.register(tenant, Self.publicClient)) }
            let registered = clients
            return try await withThrowingTaskGroup(of: (String, Bool, TestServer.Reply).self) { group in
                for client in registered {
                    group.addTask {
                        (client.clientID, true, try await server.putJSON(client.path, Self.replacement(of: client, ["client_name": .string("updated")]),
                                                                          headers: bearer(client.registrationAccessToken)))
                    }
                    for _ in 0..<4 {
                        group.addTask { (client.clientID, false, try await server.get(client.path, headers: bearer(client.registrationAccessToken))) }
                    }
                }
                var accepted: [String] = []
                for try await (clientID, isUpdate, reply) in group where isUpdate {
                    #expect(reply.status == .ok || reply.status == .unauthorized, "\(reply.bodyText)")
                    if reply.status == .ok && reply.object["client_name"] == .string("updated") { accepted.append(clientID) }
                }
                return accepted
            }
        }
        try #require(!accepted.isEmpty, "every PUT lost its race; the test proved nothing")
        for clientID in accepted {
            #expect(try await Stored.client(tenant, clientID)?.metadata.clientName == "updated",
                    "client \(clientID): the PUT answered 200 with client_name 'updated', but a concurrent read wrote the old registration back")
        }
    }

    @Test("Design §4: a registration access token hashed with older argon2 parameters is rehashed on use and keeps working")
    func rehashOnUse() async throws {
        let tenant = try await TestEnvironment.createTenant()
        let client = try await TestServer.run { server in try await server.register(tenant, Self.publicClient) }
        #expect(try await Stored.client(tenant, client.clientID)?.registrationAccessTokenHash?.contains("$m=256,t=1,p=1$") == true)
        try await TestServer.run(configure: { $0.argon2 = .init(memoryKiB: 512, iterations: 1, parallelism: 1) }) { server async throws in
            #expect(try await server.get(client.path, headers: bearer(client.registrationAccessToken)).status == .ok)
            #expect(try await server.get(client.path, headers: bearer(client.registrationAccessToken)).status == .ok)
        }
        let stored = try #require(try await Stored.client(tenant, client.clientID))
        let hash = try #require(stored.registrationAccessTokenHash)
        #expect(hash.contains("$m=512,t=1,p=1$"))
        #expect(Argon2Hasher.verifySync(client.registrationAccessToken, encoded: hash))
    }
}
