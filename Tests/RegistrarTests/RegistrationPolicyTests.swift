import Foundation
import Testing
@testable import Registrar

/// A tenant's registration policy: trusted hosts, who needs an initial access token (RFC 7591
/// §3), and the strict parsing of the policy document.
@Suite("Registration policy")
struct RegistrationPolicyTests {
    // MARK: Trusted redirect hosts

    static let trustedHostCases: [(String, Bool)] = [
        ("a.example.com", true),
        ("deep.a.example.com", true),
        ("A.EXAMPLE.COM", true),
        ("example.com", false),
        ("evil-example.com", false),
        ("aexample.com", false),
        ("example.com.evil.net", false),
        ("a.example.com.evil.net", false),
        ("exact.example.org", true),
        ("EXACT.Example.ORG", true),
        ("sub.exact.example.org", false),
        ("xexact.example.org", false),
        ("exact.example.org.evil.net", false),
        ("", false),
    ]

    @Test("'*.domain' trusts strict subdomains only; other entries are exact, case-insensitive hosts", arguments: trustedHostCases)
    func trustedRedirectHost(_ host: String, trusted: Bool) {
        var policy = RegistrationPolicy()
        policy.trustedRedirectHosts = ["*.example.com", "Exact.Example.org"]
        #expect(policy.isTrustedRedirectHost(host) == trusted)
    }

    @Test("The default policy trusts the callback hosts of the known MCP clients, exactly", arguments: [
        ("claude.ai", true), ("claude.com", true), ("chatgpt.com", true), ("chat.openai.com", true),
        ("evil.claude.ai", false), ("claude.ai.evil.example", false), ("openai.com", false), ("example.com", false),
    ])
    func defaultTrustedHosts(_ host: String, trusted: Bool) {
        #expect(RegistrationPolicy().isTrustedRedirectHost(host) == trusted)
    }

    // MARK: Initial access tokens

    struct AccessCase: Sendable, CustomTestStringConvertible {
        let access: RegistrationPolicy.RegistrationAccess
        let uris: [String]
        let requiresToken: Bool
        var testDescription: String { "\(access.rawValue): \(uris.joined(separator: ", ")) → \(requiresToken ? "token" : "no token")" }
    }

    static let accessCases: [AccessCase] = [
        AccessCase(access: .open, uris: ["https://claude.ai/api/mcp/auth_callback"], requiresToken: false),
        AccessCase(access: .open, uris: ["https://untrusted.example/cb"], requiresToken: false),
        AccessCase(access: .open, uris: ["com.example.app:/cb"], requiresToken: false),
        AccessCase(access: .initialAccessToken, uris: ["https://claude.ai/api/mcp/auth_callback"], requiresToken: true),
        AccessCase(access: .initialAccessToken, uris: ["http://127.0.0.1:33418/callback"], requiresToken: true),
        AccessCase(access: .openForTrustedRedirects, uris: ["https://claude.ai/api/mcp/auth_callback"], requiresToken: false),
        AccessCase(access: .openForTrustedRedirects, uris: ["https://chat.openai.com/aip/callback", "https://chatgpt.com/connector_platform_oauth_redirect"], requiresToken: false),
        AccessCase(access: .openForTrustedRedirects, uris: ["http://127.0.0.1:33418/callback", "http://localhost/cb", "http://[::1]:8080/cb"], requiresToken: false),
        AccessCase(access: .openForTrustedRedirects, uris: ["https://untrusted.example/cb"], requiresToken: true),
        AccessCase(access: .openForTrustedRedirects, uris: ["https://claude.ai.evil.example/cb"], requiresToken: true),
        AccessCase(access: .openForTrustedRedirects, uris: ["https://claude.ai/api/mcp/auth_callback", "https://untrusted.example/cb"], requiresToken: true),
        AccessCase(access: .openForTrustedRedirects, uris: ["com.example.app:/cb"], requiresToken: true),
        AccessCase(access: .openForTrustedRedirects, uris: ["http://127.0.0.1:1/cb", "cursor://anysphere.cursor-retrieval/oauth/callback"], requiresToken: true),
    ]

    @Test("RFC 7591 §3: whether a registration needs an initial access token, per access mode", arguments: accessCases)
    func requiresInitialAccessToken(_ testCase: AccessCase) throws {
        var policy = RegistrationPolicy()
        policy.registrationAccess = testCase.access
        let uris = try testCase.uris.map { raw throws(OAuthError) in try RedirectURI(raw) }
        #expect(policy.requiresInitialAccessToken(for: uris) == testCase.requiresToken)
    }

    @Test("The default access mode is open_for_trusted_redirects")
    func defaultAccessMode() {
        #expect(RegistrationPolicy().registrationAccess == .openForTrustedRedirects)
        #expect(RegistrationPolicy.default == RegistrationPolicy())
    }

    // MARK: The policy document

    @Test("policy.json round-trips through RegistrationPolicy(json:), for the default and a customised policy")
    func policyRoundTrip() throws {
        #expect(try RegistrationPolicy(json: RegistrationPolicy().json) == RegistrationPolicy())

        var custom = RegistrationPolicy()
        custom.registrationAccess = .initialAccessToken
        custom.trustedRedirectHosts = ["*.example.com", "app.example.org"]
        custom.allowLoopbackRedirects = false
        custom.allowPrivateUseSchemes = false
        custom.grantTypes = [.authorizationCode]
        custom.tokenEndpointAuthMethods = [.none, .privateKeyJWT]
        custom.defaultTokenEndpointAuthMethod = .none
        custom.allowedScopes = ["mcp:tools", "mcp:resources"]
        custom.defaultScopes = ["mcp:tools"]
        custom.unknownScopes = .reject
        custom.clientSecretLifetimeSeconds = 86_400
        #expect(custom != RegistrationPolicy())
        #expect(try RegistrationPolicy(json: custom.json) == custom)

        // And through the JSON text, as stored in tenant_policies.document.
        let text = custom.json.encoded()
        #expect(try RegistrationPolicy(json: .object(JSONValue.parseObject(Array(text)))) == custom)
    }

    @Test("policy.json names every field, so an admin sees the whole document")
    func policyJSONIsComplete() throws {
        let object = try #require(RegistrationPolicy().json.objectValue)
        #expect(Set(object.keys) == [
            "registration_access", "trusted_redirect_hosts", "allow_loopback_redirects", "allow_private_use_schemes",
            "grant_types", "token_endpoint_auth_methods", "default_token_endpoint_auth_method", "allowed_scopes",
            "default_scopes", "unknown_scopes", "client_secret_lifetime_seconds", "registration_access_token_rotation",
            "registration_access_token_grace_seconds", "software_statement_mode", "trusted_software_statement_issuers",
            "rate_limits", "max_clients", "deduplication_window_seconds", "reap_never_used_after_hours",
            "reap_unused_after_days", "reap_delete_after_days", "authorization_server", "client_id_metadata_documents",
        ])
        #expect(RegistrationPolicy().json.encodedString().contains("\"client_secret_lifetime_seconds\":0"))
    }

    @Test("An empty or all-null policy document keeps every default")
    func emptyPolicyKeepsDefaults() throws {
        #expect(try RegistrationPolicy(json: .object([:])) == RegistrationPolicy())
        let nulls = try #require(RegistrationPolicy().json.objectValue).mapValues { _ in JSONValue.null }
        #expect(try RegistrationPolicy(json: .object(nulls)) == RegistrationPolicy())
    }

    static func policyError(_ json: String) -> PolicyError? {
        do {
            _ = try RegistrationPolicy(json: .object(Fixture.parse(json)))
            return nil
        } catch let error as PolicyError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("An unknown policy field is refused, and the error names it", arguments: [
        "registration_acces", "allowed_scope", "trustedRedirectHosts", "extra",
    ])
    func unknownPolicyField(_ field: String) {
        let error = Self.policyError(#"{"registration_access":"open","\#(field)":true}"#)
        #expect(error?.field == field)
    }

    @Test("A policy that is not a JSON object is refused", arguments: [JSONValue.array([]), .string("open"), .null, .number(1)])
    func policyNotAnObject(_ json: JSONValue) {
        #expect(throws: PolicyError.self) { try RegistrationPolicy(json: json) }
    }

    static let badPolicies: [(String, String)] = [
        (#"{"registration_access":1}"#, "registration_access"),
        (#"{"registration_access":"sometimes"}"#, "registration_access"),
        (#"{"trusted_redirect_hosts":"claude.ai"}"#, "trusted_redirect_hosts"),
        (#"{"trusted_redirect_hosts":[1]}"#, "trusted_redirect_hosts"),
        (#"{"allow_loopback_redirects":"yes"}"#, "allow_loopback_redirects"),
        (#"{"allow_loopback_redirects":1}"#, "allow_loopback_redirects"),
        (#"{"allow_private_use_schemes":"true"}"#, "allow_private_use_schemes"),
        (#"{"grant_types":"authorization_code"}"#, "grant_types"),
        (#"{"grant_types":["authorization_code","implicit"]}"#, "grant_types"),
        (#"{"token_endpoint_auth_methods":["client_secret_jwt"]}"#, "token_endpoint_auth_methods"),
        (#"{"token_endpoint_auth_methods":[]}"#, "token_endpoint_auth_methods"),
        (#"{"token_endpoint_auth_methods":"none"}"#, "token_endpoint_auth_methods"),
        (#"{"default_token_endpoint_auth_method":"client_secret_jwt"}"#, "default_token_endpoint_auth_method"),
        (#"{"default_token_endpoint_auth_method":3}"#, "default_token_endpoint_auth_method"),
        (#"{"allowed_scopes":"openid"}"#, "allowed_scopes"),
        (#"{"allowed_scopes":["has space"]}"#, "allowed_scopes"),
        (#"{"allowed_scopes":["a\"b"]}"#, "allowed_scopes"),
        (#"{"allowed_scopes":[""]}"#, "allowed_scopes"),
        (#"{"default_scopes":[1]}"#, "default_scopes"),
        (#"{"allowed_scopes":[],"default_scopes":["bad\\scope"]}"#, "default_scopes"),
        (#"{"unknown_scopes":"drop"}"#, "unknown_scopes"),
        (#"{"unknown_scopes":true}"#, "unknown_scopes"),
        (#"{"client_secret_lifetime_seconds":"3600"}"#, "client_secret_lifetime_seconds"),
        (#"{"client_secret_lifetime_seconds":1.5}"#, "client_secret_lifetime_seconds"),
        (#"{"client_secret_lifetime_seconds":true}"#, "client_secret_lifetime_seconds"),
    ]

    @Test("A policy field with a bad type or value is refused, and the error names the field", arguments: badPolicies)
    func badPolicyField(_ json: String, field: String) {
        let error = Self.policyError(json)
        #expect(error?.field == field)
        #expect(error?.reason.isEmpty == false)
    }

    @Test("The default token_endpoint_auth_method must be one of the allowed methods")
    func defaultMethodMustBeAllowed() {
        #expect(Self.policyError(#"{"token_endpoint_auth_methods":["none"]}"#)?.field == "default_token_endpoint_auth_method")
        #expect(Self.policyError(#"{"token_endpoint_auth_methods":["none","client_secret_post"],"default_token_endpoint_auth_method":"client_secret_basic"}"#)?.field == "default_token_endpoint_auth_method")
        #expect(Self.policyError(#"{"token_endpoint_auth_methods":["none"],"default_token_endpoint_auth_method":"none"}"#) == nil)
    }

    @Test("Every default scope must be an allowed scope (unless any scope is allowed)")
    func defaultScopesMustBeAllowed() {
        #expect(Self.policyError(#"{"allowed_scopes":["openid"]}"#)?.field == "default_scopes")
        #expect(Self.policyError(#"{"allowed_scopes":["openid"],"default_scopes":["openid","admin"]}"#)?.field == "default_scopes")
        #expect(Self.policyError(#"{"allowed_scopes":["openid"],"default_scopes":["openid"]}"#) == nil)
        #expect(Self.policyError(#"{"allowed_scopes":[],"default_scopes":["anything"]}"#) == nil)
        #expect(Self.policyError(#"{"allowed_scopes":["a"],"default_scopes":[]}"#) == nil)
    }

    @Test("client_secret_lifetime_seconds must not be negative (0 means never)", arguments: [(-1, false), (0, true), (3600, true)])
    func secretLifetime(_ seconds: Int, valid: Bool) throws {
        let error = Self.policyError(#"{"client_secret_lifetime_seconds":\#(seconds)}"#)
        if valid {
            #expect(error == nil)
            #expect(try RegistrationPolicy(json: .object(["client_secret_lifetime_seconds": .number(Double(seconds))])).clientSecretLifetimeSeconds == seconds)
        } else {
            #expect(error?.field == "client_secret_lifetime_seconds")
        }
    }

    @Test("The policy's grant_types must include authorization_code", arguments: [#"["refresh_token"]"#, "[]"])
    func grantTypesNeedAuthorizationCode(_ grants: String) {
        #expect(Self.policyError(#"{"grant_types":\#(grants)}"#)?.field == "grant_types")
    }

    @Test("trusted_redirect_hosts entries must be host names or '*.domain' patterns", arguments: [
        "*.*.example.com", "*", "*.", "https://claude.ai", "claude.ai/cb", "claude.ai:443", "-bad.example.com", "",
        "example.*", "*example.com", "a b.example", "claude.ai.",
    ])
    func badHostPattern(_ pattern: String) {
        let error = Self.policyError(JSONValue.object(["trusted_redirect_hosts": Fixture.list("claude.ai", pattern)]).encodedString())
        #expect(error?.field == "trusted_redirect_hosts")
    }

    @Test("Valid trusted host patterns are accepted and stored lower-cased")
    func goodHostPatterns() throws {
        let policy = try RegistrationPolicy(json: .object(["trusted_redirect_hosts": Fixture.list("*.Example.com", "Claude.AI", "127.0.0.1")]))
        #expect(policy.trustedRedirectHosts == ["*.example.com", "claude.ai", "127.0.0.1"])
        #expect(policy.isTrustedRedirectHost("app.example.com"))
    }

    @Test("Duplicate entries in policy lists collapse")
    func policyListsDeduplicated() throws {
        let policy = try RegistrationPolicy(json: .object([
            "grant_types": Fixture.list("authorization_code", "authorization_code"),
            "allowed_scopes": Fixture.list("openid", "openid", "profile", "email"),
        ]))
        #expect(policy.grantTypes == [.authorizationCode])
        #expect(policy.allowedScopes == ["openid", "profile", "email"])
    }

    // MARK: Safe defaults and trusted issuers' keys

    @Test("Storage is bounded by default: at most 10,000 clients, never-used clients reaped after 72 hours")
    func safeStorageDefaults() throws {
        let policy = RegistrationPolicy()
        #expect(policy.maxClients == 10_000)
        #expect(policy.reapNeverUsedAfterHours == 72)
        let parsed = try RegistrationPolicy(json: .object([:]))
        #expect(parsed.json["max_clients"] == .number(10_000))
        #expect(parsed.json["reap_never_used_after_hours"] == .number(72))
        // 0 still turns each off, when an admin says so.
        let unlimited = try RegistrationPolicy(json: .object(["max_clients": .number(0), "reap_never_used_after_hours": .number(0)]))
        #expect(unlimited.maxClients == 0)
        #expect(unlimited.reapNeverUsedAfterHours == 0)
    }

    static func issuerPolicy(_ keys: JSONValue...) -> JSONValue {
        .object(["trusted_software_statement_issuers": .array([
            .object(["issuer": .string("https://issuer.example"), "jwks": .object(["keys": .array(keys)])]),
        ])])
    }

    @Test("A trusted issuer's JWK Set with two keys of one kid is refused when the policy is written")
    func trustedIssuerDuplicateKeyIDs() throws {
        guard case .object(var first) = PublicJWKTests.p256, case .object(var second) = PublicJWKTests.p384 else { return }
        first["kid"] = .string("same")
        second["kid"] = .string("same")
        let error = #expect(throws: PolicyError.self) { try RegistrationPolicy(json: Self.issuerPolicy(.object(first), .object(second))) }
        #expect(error?.field == "trusted_software_statement_issuers[0].jwks")
        // A kid equal to the name the verifier gives a key without one collides as well.
        first["kid"] = nil
        second["kid"] = .string("key-0")
        #expect(throws: PolicyError.self) { try RegistrationPolicy(json: Self.issuerPolicy(.object(first), .object(second))) }
        second["kid"] = .string("other")
        _ = try RegistrationPolicy(json: Self.issuerPolicy(.object(first), .object(second)))
    }

    @Test("A trusted issuer's key that cannot be loaded is refused when the policy is written")
    func trustedIssuerUnusableKey() {
        let offCurve = PublicJWKTests.ec("P-256", "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY", "axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY")
        let error = #expect(throws: PolicyError.self) { try RegistrationPolicy(json: Self.issuerPolicy(offCurve)) }
        #expect(error?.field == "trusted_software_statement_issuers[0].jwks")
        #expect(throws: PolicyError.self) { try RegistrationPolicy(json: Self.issuerPolicy(PublicJWKTests.rsa(n: String(repeating: "_", count: 172)))) }
    }
}
