import Crypto
import Foundation

/// The key-encryption key from configuration (`REGISTRAR_KEY_ENCRYPTION_KEY`, design §4): every
/// tenant's private signing key is stored sealed under it with AES-256-GCM, so that a copy of
/// the database alone signs nothing. Every instance of one deployment must share it.
///
/// The associated data binds a sealed key to its row (tenant id and kid): a sealed key copied
/// into another tenant's row, or under another kid, fails to open instead of signing for it.
public struct KeyEncryptionKey: Sendable {
    let key: SymmetricKey

    /// AES-256: exactly 32 bytes.
    public static let byteCount = 32

    /// How an operator makes one; quoted by every error that asks for one.
    public static let howToMakeOne = "32 random bytes in base64url, e.g. `openssl rand -base64 32 | tr '+/' '-_' | tr -d '='`"

    public init(bytes: some Sequence<UInt8>) throws {
        let bytes = Array(bytes)
        guard bytes.count == Self.byteCount else {
            throw ConfigError("the key-encryption key must be exactly 32 bytes (\(Self.howToMakeOne)), not \(bytes.count)")
        }
        key = SymmetricKey(data: bytes)
    }

    /// `REGISTRAR_KEY_ENCRYPTION_KEY` / `--key-encryption-key`: base64url, padding optional.
    public init(base64URL text: String) throws {
        var base64 = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            .replacingOccurrences(of: "=", with: "")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else {
            throw ConfigError("the key-encryption key must be base64url: \(Self.howToMakeOne)")
        }
        try self.init(bytes: data)
    }

    /// A new random key (the tests, and `scripts/run` through the CLI, make one this way).
    public static func generate() -> KeyEncryptionKey {
        try! KeyEncryptionKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// The key in the configuration format. Only for a caller that must hand it on (a test
    /// server's configuration); never logged.
    public var base64URL: String {
        key.withUnsafeBytes { SecretGenerator.base64URL($0) }
    }

    /// The sealed key did not open: wrong key-encryption key, another row's associated data, or
    /// altered bytes. Deliberately says nothing more.
    public struct OpenFailed: Error, CustomStringConvertible {
        public var description: String { "a sealed signing key did not open under the configured key-encryption key" }
    }

    /// AES-GCM combined form (12-byte random nonce ‖ ciphertext ‖ 16-byte tag), as 0010 stores it.
    public func seal(_ plaintext: some DataProtocol, tenantID: UUID, kid: String) throws -> Data {
        try seal(plaintext, purpose: "signing key", tenantID: tenantID, binding: kid)
    }

    public func open(_ sealed: some DataProtocol, tenantID: UUID, kid: String) throws -> Data {
        try open(sealed, purpose: "signing key", tenantID: tenantID, binding: kid)
    }

    /// The same for any other secret at rest (an identity provider's client secret, a vaulted
    /// token): `purpose` and `binding` (its row) go into the associated data, so that a sealed
    /// value opens only as what and where it was sealed.
    public func seal(_ plaintext: some DataProtocol, purpose: String, tenantID: UUID, binding: String) throws -> Data {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Self.associatedData(purpose: purpose, tenantID: tenantID, binding: binding))
        guard let combined = box.combined else { throw OpenFailed() }
        return combined
    }

    public func open(_ sealed: some DataProtocol, purpose: String, tenantID: UUID, binding: String) throws -> Data {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return try AES.GCM.open(box, using: key, authenticating: Self.associatedData(purpose: purpose, tenantID: tenantID, binding: binding))
        } catch {
            throw OpenFailed()
        }
    }

    /// A purpose label, the tenant id and the row's binding (a kid, a provider), separated by NUL
    /// (none can contain one), so that no two rows share associated data.
    static func associatedData(purpose: String, tenantID: UUID, binding: String) -> Data {
        Data("registrar \(purpose) v1\u{0}\(tenantID.uuidString.lowercased())\u{0}\(binding)".utf8)
    }
}
