import Testing
@testable import Registrar

/// RFC 7591 §2 `redirect_uris`, with the structural rules of RFC 6749 §3.1.2, RFC 8252 §7 and
/// RFC 9700 §4.1, checked through `RedirectURI(_:)` and through the validator.
@Suite("Redirect URI rules")
struct RedirectURIRulesTests {
    // MARK: Accepted

    static let accepted: [(String, RedirectURI.Kind)] = [
        ("https://app.example.com/callback", .https),
        ("https://app.example.com:8443/oauth/cb?state=kept", .https),
        ("HTTPS://App.Example.com/cb", .https),
        ("https://chat.openai.com/aip/callback", .https),
        ("https://a.example/cb%20x", .https),
        ("http://127.0.0.1:33418/callback", .loopback),
        ("http://localhost/callback", .loopback),
        ("http://LOCALHOST:1234/cb", .loopback),
        ("http://[::1]:8080/cb", .loopback),
        ("http://[::1]/cb", .loopback),
        ("com.example.app:/cb", .privateUse),
        ("com.example.app:/oauth2redirect/example-provider", .privateUse),
        ("cursor://anysphere.cursor-retrieval/oauth/callback", .privateUse),
    ]

    @Test("RFC 6749 §3.1.2 / RFC 8252 §7: absolute https, loopback http and private-use URIs are accepted", arguments: accepted)
    func acceptedRedirectURI(_ raw: String, kind: RedirectURI.Kind) throws {
        let uri = try RedirectURI(raw)
        #expect(uri.kind == kind)
        #expect(uri.value == raw, "the exact string is kept, for exact matching at /authorize")

        let result = try Fixture.accept(["redirect_uris": Fixture.list(raw)])
        #expect(result.metadata.redirectURIs == [raw])
        #expect(result.metadata.json["redirect_uris"] == Fixture.list(raw))
        #expect(result.redirectURIs.map(\.kind) == [kind])
    }

    @Test("RFC 8252 §7.3: the loopback host and port are parsed (port optional)")
    func loopbackHostAndPort() throws {
        let v4 = try RedirectURI("http://127.0.0.1:33418/callback")
        #expect(v4.host == "127.0.0.1")
        #expect(v4.port == 33418)
        let named = try RedirectURI("http://localhost/callback")
        #expect(named.host == "localhost")
        #expect(named.port == nil)
        let v6 = try RedirectURI("http://[::1]:8080/cb")
        #expect(v6.host == "[::1]")
        #expect(v6.port == 8080)
        let https = try RedirectURI("https://App.Example.com:8443/cb")
        #expect(https.host == "app.example.com", "hosts are compared lower-cased")
        #expect(https.port == 8443)
    }

    // MARK: Refused by the parser

    static let malformed: [(String, URIParser.Failure)] = [
        // Schemes that run code or read local data, however they are spelled.
        ("javascript:alert(1)", .dangerousScheme("javascript")),
        ("JaVaScRiPt:alert(1)", .dangerousScheme("javascript")),
        ("JAVASCRIPT://app.example.com/%0aalert(1)", .dangerousScheme("javascript")),
        ("data:text/html,<script>alert(1)</script>", .dangerousScheme("data")),
        ("DaTa:text/html;base64,PHNjcmlwdD4=", .dangerousScheme("data")),
        ("file:///etc/passwd", .dangerousScheme("file")),
        ("FILE://localhost/etc/passwd", .dangerousScheme("file")),
        ("vbscript:msgbox(1)", .dangerousScheme("vbscript")),
        ("VBScript:msgbox(1)", .dangerousScheme("vbscript")),
        (" javascript:alert(1)", .dangerousScheme("javascript")),
        ("\tjavascript:alert(1)", .dangerousScheme("javascript")),
        ("\njavascript:alert(1)", .dangerousScheme("javascript")),
        ("java\tscript:alert(1)", .dangerousScheme("javascript")),
        ("java\nscript:alert(1)", .dangerousScheme("javascript")),
        ("java\rscript:alert(1)", .dangerousScheme("javascript")),
        ("java\u{0}script:alert(1)", .dangerousScheme("javascript")),
        ("java\u{200B}script:alert(1)", .dangerousScheme("javascript")),
        ("jav\u{AD}ascript:alert(1)", .dangerousScheme("javascript")),
        ("java script:alert(1)", .dangerousScheme("javascript")),
        // Whitespace, control and non-ASCII characters anywhere.
        (" https://app.example.com/cb", .invalidCharacters),
        ("\thttps://app.example.com/cb", .invalidCharacters),
        ("https://app.example.com/cb ", .invalidCharacters),
        ("https://app.example.com/c b", .invalidCharacters),
        ("https://app.example.com/cb\n", .invalidCharacters),
        ("https://app.example.com/cb\u{0}", .invalidCharacters),
        ("https://app.example.com/cb\u{7F}", .invalidCharacters),
        ("https://app.example.com/cb\u{202E}", .invalidCharacters),
        ("https://äpp.example.com/cb", .invalidCharacters),
        // Structure.
        ("", .empty),
        ("https://app.example.com/" + String(repeating: "a", count: 2000), .tooLong),
        ("https://app.example.com\\@evil.example", .backslash),
        ("https:\\\\evil.example\\cb", .backslash),
        ("https://app.example.com/cb#x", .fragment),
        ("https://app.example.com/cb#", .fragment),
        ("https://*.example.com/cb", .wildcard),
        ("https://app.example.com/*", .wildcard),
        ("https://app.example.com/cb%zz", .invalidPercentEncoding),
        ("https://app.example.com/cb%2", .invalidPercentEncoding),
        ("/cb", .notAbsolute),
        ("cb", .notAbsolute),
        ("//app.example.com/cb", .notAbsolute),
        ("1app:/cb", .notAbsolute),
        ("java%73cript:alert(1)", .notAbsolute),
        ("com.example.app:", .notAbsolute),
        ("https:/x", .missingAuthority),
        ("https:x", .missingAuthority),
        ("https://user@app.example.com/cb", .userinfo),
        ("https://user:password@app.example.com/cb", .userinfo),
        ("https://app.example.com@evil.example/cb", .userinfo),
        ("https:///cb", .invalidHost),
        ("https://%65vil.example/cb", .invalidHost),
        ("https://app.example.com./cb", .invalidHost),
        ("https://-app.example.com/cb", .invalidHost),
        ("https://app_1.example.com/cb", .invalidHost),
        ("http://[::1/cb", .invalidHost),
        ("http://[]/cb", .invalidHost),
        ("http://[::1]x/cb", .invalidHost),
        ("http://[zz::1]/cb", .invalidHost),
        ("https://app.example.com:0/cb", .invalidPort),
        ("https://app.example.com:70000/cb", .invalidPort),
        ("https://app.example.com:65536/cb", .invalidPort),
        ("https://app.example.com:/cb", .invalidPort),
        ("https://app.example.com:8o/cb", .invalidPort),
        ("https://app.example.com:-1/cb", .invalidPort),
        ("https://app.example.com:+80/cb", .invalidPort),
        ("http://[::1]:/cb", .invalidPort),
    ]

    @Test("RFC 6749 §3.1.2 / RFC 9700 §4.1: malformed or dangerous redirect URIs are refused with invalid_redirect_uri", arguments: malformed)
    func malformedRedirectURI(_ raw: String, failure: URIParser.Failure) {
        #expect(throws: failure) { try URIParser.parse(raw) }

        #expect(throws: OAuthError.self) { try RedirectURI(raw) }
        let error = Fixture.error(["redirect_uris": Fixture.list(raw)])
        #expect(error?.code == .invalidRedirectURI)
    }

    // MARK: Refused by the scheme rules

    static let refusedSchemes: [String] = [
        "http://example.com/cb",
        "http://app.example.com:8080/cb",
        "http://127.0.0.1.nip.io/cb",
        "http://localhost.evil.example/cb",
        "http://10.0.0.1/cb",
        "mailto:someone@example.com",
        "ws://app.example.com/cb",
        "wss://app.example.com/cb",
        "about:blank",
        "blob:https://app.example.com/uuid",
        "ftp://app.example.com/cb",
        "intent://cb/Intent;scheme=x;end",
        "tel:+15555550100",
        "urn:ietf:wg:oauth:2.0:oob",
        "view-source:https://app.example.com/",
    ]

    @Test("RFC 9700 §4.1.1 / RFC 8252 §7.3: plain http is refused unless the host is loopback; web, mail and browser-internal schemes are not private-use schemes", arguments: refusedSchemes)
    func refusedScheme(_ raw: String) {
        #expect(throws: Never.self, "structurally valid: the scheme rules, not the parser, refuse it") { try URIParser.parse(raw) }
        #expect(throws: OAuthError.self) { try RedirectURI(raw) }
        #expect(Fixture.error(["redirect_uris": Fixture.list(raw)])?.code == .invalidRedirectURI)
    }

    @Test("Error descriptions never echo control characters from the submitted URI")
    func descriptionsAreClean() throws {
        for raw in ["java\u{0}script:alert(1)", "https://app.example.com/cb\u{1B}[31m", "https://app.example.com/\u{202E}cb"] {
            let error = try #require(Fixture.error(["redirect_uris": Fixture.list(raw)]))
            let description = try #require(error.errorDescription)
            #expect(description.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F })
        }
    }

    // MARK: The member itself

    @Test("RFC 7591 §2: redirect_uris is required (absent or null) for the authorization_code grant")
    func redirectURIsRequired() {
        #expect(Fixture.error([:])?.code == .invalidRedirectURI)
        #expect(Fixture.error(["redirect_uris": .null])?.code == .invalidRedirectURI)
        #expect(Fixture.error(["client_name": .string("No redirects")])?.code == .invalidRedirectURI)
    }

    @Test("RFC 7591 §2: redirect_uris must contain at least one URI")
    func redirectURIsNotEmpty() {
        #expect(Fixture.error(["redirect_uris": .array([])])?.code == .invalidRedirectURI)
    }

    static let notAnArrayOfStrings: [JSONValue] = [
        .string("https://app.example.com/callback"),
        .number(1),
        .bool(true),
        .object(["uri": .string("https://app.example.com/callback")]),
        .array([.number(1)]),
        .array([.null]),
        .array([.string("https://app.example.com/callback"), .bool(false)]),
        .array([.array([.string("https://app.example.com/callback")])]),
        .array([.object([:])]),
    ]

    @Test("RFC 7591 §2: redirect_uris must be an array of strings (invalid_redirect_uri otherwise)", arguments: notAnArrayOfStrings)
    func redirectURIsWrongType(_ value: JSONValue) throws {
        let error = try #require(Fixture.error(["redirect_uris": value]))
        #expect(error.code == .invalidRedirectURI)
        #expect(error.errorDescription?.contains("redirect_uris") == true)
    }

    @Test("redirect_uris is bounded: 32 URIs accepted, 33 refused")
    func redirectURIsBounded() {
        func uris(_ count: Int) -> JSONValue { .array((0..<count).map { .string("https://app.example.com/cb\($0)") }) }
        #expect(Fixture.error(["redirect_uris": uris(ClientMetadataValidator.maximumRedirectURIs)]) == nil)
        #expect(Fixture.error(["redirect_uris": uris(ClientMetadataValidator.maximumRedirectURIs + 1)])?.code == .invalidRedirectURI)
    }

    @Test("Duplicate redirect URIs collapse to one, in request order")
    func redirectURIsDeduplicated() throws {
        let result = try Fixture.accept(["redirect_uris": Fixture.list("https://b.example/cb", "https://a.example/cb", "https://b.example/cb")])
        #expect(result.metadata.redirectURIs == ["https://b.example/cb", "https://a.example/cb"])
        #expect(result.redirectURIs.count == 2)
    }

    @Test("One bad URI among good ones refuses the whole registration")
    func oneBadURIRefusesAll() {
        let error = Fixture.error(["redirect_uris": Fixture.list("https://app.example.com/cb", "javascript:alert(1)")])
        #expect(error?.code == .invalidRedirectURI)
    }

    // MARK: Policy

    @Test("Policy allowLoopbackRedirects = false refuses loopback redirect URIs", arguments: [
        "http://127.0.0.1:33418/callback", "http://localhost/callback", "http://[::1]:8080/cb",
    ])
    func loopbackRefusedByPolicy(_ raw: String) {
        var policy = RegistrationPolicy()
        policy.allowLoopbackRedirects = false
        #expect(Fixture.error(["redirect_uris": Fixture.list(raw)], policy: policy)?.code == .invalidRedirectURI)
        #expect(Fixture.error(["redirect_uris": Fixture.list(raw)]) == nil, "allowed under the default policy")
        #expect(Fixture.error(["redirect_uris": Fixture.list("https://app.example.com/cb")], policy: policy) == nil)
    }

    @Test("Policy allowPrivateUseSchemes = false refuses private-use redirect URIs", arguments: [
        "com.example.app:/cb", "cursor://anysphere.cursor-retrieval/oauth/callback",
    ])
    func privateUseRefusedByPolicy(_ raw: String) {
        var policy = RegistrationPolicy()
        policy.allowPrivateUseSchemes = false
        #expect(Fixture.error(["redirect_uris": Fixture.list(raw)], policy: policy)?.code == .invalidRedirectURI)
        #expect(Fixture.error(["redirect_uris": Fixture.list(raw)]) == nil, "allowed under the default policy")
        #expect(Fixture.error(["redirect_uris": Fixture.list("http://127.0.0.1:1/cb")], policy: policy) == nil)
    }
}
