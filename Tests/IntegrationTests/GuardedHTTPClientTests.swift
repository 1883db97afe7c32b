import Foundation
import HTTPTypes
import Testing
@testable import Registrar

/// The guarded outbound client against a real TLS server on loopback (security rules: every
/// fetched URL is https, resolved once, checked against RFC 6890 and connected to the checked
/// address; no redirects; size, time and concurrency capped).
@Suite("Guarded outbound client")
struct GuardedHTTPClientTests {
    static func client(allow: [String] = ["127.0.0.1/32"], caFile: String? = DocumentServer.authority.caFile,
                       timeout: Duration = .seconds(2), perOrigin: Int = 8) throws -> GuardedHTTPClient {
        var configuration = GuardedHTTPClient.Configuration()
        configuration.allowedRanges = try allow.map(IPRange.init)
        configuration.extraCAFile = caFile
        configuration.timeout = timeout
        configuration.maximumFetchesPerOrigin = perOrigin
        return try GuardedHTTPClient(configuration: configuration, resolver: DocumentServer.resolver)
    }

    static func failure(_ client: GuardedHTTPClient, _ url: String) async -> OutboundFailure? {
        do {
            _ = try await client.get(url)
            return nil
        } catch {
            return error
        }
    }

    @Test("A 200 over TLS from an allowed address answers with its body")
    func fetchesDocument() async throws {
        try await DocumentServer.run { documents in
            documents.serve("/doc.json", json: #"{"ok":true}"#)
            let response = try await Self.client().get(documents.url("/doc.json"))
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == #"{"ok":true}"#)
            #expect(documents.lastAuthority("/doc.json") == "docs.test:\(documents.port)", "the Host is the URL's, not the address")
        }
    }

    @Test("The checked addresses are tried in order until one connects")
    func triesEveryCheckedAddress() async throws {
        try await DocumentServer.run { documents in
            documents.serve("/doc.json", json: "{}")
            let client = try Self.client(allow: ["127.0.0.1/32", "::1/128"])
            #expect(try await client.get(documents.url("/doc.json", host: "dual.test")).status == 200)
        }
    }

    @Test("draft -01 §4: only 200 counts, and a redirect is not followed")
    func onlyOKAndNoRedirects() async throws {
        try await DocumentServer.run { documents in
            documents.serve("/target.json", json: "{}")
            documents.serve("/moved", .init(status: .found, headers: [.location: documents.url("/target.json")], body: ""))
            documents.serve("/gone", .init(status: .notFound, body: "no"))
            documents.serve("/error", .init(status: .internalServerError, body: String(repeating: "x", count: 100_000)))
            let client = try Self.client()
            #expect(await Self.failure(client, documents.url("/moved")) == .status(302))
            #expect(documents.hits("/target.json") == 0, "the redirect was not followed")
            #expect(await Self.failure(client, documents.url("/gone")) == .status(404))
            #expect(await Self.failure(client, documents.url("/error")) == .status(500), "a large error page is not read")
        }
    }

    @Test("The body is capped at 5 KiB, declared or streamed")
    func bodyCap() async throws {
        try await DocumentServer.run { documents in
            documents.serve("/big.json", json: "[" + String(repeating: "1,", count: 3_000) + "1]")
            documents.serve("/streamed.json", .init(body: "[" + String(repeating: "1,", count: 3_000) + "1]", chunked: true))
            documents.serve("/edge.json", json: String(repeating: " ", count: 5 * 1024 - 2) + "{}")
            let client = try Self.client()
            #expect(await Self.failure(client, documents.url("/big.json")) == .tooLarge(limit: 5 * 1024))
            #expect(await Self.failure(client, documents.url("/streamed.json")) == .tooLarge(limit: 5 * 1024))
            #expect(try await client.get(documents.url("/edge.json")).body.count == 5 * 1024)
        }
    }

    @Test("A host that does not answer in time is given up")
    func slowHost() async throws {
        try await DocumentServer.run { documents in
            documents.serve("/slow.json", .init(body: "{}", delay: .seconds(2)))
            let client = try Self.client(timeout: .milliseconds(500))
            let started = ContinuousClock.now
            #expect(await Self.failure(client, documents.url("/slow.json")) == .timedOut)
            #expect(ContinuousClock.now - started < .milliseconds(1500))
        }
    }

    @Test("https only; the URL's rules are URIParser's")
    func httpsOnly() async throws {
        let client = try Self.client()
        #expect(await Self.failure(client, "http://docs.test/doc.json") == .notHTTPS)
        #expect(await Self.failure(client, "ftp://docs.test/doc.json") == .notHTTPS)
        if case .invalidURL? = await Self.failure(client, "https://user@docs.test/doc.json") {} else { Issue.record("userinfo accepted") }
    }

    @Test("RFC 6890: a name resolving to a private address, or to one among public ones, is refused before any connection")
    func privateResolution() async throws {
        let client = try Self.client()
        #expect(await Self.failure(client, "https://private.test/doc.json") == .refusedAddress(host: "private.test", range: .privateUse))
        #expect(await Self.failure(client, "https://mixed.test/doc.json") == .refusedAddress(host: "mixed.test", range: .privateUse))
        #expect(await Self.failure(client, "https://nowhere.test/doc.json") == .unresolvable("nowhere.test"))
    }

    @Test("With an empty allowlist, loopback is refused: by name and by every literal spelling")
    func loopbackRefusedWithoutAllowlist() async throws {
        try await DocumentServer.run { documents in
            documents.serve("/doc.json", json: "{}")
            let client = try Self.client(allow: [])
            #expect(await Self.failure(client, documents.url("/doc.json")) == .refusedAddress(host: "docs.test", range: .loopback))
            for literal in ["127.0.0.1", "0x7f.1", "2130706433", "[::1]", "[::ffff:127.0.0.1]"] {
                if case .refusedAddress? = await Self.failure(client, "https://\(literal):\(documents.port)/doc.json") {} else {
                    Issue.record("\(literal) was not refused")
                }
            }
            #expect(await Self.failure(client, "https://169.254.169.254/latest/meta-data")
                    == .refusedAddress(host: "169.254.169.254", range: .cloudMetadata))
            #expect(documents.hits("/doc.json") == 0)
        }
    }

    @Test("A certificate from a CA the server does not trust fails the connection")
    func untrustedCertificate() async throws {
        try await DocumentServer.run { documents in
            documents.serve("/doc.json", json: "{}")
            let client = try Self.client(caFile: nil)
            if case .connectionFailed? = await Self.failure(client, documents.url("/doc.json")) {} else {
                Issue.record("a certificate of an unknown CA was accepted")
            }
        }
    }

    @Test("Each origin has a bounded number of fetches in flight")
    func perOriginConcurrency() async throws {
        try await DocumentServer.run { documents in
            // The slow answer is held far longer than the second fetch needs, and the second
            // starts only once the first has reached the server, so a loaded machine cannot
            // turn "busy" into "timed out" or "not yet started".
            documents.serve("/slow.json", .init(body: "{}", delay: .seconds(3)))
            documents.serve("/doc.json", json: "{}")
            let client = try Self.client(timeout: .seconds(20), perOrigin: 1)
            async let first = client.get(documents.url("/slow.json"))
            let deadline = ContinuousClock.now + .seconds(10)
            while documents.hits("/slow.json") == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(documents.hits("/slow.json") == 1, "the first fetch reached the server")
            #expect(await Self.failure(client, documents.url("/doc.json")) == .busy("docs.test:\(documents.port)"))
            #expect(try await first.status == 200)
            #expect(try await client.get(documents.url("/doc.json")).status == 200, "the slot is free again")
        }
    }
}
