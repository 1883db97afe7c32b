import ArgumentParser
import Foundation
import Registrar

/// `registrar user`: a tenant's local users from the console. There are no default users or
/// passwords: each one is created here or through the admin API.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Create, list, disable, enable, reset and delete a tenant's users.",
        subcommands: [Create.self, List.self, Disable.self, Enable.self, ResetPassword.self, Delete.self])

    struct TenantOption: ParsableArguments {
        @Option(help: "Tenant slug.") var tenant: String
    }

    /// Runs `body` with the tenant and a user service on its database.
    static func withService<T: Sendable>(_ slug: String, _ database: DatabaseOptions, _ argon2: Argon2Options?,
                                         _ body: @escaping @Sendable (Tenant, UserService) async throws -> T) async throws -> T {
        let parameters = try argon2?.parameters() ?? Argon2Hasher.Parameters()
        return try await withTenant(slug, database) { tenant, database in
            let hasher = Argon2Hasher(parameters: parameters, threads: 1, queueLimit: 1)
            defer { Task { try? await hasher.shutdown() } }
            let service = UserService(hasher: hasher, users: PostgresUserRepository(database: database))
            do {
                return try await body(tenant, service)
            } catch let error as UserService.Invalid {
                throw CLIError(error.description)
            } catch UserRepositoryError.emailTaken {
                throw CLIError("a user with this email already exists in \(slug)")
            }
        }
    }

    /// A user named by id or by email.
    static func find(_ reference: String, tenant: Tenant, service: UserService) async throws -> User {
        let repository = service.repository
        let found = if let id = UUID(uuidString: reference) {
            try await repository.find(id: id, tenant: tenant.id)
        } else {
            try await repository.find(email: reference, tenant: tenant.id)
        }
        guard let found else { throw CLIError("no user '\(reference)' in \(tenant.slug)") }
        return found
    }

    static func readPassword() throws -> String {
        do {
            return try UserService.passwordFromInput(FileHandle.standardInput.readDataToEndOfFile())
        } catch {
            throw CLIError("password refused: \(error.reason)")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user. The password comes from standard input (--password-stdin) or is generated and printed once.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var argon2: Argon2Options
        @OptionGroup var tenantOption: TenantOption
        @Option(help: "Email address (unique in the tenant, ignoring case).") var email: String
        @Option(name: .customLong("name"), help: "Display name.") var displayName: String = ""
        @Flag(name: .customLong("email-verified"), help: "Mark the email as verified.") var emailVerified = false
        @Flag(name: .customLong("password-stdin"), help: "Read the password (one line, at least 12 characters) from standard input.")
        var passwordFromStdin = false

        func run() async throws {
            let request = UserService.NewUser(email: email, displayName: displayName, emailVerified: emailVerified,
                                              password: passwordFromStdin ? try UserCommand.readPassword() : nil)
            let (user, generated) = try await UserCommand.withService(tenantOption.tenant, database, argon2) { tenant, service in
                try await service.create(request, tenantID: tenant.id, actor: operatorActor)
            }
            if let generated {
                print(generated)
                FileHandle.standardError.write(Data("created \(user.email) (\(user.id.uuidString.lowercased())); the password above is shown only this once\n".utf8))
            } else {
                print(user.id.uuidString.lowercased())
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's users (never their passwords).")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var tenantOption: TenantOption

        func run() async throws {
            let users = try await UserCommand.withService(tenantOption.tenant, database, nil) { tenant, service in
                var all: [User] = []
                var cursor: Cursor?
                repeat {
                    let page = try await service.repository.list(tenant: tenant.id, filter: UserFilter(), after: cursor, limit: 200)
                    all += page.items
                    cursor = page.nextCursor.flatMap(Cursor.init(encoded:))
                } while cursor != nil
                return all
            }
            let formatter = ISO8601DateFormatter()
            print(["ID", "EMAIL", "NAME", "STATUS", "CREATED", "LAST SIGN-IN"].joined(separator: "\t"))
            for user in users {
                print([user.id.uuidString.lowercased(), user.email, user.displayName, user.status.rawValue,
                       formatter.string(from: user.createdAt), user.lastSignInAt.map(formatter.string) ?? "never"].joined(separator: "\t"))
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user: no sign-in, and every session ends at once.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var tenantOption: TenantOption
        @Argument(help: "The user's id or email.") var user: String

        func run() async throws {
            let reference = user
            let changed = try await UserCommand.withService(tenantOption.tenant, database, nil) { tenant, service in
                let user = try await UserCommand.find(reference, tenant: tenant, service: service)
                return try await service.setStatus(.disabled, userID: user.id, tenantID: tenant.id, actor: operatorActor)
            }
            print("disabled \(changed?.email ?? reference)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled user.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var tenantOption: TenantOption
        @Argument(help: "The user's id or email.") var user: String

        func run() async throws {
            let reference = user
            let changed = try await UserCommand.withService(tenantOption.tenant, database, nil) { tenant, service in
                let user = try await UserCommand.find(reference, tenant: tenant, service: service)
                return try await service.setStatus(.active, userID: user.id, tenantID: tenant.id, actor: operatorActor)
            }
            print("enabled \(changed?.email ?? reference)")
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Set a new password (--password-stdin) or generate one, printed once; every session of the user ends.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var argon2: Argon2Options
        @OptionGroup var tenantOption: TenantOption
        @Flag(name: .customLong("password-stdin"), help: "Read the password (one line, at least 12 characters) from standard input.")
        var passwordFromStdin = false
        @Argument(help: "The user's id or email.") var user: String

        func run() async throws {
            let reference = user
            let password = passwordFromStdin ? try UserCommand.readPassword() : nil
            let generated = try await UserCommand.withService(tenantOption.tenant, database, argon2) { tenant, service in
                let user = try await UserCommand.find(reference, tenant: tenant, service: service)
                return try await service.resetPassword(userID: user.id, tenantID: tenant.id, password: password, actor: operatorActor)?.generatedPassword
            }
            if let generated {
                print(generated)
                FileHandle.standardError.write(Data("new password of \(reference) above; it is shown only this once\n".utf8))
            } else {
                print("password of \(reference) replaced")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user with its sessions, consent grants and tokens.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var tenantOption: TenantOption
        @Argument(help: "The user's id or email.") var user: String

        func run() async throws {
            let reference = user
            _ = try await UserCommand.withService(tenantOption.tenant, database, nil) { tenant, service in
                let user = try await UserCommand.find(reference, tenant: tenant, service: service)
                return try await service.delete(userID: user.id, tenantID: tenant.id, actor: operatorActor)
            }
            print("deleted \(reference)")
        }
    }
}
