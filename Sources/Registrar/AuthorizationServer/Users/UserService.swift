import Foundation

/// Managing a tenant's users, for the admin API and the CLI alike: the input rules, argon2id
/// hashing of passwords, generated passwords shown once, and the end of sessions (and of the
/// tokens issued to the user, once a revoker is wired) when a user is disabled or revoked.
public struct UserService: Sendable {
    /// A refused input, named by its field.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let reason: String
        public var description: String { "\(field): \(reason)" }
    }

    /// What a caller asks for when creating a user.
    public struct NewUser: Sendable {
        public var email: String
        public var displayName: String
        public var emailVerified: Bool
        /// nil: a password is generated and returned once.
        public var password: String?

        public init(email: String, displayName: String = "", emailVerified: Bool = false, password: String? = nil) {
            self.email = email
            self.displayName = displayName
            self.emailVerified = emailVerified
            self.password = password
        }
    }

    public static let minimumPasswordLength = 12
    public static let maximumPasswordBytes = 1024
    public static let maximumDisplayNameBytes = 400

    let hasher: Argon2Hasher
    let users: any UserRepository
    let sessions: any SessionRepository
    /// Revokes the token families of a user; nil until the token service is wired in.
    let revokeTokens: (@Sendable (UUID, UUID) async throws -> Void)?
    let now: @Sendable () -> Date

    public init(hasher: Argon2Hasher, users: any UserRepository, sessions: any SessionRepository,
                revokeTokens: (@Sendable (_ userID: UUID, _ tenantID: UUID) async throws -> Void)? = nil,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.hasher = hasher
        self.users = users
        self.sessions = sessions
        self.revokeTokens = revokeTokens
        self.now = now
    }

    /// The users themselves, for reads (find, list).
    public var repository: any UserRepository { users }

    // MARK: - Rules

    /// An email address as HTML's `input type=email` accepts it (WHATWG HTML §4.10.5.1.5): an
    /// ASCII local part of atext and dots, `@`, and DNS labels; at most 320 octets (RFC 5321
    /// §4.5.3.1: 64 for the local part, 255 for the domain).
    public static func isValidEmail(_ email: String) -> Bool {
        let bytes = Array(email.utf8)
        guard bytes.count <= 320, let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at]
        let domain = bytes[(at + 1)...]
        guard (1...64).contains(local.count), (1...255).contains(domain.count) else { return false }
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+/=?^_`{|}~-".utf8)
        guard local.allSatisfy(atext.contains) else { return false }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else { return false }
            return label.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
            }
        }
    }

    /// Passwords a person chose: at least 12 characters (NIST SP 800-63B §3.1.1.2 asks for at
    /// least 8; a password alone guards these accounts, so 12), any characters but control
    /// characters, at most 1024 bytes.
    public static func validatePassword(_ password: String, field: String = "password") throws(Invalid) {
        guard password.count >= minimumPasswordLength else {
            throw Invalid(field: field, reason: "must be at least \(minimumPasswordLength) characters")
        }
        guard password.utf8.count <= maximumPasswordBytes else { throw Invalid(field: field, reason: "must be at most \(maximumPasswordBytes) bytes") }
        guard !password.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Invalid(field: field, reason: "must not contain control characters")
        }
    }

    public static func validateDisplayName(_ name: String) throws(Invalid) {
        guard name.utf8.count <= maximumDisplayNameBytes else {
            throw Invalid(field: "display_name", reason: "must be at most \(maximumDisplayNameBytes) bytes")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Invalid(field: "display_name", reason: "must not contain control characters")
        }
    }

    /// A generated password: 256 random bits in 43 base64url characters.
    public static func generatePassword() -> String { SecretGenerator.randomToken() }

    /// A password read from standard input: one line, its line ending removed (`--password-stdin`).
    public static func passwordFromInput(_ data: Data) throws(Invalid) -> String {
        guard var text = String(data: data, encoding: .utf8) else { throw Invalid(field: "password", reason: "must be UTF-8") }
        // "\r\n" is one Character in Swift, so one removal takes either line ending.
        if text.hasSuffix("\n") || text.hasSuffix("\r\n") { text.removeLast() }
        try validatePassword(text)
        return text
    }

    // MARK: - Operations

    /// Creates a user; returns it with the generated password when none was given.
    public func create(_ request: NewUser, tenantID: UUID, actor: AuditEvent) async throws -> (user: User, generatedPassword: String?) {
        let email = request.email.trimmingCharacters(in: .whitespaces)
        guard Self.isValidEmail(email) else { throw Invalid(field: "email", reason: "must be an email address such as name@example.com") }
        try Self.validateDisplayName(request.displayName)
        let generated = request.password == nil ? Self.generatePassword() : nil
        let password = request.password ?? generated!
        if request.password != nil { try Self.validatePassword(password) }
        let hash = try await hasher.hash(password, tenant: tenantID)
        let user = User(tenantID: tenantID, email: email, displayName: request.displayName, emailVerified: request.emailVerified, createdAt: now())
        var audit = actor
        audit.action = "user.created"
        audit.details["user_id"] = .string(user.id.uuidString.lowercased())
        audit.details["password"] = .string(generated == nil ? "set" : "generated")
        try await users.insert(user, passwordHash: hash, audit: audit)
        return (user, generated)
    }

    public func setStatus(_ status: User.Status, userID: UUID, tenantID: UUID, actor: AuditEvent) async throws -> User? {
        var audit = actor
        audit.action = status == .disabled ? "user.disabled" : "user.enabled"
        audit.details["user_id"] = .string(userID.uuidString.lowercased())
        let user = try await users.setStatus(id: userID, tenant: tenantID, status: status, at: now(), audit: audit)
        if user != nil, status == .disabled { try await revokeTokens?(userID, tenantID) }
        return user
    }

    /// Sets the given password or generates one (returned once); every session of the user ends.
    public func resetPassword(userID: UUID, tenantID: UUID, password: String?, actor: AuditEvent) async throws -> (user: User, generatedPassword: String?)? {
        if let password { try Self.validatePassword(password) }
        let generated = password == nil ? Self.generatePassword() : nil
        let hash = try await hasher.hash(password ?? generated!, tenant: tenantID)
        var audit = actor
        audit.action = "user.password_reset"
        audit.details["user_id"] = .string(userID.uuidString.lowercased())
        audit.details["password"] = .string(generated == nil ? "set" : "generated")
        guard let user = try await users.setPassword(id: userID, tenant: tenantID, passwordHash: hash, at: now(), audit: audit) else { return nil }
        return (user, generated)
    }

    /// Ends every session of the user and revokes the tokens issued to it; nil if no such user.
    public func revokeSessions(userID: UUID, tenantID: UUID, actor: AuditEvent) async throws -> Int? {
        guard try await users.find(id: userID, tenant: tenantID) != nil else { return nil }
        let count = try await sessions.deleteAll(userID: userID, tenant: tenantID)
        try await revokeTokens?(userID, tenantID)
        var audit = actor
        audit.action = "user.sessions_revoked"
        audit.details["user_id"] = .string(userID.uuidString.lowercased())
        audit.details["sessions"] = .number(Double(count))
        try await users.record(audit, tenant: tenantID)
        return count
    }

    public func delete(userID: UUID, tenantID: UUID, actor: AuditEvent) async throws -> Bool {
        var audit = actor
        audit.action = "user.deleted"
        audit.details["user_id"] = .string(userID.uuidString.lowercased())
        guard try await users.find(id: userID, tenant: tenantID) != nil else { return false }
        // Revoked first, so the access tokens issued to the user are on the revocation list;
        // the foreign keys then take its sessions, grants, codes and token families with it.
        try await revokeTokens?(userID, tenantID)
        return try await users.delete(id: userID, tenant: tenantID, audit: audit)
    }
}
