import Crypto
import Foundation

/// The opaque, high-entropy credentials of the authorization server: authorization codes
/// (`ac_…`) and refresh tokens (`rt_…`), 256 random bits each (design §4).
///
/// They are stored as SHA-256 only: a value with 256 bits of entropy cannot be found from its
/// hash, so argon2 would only add latency to every exchange, and a database reader learns
/// nothing usable (issue 11 item 4, RFC 6749 §10.3/§10.4, RFC 9700 §4.14).
enum OpaqueToken {
    static let authorizationCodePrefix = "ac_"
    static let refreshTokenPrefix = "rt_"

    /// `ac_` + 43 base64url characters.
    static func authorizationCode() -> String { authorizationCodePrefix + SecretGenerator.randomToken() }

    /// `rt_` + 43 base64url characters.
    static func refreshToken() -> String { refreshTokenPrefix + SecretGenerator.randomToken() }

    /// base64url(SHA-256(token)): the only form that reaches the database.
    static func hash(_ token: String) -> String {
        SecretGenerator.base64URL(SHA256.hash(data: Data(token.utf8)))
    }

    /// Whether `value` has the shape of a token with `prefix`: the prefix, then exactly 43
    /// base64url characters. Anything else is refused before it reaches the database.
    static func isWellFormed(_ value: String, prefix: String) -> Bool {
        guard value.hasPrefix(prefix) else { return false }
        let body = value.utf8.dropFirst(prefix.utf8.count)
        return body.count == 43 && body.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }
}
