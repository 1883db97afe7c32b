import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// The pure rules behind users and sign-in: emails, passwords, return paths, cookies, CSRF tokens.
@Suite("Sign-in rules")
struct SignInRulesTests {
    static let pathTenant = ResolvedTenant(tenant: Tenant(id: UUID(), slug: "acme", displayName: "Acme"), issuer: "http://localhost:8080/t/acme")
    static let hostTenant = ResolvedTenant(tenant: Tenant(id: UUID(), slug: "beta", displayName: "Beta"), issuer: "https://auth.beta.example")

    @Test("Users: email syntax", arguments: [
        ("a@b", true), ("first.last+tag@example.com", true), ("o'brien@example.co.uk", true), ("x@localhost", true),
        ("", false), ("plain", false), ("@example.com", false), ("user@", false), ("two@@example.com", false), ("a@b@c", false),
        ("space in@example.com", false), ("user@exa mple.com", false), ("user@-bad.com", false), ("user@bad-.com", false),
        ("user@exa..mple.com", false), ("user@.example.com", false), ("ünï@example.com", false), ("user@exämple.com", false),
        ("user@example.com\n", false), ("<a>@example.com", false),
        (String(repeating: "a", count: 65) + "@example.com", false), (String(repeating: "a", count: 64) + "@example.com", true),
        ("a@" + String(repeating: "b", count: 64) + ".com", false),
    ])
    func emailSyntax(email: String, valid: Bool) {
        #expect(UserService.isValidEmail(email) == valid, "\(email)")
    }

    @Test("Users: password rules: at least 12 characters, at most 1024 bytes, no control characters", arguments: [
        ("eleven char", false), ("twelve chars", true), ("ünïcödé pässwörd", true), ("with\u{0}nul byte!", false),
        ("tab\tinside password", false), (String(repeating: "x", count: 1024), true), (String(repeating: "x", count: 1025), false),
        ("😀😀😀😀😀😀😀😀😀😀😀😀", true),
    ])
    func passwordRules(password: String, valid: Bool) {
        #expect(((try? UserService.validatePassword(password)) != nil) == valid, "\(password.prefix(20))")
    }

    @Test("Users: a password from standard input loses its one line ending and nothing else")
    func passwordFromInput() throws {
        #expect(try UserService.passwordFromInput(Data("  spaced passphrase  \n".utf8)) == "  spaced passphrase  ")
        #expect(try UserService.passwordFromInput(Data("windows passphrase\r\n".utf8)) == "windows passphrase")
        #expect(try UserService.passwordFromInput(Data("no newline passphrase".utf8)) == "no newline passphrase")
        #expect(throws: UserService.Invalid.self) { try UserService.passwordFromInput(Data("short\n".utf8)) }
        #expect(throws: UserService.Invalid.self) { try UserService.passwordFromInput(Data("two lines here\nand more\n".utf8)) }
        #expect(throws: UserService.Invalid.self) { try UserService.passwordFromInput(Data([0xff, 0xfe, 0x41])) }
    }

    @Test("Sign-in: return paths only into the tenant's own /authorize", arguments: [
        ("/t/acme/authorize", true), ("/t/acme/authorize?client_id=cl_x&state=a%20b&scope=openid+email", true),
        ("/t/acme/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb", true),
        ("https://evil.example/t/acme/authorize", false), ("//evil.example/t/acme/authorize", false), ("/\\evil.example", false),
        ("/t/acme/authorize#x", false), ("/t/acme/authorizex", false), ("/t/acme/authorize/../x", false), ("/t/acme2/authorize", false),
        ("/t/acme/authorize?x=\"", false), ("/t/acme/authorize?x=<", false), ("/t/acme/authorize?x= y", false),
        ("/t/acme/authorize?x=\u{7f}", false), ("/t/acme/authorize?é", false), ("/authorize", false), ("", false),
        ("/t/acme/authorize?x=\\", false),
    ])
    func returnPaths(path: String, valid: Bool) {
        #expect(SignInReturnPath.isValid(path, tenant: Self.pathTenant) == valid, "\(path)")
    }

    @Test("Sign-in: at a host tenant the return path is /authorize itself")
    func hostReturnPath() {
        #expect(SignInReturnPath.isValid("/authorize?client_id=x", tenant: Self.hostTenant))
        #expect(!SignInReturnPath.isValid("/t/beta/authorize?client_id=x", tenant: Self.hostTenant))
        #expect(SignInReturnPath.authorize(Self.hostTenant, query: "a=b") == "/authorize?a=b")
        #expect(SignInReturnPath.authorize(Self.pathTenant, query: nil) == "/t/acme/authorize")
    }

    @Test("Sign-in: signInURL encodes return_to and login_hint, adds prompt=login when forced, and drops a return_to it would not follow")
    func signInURL() {
        let url = SignInController.signInURL(tenant: Self.pathTenant, returnTo: "/t/acme/authorize?client_id=cl_1&state=s",
                                             loginHint: "a+b@example.com", forceLogin: true)
        #expect(url == "http://localhost:8080/t/acme/signin?return_to=%2Ft%2Facme%2Fauthorize%3Fclient_id%3Dcl_1%26state%3Ds&login_hint=a%2Bb%40example.com&prompt=login")
        #expect(SignInController.signInURL(tenant: Self.pathTenant, returnTo: "https://evil.example/", loginHint: nil, forceLogin: false)
            == "http://localhost:8080/t/acme/signin")
        #expect(SignInController.signInURL(tenant: Self.hostTenant, returnTo: "/authorize", loginHint: "", forceLogin: false)
            == "https://auth.beta.example/signin?return_to=%2Fauthorize")
    }

    @Test("Sessions: cookie name, path and Secure per issuer", arguments: [
        ("http://localhost:8080/t/acme", "registrar_session_acme", "/t/acme", false),
        ("http://127.0.0.1/t/acme", "registrar_session_acme", "/t/acme", false),
        ("http://[::1]:9000/t/acme", "registrar_session_acme", "/t/acme", false),
        ("https://localhost/t/acme", "registrar_session_acme", "/t/acme", true),
        ("http://auth.example.com/t/acme", "registrar_session_acme", "/t/acme", true),
        ("https://auth.example.com/base/t/acme", "registrar_session_acme", "/base/t/acme", true),
        ("https://auth.acme.example", "__Host-registrar_session", "/", true),
        ("http://localhost:8080", "registrar_session", "/", false),
    ])
    func cookieScope(issuer: String, name: String, path: String, secure: Bool) {
        let cookie = SessionCookie(purpose: "session", issuer: issuer)
        #expect(cookie.name == name)
        #expect(cookie.path == path)
        #expect(cookie.secure == secure)
        let header = cookie.setting("value", maxAge: 60)
        #expect(header.hasPrefix("\(name)=value; Path=\(path); Max-Age=60; HttpOnly; SameSite=Lax"))
        #expect(header.hasSuffix("; Secure") == secure)
        #expect(cookie.clearing.contains("Max-Age=0"))
    }

    @Test("Sessions: the cookie value is read from any Cookie header, by exact name only")
    func cookieParsing() {
        let cookie = SessionCookie.session(Self.pathTenant)
        let headers: HTTPFields = [.cookie: "other=1; registrar_session_acme2=nope", .cookie: "registrar_session_acme=yes; x=2"]
        #expect(cookie.value(in: headers) == "yes")
        #expect(cookie.value(in: [.cookie: "registrar_session_acmex=1; xregistrar_session_acme=2"]) == nil)
        #expect(cookie.value(in: [.cookie: "registrar_session_acme="]) == nil)
        #expect(cookie.value(in: [:]) == nil)
    }

    @Test("Sessions: only values of the issued shape are looked up")
    func wellFormedSessionIDs() {
        #expect(SessionStore.isWellFormed(SecretGenerator.randomToken()))
        #expect(!SessionStore.isWellFormed(String(repeating: "a", count: 42)))
        #expect(!SessionStore.isWellFormed(String(repeating: "a", count: 42) + "="))
        #expect(!SessionStore.isWellFormed(String(repeating: "a", count: 44)))
        #expect(SessionStore.hash("x") != SessionStore.hash("y"))
        #expect(SessionStore.hash("x").utf8.count == 43)
    }

    @Test("CSRF: a token verifies only for its purpose, tenant and binding")
    func csrfTokens() throws {
        let csrf = CSRFProtection(key: try TokenTagKey(bytes: Array(repeating: 7, count: 32)))
        let token = csrf.token(purpose: "signin", tenant: Self.pathTenant, binding: "cookie-a")
        #expect(csrf.verify(token, purpose: "signin", tenant: Self.pathTenant, binding: "cookie-a"))
        #expect(!csrf.verify(token, purpose: "signout", tenant: Self.pathTenant, binding: "cookie-a"))
        #expect(!csrf.verify(token, purpose: "signin", tenant: Self.hostTenant, binding: "cookie-a"))
        #expect(!csrf.verify(token, purpose: "signin", tenant: Self.pathTenant, binding: "cookie-b"))
        #expect(!csrf.verify(token, purpose: "signin", tenant: Self.pathTenant, binding: nil))
        #expect(!csrf.verify(nil, purpose: "signin", tenant: Self.pathTenant, binding: "cookie-a"))
        #expect(!csrf.verify("", purpose: "signin", tenant: Self.pathTenant, binding: ""))
        let other = CSRFProtection(key: try TokenTagKey(bytes: Array(repeating: 8, count: 32)))
        #expect(!other.verify(token, purpose: "signin", tenant: Self.pathTenant, binding: "cookie-a"))
    }

    @Test("Sign-in: form bodies decode + and percent-escapes and keep the first of a repeated name; a broken escape refuses the whole body")
    func formParsing() throws {
        let fields = try #require(SignInController.parseForm("email=a%2Bb%40example.com&password=two+words%21&email=second&empty=&flag"))
        #expect(fields["email"] == "a+b@example.com")
        #expect(fields["password"] == "two words!")
        #expect(fields["empty"] == "")
        #expect(fields["flag"] == "")
        #expect(SignInController.parseForm("email=a%40example.com&bad=%ZZ") == nil)
        #expect(SignInController.parseForm("password=%FF%FE") == nil, "not UTF-8")
    }
}
