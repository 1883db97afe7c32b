import Foundation
import JWTKit
import Logging
import PostgresNIO

/// RFC 7523 §2.2 / §3: a `private_key_jwt` client authenticates with a JWT it signed with one of
/// its registered keys. Used by the client authentication API now and by the token endpoint later.
public struct ClientAssertionVerifier: Sendable {
    /// RFC 7523 §2.2: the only `client_assertion_type` for a JWT.
    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// Asymmetric algorithms only: a MAC keyed with the public JWK Set would be forgeable.
    public static let acceptedAlgorithms = SoftwareStatementVerifier.acceptedAlgorithms
    /// How far ahead `exp` may be: a short-lived assertion keeps the replay record small.
    public static let maximumLifetime: TimeInterval = 300
    public static let allowedSkew: TimeInterval = 60

    let replay: any ClientAssertionReplayRepository
    /// Where the keys of a client registered with `jwks_uri` are fetched; without it only keys
    /// held in the client's metadata (`jwks`) verify.
    let remoteKeys: RemoteKeySets?

    public init(replay: any ClientAssertionReplayRepository) {
        self.replay = replay
        self.remoteKeys = nil
    }

    init(replay: any ClientAssertionReplayRepository, remoteKeys: RemoteKeySets?) {
        self.replay = replay
        self.remoteKeys = remoteKeys
    }

    /// Why an assertion was refused (for logs and tests; the caller answers one generic 401).
    public struct Rejected: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Verifies `assertion` for `client`; `audiences` are the values `aud` may name (the
    /// tenant's issuer, its token endpoint). Throws `Rejected` for every failure.
    public func verify(_ assertion: String, for client: RegisteredClient, audiences: Set<String>, now: Date) async throws {
        let parts = assertion.split(separator: ".", omittingEmptySubsequences: false)
        guard assertion.utf8.count <= 16_384, parts.count == 3, let header = SoftwareStatementVerifier.decodeSegment(parts[0]) else {
            throw Rejected("not a signed JWT")
        }
        guard let algorithm = header["alg"]?.stringValue, Self.acceptedAlgorithms.contains(algorithm) else {
            throw Rejected("algorithm not accepted")
        }
        // RFC 7523 §3 item 9: verified with the client's registered keys: its `jwks`, or the set
        // at its `jwks_uri`, fetched through the guarded client.
        let jwks: JSONValue
        if let registered = client.metadata.jwks {
            jwks = registered
        } else if let uri = client.metadata.jwksURI, let remoteKeys {
            jwks = try await remoteKeys.keys(at: uri, now: now)
        } else {
            throw Rejected("the client has no registered keys")
        }
        let keys = JWTKeyCollection()
        do {
            try await keys.add(jwksJSON: SoftwareStatementVerifier.keysWithIdentifiers(jwks).encodedString())
        } catch {
            throw Rejected("the client's keys cannot be used")
        }
        let claims: [String: JSONValue]
        do {
            claims = try await keys.verify(assertion, as: SoftwareStatementVerifier.ClaimSet.self, iteratingKeys: true).claims
        } catch {
            throw Rejected("signature does not verify")
        }
        // RFC 7523 §3 items 1–2: `iss` and `sub` are the client_id.
        guard claims["iss"]?.stringValue == client.clientID, claims["sub"]?.stringValue == client.clientID else {
            throw Rejected("iss and sub must be the client_id")
        }
        // RFC 7523 §3 item 3: `aud` names this authorization server.
        let audience = claims["aud"].flatMap { $0.stringValue.map { [$0] } ?? $0.arrayValue?.compactMap(\.stringValue) } ?? []
        guard audience.contains(where: audiences.contains) else { throw Rejected("aud does not name this server") }
        // RFC 7523 §3 item 4: `exp` is required and not in the past; bounded ahead here.
        let clock = now.timeIntervalSince1970
        guard case .number(let exp)? = claims["exp"] else { throw Rejected("exp is required") }
        guard exp > clock - Self.allowedSkew else { throw Rejected("expired") }
        guard exp <= clock + Self.maximumLifetime + Self.allowedSkew else { throw Rejected("exp too far ahead") }
        // RFC 7523 §3 items 5–6: not before `nbf`; an `iat` in the future is refused too.
        for name in ["nbf", "iat"] {
            if let claim = claims[name] {
                guard case .number(let value) = claim, value <= clock + Self.allowedSkew else { throw Rejected("\(name) in the future") }
            }
        }
        // RFC 7523 §3 item 7: a `jti` is accepted once, across every instance.
        guard let jti = claims["jti"]?.stringValue, !jti.isEmpty, jti.utf8.count <= 256 else { throw Rejected("jti is required") }
        let accepted = try await replay.accept(tenantID: client.tenantID, clientID: client.clientID, jti: jti,
                                               expiresAt: Date(timeIntervalSince1970: exp + Self.allowedSkew), now: now)
        guard accepted else { throw Rejected("jti replayed") }
    }
}

/// The `jti` values of accepted client assertions, shared by every instance.
public protocol ClientAssertionReplayRepository: Sendable {
    /// Records `jti` for the client; false when it is already recorded and not yet expired.
    func accept(tenantID: UUID, clientID: String, jti: String, expiresAt: Date, now: Date) async throws -> Bool
}

public struct PostgresClientAssertionReplayRepository: ClientAssertionReplayRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    /// Insert-or-fail on the primary key. The client's expired rows are swept in the same
    /// transaction, so the table holds at most the assertions still inside their lifetime.
    public func accept(tenantID: UUID, clientID: String, jti: String, expiresAt: Date, now: Date) async throws -> Bool {
        try await database.withTenant(tenantID) { connection in
            try await connection.run("""
                DELETE FROM client_assertion_jtis WHERE tenant_id = \(tenantID) AND client_id = \(clientID) AND expires_at < \(now)
                """, logger: logger)
            let inserted = try await connection.run("""
                INSERT INTO client_assertion_jtis (tenant_id, client_id, jti, expires_at)
                VALUES (\(tenantID), \(clientID), \(jti), \(expiresAt))
                ON CONFLICT DO NOTHING RETURNING jti
                """, logger: logger)
            return !inserted.isEmpty
        }
    }
}
