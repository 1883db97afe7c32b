import Testing
@testable import Registrar

/// RFC 8707 §2 resource indicators: which values are accepted, their canonical form, and which
/// spellings name the same resource.
@Suite("Resource indicators")
struct ResourceIndicatorTests {
    /// (as sent, canonical form, form kept as registered)
    static let canonicalForms: [(String, String, String)] = [
        ("https://mcp.example.com", "https://mcp.example.com", "https://mcp.example.com"),
        ("https://mcp.example.com/", "https://mcp.example.com", "https://mcp.example.com/"),
        ("HTTPS://MCP.Example.COM/", "https://mcp.example.com", "https://mcp.example.com/"),
        ("https://mcp.example.com:443/", "https://mcp.example.com", "https://mcp.example.com/"),
        ("http://localhost:80/mcp", "http://localhost/mcp", "http://localhost/mcp"),
        ("https://mcp.example.com:8443/mcp", "https://mcp.example.com:8443/mcp", "https://mcp.example.com:8443/mcp"),
        ("http://127.0.0.1:3000/mcp/", "http://127.0.0.1:3000/mcp", "http://127.0.0.1:3000/mcp/"),
        ("https://h.example/mcp/", "https://h.example/mcp", "https://h.example/mcp/"),
        ("https://h.example/MCP", "https://h.example/MCP", "https://h.example/MCP"),
        ("https://h.example/a%2fb", "https://h.example/a%2Fb", "https://h.example/a%2fb"),
        ("https://h.example/%7Euser", "https://h.example/~user", "https://h.example/%7Euser"),
        ("https://h.example/mcp?tenant=a", "https://h.example/mcp?tenant=a", "https://h.example/mcp?tenant=a"),
        ("http://[::1]:8080/mcp", "http://[::1]:8080/mcp", "http://[::1]:8080/mcp"),
    ]

    @Test("RFC 8707 §2 / RFC 3986 §6.2: lower-case scheme and host, no default port, one trailing slash ignored", arguments: canonicalForms)
    func canonicalForm(_ raw: String, canonical: String, normalized: String) throws {
        let indicator = try ResourceIndicator(parsing: raw)
        #expect(indicator.canonical == canonical)
        #expect(indicator.normalized == normalized)
    }

    static let sameResourceCases: [(String, String)] = [
        ("https://MCP.Example.com/", "https://mcp.example.com"),
        ("https://h.example/mcp/", "https://h.example/mcp"),
        ("HTTPS://H.EXAMPLE:443/mcp", "https://h.example/mcp/"),
        ("https://h.example/%7e", "https://h.example/~"),
    ]

    @Test("Spellings of one resource compare equal", arguments: sameResourceCases)
    func sameResource(_ left: String, _ right: String) throws {
        #expect(try ResourceIndicator(parsing: left) == ResourceIndicator(parsing: right))
        #expect(try ResourceIndicator(parsing: left).hashValue == ResourceIndicator(parsing: right).hashValue)
    }

    static let differentResourcesCases: [(String, String)] = [
        ("https://h.example/mcp", "https://h.example/MCP"),
        ("https://h.example/mcp", "https://h.example/mcp/v2"),
        ("https://h.example/mcp", "http://h.example/mcp"),
        ("https://h.example/mcp", "https://h.example:8443/mcp"),
        ("https://h.example/mcp", "https://other.example/mcp"),
        ("https://h.example/mcp", "https://h.example/mcp?x=1"),
        ("https://h.example/", "https://h.example/mcp"),
    ]

    @Test("Any other difference of scheme, host, port, path or query is another resource", arguments: differentResourcesCases)
    func differentResources(_ left: String, _ right: String) throws {
        #expect(try ResourceIndicator(parsing: left) != ResourceIndicator(parsing: right))
    }

    static let refusedCases: [(String, ResourceIndicator.Failure)] = [
        ("", .empty),
        ("https://h.example/mcp#section", .fragment),
        ("https://h.example/#", .fragment),
        ("/mcp", .notAbsolute),
        ("mcp.example.com/mcp", .notAbsolute),
        ("//h.example/mcp", .notAbsolute),
        ("urn:example:resource", .unsupportedScheme),
        ("ftp://h.example/mcp", .unsupportedScheme),
        ("javascript:alert(1)", .unsupportedScheme),
        ("https:h.example/mcp", .notAbsolute),
        ("https://user:pw@h.example/mcp", .userinfo),
        ("https:///mcp", .invalidHost),
        ("https://h_x.example/mcp", .invalidHost),
        ("https://h.example:0/mcp", .invalidPort),
        ("https://h.example:99999/mcp", .invalidPort),
        ("https://h.example/m cp", .invalidCharacters),
        ("https://h.example/\"mcp\"", .invalidCharacters),
        ("https://h.example/<mcp>", .invalidCharacters),
        ("https://h.example\\mcp", .invalidCharacters),
        ("https://h.example/mcp\n", .invalidCharacters),
        ("https://h.éxample/mcp", .invalidCharacters),
        ("https://h.example/%zz", .invalidPercentEncoding),
        ("https://h.example/a/../mcp", .dotSegment),
        ("https://h.example/./mcp", .dotSegment),
        ("https://h.example/%2e%2E/mcp", .dotSegment),
        ("https://h.example/" + String(repeating: "a", count: 2000), .tooLong),
    ]

    @Test("RFC 8707 §2: relative URIs, fragments and anything that is not a plain http(s) URL are refused", arguments: refusedCases)
    func refused(_ raw: String, failure: ResourceIndicator.Failure) {
        #expect(throws: failure) { try ResourceIndicator(parsing: raw) }
    }

    static let notRegistrableCases: [(String, ResourceIndicator.Failure)] = [
        ("https://h.example/mcp?tenant=a", .query),
        ("https://h.example/mcp?", .query),
        ("http://h.example/mcp", .insecureScheme),
        ("http://127.0.0.1.example.com/mcp", .insecureScheme),
        ("http://10.0.0.1/mcp", .insecureScheme),
    ]

    @Test("A registered resource has no query and uses https, or http on loopback only", arguments: notRegistrableCases)
    func notRegistrable(_ raw: String, failure: ResourceIndicator.Failure) throws {
        _ = try ResourceIndicator(parsing: raw)
        #expect(throws: failure) { try ResourceIndicator.registrable(raw) }
    }

    @Test("Loopback http and any https URL can be registered", arguments: [
        "http://localhost:8000/mcp", "http://127.0.0.1/mcp", "http://[::1]:3000/", "https://mcp.example.com/mcp/", "https://mcp.example.com",
    ])
    func registrable(_ raw: String) throws {
        #expect(try ResourceIndicator.registrable(raw) == ResourceIndicator(parsing: raw))
    }

    @Test("Ids and credentials have the documented shape and are recognised by it")
    func idsAndCredentials() {
        let id = ResourceServer.generateID()
        let credential = ResourceServer.generateCredential()
        #expect(id.hasPrefix("rs_") && id.count == 27)
        #expect(credential.hasPrefix("rss_") && credential.count == 47)
        #expect(ResourceServer.isIssuedID(id))
        #expect(ResourceServer.isCredentialShaped(credential))
        #expect(!ResourceServer.isIssuedID("rs_short"))
        #expect(!ResourceServer.isIssuedID("cl_" + id.dropFirst(3)))
        #expect(!ResourceServer.isCredentialShaped("rcs_" + credential.dropFirst(4)))
        #expect(ResourceServer.generateID() != id)
    }
}

/// How a resource server's credential is read from a request (RFC 6749 §2.3.1).
@Suite("Resource server credentials")
struct ResourceServerCredentialTests {
    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Array("\(user):\(password)".utf8).base64()
    }

    @Test("RFC 6749 §2.3.1: Basic credentials are form-urlencoded, and read the same raw or encoded")
    func basicDecoding() throws {
        let raw = try ResourceServerAuthenticator.basicCredentials(Self.basic("rs_abc", "rss_a-b_c"))
        #expect(raw == .init(id: "rs_abc", secret: "rss_a-b_c"))
        let encoded = try ResourceServerAuthenticator.basicCredentials(Self.basic("rs%5Fabc", "rss%5Fa-b_c"))
        #expect(encoded == .init(id: "rs_abc", secret: "rss_a-b_c"))
        #expect(try ResourceServerAuthenticator.basicCredentials("basic " + Array("a:b%20c+d".utf8).base64()) == .init(id: "a", secret: "b c d"))
    }

    @Test("No Authorization header, or another scheme, presents no Basic credential")
    func otherSchemes() throws {
        #expect(try ResourceServerAuthenticator.basicCredentials(nil) == nil)
        #expect(try ResourceServerAuthenticator.basicCredentials("Bearer rss_x") == nil)
    }

    @Test("A malformed Basic header is the one invalid_client answer", arguments: [
        "Basic", "Basic !!!", "Basic " + Array("no-colon".utf8).base64(), "Basic " + Array("a:%zz".utf8).base64(),
    ])
    func malformedBasic(_ header: String) {
        #expect(throws: ResourceServerAuthenticator.rejected) { try ResourceServerAuthenticator.basicCredentials(header) }
    }
}

extension Array where Element == UInt8 {
    fileprivate func base64() -> String { Data(self).base64EncodedString() }
}

import Foundation

/// RFC 9728: where a resource server serves its metadata and how its 401 points there.
@Suite("Protected resource metadata")
struct ProtectedResourceMetadataTests {
    static let wellKnownCases: [(String, String)] = [
        ("https://mcp.example.com/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
        ("https://mcp.example.com/mcp/", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp/"),
        ("https://mcp.example.com/a/b", "https://mcp.example.com/.well-known/oauth-protected-resource/a/b"),
        ("https://mcp.example.com", "https://mcp.example.com/.well-known/oauth-protected-resource"),
        ("https://mcp.example.com/", "https://mcp.example.com/.well-known/oauth-protected-resource"),
        ("http://localhost:8000/mcp", "http://localhost:8000/.well-known/oauth-protected-resource/mcp"),
        ("https://MCP.example.com:443/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
    ]

    @Test("RFC 9728 §3.1: the well-known suffix goes between the host and the path", arguments: wellKnownCases)
    func wellKnownURL(_ resource: String, _ expected: String) {
        #expect(ProtectedResourceMetadata.wellKnownURL(for: resource) == expected)
    }

    static func server(_ url: String, scopes: [String]) throws -> ResourceServer {
        ResourceServer(tenantID: UUID(), id: ResourceServer.generateID(), uri: try ResourceIndicator.registrable(url), displayName: "Acme",
                       scopes: scopes, isDefault: false, credentialHash: "h", credentialTag: nil, createdAt: Date(), updatedAt: Date())
    }

    @Test("RFC 9728 §2 / §5.1: document members and the challenge, with and without scopes")
    func documentAndChallenge() throws {
        let scoped = ProtectedResourceMetadata(server: try Self.server("https://MCP.example.com/mcp", scopes: ["mcp:tools", "mcp:read"]),
                                               issuer: "https://acme.example.com")
        #expect(scoped.document.encodedString() == #"{"authorization_servers":["https://acme.example.com"],"bearer_methods_supported":["header"],"#
            + #""resource":"https://mcp.example.com/mcp","resource_name":"Acme","scopes_supported":["mcp:tools","mcp:read"]}"#)
        #expect(scoped.wwwAuthenticate
            == #"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:tools mcp:read""#)
        let bare = ProtectedResourceMetadata(server: try Self.server("https://mcp.example.com", scopes: []), issuer: "http://localhost/t/acme")
        #expect(bare.document.objectValue?["scopes_supported"] == nil, "no empty member")
        #expect(bare.document.objectValue?["authorization_servers"] == .array([.string("http://localhost/t/acme")]))
        #expect(bare.wwwAuthenticate == #"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#)
    }

    @Test("Issuers of a tenant: custom domains first, then the subdomain, then the path issuer")
    func issuerOrder() {
        #expect(ResourceServerService.issuers(slug: "acme", domains: ["z.example", "a.example"], publicBaseURL: "https://reg.example", baseDomain: "reg.example")
            == ["https://a.example", "https://z.example", "https://acme.reg.example", "https://reg.example/t/acme"])
        #expect(ResourceServerService.issuers(slug: "acme", domains: [], publicBaseURL: "http://localhost:8080", baseDomain: nil)
            == ["http://localhost:8080/t/acme"])
    }

    @Test("Scopes of a resource server must be scope tokens the policy allows, each once", arguments: [
        (["mcp:tools", "mcp:tools"], "scopes"), (["bad scope"], "scopes"), (["not-allowed"], "scopes"),
    ])
    func scopeRules(_ scopes: [String], _ field: String) {
        var policy = RegistrationPolicy()
        policy.allowedScopes = ["mcp:tools", "openid"]
        #expect(throws: ResourceServerService.Refused.self) { try ResourceServerService.scopes(scopes, policy: policy) }
        #expect((try? ResourceServerService.scopes(["mcp:tools"], policy: policy)) == ["mcp:tools"])
        policy.allowedScopes = []
        #expect((try? ResourceServerService.scopes(["anything"], policy: policy)) == ["anything"], "an empty allowed set allows any scope token")
    }
}
