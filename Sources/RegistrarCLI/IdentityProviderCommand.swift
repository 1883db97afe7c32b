import ArgumentParser
import Foundation
import Registrar

/// `registrar identity-provider create|list|delete --tenant …`: the upstream OpenID providers a
/// tenant's users sign in with. The client secret is read from standard input, sealed under the
/// key-encryption key, and never printed.
struct IdentityProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity-provider", abstract: "Configure the upstream OpenID providers a tenant's users sign in with.",
        subcommands: [Create.self, List.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a provider; its client secret is read from standard input.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "The provider's id in URLs: lower-case letters, digits and '-'.") var id: String
        @Option(help: "Shown on the sign-in page.") var name: String
        @Option(help: "The provider's issuer (https; discovery at {issuer}/.well-known/openid-configuration).") var issuer: String
        @Option(name: .customLong("client-id"), help: "Registrar's client id at the provider.") var clientID: String
        @Option(name: .customLong("scope"), help: "A scope to ask for; repeatable (default: openid email profile).") var scopes: [String] = []
        @Option(name: .customLong("allowed-email-domain"), help: "Only emails of this domain sign in; repeatable (default: any).")
        var domains: [String] = []
        @Flag(name: .customLong("no-local-passwords"), help: "Turn the tenant's local passwords off beside this provider.") var noLocalPasswords = false
        @Option(name: .customLong("key-encryption-key"), help: "The server's key-encryption key, to seal the secret (env REGISTRAR_KEY_ENCRYPTION_KEY; prefer the environment).")
        var keyEncryptionKey: String?

        func run() async throws {
            guard let text = keyEncryptionKey ?? Environment.string("REGISTRAR_KEY_ENCRYPTION_KEY") else {
                throw CLIError("REGISTRAR_KEY_ENCRYPTION_KEY (or --key-encryption-key) is required: the server's own, which seals the secret")
            }
            let encryption = try KeyEncryptionKey(base64URL: text)
            guard let secret = readLine(strippingNewline: true), !secret.isEmpty else {
                throw CLIError("the client secret is read from standard input, and none came")
            }
            var body: [String: JSONValue] = [
                "id": .string(id), "display_name": .string(name), "issuer": .string(issuer), "client_id": .string(clientID),
                "client_secret": .string(secret), "local_passwords": .bool(!noLocalPasswords),
                "allowed_email_domains": .array(domains.map(JSONValue.string)),
            ]
            if !scopes.isEmpty { body["scopes"] = .array(scopes.map(JSONValue.string)) }
            let input: IdentityProvider.Input
            do {
                input = try IdentityProvider.input(body)
            } catch {
                throw CLIError("\(error.field): \(error.reason)")
            }
            var audit = operatorActor
            audit.action = "identity_provider.created"
            audit.details = ["provider": .string(input.id), "issuer": .string(input.issuer)]
            let event = audit
            let provider = try await withTenant(tenant, database) { tenant, database in
                let sealed = try encryption.seal(Data(input.clientSecret.utf8), purpose: IdentityProvider.secretPurpose, tenantID: tenant.id,
                                                 binding: input.id)
                let provider = IdentityProvider(tenantID: tenant.id, id: input.id, displayName: input.displayName, issuer: input.issuer,
                                                clientID: input.clientID, sealedSecret: sealed, scopes: input.scopes,
                                                subjectClaim: input.subjectClaim, emailClaim: input.emailClaim, nameClaim: input.nameClaim,
                                                allowedEmailDomains: input.allowedEmailDomains, localPasswords: input.localPasswords,
                                                createdAt: Date())
                do {
                    try await PostgresIdentityProviderRepository(database: database).create(provider, audit: event)
                } catch IdentityProviderRepositoryError.duplicate {
                    throw CLIError("\(tenant.slug) already has an identity provider '\(input.id)'")
                }
                return provider
            }
            print(pretty(provider.json))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's providers (never their secrets).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String

        func run() async throws {
            let providers = try await withTenant(tenant, database) { tenant, database in
                try await PostgresIdentityProviderRepository(database: database).list(tenant: tenant.id)
            }
            print(["ID", "NAME", "ISSUER", "CLIENT ID", "EMAIL DOMAINS", "LOCAL PASSWORDS"].joined(separator: "\t"))
            for provider in providers {
                print([provider.id, provider.displayName, provider.issuer, provider.clientID,
                       provider.allowedEmailDomains.isEmpty ? "any" : provider.allowedEmailDomains.joined(separator: " "),
                       provider.localPasswords ? "yes" : "no"].joined(separator: "\t"))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a provider: its users stay, their links to it and its vaulted tokens go.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Argument(help: "The provider's id.") var id: String

        func run() async throws {
            var audit = operatorActor
            audit.action = "identity_provider.deleted"
            audit.details = ["provider": .string(id)]
            let (event, id) = (audit, id)
            let deleted = try await withTenant(tenant, database) { tenant, database in
                try await PostgresIdentityProviderRepository(database: database).delete(id: id, tenant: tenant.id, audit: event)
            }
            guard deleted else { throw CLIError("no identity provider '\(id)' in \(tenant)") }
            print("deleted \(id)")
        }
    }
}
