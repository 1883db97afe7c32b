import Foundation
import PostgresNIO
import Testing
@testable import Registrar

/// A database URL with `host=/directory` reaches PostgreSQL through its Unix socket, with the
/// same roles and row-level security as over TCP.
@Suite("Database through its Unix socket")
struct DatabaseSocketTests {
    /// The application role's URL, moved onto the test cluster's socket (`scripts/test` exports
    /// the socket's directory).
    static func socketURL() throws -> DatabaseURL {
        guard let directory = ProcessInfo.processInfo.environment["REGISTRAR_TEST_SOCKET_DIRECTORY"], !directory.isEmpty else {
            throw TestEnvironment.Missing(name: "REGISTRAR_TEST_SOCKET_DIRECTORY")
        }
        var url = try TestEnvironment.applicationURL()
        url.socketDirectory = directory
        url.tls = .disable
        return url
    }

    /// `inet_client_addr()` is NULL exactly for a connection through a Unix socket.
    static func arrivesThroughTheSocket(_ url: DatabaseURL) async throws -> Bool {
        try await withPostgresClient(url, logger: TestEnvironment.logger) { client in
            let rows = try await client.query("SELECT inet_client_addr() IS NULL, current_user", logger: TestEnvironment.logger).collect()
            let (viaSocket, role) = try rows[0].decode((Bool, String).self)
            #expect(role == url.username)
            return viaSocket
        }
    }

    @Test("A URL with host=/directory connects through the socket; the same URL without it, over TCP")
    func socketAndTCP() async throws {
        try await TestEnvironment.prepare()
        #expect(try await Self.arrivesThroughTheSocket(try Self.socketURL()))
        #expect(try await !Self.arrivesThroughTheSocket(try TestEnvironment.applicationURL()))
    }

    @Test("The socket URL as an operator writes it is parsed to the same connection")
    func socketURLAsWritten() async throws {
        try await TestEnvironment.prepare()
        let url = try Self.socketURL()
        let written = try DatabaseURL("postgres://\(url.username)@:\(url.port)/\(url.database ?? "")?host=\(url.socketDirectory ?? "")")
        #expect(written.socketPath == url.socketPath)
        #expect(try await Self.arrivesThroughTheSocket(written))
    }
}
