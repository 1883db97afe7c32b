import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Turns a host name into the addresses to connect to. The guarded client resolves each host
/// once through this and connects to an address it checked, so a name cannot resolve to a
/// public address for the check and a private one for the connection (DNS rebinding).
public protocol HostResolver: Sendable {
    /// The host's addresses as text (`203.0.113.7`, `2001:db8::1`); empty when it has none.
    func addresses(of host: String) async throws -> [String]
}

/// The system's resolver (`getaddrinfo`), run on a small pool of its own threads, never on an
/// event loop. A lookup cannot be interrupted, so a caller stops waiting for it at cancellation
/// (the fetch's deadline) and the thread finishes alone; and at most `maximumPending` lookups
/// may be under way at once, so a name server that never answers can hold a few threads, not
/// queue every later fetch behind them.
public final class SystemHostResolver: HostResolver {
    public static let shared = SystemHostResolver()
    static let maximumPending = 16

    let pool: NIOThreadPool
    let pending = Mutex(0)

    init(threads: Int = 4) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    /// Too many lookups are under way already.
    struct Saturated: Error {}

    public func addresses(of host: String) async throws -> [String] {
        let admitted = pending.withLock { count -> Bool in
            guard count < Self.maximumPending else { return false }
            count += 1
            return true
        }
        guard admitted else { throw Saturated() }
        let answer = Answer()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[String], any Error>) in
                answer.install(continuation)
                pool.submit { [self] _ in
                    let addresses = Self.lookUp(host)
                    pending.withLock { $0 -= 1 }
                    answer.resume(with: .success(addresses))
                }
            }
        } onCancel: {
            answer.resume(with: .failure(CancellationError()))
        }
    }

    /// The continuation, resumed once: by the lookup, or by a cancellation that came first.
    final class Answer: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<[String], any Error>?, early: Result<[String], any Error>?)>((nil, nil))

        func install(_ continuation: CheckedContinuation<[String], any Error>) {
            let early = state.withLock { state -> Result<[String], any Error>? in
                if let early = state.early { return early }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        func resume(with result: Result<[String], any Error>) {
            let continuation = state.withLock { state -> CheckedContinuation<[String], any Error>? in
                guard let continuation = state.continuation else {
                    if state.early == nil { state.early = result }
                    return nil
                }
                state.continuation = nil
                state.early = result
                return continuation
            }
            continuation?.resume(with: result)
        }
    }

    static func lookUp(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = entry.pointee.ai_addr, let text = Self.text(of: address, family: entry.pointee.ai_family),
               !addresses.contains(text) {
                addresses.append(text)
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    static func text(of address: UnsafeMutablePointer<sockaddr>, family: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch family {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                var raw = pointer.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count)).map { String(cString: $0) }
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                var raw = pointer.pointee.sin6_addr
                return inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count)).map { String(cString: $0) }
            }
        default:
            return nil
        }
    }
}
