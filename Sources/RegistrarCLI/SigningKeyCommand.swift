import ArgumentParser
import Foundation
import Registrar

/// `registrar signing-key list|rotate --tenant SLUG`: the tenant's token signing keys.
struct SigningKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signing-key", abstract: "List or rotate a tenant's token signing keys (ES256).",
        subcommands: [List.self, Rotate.self])

    static func print(_ keys: [SigningKeySummary]) {
        let formatter = ISO8601DateFormatter()
        Swift.print(["KID", "ALG", "STATUS", "CREATED", "RETIRED", "PUBLISHED UNTIL"].joined(separator: "\t"))
        for key in keys {
            Swift.print([key.kid, key.algorithm, key.status.rawValue, formatter.string(from: key.createdAt),
                         key.retiredAt.map(formatter.string) ?? "-", key.publishUntil.map(formatter.string) ?? (key.retiredAt == nil ? "while active" : "-")]
                .joined(separator: "\t"))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tenant's signing keys, newest first; never any private material.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String

        func run() async throws {
            let keys = try await withTenant(tenant, database) { tenant, database in
                try await SigningKeyStore.summaries(PostgresSigningKeyRepository(database: database), tenantID: tenant.id)
            }
            SigningKeyCommand.print(keys)
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new key the signing key; the old one stays in /jwks.json until the tokens it signed have expired.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(name: .customLong("key-encryption-key"), help: "The server's key-encryption key, to seal the new key (env REGISTRAR_KEY_ENCRYPTION_KEY; prefer the environment).")
        var keyEncryptionKey: String?

        func run() async throws {
            guard let text = keyEncryptionKey ?? Environment.string("REGISTRAR_KEY_ENCRYPTION_KEY") else {
                throw CLIError("REGISTRAR_KEY_ENCRYPTION_KEY (or --key-encryption-key) is required: the server's own, which seals the new key")
            }
            let encryption = try KeyEncryptionKey(base64URL: text)
            var audit = operatorActor
            audit.action = "signing_key.rotated"
            let event = audit
            let (kid, retired, keys) = try await withTenant(tenant, database) { tenant, database in
                let store = SigningKeyStore(repository: PostgresSigningKeyRepository(database: database), encryption: encryption, lifetime: .zero)
                let (kid, retired) = try await store.rotate(tenant: tenant, audit: event)
                return (kid, retired, try await store.list(tenantID: tenant.id))
            }
            Swift.print("new signing key: \(kid)" + (retired.map { "; retired \($0), still published until its tokens expire" } ?? ""))
            SigningKeyCommand.print(keys)
        }
    }
}
