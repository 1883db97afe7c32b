import Foundation
import Testing
@testable import Registrar

/// Shared helpers for the pure unit tests: build requests, run the validator, read its error.
enum Fixture {
    /// A minimal valid registration: one https redirect URI, every other member defaulted.
    static let redirect = "https://app.example.com/callback"

    static var baseRequest: [String: JSONValue] {
        ["redirect_uris": .array([.string(redirect)])]
    }

    /// The base request with `members` added (or overridden).
    static func request(_ members: [String: JSONValue]) -> [String: JSONValue] {
        baseRequest.merging(members) { _, new in new }
    }

    /// A request body as a client would send it.
    static func parse(_ json: String) throws -> [String: JSONValue] {
        try JSONValue.parseObject(Array(json.utf8))
    }

    /// The validator's error, or nil when the request is accepted.
    static func error(_ request: [String: JSONValue], policy: RegistrationPolicy = RegistrationPolicy()) -> OAuthError? {
        do {
            _ = try ClientMetadataValidator.validate(request, policy: policy)
            return nil
        } catch {
            return error
        }
    }

    /// The validated result; fails the test (with the error's description) when refused.
    static func accept(
        _ request: [String: JSONValue], policy: RegistrationPolicy = RegistrationPolicy(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ClientMetadataValidator.Result {
        do {
            return try ClientMetadataValidator.validate(request, policy: policy)
        } catch {
            Issue.record("expected the request to be accepted, got \(error)", sourceLocation: sourceLocation)
            throw error
        }
    }

    static func list(_ values: String...) -> JSONValue { .array(values.map(JSONValue.string)) }
}

/// Whether a JSON value contains a `null` anywhere.
func containsNull(_ value: JSONValue) -> Bool {
    switch value {
    case .null: true
    case .array(let elements): elements.contains(where: containsNull)
    case .object(let members): members.values.contains(where: containsNull)
    default: false
    }
}

/// The repository root, found from this file's path (Tests/RegistrarTests/…).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let sqlDirectory = repositoryRoot.appendingPathComponent("sql").path
