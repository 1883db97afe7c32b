import Foundation
import NIOCore
import NIOPosix

/// A plain TCP connection, for what an HTTP client library will not do: send half a request and
/// wait, or stall in the middle of a body.
struct RawConnection: Sendable {
    let channel: any Channel

    static func open(port: Int) async throws -> RawConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel)
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// How long until the server closed the connection; nil if it was still open after `limit`
    /// (this side closes it then).
    func secondsUntilClosed(within limit: TimeAmount) async throws -> Double? {
        let start = ContinuousClock.now
        let giveUp = channel.eventLoop.scheduleTask(in: limit) { channel.close(promise: nil) }
        try? await channel.closeFuture.get()
        let elapsed = ContinuousClock.now - start
        giveUp.cancel()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds < Double(limit.nanoseconds) / 1e9 ? seconds : nil
    }
}

/// A TCP server that accepts connections and never says a word: a database that hangs.
struct SilentServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start() async throws -> SilentServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        return SilentServer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}
