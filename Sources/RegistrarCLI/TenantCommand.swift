import ArgumentParser
import Foundation
import Logging
import Registrar

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant", abstract: "Create and list tenants.", subcommands: [Create.self, List.self])

    /// Runs `body` with the tenant registry over the application role.
    static func withTenants<T: Sendable>(_ options: DatabaseOptions, _ body: @escaping @Sendable (PostgresTenantRepository) async throws -> T) async throws -> T {
        let url = try options.applicationURL()
        let logger = quietLogger("registrar.tenant")
        do {
            return try await withDeadline(.seconds(30), "database \(url.endpoint)") {
                try await withPostgresClient(url, logger: logger) { client in
                    try await body(PostgresTenantRepository(database: Database(client: client, logger: logger)))
                }
            }
        } catch let error as TenantRepositoryError {
            throw error
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(describe(error))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "DNS label, 3-63 characters: a-z, 0-9 and inner hyphens.") var slug: String
        @Option(help: "Display name (default: the slug).") var name: String?
        @Option(name: .customLong("domain"), help: "Custom domain served as this tenant's issuer; repeatable.") var domains: [String] = []
        @Flag(name: .customLong("if-not-exists"), help: "Succeed without change when the slug exists.") var ifNotExists = false

        func run() async throws {
            let (slug, name, domains, ifNotExists) = (slug, name ?? slug, domains, ifNotExists)
            let message: String = try await TenantCommand.withTenants(database) { tenants in
                do {
                    let tenant = try await tenants.create(slug: slug, displayName: name, domains: domains)
                    return "created tenant \(tenant.slug) (\(tenant.id.uuidString.lowercased()))"
                } catch TenantRepositoryError.slugTaken where ifNotExists {
                    return "tenant \(slug) exists"
                } catch let error as TenantRepositoryError {
                    switch error {
                    case .invalidSlug: throw CLIError("'\(slug)' is not a valid slug: 3-63 characters of a-z, 0-9 and inner hyphens")
                    case .slugTaken: throw CLIError("tenant '\(slug)' already exists")
                    case .invalidDomain(let domain): throw CLIError("'\(domain)' is not a host name")
                    case .domainTaken(let domain): throw CLIError("domain '\(domain)' belongs to another tenant")
                    case .reservedDomain(let domain): throw CLIError("'\(domain)' is the platform's host or under its base domain")
                    case .stale, .notEmpty: throw CLIError("tenant '\(slug)' changed meanwhile; try again")
                    }
                }
            }
            print(message)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let rows: [String] = try await TenantCommand.withTenants(database) { tenants in
                // Pages of 200 with their domains, one query a page.
                var rows: [String] = []
                var after: String?
                repeat {
                    let page = try await tenants.list(afterSlug: after, limit: 200)
                    for record in page.items {
                        rows.append([record.tenant.slug, record.tenant.status.rawValue, record.tenant.displayName,
                                     record.domains.joined(separator: ",")].joined(separator: "\t"))
                    }
                    after = page.nextCursor == nil ? nil : page.items.last?.tenant.slug
                } while after != nil
                return rows
            }
            print(["SLUG", "STATUS", "NAME", "DOMAINS"].joined(separator: "\t"))
            rows.forEach { print($0) }
        }
    }
}
