import Foundation
import Testing
@testable import Registrar

/// RFC 4648 §5 (base64url) without padding, as RFC 7515 §2 uses it.
@Suite("base64url")
struct Base64URLTests {
    /// RFC 4648 §10's test vectors, unpadded, and the two characters base64url replaces.
    static let rfc4648: [(String, String)] = [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
    ]

    @Test("RFC 4648 §10: the test vectors encode without padding and decode back", arguments: rfc4648)
    func testVector(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test("RFC 4648 §5: 62 and 63 are '-' and '_', never '+' and '/'")
    func urlSafeAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
    }

    @Test("RFC 7515 §2: padding, the standard alphabet's '+' and '/', whitespace and impossible lengths are refused",
          arguments: ["Zg==", "Zm8=", "+_-_", "-/-_", "Zm9v ", " Zm9v", "Zm9\nv", "a", "Zm9vY", "Zm9v.", "é"])
    func refused(text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test("Every length from 0 to 64 bytes agrees with Foundation's base64 in the URL alphabet, both ways")
    func agreesWithFoundation() {
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            let reference = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == reference)
            #expect(Base64URL.decode(reference) == bytes)
        }
    }

    // MARK: RFC 4648 §4, for HTTP Basic only

    @Test("RFC 4648 §4: the standard alphabet reads '+' and '/', with or without its padding",
          arguments: [("Zg==", "f"), ("Zg", "f"), ("Zm8=", "fo"), ("Zm8", "fo"), ("Zm9v", "foo"), ("", "")])
    func standardAlphabet(encoded: String, plain: String) {
        #expect(Base64URL.decode(encoded, alphabet: .standard) == Array(plain.utf8))
        #expect(Base64URL.decode("+/+/", alphabet: .standard) == [0xFB, 0xFF, 0xBF])
    }

    @Test("RFC 4648 §4: padding that does not complete a multiple of four, three '=', the URL alphabet's characters and whitespace are refused",
          arguments: ["Zg=", "Zm8==", "Zg===", "====", "=", "Zm9v=", "-_-_", "Zm9v ", "Zg=="  + "Zg=="])
    func standardRefused(text: String) {
        #expect(Base64URL.decode(text, alphabet: .standard) == nil)
    }

    @Test("Every length from 0 to 64 bytes agrees with Foundation's padded base64 in the standard alphabet")
    func standardAgreesWithFoundation() {
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            #expect(Base64URL.decode(Data(bytes).base64EncodedString(), alphabet: .standard) == bytes)
        }
    }
}
