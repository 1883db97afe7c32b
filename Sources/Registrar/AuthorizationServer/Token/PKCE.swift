import Crypto
import Foundation

/// Proof Key for Code Exchange, S256 only (RFC 7636; OAuth 2.1 §4.1.1; RFC 9700 §2.1.1).
enum PKCE {
    /// RFC 7636 §4.1: `code-verifier = 43*128unreserved`, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
    static func isValidVerifier(_ verifier: String) -> Bool {
        let bytes = verifier.utf8
        return (43...128).contains(bytes.count) && bytes.allSatisfy(isUnreserved)
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    /// RFC 7636 §4.2: `code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
    static func challenge(for verifier: String) -> String {
        SecretGenerator.base64URL(SHA256.hash(data: Data(verifier.utf8)))
    }

    /// RFC 7636 §4.6: the server recomputes the challenge from the verifier and compares it with
    /// the one stored with the code; compared in constant time.
    static func verifies(_ verifier: String, challenge: String) -> Bool {
        guard isValidVerifier(verifier) else { return false }
        return constantTimeEquals(Self.challenge(for: verifier), challenge)
    }

    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let (left, right) = (Array(lhs.utf8), Array(rhs.utf8))
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}
