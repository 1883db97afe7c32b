import ArgumentParser
import Foundation
import Logging
import NIOCore
import Registrar

/// argon2id parameters, shared by `serve` and the commands that mint secrets.
struct Argon2Options: ParsableArguments {
    @Option(name: .customLong("argon2-memory-kib"), help: "argon2id memory in KiB (env REGISTRAR_ARGON2_MEMORY_KIB, default 19456).")
    var memory: Int?
    @Option(name: .customLong("argon2-iterations"), help: "argon2id iterations (env REGISTRAR_ARGON2_ITERATIONS, default 2).")
    var iterations: Int?
    @Option(name: .customLong("argon2-parallelism"), help: "argon2id lanes (env REGISTRAR_ARGON2_PARALLELISM, default 1).")
    var parallelism: Int?

    func parameters() throws -> Argon2Hasher.Parameters {
        let parameters = Argon2Hasher.Parameters(
            memoryKiB: UInt32(try positive(memory, "argon2-memory-kib", "REGISTRAR_ARGON2_MEMORY_KIB", default: 19 * 1024)),
            iterations: UInt32(try positive(iterations, "argon2-iterations", "REGISTRAR_ARGON2_ITERATIONS", default: 2)),
            parallelism: UInt32(try positive(parallelism, "argon2-parallelism", "REGISTRAR_ARGON2_PARALLELISM", default: 1)))
        guard parameters.memoryKiB >= 8 * parameters.parallelism else { throw CLIError("argon2 memory must be at least 8 KiB per lane") }
        return parameters
    }
}

/// A flag's value, else its environment variable, else the default; refused unless positive.
func positive(_ flag: Int?, _ name: String, _ env: String, default value: Int) throws -> Int {
    let result = try flag ?? Environment.int(env) ?? value
    guard result > 0 else { throw CLIError("--\(name) (\(env)) must be positive") }
    return result
}

/// Opens the database as the application role and finds the tenant by slug.
func withTenant<T: Sendable>(_ slug: String, _ options: DatabaseOptions,
                             _ body: @escaping @Sendable (Tenant, Database) async throws -> T) async throws -> T {
    let url = try options.applicationURL()
    let logger = quietLogger("registrar.admin")
    do {
        return try await withDeadline(.seconds(60), "database \(url.endpoint)") {
            try await withPostgresClient(url, logger: logger) { client in
                let database = Database(client: client, logger: logger)
                guard let tenant = try await PostgresTenantRepository(database: database).find(slug: slug) else {
                    throw CLIError("no tenant '\(slug)'")
                }
                return try await body(tenant, database)
            }
        }
    } catch let error as CLIError {
        throw error
    } catch {
        throw CLIError(describe(error))
    }
}

/// Reads a JSON object from a file, or from standard input for "-".
func readJSONFile(_ path: String) throws -> JSONValue {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let contents = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
        data = contents
    }
    do {
        return .object(try JSONValue.parseObject(data))
    } catch {
        throw CLIError("\(path) is not a JSON object")
    }
}

func pretty(_ value: JSONValue) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}

/// The audit actor for commands run by an operator at the console.
let operatorActor = AuditEvent(action: "", actorType: .system, actorID: "cli")

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Show or replace a tenant's registration policy.", subcommands: [Show.self, Set.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the tenant's policy, defaults included.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String

        func run() async throws {
            let document = try await withTenant(tenant, database) { tenant, _ in tenant.policy.json }
            print(pretty(document))
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace the tenant's policy with a JSON document (omitted fields take their defaults).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String
        @Argument(help: "Policy JSON file, or - for standard input.") var file: String

        func run() async throws {
            let policy: RegistrationPolicy
            do {
                policy = try RegistrationPolicy(json: try readJSONFile(file))
            } catch let error as PolicyError {
                throw CLIError("policy refused: \(error.field.isEmpty ? "" : error.field + ": ")\(error.reason)")
            }
            var audit = operatorActor
            audit.action = "policy.changed"
            let event = audit
            let version = try await withTenant(tenant, database) { tenant, database in
                try await PostgresTenantRepository(database: database).setPolicy(policy, for: tenant.id, audit: event)
            }
            print("policy of \(tenant) is now version \(version)")
        }
    }
}

struct InitialAccessTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iat", abstract: "Mint, list and revoke initial access tokens.", subcommands: [Mint.self, List.self, Revoke.self])

    struct Mint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mint a token; it is printed once and stored only as a hash.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var argon2: Argon2Options
        @Argument(help: "Tenant slug.") var tenant: String
        @Option(help: "A label to recognise the token by.") var label: String = ""
        @Option(name: .customLong("expires-in"), help: "Lifetime: seconds, or a number with s, m, h or d (e.g. 7d).") var expiresIn: String?
        @Option(name: .customLong("max-uses"), help: "How many clients it may register.") var maxUses: Int?
        @Option(help: "JSON file of constraints: allowed_redirect_hosts, allowed_scopes, software_id.") var constraints: String?

        func run() async throws {
            let lifetime = try expiresIn.map(parseDuration)
            let constraints: InitialAccessToken.Constraints
            do {
                constraints = try self.constraints.map { try InitialAccessToken.Constraints(json: try readJSONFile($0)) } ?? .init()
            } catch let error as PolicyError {
                throw CLIError("constraints refused: \(error.field): \(error.reason)")
            }
            let request = InitialAccessTokenService.Request(label: label, lifetime: lifetime, maxUses: maxUses, constraints: constraints)
            let parameters = try argon2.parameters()
            let (token, presented) = try await withTenant(tenant, database) { tenant, database in
                let hasher = Argon2Hasher(parameters: parameters, threads: 1, queueLimit: 1)
                defer { Task { try? await hasher.shutdown() } }
                let service = InitialAccessTokenService(hasher: hasher, tokens: PostgresInitialAccessTokenRepository(database: database))
                do {
                    return try await service.mint(for: tenant, request, actor: operatorActor)
                } catch let error as InitialAccessTokenService.Refused {
                    throw CLIError(error.description)
                }
            }
            print(presented)
            FileHandle.standardError.write(Data("minted \(token.id) for \(tenant); it is shown only this once\n".utf8))
        }

        func parseDuration(_ text: String) throws -> TimeInterval {
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
            let unit = text.last.flatMap { units[$0] }
            let number = unit == nil ? text : String(text.dropLast())
            guard let value = Double(number), value > 0, value * (unit ?? 1) <= Double(RegistrationPolicy.maximumLifetimeSeconds) else {
                throw CLIError("--expires-in must look like 3600, 90m, 12h or 7d, and be at most 10 years")
            }
            return value * (unit ?? 1)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's initial access tokens (never their secrets).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String

        func run() async throws {
            let tokens = try await withTenant(tenant, database) { tenant, database in
                try await PostgresInitialAccessTokenRepository(database: database).list(tenantID: tenant.id)
            }
            let formatter = ISO8601DateFormatter()
            print(["ID", "LABEL", "CREATED", "EXPIRES", "USES", "REVOKED"].joined(separator: "\t"))
            for token in tokens {
                print([token.id, token.label, formatter.string(from: token.createdAt), token.expiresAt.map(formatter.string) ?? "never",
                       "\(token.uses)/\(token.maxUses.map(String.init) ?? "∞")", token.revokedAt.map(formatter.string) ?? "no"]
                    .joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once; clients it created stay registered.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "Tenant slug.") var tenant: String
        @Argument(help: "Token id (the part between 'iat_' and '.').") var id: String

        func run() async throws {
            var audit = operatorActor
            audit.action = "initial_access_token.revoked"
            audit.details["token_id"] = .string(id)
            let (id, event) = (id, audit)
            let revoked = try await withTenant(tenant, database) { tenant, database in
                try await PostgresInitialAccessTokenRepository(database: database).revoke(tenantID: tenant.id, id: id, at: Date(), audit: event)
            }
            guard revoked else { throw CLIError("no active token \(id) in \(tenant)") }
            print("revoked \(id)")
        }
    }
}
