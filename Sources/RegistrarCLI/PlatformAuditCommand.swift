import ArgumentParser
import Foundation
import Registrar

/// `registrar platform-audit`: the platform audit log (tenants, domains, platform keys), newest
/// first, one JSON object a line, as `GET /admin/v1/audit` shows it.
struct PlatformAuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "platform-audit",
                                                    abstract: "Print the platform audit log (tenants, domains, platform keys), newest first.")
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Only events about the tenant with this slug (deleted ones too).") var tenant: String?
    @Option(help: "Only events with this action, e.g. tenant.deleted.") var action: String?
    @Option(help: "Most events to print.") var limit: Int = 100

    func run() async throws {
        guard (1...10_000).contains(limit) else { throw CLIError("--limit must be from 1 to 10000") }
        var filter = PlatformAuditFilter()
        filter.tenantSlug = tenant
        filter.action = action
        let (constFilter, limit) = (filter, limit)
        let url = try database.applicationURL()
        let logger = quietLogger("registrar.audit")
        let records: [PlatformAuditRecord]
        do {
            records = try await withDeadline(.seconds(60), "database \(url.endpoint)") {
                try await withPostgresClient(url, logger: logger) { client in
                    try await PostgresPlatformAuditRepository(database: Database(client: client, logger: logger))
                        .list(filter: constFilter, before: nil, limit: limit).items
                }
            }
        } catch {
            throw CLIError("reading the platform audit log failed: \(describe(error))")
        }
        for record in records { print(record.json.encodedString()) }
    }
}
