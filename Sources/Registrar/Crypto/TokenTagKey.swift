import Crypto
import Foundation

/// The server key of the keyed pre-check (design §4): beside each argon2id hash of a
/// server-generated token the row keeps `tag(token)`, and only a presented token whose tag
/// matches goes to the argon2 pool. A wrong guess then costs one HMAC, not an argon2id.
///
/// The tag is HMAC-SHA-256 truncated to 128 bits: enough that a guess matches by chance with
/// probability 2⁻¹²⁸, and without the key it reveals nothing about the token. Every instance of
/// one deployment must share the key, or a token issued by one fails the pre-check on another.
public struct TokenTagKey: Sendable {
    let key: SymmetricKey

    /// Bytes kept of the HMAC.
    static let tagBytes = 16

    public init(bytes: some Sequence<UInt8>) throws {
        let bytes = Array(bytes)
        guard bytes.count >= 32 else { throw ConfigError("the token tag key must be at least 32 bytes") }
        key = SymmetricKey(data: bytes)
    }

    /// `REGISTRAR_TOKEN_TAG_KEY`: at least 32 random bytes in base64url (padding optional).
    public init(base64URL text: String) throws {
        var base64 = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 = base64.replacingOccurrences(of: "=", with: "")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else {
            throw ConfigError("the token tag key must be base64url (32 random bytes, e.g. `openssl rand -base64 32 | tr '+/' '-_'`)")
        }
        try self.init(bytes: data)
    }

    /// A fixed, publicly known key, used only when the server listens on loopback and no key is
    /// configured (local development and the tests). It keeps tags stable across restarts; it
    /// protects nothing, which is why a server reachable from elsewhere refuses to start without
    /// a configured key.
    public static let development: TokenTagKey = {
        let seed = SHA256.hash(data: Data("registrar development token tag key; never use in production".utf8))
        return try! TokenTagKey(bytes: Array(seed))
    }()

    /// The tag stored beside the hash of `token`, in base64url.
    public func tag(_ token: String) -> String {
        SecretGenerator.base64URL(Self.truncated(HMAC<SHA256>.authenticationCode(for: Data(token.utf8), using: key)))
    }

    /// A key for another purpose (CSRF tokens, say), derived from this one with HKDF-SHA-256
    /// (RFC 5869) under the purpose's name, so that one configured secret serves several uses
    /// without a value of one use ever being valid for another.
    public func derived(for purpose: String) -> TokenTagKey {
        let bytes = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data("registrar key: \(purpose)".utf8), outputByteCount: 32)
        return TokenTagKey(key: bytes)
    }

    private init(key: SymmetricKey) {
        self.key = key
    }

    /// Whether `token` has the stored `tag`, in time independent of where they differ.
    public func matches(_ token: String, tag stored: String) -> Bool {
        let expected = Array(tag(token).utf8)
        let presented = Array(stored.utf8)
        guard expected.count == presented.count else { return false }
        var difference: UInt8 = 0
        for index in expected.indices { difference |= expected[index] ^ presented[index] }
        return difference == 0
    }

    static func truncated(_ code: HashedAuthenticationCode<SHA256>) -> [UInt8] {
        Array(code.prefix(tagBytes))
    }
}
