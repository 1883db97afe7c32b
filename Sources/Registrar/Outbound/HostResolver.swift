import Foundation
import NIOCore
import NIOPosix

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

/// The system's resolver (`getaddrinfo`), run on NIO's blocking thread pool, never on an event loop.
public struct SystemHostResolver: HostResolver {
    public init() {}

    public func addresses(of host: String) async throws -> [String] {
        try await NIOThreadPool.singleton.runIfActive {
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
