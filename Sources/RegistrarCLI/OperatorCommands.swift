import ArgumentParser
import Foundation
import Registrar

/// `registrar key create|list|revoke`: admin API keys.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Create, list and revoke admin API keys.", subcommands: [Create.self, List.self, Revoke.self])

    static func withRepository<T: Sendable>(_ options: DatabaseOptions, _ body: @escaping @Sendable (PostgresAdminKeyRepository, PostgresTenantRepository) async throws -> T) async throws -> T {
        let url = try options.applicationURL()
        let logger = quietLogger("registrar.key")
        do {
            return try await withDeadline(.seconds(60), "database \(url.endpoint)") {
                try await withPostgresClient(url, logger: logger) { client in
                    let database = Database(client: client, logger: logger)
                    return try await body(PostgresAdminKeyRepository(database: database), PostgresTenantRepository(database: database))
                }
            }
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError(describe(error))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; it is printed once and stored only as a hash.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var argon2: Argon2Options
        @Flag(help: "A platform key (manages every tenant).") var platform = false
        @Argument(help: "Tenant slug, for a tenant key.") var tenant: String?
        @Option(help: "admin, viewer or service (tenant keys).") var role: String = "admin"
        @Option(help: "A label to recognise the key by.") var label: String = ""

        func run() async throws {
            guard platform != (tenant != nil) else { throw CLIError("give either --platform or a tenant slug") }
            let role = platform ? AdminKey.Role.platform : AdminKey.Role(rawValue: role)
            guard let role, platform || role != .platform else { throw CLIError("--role must be admin, viewer or service") }
            let (tenant, label, parameters) = (tenant, label, try argon2.parameters())
            let presented = try await KeyCommand.withRepository(database) { keys, tenants in
                var tenantID: UUID?
                if let tenant {
                    guard let found = try await tenants.find(slug: tenant) else { throw CLIError("no tenant '\(tenant)'") }
                    tenantID = found.id
                }
                let hasher = Argon2Hasher(parameters: parameters, threads: 1, queueLimit: 1)
                defer { Task { try? await hasher.shutdown() } }
                var audit = operatorActor
                audit.action = "admin_key.created"
                return try await AdminKeyService(hasher: hasher, keys: keys).create(role: role, tenantID: tenantID, label: label, audit: audit).1
            }
            print(presented)
            FileHandle.standardError.write(Data("created a \(role.rawValue) key; it is shown only this once\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets): platform keys, or a tenant's.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug; platform keys when omitted.") var tenant: String?

        func run() async throws {
            let tenant = tenant
            let keys = try await KeyCommand.withRepository(database) { keys, tenants in
                var tenantID: UUID?
                if let tenant {
                    guard let found = try await tenants.find(slug: tenant) else { throw CLIError("no tenant '\(tenant)'") }
                    tenantID = found.id
                }
                return try await keys.list(tenantID: tenantID)
            }
            let formatter = ISO8601DateFormatter()
            print(["ID", "ROLE", "LABEL", "CREATED", "LAST USED", "REVOKED"].joined(separator: "\t"))
            for key in keys {
                print([key.id, key.role.rawValue, key.label, formatter.string(from: key.createdAt), key.lastUsedAt.map(formatter.string) ?? "never",
                       key.revokedAt.map(formatter.string) ?? "no"].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key at once.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Key id (the part between 'rk_' and '.').") var id: String

        func run() async throws {
            let id = id
            let revoked = try await KeyCommand.withRepository(database) { keys, _ in
                guard let key = try await keys.find(id: id) else { return false }
                var audit = operatorActor
                audit.action = "admin_key.revoked"
                audit.details["key_id"] = .string(id)
                return try await keys.revoke(key, at: Date(), audit: audit)
            }
            guard revoked else { throw CLIError("no active key \(id)") }
            print("revoked \(id)")
        }
    }
}

/// `registrar client list|show|disable|enable|delete TENANT …`.
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "Inspect and manage a tenant's clients.",
        subcommands: [List.self, Show.self, Disable.self, Enable.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List clients, newest first.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String
        @Option(name: .customLong("name-contains"), help: "Only clients whose name contains this.") var nameContains: String?
        @Option(help: "Most clients to show.") var limit: Int = 50

        func run() async throws {
            guard (1...1000).contains(limit) else { throw CLIError("--limit must be from 1 to 1000") }
            var filter = ClientFilter()
            filter.nameContains = nameContains
            let (limit, constFilter) = (limit, filter)
            let clients = try await withTenant(tenant, database) { tenant, database in
                try await PostgresClientRepository(database: database).list(tenantID: tenant.id, filter: constFilter, after: nil, limit: limit).items
            }
            let formatter = ISO8601DateFormatter()
            print(["CLIENT ID", "NAME", "AUTH", "VIA", "STATUS", "CREATED", "LAST USED"].joined(separator: "\t"))
            for client in clients {
                print([client.clientID, client.metadata.clientName ?? "", client.metadata.tokenEndpointAuthMethod.rawValue,
                       client.registeredVia.rawValue, client.status.rawValue, formatter.string(from: client.createdAt),
                       client.lastUsedAt.map(formatter.string) ?? "never"].joined(separator: "\t"))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one client's metadata and state.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String
        @Argument(help: "Client id.") var clientID: String

        func run() async throws {
            let clientID = clientID
            let client = try await withTenant(tenant, database) { tenant, database in
                try await PostgresClientRepository(database: database).find(tenantID: tenant.id, clientID: clientID)
            }
            guard let client else { throw CLIError("no client \(clientID) in \(tenant)") }
            var object = client.metadata.json
            object["client_id"] = .string(client.clientID)
            object["status"] = .string(client.status.rawValue)
            object["registered_via"] = .string(client.registeredVia.rawValue)
            object["created_at"] = .string(client.createdAt.formatted(.iso8601))
            print(pretty(.object(object)))
        }
    }

    static func setStatus(_ status: RegisteredClient.Status, tenant: String, clientID: String, database: DatabaseOptions) async throws {
        var audit = operatorActor
        audit.action = status == .disabled ? "client.disabled" : "client.enabled"
        audit.clientID = clientID
        let event = audit
        let changed = try await withTenant(tenant, database) { tenant, database in
            try await PostgresClientRepository(database: database).setStatus(tenantID: tenant.id, clientID: clientID, status: status, at: Date(), audit: event)
        }
        guard changed else { throw CLIError("no client \(clientID) in \(tenant)") }
        print("\(clientID) is \(status.rawValue)")
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a client: its registration access token and credentials stop working.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String
        @Argument(help: "Client id.") var clientID: String
        func run() async throws { try await ClientCommand.setStatus(.disabled, tenant: tenant, clientID: clientID, database: database) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled client again.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String
        @Argument(help: "Client id.") var clientID: String
        func run() async throws { try await ClientCommand.setStatus(.active, tenant: tenant, clientID: clientID, database: database) }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a client.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String
        @Argument(help: "Client id.") var clientID: String

        func run() async throws {
            var audit = operatorActor
            audit.action = "client.deleted"
            audit.clientID = clientID
            let (event, clientID) = (audit, clientID)
            let deleted = try await withTenant(tenant, database) { tenant, database in
                try await PostgresClientRepository(database: database).delete(tenantID: tenant.id, clientID: clientID, audit: event)
            }
            guard deleted else { throw CLIError("no client \(clientID) in \(tenant)") }
            print("deleted \(clientID)")
        }
    }
}

/// `registrar audit TENANT [--since]`: the audit log, newest first, one JSON object per line.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Print a tenant's audit log, newest first.")
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "Tenant slug.") var tenant: String
    @Option(help: "Only events at or after this RFC 3339 time, or a duration ago (30m, 12h, 7d).") var since: String?
    @Option(help: "Most events to print.") var limit: Int = 100

    func run() async throws {
        guard (1...10_000).contains(limit) else { throw CLIError("--limit must be from 1 to 10000") }
        var filter = AuditFilter()
        if let since {
            if let date = try? Date.ISO8601FormatStyle().parse(since) {
                filter.since = date
            } else if let unit = since.last, let seconds = ["m": 60.0, "h": 3600, "d": 86400][unit], let value = Double(since.dropLast()), value > 0 {
                filter.since = Date().addingTimeInterval(-value * seconds)
            } else {
                throw CLIError("--since must be an RFC 3339 time or a duration like 30m, 12h, 7d")
            }
        }
        let (constFilter, limit) = (filter, limit)
        let records = try await withTenant(tenant, database) { tenant, database in
            try await PostgresAuditRepository(database: database).list(tenantID: tenant.id, filter: constFilter, before: nil, limit: limit).items
        }
        for record in records { print(record.json.encodedString()) }
    }
}
