import Crypto
import Foundation

/// Identifiers and secrets in the formats of design §4. The prefixes let secret scanners spot a
/// leaked value; every random part comes from the system CSPRNG.
public enum SecretGenerator {
    static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `cl_` + 24 base62 characters (≈ 143 bits), drawn without modulo bias.
    public static func clientID() -> String {
        var generator = SystemRandomNumberGenerator()
        var characters: [UInt8] = []
        characters.reserveCapacity(24)
        while characters.count < 24 {
            let byte: UInt8 = generator.next()
            // 248 = 4 × 62: values at or above it would favour the first characters.
            if byte < 248 { characters.append(base62[Int(byte % 62)]) }
        }
        return "cl_" + String(decoding: characters, as: UTF8.self)
    }

    /// 16 base62 characters (≈ 95 bits): the public id part of `iat_…` and `rk_…` tokens.
    public static func shortID() -> String {
        String(clientID().dropFirst(3).prefix(16))
    }

    /// 256 random bits as 43 base64url characters.
    public static func randomToken() -> String {
        // Four 64-bit draws: each draw is one getrandom(2) call, so a byte at a time cost 32.
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for _ in 0..<4 { withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) } }
        return base64URL(bytes)
    }

    /// `rcs_…`: a client secret.
    public static func clientSecret() -> String { "rcs_" + randomToken() }

    /// `rat_…`: a registration access token (RFC 7591 §3.2.1).
    public static func registrationAccessToken() -> String { "rat_" + randomToken() }

    /// A short random identifier for a request when the caller sent none.
    public static func requestID() -> String {
        var generator = SystemRandomNumberGenerator()
        let value: UInt64 = generator.next()
        return String(value, radix: 16)
    }

    public static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Base64URL.encode(bytes)
    }

    /// SHA-256 in hex, for values that are high-entropy and short-lived (design §4) and for cache keys.
    public static func sha256Hex(_ value: String) -> String {
        SHA256.hash(data: Data(value.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
