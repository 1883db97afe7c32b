import Testing
@testable import Registrar

/// The validator's work is bounded by its caps, not by the size of the body: every string is
/// bounded in UTF-8 bytes before it is split or iterated, and iteration stops at the cap.
@Suite("Client metadata validation does bounded work")
struct ClientMetadataWorkBoundsTests {
    /// About 18,000 distinct scope tokens in just under 64 KiB, as in the report.
    static let floodScope = (0..<18_000).map(scopeToken).joined(separator: " ")

    /// The `index`-th shortest scope token (RFC 6749 §3.3 characters), so tokens are distinct and short.
    static func scopeToken(_ index: Int) -> String {
        let alphabet = Array(0x21...0x7E).filter { $0 != 0x22 && $0 != 0x5C }.map { Character(Unicode.Scalar(UInt8($0))) }
        var index = index
        var token = ""
        repeat {
            token.append(alphabet[index % alphabet.count])
            index = index / alphabet.count - 1
        } while index >= 0
        return token
    }

    /// The visits of the base request alone (its one redirect URI).
    static var baseline: Int { run(Fixture.baseRequest).1.elementVisits }

    static func run(_ request: [String: JSONValue], policy: RegistrationPolicy = RegistrationPolicy()) -> (OAuthError?, ClientMetadataValidator.Statistics) {
        var statistics = ClientMetadataValidator.Statistics()
        do {
            _ = try ClientMetadataValidator.validate(request, policy: policy, statistics: &statistics)
            return (nil, statistics)
        } catch {
            return (error, statistics)
        }
    }

    /// A language tag made of letters only, different for each index.
    static func letters(_ index: Int) -> String {
        var index = index
        var result = ""
        repeat {
            result.append(Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8(index % 26))))
            index /= 26
        } while index > 0
        return result
    }

    @Test("A 64 KiB scope of ~18,000 distinct tokens is refused with at most cap+1 element visits")
    func scopeFloodIsBounded() {
        #expect(Set(Self.floodScope.split(separator: " ")).count == 18_000)
        #expect(Self.floodScope.utf8.count < 64 * 1024 - 200)
        var policy = RegistrationPolicy()
        policy.allowedScopes = []
        let (error, statistics) = Self.run(Fixture.request(["scope": .string(Self.floodScope)]), policy: policy)
        #expect(error?.code == .invalidClientMetadata)
        #expect(statistics.elementVisits - Self.baseline <= ClientMetadataValidator.maximumScopeTokens + 1)
    }

    @Test("Under the byte bound, reading scope tokens stops at the first token past the cap")
    func scopeStopsAtCap() {
        var policy = RegistrationPolicy()
        policy.allowedScopes = []
        let scope = (0..<1_000).map(Self.scopeToken).joined(separator: " ")
        #expect(scope.utf8.count <= ClientMetadataValidator.maximumScopeBytes)
        let (error, statistics) = Self.run(Fixture.request(["scope": .string(scope)]), policy: policy)
        #expect(error?.code == .invalidClientMetadata)
        #expect(statistics.elementVisits - Self.baseline <= ClientMetadataValidator.maximumScopeTokens + 1)
    }

    @Test("Repeated scope tokens collapse and do not count towards the cap")
    func scopeRepeatsCollapse() throws {
        var policy = RegistrationPolicy()
        policy.allowedScopes = []
        let scope = Array(repeating: "a b c", count: 300).joined(separator: " ")
        let result = try Fixture.accept(Fixture.request(["scope": .string(scope)]), policy: policy)
        #expect(result.metadata.scope == ["a", "b", "c"])
    }

    @Test("Arrays over their cap are refused before any of their elements is visited", arguments: [
        "redirect_uris", "contacts", "grant_types", "response_types",
    ])
    func arraysRefusedBeforeVisiting(_ member: String) {
        let values = JSONValue.array((0..<5_000).map { .string("https://app.example.com/cb\($0)") })
        let (error, statistics) = Self.run(Fixture.request([member: values]))
        #expect(error != nil)
        // Only the members checked before it (at most the base request's one redirect URI) were visited.
        #expect(statistics.elementVisits <= 1)
    }

    @Test("An array element longer than its byte bound is refused", arguments: ["redirect_uris", "contacts"])
    func longElementsRefused(_ member: String) {
        let long = "https://app.example.com/" + String(repeating: "a", count: 3_000)
        let (error, _) = Self.run(Fixture.request([member: .array([.string(long)])]))
        #expect(error != nil)
    }

    @Test("Thousands of language-tagged members are refused after the cap is passed")
    func localizedMembersBounded() {
        var request = Fixture.baseRequest
        for index in 0..<2_000 { request["client_name#\(Self.letters(index))"] = .string("n") }
        let (error, statistics) = Self.run(request)
        #expect(error?.code == .invalidClientMetadata)
        #expect(statistics.elementVisits <= ClientMetadataValidator.maximumLocalizedMembers + 2)
    }
}
