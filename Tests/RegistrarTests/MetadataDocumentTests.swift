import Foundation
import NIOHTTP1
import Testing
@testable import Registrar

/// draft-ietf-oauth-client-id-metadata-document-01: the client_id URL (§3), the document (§4.1),
/// its cache lifetime (§4.4), and the tenant's document settings.
@Suite("Client ID metadata documents")
struct MetadataDocumentTests {
    static let url = "https://docs.example/clients/app.json"

    static func document(_ changes: [String: JSONValue?] = [:], url: String = url) -> [UInt8] {
        var object: [String: JSONValue] = [
            "client_id": .string(url),
            "client_name": .string("Example App"),
            "redirect_uris": .array([.string("https://claude.ai/api/mcp/auth_callback")]),
        ]
        for (name, value) in changes { object[name] = value }
        return Array(JSONValue.object(object).encoded())
    }

    static let urlCases: [(String, String, String?)] = [
        // (name, URL, refusal containing; nil: accepted)
        ("an https URL with a path", "https://docs.example/clients/app.json", nil),
        ("a port and a query are allowed", "https://docs.example:8443/c?id=1", nil),
        ("http is refused", "http://docs.example/clients/app.json", "https"),
        ("no path", "https://docs.example", "path"),
        ("the root path alone", "https://docs.example/", "path"),
        ("a fragment", "https://docs.example/app.json#x", "not a usable URL"),
        ("userinfo", "https://user:pw@docs.example/app.json", "not a usable URL"),
        ("a dot segment", "https://docs.example/./app.json", "'.' or '..'"),
        ("a double-dot segment", "https://docs.example/a/../app.json", "'.' or '..'"),
        ("a percent-encoded double-dot segment", "https://docs.example/a/%2E%2e/app.json", "'.' or '..'"),
        ("not a URL", "https:docs", "not a usable URL"),
    ]

    @Test("§3: a client_id URL is https with a path, and has no fragment, userinfo or dot segments", arguments: urlCases)
    func clientIDURL(_ name: String, _ url: String, _ refusal: String?) {
        do {
            let host = try MetadataDocument.checkURL(url)
            #expect(refusal == nil, "\(name): accepted")
            #expect(host == "docs.example", "\(name)")
        } catch {
            #expect(refusal.map { error.description.contains($0) } == true, "\(name): \(error)")
        }
    }

    static let documentCases: [(String, [String: JSONValue?], String)] = [
        // (name, changes to a valid document, refusal containing)
        ("client_id of another URL", ["client_id": .string("https://docs.example/clients/other.json")], "not its own URL"),
        ("the trailing-slash variant of the URL", ["client_id": .string(url + "/")], "not its own URL"),
        ("client_id differing only in case", ["client_id": .string("https://DOCS.example/clients/app.json")], "not its own URL"),
        ("no client_id", ["client_id": nil], "no client_id"),
        ("a client_secret", ["client_secret": .string("s")], "client_secret"),
        ("a client_secret_expires_at", ["client_secret_expires_at": .number(0)], "client_secret_expires_at"),
        ("client_secret_basic", ["token_endpoint_auth_method": .string("client_secret_basic")], "shared-secret"),
        ("client_secret_post", ["token_endpoint_auth_method": .string("client_secret_post")], "shared-secret"),
        ("client_secret_jwt", ["token_endpoint_auth_method": .string("client_secret_jwt")], "shared-secret"),
        ("only shared-secret methods offered", ["token_endpoint_auth_methods_supported": .array([.string("client_secret_basic")])],
         "token_endpoint_auth_methods_supported"),
        ("no redirect_uris", ["redirect_uris": nil], "redirect_uris"),
        ("a redirect the validator refuses", ["redirect_uris": .array([.string("javascript:alert(1)")])], "refused"),
    ]

    @Test("§4.1: the document names its own URL byte for byte and carries no shared secret; its metadata passes the registration validator",
          arguments: documentCases)
    func documentRules(_ name: String, _ changes: [String: JSONValue?], _ refusal: String) {
        #expect(throws: MetadataDocument.Refusal.self, "\(name)") {
            _ = try MetadataDocument.validate(Self.document(changes), url: Self.url, policy: .default)
        }
        do {
            _ = try MetadataDocument.validate(Self.document(changes), url: Self.url, policy: .default)
        } catch {
            #expect(error.description.contains(refusal), "\(name): \(error)")
        }
    }

    @Test("§4.1: a body that is not a JSON object is refused, whatever its content type claimed")
    func notJSON() {
        for body in ["<html>", "[]", "\"x\"", "{\"client_id\": \"a\", \"client_id\": \"b\"}"] {
            #expect(throws: MetadataDocument.Refusal.self, "\(body)") {
                _ = try MetadataDocument.validate(Array(body.utf8), url: Self.url, policy: .default)
            }
        }
    }

    @Test("A document without a method is a public client (none), not the tenant's secret default")
    func defaultMethodIsNone() throws {
        let result = try MetadataDocument.validate(Self.document(), url: Self.url, policy: .default)
        #expect(result.metadata.tokenEndpointAuthMethod == TokenEndpointAuthMethod.none)
        #expect(result.metadata.clientName == "Example App")
    }

    static let negotiationCases: [(String, [String: JSONValue?], [TokenEndpointAuthMethod], TokenEndpointAuthMethod?)] = [
        // (name, changes, tenant's methods, negotiated; nil: refused)
        ("ChatGPT: none and private_key_jwt with a jwks_uri", [
            "token_endpoint_auth_methods_supported": .array([.string("none"), .string("private_key_jwt")]),
            "jwks_uri": .string("https://docs.example/jwks.json"),
        ], TokenEndpointAuthMethod.allCases, .privateKeyJWT),
        ("private_key_jwt offered without keys", [
            "token_endpoint_auth_methods_supported": .array([.string("none"), .string("private_key_jwt")]),
        ], TokenEndpointAuthMethod.allCases, TokenEndpointAuthMethod.none),
        ("the tenant does not allow private_key_jwt", [
            "token_endpoint_auth_methods_supported": .array([.string("private_key_jwt"), .string("none")]),
            "jwks_uri": .string("https://docs.example/jwks.json"),
        ], [.none, .clientSecretBasic], TokenEndpointAuthMethod.none),
        ("the tenant allows neither", [
            "token_endpoint_auth_methods_supported": .array([.string("none")]),
        ], [.clientSecretBasic], nil),
        ("an explicit method wins over the list", [
            "token_endpoint_auth_method": .string("none"),
            "token_endpoint_auth_methods_supported": .array([.string("private_key_jwt")]),
            "jwks_uri": .string("https://docs.example/jwks.json"),
        ], TokenEndpointAuthMethod.allCases, TokenEndpointAuthMethod.none),
        ("an explicit method the tenant does not allow", [
            "token_endpoint_auth_method": .string("private_key_jwt"),
            "jwks_uri": .string("https://docs.example/jwks.json"),
        ], [.none], nil),
    ]

    @Test("OIDC RP Metadata Choices: token_endpoint_auth_methods_supported is negotiated to private_key_jwt (with keys) or none",
          arguments: negotiationCases)
    func methodNegotiation(_ name: String, _ changes: [String: JSONValue?], _ allowed: [TokenEndpointAuthMethod],
                           _ expected: TokenEndpointAuthMethod?) {
        var policy = RegistrationPolicy()
        policy.tokenEndpointAuthMethods = allowed
        policy.defaultTokenEndpointAuthMethod = allowed[0]
        let result = try? MetadataDocument.validate(Self.document(changes), url: Self.url, policy: policy)
        #expect(result?.metadata.tokenEndpointAuthMethod == expected, "\(name)")
    }

    @Test("Grant types this server does not support are dropped, not refused (Claude Desktop lists jwt-bearer)")
    func unsupportedGrantTypesDropped() throws {
        let listed = try MetadataDocument.validate(Self.document(["grant_types": .array([
            .string("authorization_code"), .string("refresh_token"), .string("urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ])]), url: Self.url, policy: .default)
        #expect(listed.metadata.grantTypes == [.authorizationCode, .refreshToken])
        let only = try MetadataDocument.validate(Self.document(["grant_types": .array([.string("urn:ietf:params:oauth:grant-type:jwt-bearer")])]),
                                                 url: Self.url, policy: .default)
        #expect(only.metadata.grantTypes == [.authorizationCode])
        var noRefresh = RegistrationPolicy()
        noRefresh.grantTypes = [.authorizationCode]
        let dropped = try MetadataDocument.validate(Self.document(["grant_types": .array([.string("authorization_code"), .string("refresh_token")])]),
                                                    url: Self.url, policy: noRefresh)
        #expect(dropped.metadata.grantTypes == [.authorizationCode])
    }

    @Test("Registration gates: trusted redirect hosts under open_for_trusted_redirects, and no document where a token or statement is required")
    func registrationGates() {
        let untrusted = Self.document(["redirect_uris": .array([.string("https://elsewhere.example/cb")])])
        #expect(throws: MetadataDocument.Refusal.self) { _ = try MetadataDocument.validate(untrusted, url: Self.url, policy: .default) }
        var open = RegistrationPolicy()
        open.registrationAccess = .open
        #expect((try? MetadataDocument.validate(untrusted, url: Self.url, policy: open)) != nil)
        let loopback = Self.document(["redirect_uris": .array([.string("http://127.0.0.1/callback")])])
        #expect((try? MetadataDocument.validate(loopback, url: Self.url, policy: .default)) != nil)
        var tokenOnly = RegistrationPolicy()
        tokenOnly.registrationAccess = .initialAccessToken
        #expect(throws: MetadataDocument.Refusal.self) { _ = try MetadataDocument.validate(Self.document(), url: Self.url, policy: tokenOnly) }
        let issuer = RegistrationPolicy.TrustedIssuer(issuer: "https://issuer.example", jwks: .object(["keys": .array([])]))
        var statementOnly = RegistrationPolicy()
        statementOnly.softwareStatementMode = .required
        statementOnly.trustedSoftwareStatementIssuers = [issuer]
        #expect(throws: MetadataDocument.Refusal.self) { _ = try MetadataDocument.validate(Self.document(), url: Self.url, policy: statementOnly) }
    }

    @Test("client_credentials is never a document's, even where the tenant allows the grant")
    func noClientCredentials() throws {
        var policy = RegistrationPolicy()
        policy.grantTypes = [.authorizationCode, .refreshToken, .clientCredentials]
        let result = try MetadataDocument.validate(Self.document([
            "grant_types": .array([.string("authorization_code"), .string("client_credentials")]),
            "token_endpoint_auth_method": .string("private_key_jwt"), "jwks_uri": .string("https://docs.example/jwks.json"),
        ]), url: Self.url, policy: policy)
        #expect(result.metadata.grantTypes == [.authorizationCode])
    }

    @Test("The tenant's registration policy applies to a document as to a registration")
    func policyApplies() {
        var policy = RegistrationPolicy()
        policy.allowLoopbackRedirects = false
        #expect(throws: MetadataDocument.Refusal.self) {
            _ = try MetadataDocument.validate(Self.document(["redirect_uris": .array([.string("http://localhost/callback")])]),
                                              url: Self.url, policy: policy)
        }
        policy = RegistrationPolicy()
        policy.allowedScopes = ["openid"]
        policy.unknownScopes = .reject
        #expect(throws: MetadataDocument.Refusal.self) {
            _ = try MetadataDocument.validate(Self.document(["scope": .string("openid admin")]), url: Self.url, policy: policy)
        }
    }

    static let expiryCases: [(String, [(String, String)], Int)] = [
        // (name, response headers, seconds believed) under bounds 300...86400
        ("no caching headers: the minimum", [], 300),
        ("max-age inside the bounds", [("Cache-Control", "public, max-age=3600")], 3600),
        ("max-age below the minimum", [("Cache-Control", "max-age=5")], 300),
        ("max-age above the maximum", [("Cache-Control", "max-age=9999999")], 86_400),
        ("no-store", [("Cache-Control", "no-store, max-age=3600")], 300),
        ("no-cache", [("Cache-Control", "no-cache")], 300),
        ("a malformed max-age", [("Cache-Control", "max-age=soon")], 300),
    ]

    @Test("§4.4: a document is believed for its max-age within the tenant's bounds", arguments: expiryCases)
    func cacheLifetime(_ name: String, _ headers: [(String, String)], _ seconds: Int) {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let expiry = MetadataDocument.expiry(of: HTTPHeaders(headers), fetchedAt: now, settings: MetadataDocumentSettings())
        #expect(expiry == now.addingTimeInterval(TimeInterval(seconds)), "\(name)")
    }

    @Test("Document hosts: exact names, strict subdomains of *.domain patterns, or * for any")
    func allowedHosts() {
        var settings = MetadataDocumentSettings()
        #expect(settings.allows(host: "claude.ai") && settings.allows(host: "chatgpt.com") && settings.allows(host: "vscode.dev"))
        #expect(!settings.allows(host: "evil.example") && !settings.allows(host: "sub.claude.ai"))
        settings.allowedHosts = ["*.example.com"]
        #expect(settings.allows(host: "docs.example.com") && !settings.allows(host: "example.com"))
        settings.allowedHosts = ["*"]
        #expect(settings.allows(host: "anything.example"))
    }

    @Test("Policy: client_id_metadata_documents is part of the policy document, with defaults and field-named errors")
    func policyDocument() throws {
        let parsed = try RegistrationPolicy(json: .object(["client_id_metadata_documents": .object([
            "enabled": .bool(false), "allowed_hosts": .array([.string("Docs.Example"), .string("*.example.org"), .string("*")]),
            "cache_min_seconds": .number(0), "cache_max_seconds": .number(60),
        ])]))
        #expect(parsed.metadataDocuments.enabled == false)
        #expect(parsed.metadataDocuments.allowedHosts == ["docs.example", "*.example.org", "*"])
        #expect(parsed.metadataDocuments.consentAlwaysForLoopbackOnlyClients)
        #expect(try RegistrationPolicy(json: parsed.json) == parsed)
        #expect(RegistrationPolicy().metadataDocuments.allowedHosts == MetadataDocumentSettings.knownMCPClientHosts)
        let refused: [([String: JSONValue], String)] = [
            (["allowed_hosts": .array([.string("not a host")])], "client_id_metadata_documents.allowed_hosts"),
            (["cache_min_seconds": .number(600), "cache_max_seconds": .number(60)], "client_id_metadata_documents.cache_min_seconds"),
            (["cache_max_seconds": .number(10_000_000)], "client_id_metadata_documents.cache_max_seconds"),
            (["enabled": .string("yes")], "client_id_metadata_documents.enabled"),
            (["surprise": .bool(true)], "client_id_metadata_documents.surprise"),
        ]
        for (settings, field) in refused {
            #expect(throws: PolicyError.self, "\(field)") {
                _ = try RegistrationPolicy(json: .object(["client_id_metadata_documents": .object(settings)]))
            }
            do {
                _ = try RegistrationPolicy(json: .object(["client_id_metadata_documents": .object(settings)]))
            } catch {
                #expect(error.field == field)
            }
        }
    }
}
