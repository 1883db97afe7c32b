import Testing
@testable import Registrar

/// The `authorization_server` part of a tenant policy: defaults, and one refusal per rule.
@Suite("Authorization server settings")
struct AuthorizationServerSettingsTests {
    @Test("An omitted authorization_server object takes the defaults, and the document shows them all")
    func defaults() throws {
        let policy = try RegistrationPolicy(json: .object([:]))
        #expect(policy.authorizationServer == AuthorizationServerSettings())
        #expect(policy.authorizationServer.authorizationCodeLifetimeSeconds == 60)
        #expect(policy.authorizationServer.grantUnregisteredScopes)
        let shown = try #require(policy.json.objectValue?["authorization_server"]?.objectValue)
        #expect(shown.count == 10)
        #expect(try RegistrationPolicy(json: policy.json) == policy)
    }

    @Test("Set fields are kept and survive a round trip")
    func roundTrip() throws {
        let policy = try RegistrationPolicy(json: .object(["authorization_server": .object([
            "access_token_lifetime_seconds": .number(600), "consent_mode": .string("always"),
            "consent_always_for_loopback_only_clients": .bool(true), "grant_unregistered_scopes": .bool(false),
        ])]))
        #expect(policy.authorizationServer.accessTokenLifetimeSeconds == 600)
        #expect(policy.authorizationServer.consentMode == .always)
        #expect(policy.authorizationServer.consentAlwaysForLoopbackOnlyClients)
        #expect(!policy.authorizationServer.grantUnregisteredScopes)
        #expect(try RegistrationPolicy(json: policy.json) == policy)
    }

    struct Refusal: Sendable, CustomStringConvertible {
        let settings: String
        let field: String
        var description: String { settings }
    }

    static let refusals: [Refusal] = [
        Refusal(settings: #"[]"#, field: "authorization_server"),
        Refusal(settings: #"{"unknown": 1}"#, field: "authorization_server.unknown"),
        Refusal(settings: #"{"access_token_lifetime_seconds": 59}"#, field: "authorization_server.access_token_lifetime_seconds"),
        Refusal(settings: #"{"access_token_lifetime_seconds": "3600"}"#, field: "authorization_server.access_token_lifetime_seconds"),
        Refusal(settings: #"{"authorization_code_lifetime_seconds": 601}"#, field: "authorization_server.authorization_code_lifetime_seconds"),
        Refusal(settings: #"{"consent_mode": "never"}"#, field: "authorization_server.consent_mode"),
        Refusal(settings: #"{"rotate_confidential_refresh_tokens": 1}"#, field: "authorization_server.rotate_confidential_refresh_tokens"),
        Refusal(settings: #"{"refresh_token_lifetime_seconds": 7200, "refresh_token_absolute_lifetime_seconds": 3600}"#,
                field: "authorization_server.refresh_token_lifetime_seconds"),
        Refusal(settings: #"{"session_idle_lifetime_seconds": 7200, "session_absolute_lifetime_seconds": 3600}"#,
                field: "authorization_server.session_idle_lifetime_seconds"),
    ]

    @Test("Each out-of-range, mistyped or inconsistent setting is refused, naming its field", arguments: refusals)
    func refusal(_ refusal: Refusal) {
        let error = RegistrationPolicyTests.policyError(#"{"authorization_server": \#(refusal.settings)}"#)
        #expect(error?.field == refusal.field)
    }
}
