import ArgumentParser
import Foundation
import Registrar

/// `registrar resource create|list|show|delete|rotate --tenant …`: a tenant's resource servers
/// (its MCP servers), with what each must publish so that clients find the tenant's issuer.
struct ResourceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resource", abstract: "Register and manage a tenant's resource servers (its MCP servers).",
        subcommands: [Create.self, List.self, Show.self, Delete.self, Rotate.self])

    /// Where the tenant's issuer is, as `registrar serve` is configured.
    struct IssuerOptions: ParsableArguments {
        @Option(name: .customLong("public-base-url"), help: "The server's public base URL (env REGISTRAR_PUBLIC_BASE_URL, default http://localhost:8080).")
        var publicBaseURL: String?
        @Option(name: .customLong("base-domain"), help: "Tenants are served at {slug}.{base domain} (env REGISTRAR_BASE_DOMAIN).")
        var baseDomain: String?
        @Option(help: "Which of the tenant's issuers the documents name (default: its custom domain, else its subdomain, else its path issuer).")
        var issuer: String?

        func issuer(slug: String, domains: [String]) throws -> String {
            let base = publicBaseURL ?? Environment.string("REGISTRAR_PUBLIC_BASE_URL") ?? "http://localhost:8080"
            let issuers = ResourceServerService.issuers(slug: slug, domains: domains, publicBaseURL: base.hasSuffix("/") ? String(base.dropLast()) : base,
                                                        baseDomain: baseDomain ?? Environment.string("REGISTRAR_BASE_DOMAIN"))
            guard let issuer else { return issuers[0] }
            guard issuers.contains(issuer) else { throw CLIError("--issuer must be one of: \(issuers.joined(separator: ", "))") }
            return issuer
        }
    }

    /// The pre-check key, when configured; without it the credential is stored untagged and
    /// gets its tag at its first use.
    static func tagKey() throws -> TokenTagKey? {
        try Environment.string("REGISTRAR_TOKEN_TAG_KEY").map(TokenTagKey.init(base64URL:))
    }

    static func domains(_ tenant: Tenant, _ database: Database) async throws -> [String] {
        try await PostgresTenantRepository(database: database).domains(of: tenant.id)
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a resource server; its credential is printed once and stored only as a hash.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var argon2: Argon2Options
        @OptionGroup var location: IssuerOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Option(help: "The MCP server's URL (https, or http on loopback).") var url: String
        @Option(help: "A name for people.") var name: String
        @Option(name: .customLong("scope"), help: "A scope it accepts; repeatable.") var scopes: [String] = []
        @Flag(name: .customLong("default"), help: "The audience of tokens requested without `resource`.") var isDefault = false

        func run() async throws {
            let resource: ResourceIndicator
            let displayName: String
            do throws(ResourceServerService.Refused) {
                resource = try ResourceServerService.resource(url)
                displayName = try ResourceServerService.displayName(name)
            } catch {
                throw CLIError("\(error.field): \(error.reason)")
            }
            let (parameters, tags, location, scopes, isDefault) = (try argon2.parameters(), try ResourceCommand.tagKey(), location, scopes, isDefault)
            let (uri, name) = (resource, displayName)
            let output = try await withTenant(tenant, database) { tenant, database in
                let checked: [String]
                do throws(ResourceServerService.Refused) {
                    checked = try ResourceServerService.scopes(scopes, policy: tenant.policy)
                } catch {
                    throw CLIError("\(error.field): \(error.reason)")
                }
                let issuer = try location.issuer(slug: tenant.slug, domains: try await ResourceCommand.domains(tenant, database))
                let hasher = Argon2Hasher(parameters: parameters, threads: 1, queueLimit: 1)
                defer { Task { try? await hasher.shutdown() } }
                var audit = operatorActor
                audit.action = "resource_server.created"
                let service = ResourceServerService(servers: PostgresResourceServerRepository(database: database), hasher: hasher, tags: tags)
                do {
                    let (server, credential) = try await service.create(tenantID: tenant.id, resource: uri, displayName: name, scopes: checked,
                                                                        isDefault: isDefault, audit: audit)
                    guard case .object(var object) = ResourceServerService.json(server, issuer: issuer) else { return "" }
                    object["credential"] = .string(credential)
                    return pretty(.object(object))
                } catch ResourceServerRepositoryError.uriTaken {
                    throw CLIError("\(tenant.slug) already has a resource server at this URL")
                }
            }
            print(output)
            FileHandle.standardError.write(Data("created; the credential is shown only this once\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's resource servers, oldest first (never their credentials).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String

        func run() async throws {
            let servers = try await withTenant(tenant, database) { tenant, database in
                try await PostgresResourceServerRepository(database: database).list(tenant: tenant.id)
            }
            let formatter = ISO8601DateFormatter()
            print(["ID", "RESOURCE", "NAME", "SCOPES", "DEFAULT", "CREATED", "LAST USED"].joined(separator: "\t"))
            for server in servers {
                print([server.id, server.audience, server.displayName, server.scopes.joined(separator: " "), server.isDefault ? "yes" : "no",
                       formatter.string(from: server.createdAt), server.lastUsedAt.map(formatter.string) ?? "never"].joined(separator: "\t"))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a resource server with its RFC 9728 document, where to serve it, and the WWW-Authenticate value of its 401.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var location: IssuerOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Argument(help: "Resource server id (rs_…).") var id: String

        func run() async throws {
            let (id, location) = (id, location)
            let output = try await withTenant(tenant, database) { tenant, database in
                guard let server = try await PostgresResourceServerRepository(database: database).find(id: id, tenant: tenant.id) else {
                    throw CLIError("no resource server \(id) in \(tenant.slug)")
                }
                let issuer = try location.issuer(slug: tenant.slug, domains: try await ResourceCommand.domains(tenant, database))
                return pretty(ResourceServerService.json(server, issuer: issuer))
            }
            print(output)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a resource server: its URL is no longer a valid audience, its credential stops working.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Tenant slug.") var tenant: String
        @Argument(help: "Resource server id (rs_…).") var id: String

        func run() async throws {
            let id = id
            let deleted = try await withTenant(tenant, database) { tenant, database in
                let repository = PostgresResourceServerRepository(database: database)
                guard let server = try await repository.find(id: id, tenant: tenant.id) else { return false }
                var audit = operatorActor
                audit.action = "resource_server.deleted"
                audit.details = ResourceServerService.auditDetails(server)
                return try await repository.delete(id: id, tenant: tenant.id, audit: audit)
            }
            guard deleted else { throw CLIError("no resource server \(id) in \(tenant)") }
            print("deleted \(id)")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a resource server a new credential, printed once; the old one stops working at once.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var argon2: Argon2Options
        @Option(help: "Tenant slug.") var tenant: String
        @Argument(help: "Resource server id (rs_…).") var id: String

        func run() async throws {
            let (id, parameters, tags) = (id, try argon2.parameters(), try ResourceCommand.tagKey())
            let credential = try await withTenant(tenant, database) { tenant, database in
                let hasher = Argon2Hasher(parameters: parameters, threads: 1, queueLimit: 1)
                defer { Task { try? await hasher.shutdown() } }
                var audit = operatorActor
                audit.action = "resource_server.credential_rotated"
                let service = ResourceServerService(servers: PostgresResourceServerRepository(database: database), hasher: hasher, tags: tags)
                return try await service.rotateCredential(id: id, tenantID: tenant.id, audit: audit)?.1
            }
            guard let credential else { throw CLIError("no resource server \(id) in \(tenant)") }
            print(credential)
            FileHandle.standardError.write(Data("rotated; the new credential is shown only this once\n".utf8))
        }
    }
}
