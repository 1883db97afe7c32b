import Foundation
import Testing
@testable import Registrar

/// The keyed pre-check of design §4 and its configuration.
@Suite("Token tag key")
struct TokenTagKeyTests {
    static let key = try! TokenTagKey(bytes: Array(repeating: UInt8(7), count: 32))

    @Test("Design §4: a tag is 128 bits in base64url, stable for one key, different for another key or token")
    func tagShape() throws {
        let token = SecretGenerator.registrationAccessToken()
        let tag = Self.key.tag(token)
        #expect(tag.count == 22)
        #expect(tag.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(Self.key.tag(token) == tag)
        #expect(Self.key.tag(token + "x") != tag)
        #expect(TokenTagKey.development.tag(token) != tag)
    }

    @Test("Design §4: only the token itself matches its tag", arguments: [
        ("rat_abc", "rat_abc", true), ("rat_abc", "rat_abd", false), ("rat_abc", "rat_ab", false), ("rat_abc", "", false),
        ("rcs_x", "RCS_x", false),
    ])
    func matching(stored: String, presented: String, matches: Bool) {
        #expect(Self.key.matches(presented, tag: Self.key.tag(stored)) == matches)
    }

    @Test("Design §4: a malformed stored tag never matches")
    func malformedTag() {
        #expect(!Self.key.matches("rat_abc", tag: ""))
        #expect(!Self.key.matches("rat_abc", tag: String(Self.key.tag("rat_abc").dropLast())))
    }

    @Test("REGISTRAR_TOKEN_TAG_KEY: base64url of at least 32 bytes, with or without padding; anything else is refused", arguments: [
        (String(repeating: "A", count: 43), true), (String(repeating: "A", count: 43) + "=", true), ("-_" + String(repeating: "a", count: 41), true),
        (String(repeating: "A", count: 42), false), ("", false), ("not base64 at all!", false),
    ])
    func parsing(_ text: String, accepted: Bool) {
        #expect(((try? TokenTagKey(base64URL: text)) != nil) == accepted)
    }

    @Test("Design §4: without a tag key a server on loopback uses the development key and one reachable from elsewhere refuses to start",
          arguments: [("127.0.0.1", true), ("::1", true), ("localhost", true), ("0.0.0.0", false), ("10.1.2.3", false), ("::", false)])
    func resolution(host: String, starts: Bool) throws {
        var config = try RegistrarConfig(databaseURL: DatabaseURL(host: "db", username: "app"), host: host)
        #expect(((try? config.resolvedTokenTagKey()) != nil) == starts)
        config.tokenTagKey = Self.key
        #expect(try config.resolvedTokenTagKey().tag("t") == Self.key.tag("t"))
    }

    @Test("A derived key is stable, differs per purpose and from its parent, so a tag of one use is never valid for another")
    func derivedKeys() {
        let csrf = Self.key.derived(for: "csrf")
        #expect(csrf.tag("x") == Self.key.derived(for: "csrf").tag("x"))
        #expect(csrf.tag("x") != Self.key.tag("x"))
        #expect(csrf.tag("x") != Self.key.derived(for: "consent").tag("x"))
        #expect(!csrf.matches("x", tag: Self.key.tag("x")))
    }
}
