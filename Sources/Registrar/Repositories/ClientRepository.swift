import Foundation
import Logging
import PostgresNIO

/// Registered clients of one tenant at a time.
public protocol ClientRepository: Sendable {
    /// Stores a new client and its audit event in one transaction.
    func insert(_ client: RegisteredClient, audit: AuditEvent) async throws
    func find(tenantID: UUID, clientID: String) async throws -> RegisteredClient?
}

public struct PostgresClientRepository: ClientRepository {
    let database: Database
    var logger: Logger { database.logger }

    public init(database: Database) {
        self.database = database
    }

    public func insert(_ client: RegisteredClient, audit: AuditEvent) async throws {
        let metadata = JSONValue.object(client.metadata.json).encodedString()
        try await database.withTenant(client.tenantID) { connection in
            try await connection.run("""
                INSERT INTO clients (tenant_id, client_id, metadata, token_endpoint_auth_method, client_secret_hash,
                    client_secret_expires_at, registration_access_token_hash, registered_via, initial_access_token_id,
                    source_address, status, created_at, updated_at)
                VALUES (\(client.tenantID), \(client.clientID), \(metadata)::jsonb, \(client.metadata.tokenEndpointAuthMethod.rawValue),
                    \(client.clientSecretHash), \(client.clientSecretExpiresAt), \(client.registrationAccessTokenHash),
                    \(client.registeredVia.rawValue), \(client.initialAccessTokenID), \(client.sourceAddress),
                    \(client.status.rawValue), \(client.createdAt), \(client.createdAt))
                """, logger: logger)
            try await AuditLog.record(audit, tenantID: client.tenantID, on: connection, logger: logger)
        }
    }

    public func find(tenantID: UUID, clientID: String) async throws -> RegisteredClient? {
        try await database.withTenant(tenantID) { connection in
            let rows = try await connection.run("""
                SELECT client_id, metadata::text, client_secret_hash, client_secret_expires_at, registration_access_token_hash,
                    registered_via, initial_access_token_id, source_address, status, created_at
                FROM clients WHERE tenant_id = \(tenantID) AND client_id = \(clientID)
                """, logger: logger)
            return try rows.first.flatMap { try Self.decode($0, tenantID: tenantID) }
        }
    }

    static func decode(_ row: PostgresRow, tenantID: UUID) throws -> RegisteredClient? {
        let (clientID, metadataText, secretHash, secretExpiresAt, ratHash, via, iat, source, status, createdAt) =
            try row.decode((String, String, String?, Date?, String, String, String?, String?, String, Date).self)
        guard let object = try? JSONValue.parseObject(Array(metadataText.utf8)), let metadata = ClientMetadata(stored: object) else {
            return nil
        }
        return RegisteredClient(
            tenantID: tenantID, clientID: clientID, metadata: metadata, clientSecretHash: secretHash,
            clientSecretExpiresAt: secretExpiresAt, registrationAccessTokenHash: ratHash,
            registeredVia: RegisteredClient.Origin(rawValue: via) ?? .dcr, initialAccessTokenID: iat, sourceAddress: source,
            status: RegisteredClient.Status(rawValue: status) ?? .disabled, createdAt: createdAt)
    }
}

/// Appends audit events inside the transaction of the change they describe.
public enum AuditLog {
    public static func record(_ event: AuditEvent, tenantID: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        let details = JSONValue.object(event.details).encodedString()
        try await connection.run("""
            INSERT INTO audit_events (tenant_id, action, actor_type, actor_id, client_id, source_address, request_id, details)
            VALUES (\(tenantID), \(event.action), \(event.actorType.rawValue), \(event.actorID), \(event.clientID),
                \(event.sourceAddress), \(event.requestID), \(details)::jsonb)
            """, logger: logger)
    }
}
