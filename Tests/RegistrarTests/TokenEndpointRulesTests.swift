import Foundation
import Testing
@testable import Registrar

/// The pure rules of the token, revocation and introspection endpoints: form bodies, Basic
/// credentials, PKCE, opaque token shapes, scope and resource narrowing, client presentation.
@Suite("Token endpoint rules")
struct TokenEndpointRulesTests {
    // MARK: Form bodies (RFC 6749 §3.2, WHATWG form decoding)

    @Test("Form bodies decode + as a space and %XX as UTF-8 bytes")
    func formDecoding() throws {
        let form = try FormBody.parse(Array("grant_type=authorization_code&redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1&scope=openid+email&n=%C3%A9".utf8))
        #expect(form["grant_type"] == "authorization_code")
        #expect(form["redirect_uri"] == "https://a.example/cb?x=1")
        #expect(form["scope"] == "openid email")
        #expect(form["n"] == "é")
    }

    @Test("RFC 6749 §3.2: a parameter sent twice is invalid_request", arguments: [
        "grant_type=refresh_token&grant_type=authorization_code",
        "code=a&code=a",
        "client_id=x&client_secret=y&client_id=x",
    ])
    func duplicateParameterRefused(_ body: String) {
        #expect(throws: OAuthError.self) { try FormBody.parse(Array(body.utf8)) }
        do {
            _ = try FormBody.parse(Array(body.utf8))
        } catch {
            #expect(error.code == .invalidRequest)
        }
    }

    @Test("RFC 8707 §2: resource may repeat, and keeps every value in order")
    func resourceRepeats() throws {
        let form = try FormBody.parse(Array("resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example".utf8))
        #expect(form.all("resource") == ["https://a.example", "https://b.example"])
    }

    @Test("RFC 6749 §3.1: a parameter without a value counts as omitted (and so is no duplicate)")
    func emptyValueOmitted() throws {
        let form = try FormBody.parse(Array("client_secret=&client_id=cl_x&client_secret=s&scope".utf8))
        #expect(form["client_secret"] == "s")
        #expect(form["scope"] == nil)
        #expect(form["client_id"] == "cl_x")
    }

    @Test("Malformed escapes and invalid UTF-8 are invalid_request, never passed on", arguments: ["code=%", "code=%4", "code=%zz", "code=%C3%28", "code=%FF"])
    func malformedEscapeRefused(_ body: String) {
        do {
            _ = try FormBody.parse(Array(body.utf8))
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.code == .invalidRequest)
        }
    }

    @Test("Only application/x-www-form-urlencoded is a form body", arguments: [
        ("application/x-www-form-urlencoded", true), ("application/x-www-form-urlencoded; charset=UTF-8", true),
        ("Application/X-WWW-Form-Urlencoded", true), ("application/json", false), ("multipart/form-data; boundary=x", false),
        ("text/plain", false), ("application/x-www-form-urlencodedx", false),
        (" application/x-www-form-urlencoded\t;charset=UTF-8", true), ("", false), ("   ", false), (";", false),
        ("application/x-www-form-urlencode", false), ("application/x-www-form-urlencoded/", false),
    ])
    func formContentType(_ value: String, _ accepted: Bool) {
        #expect(FormBody.isFormContentType(value) == accepted)
    }

    // MARK: Basic credentials (RFC 6749 §2.3.1)

    static func basic(_ raw: String) -> String { "Basic " + Data(raw.utf8).base64EncodedString() }

    @Test("RFC 6749 §2.3.1: Basic credentials are form-decoded after splitting; raw ones read the same")
    func basicDecoding() throws {
        let raw = try #require(try BasicCredentials.parse(authorization: Self.basic("cl_abc:rcs_A-b_c")))
        #expect(raw == BasicCredentials(clientID: "cl_abc", secret: "rcs_A-b_c"))
        let encoded = try #require(try BasicCredentials.parse(authorization: Self.basic("https%3A%2F%2Fapp.example%2Fclient:p%40ss%3Aword+x")))
        #expect(encoded == BasicCredentials(clientID: "https://app.example/client", secret: "p@ss:word x"))
        // The first colon splits: an encoded secret may carry a decoded one.
        let colon = try #require(try BasicCredentials.parse(authorization: Self.basic("id:a:b")))
        #expect(colon.secret == "a:b")
    }

    @Test("RFC 7235 §2.1: the scheme is case-insensitive, any blanks separate it, and unpadded base64 reads the same")
    func basicSyntax() throws {
        let padded = Data("cl_a:s1".utf8).base64EncodedString()
        #expect(padded.hasSuffix("="), "the example needs padding")
        for header in ["BASIC " + padded, "basic   " + padded, "Basic \t" + padded + " ", "Basic " + padded.replacingOccurrences(of: "=", with: "")] {
            #expect(try BasicCredentials.parse(authorization: header) == BasicCredentials(clientID: "cl_a", secret: "s1"), "\(header)")
        }
    }

    @Test("Another scheme is no Basic credential")
    func otherSchemeIgnored() throws {
        #expect(try BasicCredentials.parse(authorization: "Bearer abc") == nil)
        #expect(try BasicCredentials.parse(authorization: "Basicx abc") == nil)
    }

    @Test("Malformed Basic credentials are invalid_client", arguments: ["Basic", "Basic !!!", "Basic " + Data("nocolon".utf8).base64EncodedString(),
                                                                        "Basic " + Data(":secret".utf8).base64EncodedString(),
                                                                        "Basic Y2xfYTpz=", "Basic " + Data([0x63, 0x3A, 0xFF]).base64EncodedString(),
                                                                        "Basic " + Data("cl_a:%zz".utf8).base64EncodedString()])
    func malformedBasic(_ header: String) {
        do {
            _ = try BasicCredentials.parse(authorization: header)
            Issue.record("accepted \(header)")
        } catch {
            #expect(error.code == .invalidClient)
        }
    }

    // MARK: PKCE (RFC 7636)

    @Test("RFC 7636 Appendix B: the S256 challenge of the example verifier")
    func pkceExample() {
        #expect(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(PKCE.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        #expect(!PKCE.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
        // `plain` would compare the verifier itself: never accepted.
        #expect(!PKCE.verifies("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))
    }

    @Test("RFC 7636 §4.1: a verifier is 43 to 128 unreserved characters", arguments: [
        (String(repeating: "a", count: 43), true), (String(repeating: "a", count: 128), true),
        (String(repeating: "a", count: 42), false), (String(repeating: "a", count: 129), false),
        (String(repeating: "a", count: 40) + "-._~", true), (String(repeating: "a", count: 42) + "+", false),
        (String(repeating: "a", count: 42) + "/", false), (String(repeating: "a", count: 42) + " ", false),
        (String(repeating: "a", count: 42) + "é", false),
    ])
    func verifierSyntax(_ verifier: String, _ valid: Bool) {
        #expect(PKCE.isValidVerifier(verifier) == valid)
    }

    // MARK: Opaque tokens (design §4)

    @Test("Codes and refresh tokens are the prefix and 43 base64url characters, 256 bits, and differ every time")
    func opaqueTokenShape() {
        let code = OpaqueToken.authorizationCode()
        let refresh = OpaqueToken.refreshToken()
        #expect(OpaqueToken.isWellFormed(code, prefix: "ac_"))
        #expect(OpaqueToken.isWellFormed(refresh, prefix: "rt_"))
        #expect(!OpaqueToken.isWellFormed(code, prefix: "rt_"))
        #expect(code.count == 46 && refresh.count == 46)
        #expect(OpaqueToken.authorizationCode() != code)
        #expect(!OpaqueToken.isWellFormed("ac_" + String(repeating: "A", count: 42), prefix: "ac_"))
        #expect(!OpaqueToken.isWellFormed("ac_" + String(repeating: "A", count: 42) + "=", prefix: "ac_"))
    }

    @Test("Only the SHA-256 of a code is stored: deterministic, and not the code")
    func opaqueTokenHash() {
        let code = OpaqueToken.authorizationCode()
        #expect(OpaqueToken.hash(code) == OpaqueToken.hash(code))
        #expect(OpaqueToken.hash(code) != code)
        #expect(!OpaqueToken.hash(code).contains(code.dropFirst(3)))
        #expect(OpaqueToken.hash(code).count == 43)
    }

    // MARK: Scope and resource

    @Test("RFC 6749 §3.3: scope is space-separated tokens; duplicates collapse; bad characters are invalid_scope")
    func scopeParameter() throws {
        #expect(try ScopeParameter.parse("openid  email openid") == ["openid", "email"])
        #expect(try ScopeParameter.parse(nil) == nil)
        do {
            _ = try ScopeParameter.parse("openid \"quoted\"")
            Issue.record("accepted a quote")
        } catch {
            #expect(error.code == .invalidScope)
        }
    }

    @Test("RFC 8707 §2: resource at the token endpoint picks among the granted ones in canonical form, never adds one")
    func resourceNarrowing() throws {
        let granted = ["https://mcp.example.com/mcp", "https://other.example.com"]
        #expect(try TokenGrants.narrow([], within: granted) == granted)
        #expect(try TokenGrants.narrow(["HTTPS://MCP.example.com/mcp/"], within: granted) == ["https://mcp.example.com/mcp"])
        #expect(try TokenGrants.narrow(["https://other.example.com/"], within: granted) == ["https://other.example.com"])
        for outside in ["https://evil.example.com", "https://mcp.example.com/other", "not a uri"] {
            do {
                _ = try TokenGrants.narrow([outside], within: granted)
                Issue.record("accepted \(outside)")
            } catch {
                #expect(error.code == .invalidTarget)
            }
        }
    }

    // MARK: The refresh grant planned before the client's lookup

    static let plannedAccess = PlannedAccessToken(jti: "jti", issuedAt: Date(timeIntervalSince1970: 1_000),
                                                  expiresAt: Date(timeIntervalSince1970: 1_600))

    @Test("A refresh grant is planned with the scope and resources as sent; without scope it keeps the granted ones", arguments: [
        ([:], nil, []),
        (["scope": "email"], ["email"], []),
        (["scope": "openid  email"], ["openid", "email"], []),
        (["resource": "https://mcp.example.com/mcp"], nil, ["https://mcp.example.com/mcp"]),
    ] as [([String: String], [String]?, [String])])
    func refreshPlanned(_ values: [String: String], scopes: [String]?, resources: [String]) throws {
        let at = Date(timeIntervalSince1970: 1_000)
        let policy = RegistrationPolicy()
        let plan = try #require(TokenGrants.plannedRefresh(Self.form(values), policy: policy, at: at, accessToken: Self.plannedAccess))
        #expect(plan.scopes == scopes && plan.resources == resources && plan.now == at && plan.accessToken == Self.plannedAccess)
        #expect(plan.idleExpiresAt == at.addingTimeInterval(TimeInterval(policy.authorizationServer.refreshTokenLifetimeSeconds)))
        #expect(OpaqueToken.isWellFormed(plan.successor, prefix: OpaqueToken.refreshTokenPrefix))
    }

    @Test("No plan for a malformed scope or a tenant that no longer allows the refresh grant: the two-statement path answers those")
    func refreshNotPlanned() {
        let at = Date(timeIntervalSince1970: 1_000)
        #expect(TokenGrants.plannedRefresh(Self.form(["scope": "bad\u{7F}scope"]), policy: RegistrationPolicy(), at: at, accessToken: Self.plannedAccess) == nil)
        var closed = RegistrationPolicy()
        closed.grantTypes = [.authorizationCode]
        #expect(TokenGrants.plannedRefresh(Self.form([:]), policy: closed, at: at, accessToken: Self.plannedAccess) == nil)
    }

    @Test("A code exchange is planned with the verifier's S256 challenge, the redirect URI and resources as sent, and a refresh token where the tenant allows one")
    func redemptionPlanned() throws {
        let at = Date(timeIntervalSince1970: 1_000)
        let verifier = String(repeating: "v", count: 43)
        let form = Self.form(["code_verifier": verifier, "redirect_uri": "http://127.0.0.1:3000/cb", "resource": "https://mcp.example.com"])
        let policy = RegistrationPolicy()
        let plan = try #require(TokenGrants.plannedRedemption(form, policy: policy, at: at, accessToken: Self.plannedAccess))
        #expect(plan.challenge == PKCE.challenge(for: verifier) && plan.redirectURI == "http://127.0.0.1:3000/cb")
        #expect(plan.resources == ["https://mcp.example.com"] && plan.now == at && plan.accessToken == Self.plannedAccess)
        let settings = policy.authorizationServer
        #expect(plan.absoluteExpiresAt == at.addingTimeInterval(TimeInterval(settings.refreshTokenAbsoluteLifetimeSeconds)))
        #expect(plan.refreshExpiresAt == min(plan.absoluteExpiresAt, at.addingTimeInterval(TimeInterval(settings.refreshTokenLifetimeSeconds))))
        #expect(plan.refreshToken.map { OpaqueToken.isWellFormed($0, prefix: OpaqueToken.refreshTokenPrefix) } == true)
        var noRefresh = RegistrationPolicy()
        noRefresh.grantTypes = [.authorizationCode]
        #expect(try #require(TokenGrants.plannedRedemption(form, policy: noRefresh, at: at, accessToken: Self.plannedAccess)).refreshToken == nil)
    }

    @Test("No exchange is planned without a well-formed verifier or when the tenant no longer allows the grant", arguments: [
        [:], ["code_verifier": "short"], ["code_verifier": String(repeating: "v", count: 42) + "+"],
    ] as [[String: String]])
    func redemptionNotPlanned(_ values: [String: String]) {
        let at = Date(timeIntervalSince1970: 1_000)
        #expect(TokenGrants.plannedRedemption(Self.form(values), policy: RegistrationPolicy(), at: at, accessToken: Self.plannedAccess) == nil)
        var closed = RegistrationPolicy()
        closed.grantTypes = [.refreshToken]
        let valid = Self.form(["code_verifier": String(repeating: "v", count: 43)])
        #expect(TokenGrants.plannedRedemption(valid, policy: closed, at: at, accessToken: Self.plannedAccess) == nil)
    }

    // MARK: Client presentation (RFC 6749 §2.3)

    static func form(_ values: [String: String]) -> FormBody { FormBody(values: values.mapValues { [$0] }) }

    @Test("The method a request presents is read from where its credentials are")
    func presentationMethods() throws {
        let basic = try #require(try ClientPresentation.read(form: Self.form([:]), authorization: Self.basic("cl_a:s")))
        #expect(basic.method == .clientSecretBasic && basic.clientID == "cl_a" && basic.secret == "s")
        let post = try #require(try ClientPresentation.read(form: Self.form(["client_id": "cl_a", "client_secret": "s"]), authorization: nil))
        #expect(post.method == .clientSecretPost)
        let none = try #require(try ClientPresentation.read(form: Self.form(["client_id": "cl_a"]), authorization: nil))
        #expect(none.method == .none && none.secret == nil)
        let jwt = try #require(try ClientPresentation.read(
            form: Self.form(["client_id": "cl_a", "client_assertion": "a.b.c", "client_assertion_type": ClientAssertionVerifier.assertionType]),
            authorization: nil))
        #expect(jwt.method == .privateKeyJWT && jwt.assertion == "a.b.c")
        #expect(try ClientPresentation.read(form: Self.form([:]), authorization: nil) == nil)
    }

    @Test("RFC 6749 §2.3: two authentication methods in one request are invalid_request")
    func twoMethodsRefused() {
        do {
            _ = try ClientPresentation.read(form: Self.form(["client_secret": "s"]), authorization: Self.basic("cl_a:s"))
            Issue.record("accepted Basic and client_secret together")
        } catch let error as OAuthError {
            #expect(error.code == .invalidRequest)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("RFC 7523 §2.2: an assertion of another type is invalid_request")
    func assertionTypeRequired() {
        #expect(throws: OAuthError.self) {
            try ClientPresentation.read(form: Self.form(["client_id": "cl_a", "client_assertion": "a.b.c", "client_assertion_type": "saml"]), authorization: nil)
        }
    }
}
