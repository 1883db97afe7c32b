import Foundation
import NIOCore
import Testing
@testable import Registrar

/// Slow clients cannot hold connections: a half-sent head, a stalled body and an idle
/// connection are all closed by the server within their timeouts.
@Suite("Connection timeouts: header, read and idle")
struct ConnectionTimeoutTests {
    static var shortTimeouts: AppOverrides {
        var overrides = AppOverrides()
        overrides.connectionTimeouts = ConnectionTimeouts(header: .milliseconds(500), read: .milliseconds(500), idle: .seconds(6))
        return overrides
    }

    enum Stall: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case halfHead = "half a request head"
        case stalledBody = "a body that stops"
        var testDescription: String { rawValue }

        var bytes: String {
            switch self {
            case .halfHead: "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
            case .stalledBody: "POST /register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"client"
            }
        }
    }

    @Test("Slowloris: the server closes a connection that stalls in the head or the body within the header/read timeout, long before the idle one",
          arguments: Stall.allCases)
    func stalledRequestIsClosed(stall: Stall) async throws {
        try await TestServer.run(overrides: Self.shortTimeouts) { server in
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send(stall.bytes)
            let closedAfter = try await connection.secondsUntilClosed(within: .seconds(10))
            let seconds = try #require(closedAfter, "the connection was still open after 10 s")
            #expect(seconds < 4, "closed after \(seconds) s: by the idle timeout (6 s), not the header/read one (0.5 s)")
        }
    }

    @Test("Idle timeout: a connection that sends nothing is closed")
    func idleConnectionIsClosed() async throws {
        try await TestServer.run(overrides: Self.shortTimeouts) { server in
            let connection = try await RawConnection.open(port: server.port)
            let closedAfter = try await connection.secondsUntilClosed(within: .seconds(15))
            #expect(closedAfter != nil, "the idle connection was still open after 15 s")
        }
    }

    @Test("Timeouts leave a well-behaved client alone: a request sent whole is answered")
    func wholeRequestIsAnswered() async throws {
        try await TestServer.run(overrides: Self.shortTimeouts) { server in
            // Keep-alive pauses longer than the header timeout are the idle timeout's business.
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try await Task.sleep(for: .milliseconds(800))
            #expect(connection.channel.isActive, "closed between requests by the header timeout")
            try await connection.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try await Task.sleep(for: .milliseconds(800))
            #expect(connection.channel.isActive, "closed between requests by the header timeout")
            let reply = try await server.get("/healthz")
            #expect(reply.status == .ok)
        }
    }
}
