import Crypto
import Foundation
import Testing
@testable import Registrar

/// The key-encryption key that seals the tenants' signing keys (design §4).
@Suite("Key-encryption key")
struct KeyEncryptionKeyTests {
    static let tenant = UUID()
    static let secret = Data((0..<32).map { UInt8($0) })

    @Test("A sealed key opens with the same key, tenant and kid, and the sealed bytes hide it")
    func roundTrip() throws {
        let kek = KeyEncryptionKey.generate()
        let sealed = try kek.seal(Self.secret, tenantID: Self.tenant, kid: "k1")
        #expect(sealed.count == 12 + Self.secret.count + 16)
        #expect(sealed.range(of: Self.secret) == nil)
        #expect(try kek.open(sealed, tenantID: Self.tenant, kid: "k1") == Self.secret)
        // A fresh nonce every time: sealing twice never gives the same bytes.
        #expect(try kek.seal(Self.secret, tenantID: Self.tenant, kid: "k1") != sealed)
    }

    @Test("A sealed key does not open under another tenant, another kid, another key, or altered", arguments: [
        "other tenant", "other kid", "other key", "flipped byte", "truncated",
    ])
    func refusals(_ case: String) throws {
        let kek = KeyEncryptionKey.generate()
        var sealed = try kek.seal(Self.secret, tenantID: Self.tenant, kid: "k1")
        var (opener, tenant, kid) = (kek, Self.tenant, "k1")
        switch `case` {
        case "other tenant": tenant = UUID()
        case "other kid": kid = "k2"
        case "other key": opener = KeyEncryptionKey.generate()
        case "flipped byte": sealed[20] ^= 0x01
        default: sealed = sealed.prefix(20)
        }
        #expect(throws: KeyEncryptionKey.OpenFailed.self) { try opener.open(sealed, tenantID: tenant, kid: kid) }
    }

    @Test("REGISTRAR_KEY_ENCRYPTION_KEY: exactly 32 bytes of base64url, padded or not; anything else is refused", arguments: [
        (String(repeating: "A", count: 43), true), (String(repeating: "A", count: 43) + "=", true), ("-_" + String(repeating: "a", count: 41), true),
        (String(repeating: "A", count: 42), false), (String(repeating: "A", count: 44), false), (String(repeating: "A", count: 64), false),
        ("", false), ("not base64 at all!", false),
    ])
    func parsing(_ text: String, accepted: Bool) {
        #expect(((try? KeyEncryptionKey(base64URL: text)) != nil) == accepted)
    }

    @Test("The configuration form reads back as the same key")
    func configurationForm() throws {
        let kek = KeyEncryptionKey.generate()
        let sealed = try kek.seal(Self.secret, tenantID: Self.tenant, kid: "k")
        #expect(try KeyEncryptionKey(base64URL: kek.base64URL).open(sealed, tenantID: Self.tenant, kid: "k") == Self.secret)
    }

    @Test("Without a key-encryption key the configuration refuses, naming the variable and how to make one")
    func requiredInConfiguration() throws {
        var config = try RegistrarConfig(databaseURL: DatabaseURL(host: "localhost", username: "app"), sqlDirectory: "/tmp")
        #expect(config.keyEncryptionKey == nil)
        let error = try #require(throws: ConfigError.self) { try config.resolvedKeyEncryptionKey() }
        #expect(error.description.contains("REGISTRAR_KEY_ENCRYPTION_KEY"))
        #expect(error.description.contains("openssl rand"))
        config.keyEncryptionKey = .generate()
        #expect(throws: Never.self) { try config.resolvedKeyEncryptionKey() }
    }
}
