import Testing
@testable import Registrar

/// RFC 6890 special-purpose addresses, read the way browsers read URL hosts.
@Suite("Special-use addresses (RFC 6890)")
struct SpecialUseAddressTests {
    @Test("Special-use literals are classified", arguments: [
        ("169.254.169.254", SpecialUseAddress.cloudMetadata), ("[fd00:ec2::254]", .cloudMetadata),
        ("127.0.0.1", .loopback), ("127.255.0.9", .loopback), ("[::1]", .loopback), ("localhost", .loopback),
        ("LOCALHOST.", .loopback), ("app.localhost", .loopback),
        ("10.0.0.1", .privateUse), ("172.16.0.1", .privateUse), ("172.31.255.255", .privateUse), ("192.168.1.1", .privateUse),
        ("[fc00::1]", .privateUse), ("[fdff:1::]", .privateUse),
        ("169.254.1.1", .linkLocal), ("[fe80::1]", .linkLocal), ("[febf::1]", .linkLocal),
        ("100.64.0.1", .sharedAddressSpace), ("100.127.255.255", .sharedAddressSpace),
        ("0.0.0.0", .unspecified), ("[::]", .unspecified), ("0.1.2.3", .unspecified),
        ("[::ffff:127.0.0.1]", .loopback), ("[::ffff:a9fe:a9fe]", .cloudMetadata), ("[::ffff:10.1.2.3]", .privateUse),
        ("[64:ff9b::192.168.0.1]", .privateUse),
        // Forms a browser (WHATWG URL) and inet_aton read as IPv4.
        ("2130706433", .loopback), ("0x7f.1", .loopback), ("0177.0.0.1", .loopback), ("127.1", .loopback), ("0xA9FEA9FE", .cloudMetadata),
        ("127.0.0.1.", .loopback),
        ("224.0.0.1", .multicast), ("[ff02::1]", .multicast), ("255.255.255.255", .reserved),
        // IETF protocol assignments (with 192.0.0.192), benchmarking, the 6to4 relay anycast.
        ("192.0.0.192", .reserved), ("192.0.0.9", .reserved), ("198.18.0.1", .reserved), ("198.19.255.255", .reserved),
        ("192.88.99.1", .reserved),
        // IPv6 forms that carry or hide an IPv4 address, and the discard prefix.
        ("[64:ff9b:1::10.0.0.1]", .privateUse), ("[64:ff9b:1::8.8.8.8]", .privateUse), ("[2002:7f00:1::]", .loopback),
        ("[2002:a9fe:a9fe::1]", .cloudMetadata), ("[2001:0:4136:e378:8000:63bf:3fff:fdd2]", .reserved), ("[100::1]", .reserved),
    ])
    func classified(_ host: String, _ expected: SpecialUseAddress) {
        #expect(SpecialUseAddress.classify(host: host) == expected)
    }

    @Test("Public addresses and host names are not special", arguments: [
        "8.8.8.8", "172.32.0.1", "172.15.255.255", "100.128.0.1", "169.255.0.1", "192.169.0.1", "[2001:4860:4860::8888]",
        "[::ffff:8.8.8.8]", "[2002:808:808::1]", "198.20.0.1", "192.0.1.1", "example.com", "localhost.example.com", "127.0.0.1.example.com", "1.2.3.4.5", "[fe00::1]",
    ])
    func notSpecial(_ host: String) {
        #expect(SpecialUseAddress.classify(host: host) == nil)
    }

    @Test("URLs that will be fetched are refused on special-use hosts", arguments: ["jwks_uri", "logo_uri", "client_uri", "tos_uri", "policy_uri"])
    func fetchedURLsRefused(_ member: String) {
        for host in ["127.0.0.1", "[::1]", "169.254.169.254", "10.0.0.8", "localhost", "[::ffff:192.168.0.1]", "0x7f.1"] {
            let error = Fixture.error(Fixture.request([member: .string("https://\(host)/x")]))
            #expect(error?.code == .invalidClientMetadata, "\(member) on \(host)")
        }
        #expect(Fixture.error(Fixture.request([member: .string("https://app.example.com/x")])) == nil)
    }

    @Test("Loopback redirect URIs stay allowed: a native app's redirect is not fetched by the server")
    func loopbackRedirectsUnaffected() {
        #expect(Fixture.error(Fixture.request(["redirect_uris": .array([.string("http://127.0.0.1:8080/cb")])])) == nil)
    }
}
