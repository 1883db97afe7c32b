import Foundation
import Testing
@testable import Registrar

/// What the validator keeps, drops and echoes: RFC 7591 §2 (unknown members ignored), §3.2.1
/// (the response carries the registered metadata) and the stored form of `ClientMetadata`.
@Suite("Client metadata output and real clients")
struct ClientMetadataOutputTests {
    static let knownMembers: Set<String> = [
        "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "client_name", "client_uri",
        "logo_uri", "tos_uri", "policy_uri", "scope", "contacts", "jwks", "jwks_uri", "software_id", "software_version",
        "application_type",
    ]

    // MARK: Unknown and server-chosen members

    @Test("RFC 7591 §2: members the server does not understand are ignored and never echoed")
    func unknownMembersDropped() throws {
        let result = try Fixture.accept(Fixture.request([
            "foo": .string("bar"),
            "x-custom": .object(["nested": .array([.number(1)])]),
            "software_statement": .string("eyJhbGciOiJub25lIn0.eyJzb2Z0d2FyZV9pZCI6IngifQ."),
            "post_logout_redirect_uris": Fixture.list("javascript:alert(1)"),
            "Client_Name": .string("case matters"),
            "": .string("empty key"),
        ]))
        let keys = Set(result.metadata.json.keys)
        #expect(keys.isSubset(of: Self.knownMembers), "unexpected members: \(keys.subtracting(Self.knownMembers))")
        #expect(result.metadata.clientName == nil)
    }

    @Test("RFC 7591 §3.2.1: client_id, client_secret and registration_access_token in a request are ignored")
    func credentialsInRequestIgnored() throws {
        let credentials: [String: JSONValue] = [
            "client_id": .string("attacker-chosen-id"),
            "client_secret": .string("attacker-chosen-secret"),
            "registration_access_token": .string("attacker-chosen-token"),
            "registration_client_uri": .string("https://evil.example/register/x"),
            "client_id_issued_at": .number(0),
            "client_secret_expires_at": .number(0),
        ]
        let result = try Fixture.accept(Fixture.request(credentials))
        for key in credentials.keys {
            #expect(result.metadata.json[key] == nil, "\(key) must not be echoed")
        }
        let encoded = JSONValue.object(result.metadata.json).encodedString()
        #expect(!encoded.contains("attacker-chosen"))
        #expect(!encoded.contains("evil.example"))
        #expect(result.metadata == (try Fixture.accept(Fixture.baseRequest)).metadata)
    }

    @Test("A null member is treated as absent")
    func nullIsAbsent() throws {
        var request = Fixture.baseRequest
        for member in Self.knownMembers where member != "redirect_uris" { request[member] = .null }
        request["client_name#fr"] = .null
        let withNulls = try Fixture.accept(request)
        let without = try Fixture.accept(Fixture.baseRequest)
        #expect(withNulls == without)
        #expect(!containsNull(.object(withNulls.metadata.json)))
    }

    // MARK: Wrong JSON types

    struct WrongType: Sendable, CustomTestStringConvertible {
        let member: String
        let value: JSONValue
        var expected: OAuthError.Code { member == "redirect_uris" ? .invalidRedirectURI : .invalidClientMetadata }
        var testDescription: String { "\(member) = \(value.encodedString())" }
    }

    static let wrongTypes: [WrongType] = {
        let stringMembers = [
            "token_endpoint_auth_method", "client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri", "scope", "jwks_uri",
            "software_id", "software_version", "application_type", "client_name#en", "logo_uri#en", "tos_uri#de", "policy_uri#fr",
            "client_uri#ja",
        ]
        let notStrings: [JSONValue] = [.number(42), .number(1.5), .bool(true), .bool(false), .array([.string("x")]), .array([]), .object([:])]
        let arrayMembers = ["redirect_uris", "grant_types", "response_types", "contacts"]
        let notArraysOfStrings: [JSONValue] = [
            .string("authorization_code"), .number(42), .bool(true), .object([:]), .array([.number(1)]), .array([.bool(true)]),
            .array([.object([:])]), .array([.array([])]),
        ]
        let notJWKSets: [JSONValue] = [.string("{\"keys\":[]}"), .number(1), .bool(true), .array([]), .object([:])]
        return stringMembers.flatMap { member in notStrings.map { WrongType(member: member, value: $0) } }
            + arrayMembers.flatMap { member in notArraysOfStrings.map { WrongType(member: member, value: $0) } }
            + notJWKSets.map { WrongType(member: "jwks", value: $0) }
    }()

    @Test("RFC 7591 §3.2.2: every member with a wrong JSON type is refused (invalid_redirect_uri for redirect_uris, invalid_client_metadata otherwise), naming the member",
          arguments: wrongTypes)
    func wrongJSONType(_ wrong: WrongType) throws {
        var members: [String: JSONValue] = [wrong.member: wrong.value]
        if wrong.member == "jwks" { members["token_endpoint_auth_method"] = .string("private_key_jwt") }
        let error = try #require(Fixture.error(Fixture.request(members)))
        #expect(error.code == wrong.expected)
        #expect(error.errorDescription?.contains(wrong.member) == true, "description: \(error.errorDescription ?? "nil")")
    }

    // MARK: The stored and echoed form

    static let acceptedRequests: [String] = [
        #"{"redirect_uris":["https://app.example.com/callback"]}"#,
        #"""
        {"redirect_uris":["https://app.example.com/cb","http://127.0.0.1:4000/cb","com.example.app:/cb"],
         "token_endpoint_auth_method":"private_key_jwt","grant_types":["authorization_code","refresh_token"],
         "response_types":["code"],"client_name":"Full Client","client_uri":"https://app.example.com",
         "logo_uri":"https://app.example.com/logo.png","tos_uri":"https://app.example.com/tos",
         "policy_uri":"https://app.example.com/privacy","scope":"openid email offline_access",
         "contacts":["admin@app.example.com"],"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]},
         "software_id":"full","software_version":"1.0","application_type":"web",
         "client_name#ja-Jpan-JP":"フル","logo_uri#en":"https://app.example.com/logo-en.png"}
        """#,
        #"""
        {"redirect_uris":["https://app.example.com/cb"],"client_name":"","client_uri":"","logo_uri":"","tos_uri":"",
         "policy_uri":"","scope":"","contacts":[],"jwks_uri":"","software_id":"","software_version":"",
         "client_name#fr":"","jwks":null,"application_type":null}
        """#,
        #"""
        {"redirect_uris":["http://localhost:3030/callback"],"token_endpoint_auth_method":"client_secret_post",
         "grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":null,
         "client_name":"MCP Client","client_uri":null,"logo_uri":null,"contacts":null,"tos_uri":null,"policy_uri":null,
         "jwks_uri":null,"jwks":null,"software_id":null,"software_version":null}
        """#,
    ] + realClients.map(\.json)

    @Test("RFC 7591 §3.2.1: the echoed metadata never has a null, an empty string or an empty list", arguments: acceptedRequests)
    func echoedMetadataHasNoEmptyValues(_ body: String) throws {
        let json = try Fixture.accept(try Fixture.parse(body)).metadata.json
        #expect(!containsNull(.object(json)))
        for (key, value) in json {
            #expect(value != .string(""), "\(key) is an empty string")
            #expect(value != .array([]), "\(key) is an empty list")
            if case .array(let elements) = value {
                #expect(!elements.contains(.string("")), "\(key) contains an empty string")
            }
        }
        #expect(Set(json.keys.filter { !$0.contains("#") }).isSubset(of: Self.knownMembers))
    }

    @Test("Stored metadata round-trips through ClientMetadata(stored:) and through its JSON text", arguments: acceptedRequests)
    func storedMetadataRoundTrips(_ body: String) throws {
        let metadata = try Fixture.accept(try Fixture.parse(body)).metadata
        #expect(ClientMetadata(stored: metadata.json) == metadata)
        let text = JSONValue.object(metadata.json).encoded()
        let reparsed = try JSONValue.parseObject(Array(text))
        #expect(ClientMetadata(stored: reparsed) == metadata)
    }

    @Test("ClientMetadata.json leaves out empty optional values even when built by hand")
    func handBuiltMetadataOmitsEmpties() {
        let metadata = ClientMetadata(
            redirectURIs: ["https://app.example.com/cb"], tokenEndpointAuthMethod: .none, clientName: "", clientURI: "",
            logoURI: "", tosURI: "", policyURI: "", scope: [], contacts: [], jwksURI: "", softwareID: "", softwareVersion: "",
            applicationType: "", localized: ["client_name#fr": ""]
        )
        #expect(Set(metadata.json.keys) == ["redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types"])
    }

    @Test("ClientMetadata(stored:) refuses a document without redirect_uris or with an unknown auth method")
    func storedMetadataNeedsRequiredMembers() {
        #expect(ClientMetadata(stored: ["token_endpoint_auth_method": .string("none")]) == nil)
        #expect(ClientMetadata(stored: ["redirect_uris": Fixture.list("https://a.example/cb")]) == nil)
        #expect(ClientMetadata(stored: ["redirect_uris": Fixture.list("https://a.example/cb"), "token_endpoint_auth_method": .string("client_secret_jwt")]) == nil)
        #expect(ClientMetadata(stored: ["redirect_uris": Fixture.list("https://a.example/cb"), "token_endpoint_auth_method": .string("none")]) != nil)
    }

    // MARK: Real clients

    struct RealClient: Sendable, CustomTestStringConvertible {
        let name: String
        let json: String
        let method: TokenEndpointAuthMethod
        let scope: [String]
        var testDescription: String { name }
    }

    static let realClients: [RealClient] = [
        RealClient(
            name: "ChatGPT",
            json: #"{"client_name":"ChatGPT","redirect_uris":["https://chat.openai.com/aip/callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"openid profile email"}"#,
            method: .clientSecretBasic, scope: ["openid", "profile", "email"]),
        RealClient(
            name: "Claude",
            json: #"{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"token_endpoint_auth_method":"client_secret_post","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"client_name":"Claude"}"#,
            method: .clientSecretPost, scope: ["openid", "profile", "email"]),
        RealClient(
            name: "Claude Code",
            json: #"{"client_name":"Claude Code (my-server)","redirect_uris":["http://localhost:33418/callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}"#,
            method: .none, scope: ["openid", "profile", "email"]),
    ]

    @Test("The requests of ChatGPT, Claude and Claude Code are accepted under the default policy without an initial access token",
          arguments: realClients)
    func realClientAccepted(_ client: RealClient) throws {
        let request = try Fixture.parse(client.json)
        let policy = RegistrationPolicy()
        let result = try Fixture.accept(request, policy: policy)
        #expect(result.metadata.tokenEndpointAuthMethod == client.method)
        #expect(result.metadata.grantTypes == [.authorizationCode, .refreshToken])
        #expect(result.metadata.responseTypes == [.code])
        #expect(result.metadata.scope == client.scope)
        #expect(result.metadata.redirectURIs == request["redirect_uris"]?.arrayValue?.compactMap(\.stringValue))
        #expect(result.metadata.clientName == request["client_name"]?.stringValue)
        #expect(!policy.requiresInitialAccessToken(for: result.redirectURIs))
    }
}
