import Testing
@testable import Registrar

/// RFC 7591 §2 client metadata, one rule per test, through `ClientMetadataValidator.validate`.
@Suite("Client metadata rules (RFC 7591 §2)")
struct ClientMetadataValidatorTests {
    // MARK: token_endpoint_auth_method

    @Test("RFC 7591 §2: token_endpoint_auth_method defaults to client_secret_basic (the policy's default)")
    func authMethodDefault() throws {
        let result = try Fixture.accept(Fixture.baseRequest)
        #expect(result.metadata.tokenEndpointAuthMethod == .clientSecretBasic)
        #expect(result.metadata.json["token_endpoint_auth_method"] == .string("client_secret_basic"))
        #expect(result.metadata.isConfidential)

        var policy = RegistrationPolicy()
        policy.defaultTokenEndpointAuthMethod = .none
        let publicClient = try Fixture.accept(Fixture.baseRequest, policy: policy)
        #expect(publicClient.metadata.tokenEndpointAuthMethod == .none)
        #expect(!publicClient.metadata.isConfidential)
    }

    @Test("RFC 7591 §2: each supported token_endpoint_auth_method is accepted", arguments: TokenEndpointAuthMethod.allCases)
    func authMethodAccepted(_ method: TokenEndpointAuthMethod) throws {
        var members: [String: JSONValue] = ["token_endpoint_auth_method": .string(method.rawValue)]
        if method == .privateKeyJWT { members["jwks_uri"] = .string("https://app.example.com/jwks.json") }
        let result = try Fixture.accept(Fixture.request(members))
        #expect(result.metadata.tokenEndpointAuthMethod == method)
        #expect(result.metadata.json["token_endpoint_auth_method"] == .string(method.rawValue))
    }

    @Test("RFC 7591 §2: an unsupported token_endpoint_auth_method is refused", arguments: [
        "client_secret_jwt", "foo", "tls_client_auth", "CLIENT_SECRET_BASIC", "none ",
    ])
    func authMethodUnsupported(_ value: String) {
        #expect(Fixture.error(Fixture.request(["token_endpoint_auth_method": .string(value)]))?.code == .invalidClientMetadata)
    }

    @Test("A token_endpoint_auth_method outside the tenant's policy list is refused")
    func authMethodOutsidePolicy() {
        var policy = RegistrationPolicy()
        policy.tokenEndpointAuthMethods = [.none, .clientSecretBasic]
        let error = Fixture.error(Fixture.request(["token_endpoint_auth_method": .string("client_secret_post")]), policy: policy)
        #expect(error?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["token_endpoint_auth_method": .string("none")]), policy: policy) == nil)
    }

    @Test("token_endpoint_auth_method of the wrong type is invalid_client_metadata naming the field")
    func authMethodWrongType() throws {
        let error = try #require(Fixture.error(Fixture.request(["token_endpoint_auth_method": .number(1)])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("token_endpoint_auth_method") == true)
    }

    // MARK: grant_types and response_types

    @Test("RFC 7591 §2: grant_types defaults to authorization_code and response_types to code")
    func grantAndResponseDefaults() throws {
        let result = try Fixture.accept(Fixture.baseRequest)
        #expect(result.metadata.grantTypes == [.authorizationCode])
        #expect(result.metadata.responseTypes == [.code])
        #expect(result.metadata.json["grant_types"] == Fixture.list("authorization_code"))
        #expect(result.metadata.json["response_types"] == Fixture.list("code"))
    }

    @Test("RFC 6749 §4.4: client_credentials is refused for a public client and accepted for confidential ones",
          arguments: TokenEndpointAuthMethod.allCases)
    func clientCredentialsNeedsConfidentialClient(_ method: TokenEndpointAuthMethod) {
        var policy = RegistrationPolicy()
        policy.grantTypes = [.authorizationCode, .refreshToken, .clientCredentials]
        var members: [String: JSONValue] = ["token_endpoint_auth_method": .string(method.rawValue),
                                            "grant_types": Fixture.list("authorization_code", "client_credentials")]
        if method == .privateKeyJWT { members["jwks_uri"] = .string("https://app.example.com/jwks.json") }
        let error = Fixture.error(Fixture.request(members), policy: policy)
        if method == .none {
            #expect(error?.code == .invalidClientMetadata)
            #expect(error?.errorDescription?.contains("client_credentials") == true)
        } else {
            #expect(error == nil)
        }
    }

    @Test("RFC 9700 §2.1.2, §2.4: the implicit and password grants are refused", arguments: ["implicit", "password"])
    func deprecatedGrantsRefused(_ grant: String) throws {
        let error = try #require(Fixture.error(Fixture.request(["grant_types": Fixture.list("authorization_code", grant)])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains(grant) == true)
    }

    @Test("RFC 7591 §2: a grant type the server does not support is refused", arguments: [
        "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "AUTHORIZATION_CODE", "",
    ])
    func unknownGrantRefused(_ grant: String) {
        #expect(Fixture.error(Fixture.request(["grant_types": Fixture.list("authorization_code", grant)]))?.code == .invalidClientMetadata)
    }

    @Test("grant_types must not be empty")
    func emptyGrantTypesRefused() {
        #expect(Fixture.error(Fixture.request(["grant_types": .array([])]))?.code == .invalidClientMetadata)
    }

    @Test("A grant type outside the tenant's policy is refused")
    func grantOutsidePolicy() {
        var policy = RegistrationPolicy()
        policy.grantTypes = [.authorizationCode]
        let request = Fixture.request(["grant_types": Fixture.list("authorization_code", "refresh_token")])
        #expect(Fixture.error(request, policy: policy)?.code == .invalidClientMetadata)
        #expect(Fixture.error(request) == nil)
    }

    @Test("RFC 7591 §2.1: refresh_token alone (no grant to obtain one) is refused")
    func refreshTokenAloneRefused() {
        #expect(Fixture.error(Fixture.request(["grant_types": Fixture.list("refresh_token")]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request([
            "grant_types": Fixture.list("refresh_token"), "response_types": Fixture.list("code"),
        ]))?.code == .invalidClientMetadata)
    }

    @Test("RFC 7591 §2.1: refresh_token alone is refused even when response_types is empty")
    func refreshTokenAloneWithEmptyResponseTypesRefused() {
        // grant_types [refresh_token] + response_types [] is consistent by the §2.1 table, but no
        // grant this server supports can then issue the refresh token, and the metadata would
        // carry an empty response_types list.
        let error = Fixture.error(Fixture.request([
            "grant_types": Fixture.list("refresh_token"), "response_types": .array([]),
        ]))
        #expect(error?.code == .invalidClientMetadata)
    }

    @Test("RFC 7591 §2.1 / RFC 9700 §2.1.2: response types other than code are refused", arguments: [
        "token", "id_token", "code id_token", "code token", "none", "CODE",
    ])
    func responseTypeOtherThanCodeRefused(_ type: String) {
        #expect(Fixture.error(Fixture.request(["response_types": Fixture.list(type)]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["response_types": Fixture.list("code", type)]))?.code == .invalidClientMetadata)
    }

    @Test("RFC 7591 §2.1: authorization_code requires the code response type")
    func authorizationCodeRequiresCode() {
        #expect(Fixture.error(Fixture.request([
            "grant_types": Fixture.list("authorization_code"), "response_types": .array([]),
        ]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["response_types": .array([])]))?.code == .invalidClientMetadata)
    }

    @Test("RFC 7591 §2.1: the code response type requires the authorization_code grant")
    func codeRequiresAuthorizationCode() {
        #expect(Fixture.error(Fixture.request([
            "grant_types": Fixture.list("refresh_token"), "response_types": Fixture.list("code"),
        ]))?.code == .invalidClientMetadata)
    }

    @Test("Duplicate grant and response types collapse, in request order")
    func grantAndResponseDuplicatesCollapse() throws {
        let result = try Fixture.accept(Fixture.request([
            "grant_types": Fixture.list("refresh_token", "authorization_code", "refresh_token", "authorization_code"),
            "response_types": Fixture.list("code", "code"),
        ]))
        #expect(result.metadata.grantTypes == [.refreshToken, .authorizationCode])
        #expect(result.metadata.responseTypes == [.code])
    }

    // MARK: Display URIs

    static let displayURIMembers = ["client_uri", "logo_uri", "tos_uri", "policy_uri"]

    @Test("RFC 7591 §2: client_uri, logo_uri, tos_uri and policy_uri accept http and https URLs",
          arguments: displayURIMembers, ["https://app.example.com/about", "http://app.example.com/about", "https://app.example.com:8443/p?q=1"])
    func displayURIAccepted(_ member: String, _ value: String) throws {
        let result = try Fixture.accept(Fixture.request([member: .string(value)]))
        #expect(result.metadata.json[member] == .string(value))
    }

    @Test("RFC 7591 §2 / §5: display URIs must be web pages; other schemes and relative references are refused",
          arguments: displayURIMembers, [
              "javascript:alert(1)", "JavaScript:alert(1)", "data:image/png;base64,iVBORw0KGgo=", "ftp://app.example.com/logo.png",
              "/about", "about", "mailto:privacy@app.example.com", "https://user@app.example.com/", "https:/x", " https://app.example.com/",
          ])
    func displayURIRefused(_ member: String, _ value: String) throws {
        let error = try #require(Fixture.error(Fixture.request([member: .string(value)])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains(member) == true)
    }

    @Test("An empty display URI is treated as absent and not echoed", arguments: displayURIMembers)
    func displayURIEmptyIsAbsent(_ member: String) throws {
        let result = try Fixture.accept(Fixture.request([member: .string("")]))
        #expect(result.metadata.json[member] == nil)
    }

    // MARK: client_name

    @Test("RFC 7591 §2: client_name is kept as sent, parentheses and non-ASCII included", arguments: [
        "Claude Code (my-server)", "ChatGPT", "Ünïcødé 名前 🚀", "<script>alert(1)</script>",
    ])
    func clientNameAccepted(_ name: String) throws {
        let result = try Fixture.accept(Fixture.request(["client_name": .string(name)]))
        #expect(result.metadata.clientName == name)
        #expect(result.metadata.json["client_name"] == .string(name))
    }

    @Test("client_name must not contain control characters", arguments: [
        "line\nbreak", "tab\there", "nul\u{0}byte", "del\u{7F}", "escape\u{1B}[31mred", "c1\u{85}next",
    ])
    func clientNameControlCharactersRefused(_ name: String) {
        #expect(Fixture.error(Fixture.request(["client_name": .string(name)]))?.code == .invalidClientMetadata)
    }

    @Test("client_name is bounded in UTF-8 bytes: 1000 accepted, 1001 refused")
    func clientNameLength() {
        let limit = ClientMetadataValidator.maximumTextBytes
        #expect(Fixture.error(Fixture.request(["client_name": .string(String(repeating: "a", count: limit))])) == nil)
        #expect(Fixture.error(Fixture.request(["client_name": .string(String(repeating: "a", count: limit + 1))]))?.code == .invalidClientMetadata)
    }

    @Test("client_name must be a string", arguments: [JSONValue.number(1), .bool(true), .array([.string("a")]), .object(["en": .string("a")])])
    func clientNameWrongType(_ value: JSONValue) throws {
        let error = try #require(Fixture.error(Fixture.request(["client_name": value])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("client_name") == true)
    }

    @Test("An empty client_name is treated as absent")
    func clientNameEmpty() throws {
        let result = try Fixture.accept(Fixture.request(["client_name": .string("")]))
        #expect(result.metadata.clientName == nil)
        #expect(result.metadata.json["client_name"] == nil)
    }

    // MARK: scope

    @Test("RFC 7591 §2: without scope the client gets the tenant's default scopes")
    func scopeDefault() throws {
        let result = try Fixture.accept(Fixture.baseRequest)
        #expect(result.metadata.scope == RegistrationPolicy().defaultScopes)
        #expect(result.metadata.json["scope"] == .string("openid profile email"))

        var policy = RegistrationPolicy()
        policy.defaultScopes = ["openid"]
        #expect(try Fixture.accept(Fixture.baseRequest, policy: policy).metadata.scope == ["openid"])
        #expect(try Fixture.accept(Fixture.request(["scope": .string("")]), policy: policy).metadata.scope == ["openid"])
        #expect(try Fixture.accept(Fixture.request(["scope": .string("   ")]), policy: policy).metadata.scope == ["openid"])
    }

    @Test("RFC 6749 §3.3: scope tokens exclude space, '\"', '\\' and non-ASCII", arguments: [
        "openid \"profile\"", "openid pro\\file", "openid\tprofile", "openid\nprofile", "openid prøfile", "openid\u{0}",
    ])
    func scopeTokenSyntax(_ scope: String) {
        var policy = RegistrationPolicy()
        policy.allowedScopes = []
        #expect(Fixture.error(Fixture.request(["scope": .string(scope)]), policy: policy)?.code == .invalidClientMetadata)
    }

    @Test("RFC 6749 §3.3: every printable ASCII character except '\"' and '\\' may appear in a scope token")
    func scopeTokenFullAlphabet() throws {
        let token = String(String.UnicodeScalarView((UInt32(0x21)...UInt32(0x7E)).compactMap { Unicode.Scalar($0) }.filter { $0 != "\"" && $0 != "\\" }))
        #expect(ScopeSyntax.isValidToken(token))
        #expect(!ScopeSyntax.isValidToken(""))
        #expect(!ScopeSyntax.isValidToken("a b"))
        var policy = RegistrationPolicy()
        policy.allowedScopes = []
        #expect(try Fixture.accept(Fixture.request(["scope": .string(token)]), policy: policy).metadata.scope == [token])
    }

    @Test("Scope policy 'intersect' drops scopes the tenant does not allow")
    func scopeIntersect() throws {
        var policy = RegistrationPolicy()
        policy.unknownScopes = .intersect
        let result = try Fixture.accept(Fixture.request(["scope": .string("openid admin email root")]), policy: policy)
        #expect(result.metadata.scope == ["openid", "email"])
    }

    @Test("Scope policy 'intersect' falls back to the default scopes when nothing allowed is left")
    func scopeIntersectFallsBack() throws {
        var policy = RegistrationPolicy()
        policy.unknownScopes = .intersect
        policy.defaultScopes = ["openid"]
        let result = try Fixture.accept(Fixture.request(["scope": .string("admin root")]), policy: policy)
        #expect(result.metadata.scope == ["openid"])
    }

    @Test("Scope policy 'reject' refuses scopes the tenant does not allow, naming them")
    func scopeReject() throws {
        var policy = RegistrationPolicy()
        policy.unknownScopes = .reject
        let error = try #require(Fixture.error(Fixture.request(["scope": .string("openid admin")]), policy: policy))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("admin") == true)
        #expect(try Fixture.accept(Fixture.request(["scope": .string("openid email")]), policy: policy).metadata.scope == ["openid", "email"])
    }

    @Test("An empty allowedScopes list accepts any syntactically valid scope")
    func scopeAnyAllowed() throws {
        var policy = RegistrationPolicy()
        policy.allowedScopes = []
        policy.unknownScopes = .reject
        let result = try Fixture.accept(Fixture.request(["scope": .string("mcp:tools https://api.example.com/read custom")]), policy: policy)
        #expect(result.metadata.scope == ["mcp:tools", "https://api.example.com/read", "custom"])
    }

    @Test("Duplicate scope tokens collapse and extra spaces are ignored")
    func scopeDuplicatesCollapse() throws {
        let result = try Fixture.accept(Fixture.request(["scope": .string("  openid  profile openid   email profile ")]))
        #expect(result.metadata.scope == ["openid", "profile", "email"])
        #expect(result.metadata.json["scope"] == .string("openid profile email"))
    }

    @Test("scope is bounded: 64 tokens accepted, 65 refused")
    func scopeBounded() {
        var policy = RegistrationPolicy()
        policy.allowedScopes = []
        func scope(_ count: Int) -> JSONValue { .string((0..<count).map { "s\($0)" }.joined(separator: " ")) }
        #expect(Fixture.error(Fixture.request(["scope": scope(ClientMetadataValidator.maximumScopeTokens)]), policy: policy) == nil)
        #expect(Fixture.error(Fixture.request(["scope": scope(ClientMetadataValidator.maximumScopeTokens + 1)]), policy: policy)?.code == .invalidClientMetadata)
    }

    @Test("RFC 7591 §2: scope is a space-separated string, not an array")
    func scopeMustBeString() throws {
        let error = try #require(Fixture.error(Fixture.request(["scope": Fixture.list("openid", "profile")])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("scope") == true)
    }

    // MARK: contacts

    @Test("RFC 7591 §2: contacts is an array of strings; duplicates and empty entries are dropped")
    func contactsAccepted() throws {
        let result = try Fixture.accept(Fixture.request(["contacts": Fixture.list("admin@app.example.com", "ops@app.example.com", "admin@app.example.com", "")]))
        #expect(result.metadata.contacts == ["admin@app.example.com", "ops@app.example.com"])
        #expect(result.metadata.json["contacts"] == Fixture.list("admin@app.example.com", "ops@app.example.com"))
    }

    @Test("contacts of the wrong type are refused", arguments: [
        JSONValue.string("admin@app.example.com"), .number(1), .object([:]), .array([.number(1)]), .array([.null]),
        .array([.string("a@b.example"), .array([])]),
    ])
    func contactsWrongType(_ value: JSONValue) throws {
        let error = try #require(Fixture.error(Fixture.request(["contacts": value])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("contacts") == true)
    }

    @Test("contacts is bounded: 20 accepted, 21 refused")
    func contactsBounded() {
        func contacts(_ count: Int) -> JSONValue { .array((0..<count).map { .string("c\($0)@app.example.com") }) }
        #expect(Fixture.error(Fixture.request(["contacts": contacts(ClientMetadataValidator.maximumContacts)])) == nil)
        #expect(Fixture.error(Fixture.request(["contacts": contacts(ClientMetadataValidator.maximumContacts + 1)]))?.code == .invalidClientMetadata)
    }

    @Test("A contact with control characters is refused")
    func contactsControlCharacters() {
        #expect(Fixture.error(Fixture.request(["contacts": Fixture.list("a@b.example\r\nBcc: x@evil.example")]))?.code == .invalidClientMetadata)
    }

    // MARK: jwks and jwks_uri

    static let rsaKey: JSONValue = .object(["kty": .string("RSA"), "kid": .string("1"), "n": .string("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"), "e": .string("AQAB")])
    static let ecKey: JSONValue = .object(["kty": .string("EC"), "crv": .string("P-256"), "x": .string("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"), "y": .string("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")])
    static let okpKey: JSONValue = .object(["kty": .string("OKP"), "crv": .string("Ed25519"), "x": .string("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")])

    @Test("RFC 7591 §2: jwks and jwks_uri must not both be present")
    func jwksXorJwksURI() throws {
        let error = try #require(Fixture.error(Fixture.request([
            "token_endpoint_auth_method": .string("private_key_jwt"),
            "jwks": .object(["keys": .array([Self.rsaKey])]),
            "jwks_uri": .string("https://app.example.com/jwks.json"),
        ])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("jwks_uri") == true)
    }

    @Test("RFC 7517 §5: a jwks of public RSA, EC and OKP keys is accepted and echoed", arguments: [rsaKey, ecKey, okpKey])
    func jwksAccepted(_ key: JSONValue) throws {
        let jwks = JSONValue.object(["keys": .array([key])])
        let result = try Fixture.accept(Fixture.request(["token_endpoint_auth_method": .string("private_key_jwt"), "jwks": jwks]))
        #expect(result.metadata.jwks == jwks)
        #expect(result.metadata.json["jwks"] == jwks)
    }

    @Test("RFC 7517 §5: jwks must be a JWK Set, {\"keys\": [ {kty, …} ]}", arguments: [
        JSONValue.array([rsaKey]),
        rsaKey,
        .object(["keys": .object([:])]),
        .object(["keys": .array([])]),
        .object(["keys": .array([.string("RSA")])]),
        .object(["keys": .array([.object(["n": .string("x"), "e": .string("AQAB")])])]),
        .object(["keys": .array([.object(["kty": .number(1)])])]),
        .object(["keys": .array([.object(["kty": .string("oct"), "k": .string("c2VjcmV0")])])]),
        .object(["keys": .array([.object(["kty": .string("XYZ")])])]),
        .object(["keys": .array(Array(repeating: rsaKey, count: ClientMetadataValidator.maximumJWKs + 1))]),
        .string("{\"keys\":[]}"),
    ])
    func jwksShape(_ jwks: JSONValue) {
        #expect(Fixture.error(Fixture.request(["token_endpoint_auth_method": .string("private_key_jwt"), "jwks": jwks]))?.code == .invalidClientMetadata)
    }

    @Test("RFC 7517 §6.2.2 / §6.3.2: jwks must hold public keys only; a private member is refused", arguments: ["d", "p", "q", "dp", "dq", "qi", "oth"])
    func jwksPrivateMemberRefused(_ member: String) throws {
        guard case .object(var key) = Self.rsaKey else { Issue.record("fixture is not an object"); return }
        key[member] = .string("AAAA")
        let error = try #require(Fixture.error(Fixture.request([
            "token_endpoint_auth_method": .string("private_key_jwt"), "jwks": .object(["keys": .array([Self.ecKey, .object(key)])]),
        ])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("'\(member)'") == true)
    }

    @Test("RFC 7523 §2.2: private_key_jwt needs jwks or jwks_uri")
    func privateKeyJWTNeedsKeys() {
        #expect(Fixture.error(Fixture.request(["token_endpoint_auth_method": .string("private_key_jwt")]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["token_endpoint_auth_method": .string("private_key_jwt"), "jwks_uri": .string("")]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["token_endpoint_auth_method": .string("private_key_jwt"), "jwks": .null]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["token_endpoint_auth_method": .string("private_key_jwt"), "jwks_uri": .string("https://app.example.com/jwks.json")])) == nil)
    }

    @Test("RFC 7591 §2: jwks_uri must be an https URL", arguments: [
        "http://app.example.com/jwks.json", "javascript:alert(1)", "ftp://app.example.com/jwks.json", "/jwks.json", "not a url",
        "https://app.example.com/jwks.json#k",
    ])
    func jwksURIMustBeHTTPS(_ value: String) throws {
        let error = try #require(Fixture.error(Fixture.request(["jwks_uri": .string(value)])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains("jwks_uri") == true)
    }

    @Test("jwks_uri is kept; an empty jwks_uri is treated as absent")
    func jwksURIKept() throws {
        let kept = try Fixture.accept(Fixture.request(["jwks_uri": .string("https://app.example.com/jwks.json")]))
        #expect(kept.metadata.jwksURI == "https://app.example.com/jwks.json")
        #expect(kept.metadata.json["jwks_uri"] == .string("https://app.example.com/jwks.json"))
        let empty = try Fixture.accept(Fixture.request(["jwks_uri": .string("")]))
        #expect(empty.metadata.jwksURI == nil)
        #expect(empty.metadata.json["jwks_uri"] == nil)
    }

    // MARK: software_id, software_version, application_type

    @Test("RFC 7591 §2: software_id and software_version are kept as strings")
    func softwareStatementFields() throws {
        let result = try Fixture.accept(Fixture.request([
            "software_id": .string("4NRB1-0XZABZI9E6-5SM3R"), "software_version": .string("2.1.0"),
        ]))
        #expect(result.metadata.softwareID == "4NRB1-0XZABZI9E6-5SM3R")
        #expect(result.metadata.softwareVersion == "2.1.0")
        #expect(result.metadata.json["software_id"] == .string("4NRB1-0XZABZI9E6-5SM3R"))
        #expect(result.metadata.json["software_version"] == .string("2.1.0"))
    }

    @Test("RFC 7591 §2: software_id and software_version must be strings",
          arguments: ["software_id", "software_version"], [JSONValue.number(1.0), .number(2), .bool(false), .array([.string("1")]), .object([:])])
    func softwareFieldsWrongType(_ member: String, _ value: JSONValue) throws {
        let error = try #require(Fixture.error(Fixture.request([member: value])))
        #expect(error.code == .invalidClientMetadata)
        #expect(error.errorDescription?.contains(member) == true)
    }

    @Test("software_id and software_version must not contain control characters", arguments: ["software_id", "software_version"])
    func softwareFieldsControlCharacters(_ member: String) {
        #expect(Fixture.error(Fixture.request([member: .string("1.0\n")]))?.code == .invalidClientMetadata)
    }

    @Test("OpenID Connect Registration: application_type is 'web' or 'native'")
    func applicationType() throws {
        #expect(try Fixture.accept(Fixture.request(["application_type": .string("web")])).metadata.applicationType == "web")
        #expect(try Fixture.accept(Fixture.request(["application_type": .string("native")])).metadata.applicationType == "native")
        #expect(try Fixture.accept(Fixture.baseRequest).metadata.applicationType == nil)
        #expect(Fixture.error(Fixture.request(["application_type": .string("browser")]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["application_type": .number(1)]))?.code == .invalidClientMetadata)
    }

    // MARK: RFC 7591 §2.2 language tags

    @Test("RFC 7591 §2.2: a language-tagged client_name is kept under its full member name", arguments: [
        "client_name#ja-Jpan-JP", "client_name#en", "client_name#de-CH", "client_name#zh-Hant-TW", "client_name#es-419",
    ])
    func localizedClientNameKept(_ key: String) throws {
        let result = try Fixture.accept(Fixture.request(["client_name": .string("My Client"), key: .string("クライアント")]))
        #expect(result.metadata.localized[key] == "クライアント")
        #expect(result.metadata.json[key] == .string("クライアント"))
        #expect(result.metadata.json["client_name"] == .string("My Client"))
    }

    @Test("RFC 7591 §2.2 / RFC 5646: a member with a malformed language tag is refused", arguments: [
        "client_name#", "client_name#not a tag", "client_name#-en", "client_name#en-", "client_name#en--US", "client_name#123",
        "client_name#abcdefghi", "client_name#en_US", "client_name#en#fr", "logo_uri#", "tos_uri#ü",
    ])
    func malformedLanguageTagRefused(_ key: String) throws {
        let error = try #require(Fixture.error(Fixture.request([key: .string("https://app.example.com/x")])))
        #expect(error.code == .invalidClientMetadata)
    }

    @Test("RFC 7591 §2.2: a language-tagged logo_uri is checked like logo_uri")
    func localizedLogoURIChecked() throws {
        #expect(Fixture.error(Fixture.request(["logo_uri#en": .string("javascript:alert(1)")]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["policy_uri#fr": .string("ftp://app.example.com/fr")]))?.code == .invalidClientMetadata)
        let result = try Fixture.accept(Fixture.request(["logo_uri#en": .string("https://app.example.com/logo-en.png")]))
        #expect(result.metadata.json["logo_uri#en"] == .string("https://app.example.com/logo-en.png"))
    }

    @Test("RFC 7591 §2.2: a language-tagged client_name is checked like client_name")
    func localizedClientNameChecked() {
        #expect(Fixture.error(Fixture.request(["client_name#fr": .string("bad\nname")]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["client_name#fr": .number(1)]))?.code == .invalidClientMetadata)
        #expect(Fixture.error(Fixture.request(["client_name#fr": .string(String(repeating: "x", count: 1001))]))?.code == .invalidClientMetadata)
    }

    @Test("RFC 7591 §2.2: a null or empty language-tagged member is treated as absent")
    func localizedNullOrEmpty() throws {
        let result = try Fixture.accept(Fixture.request(["client_name#fr": .null, "logo_uri#fr": .string("")]))
        #expect(result.metadata.localized.isEmpty)
        #expect(result.metadata.json["client_name#fr"] == nil)
        #expect(result.metadata.json["logo_uri#fr"] == nil)
    }

    @Test("RFC 7591 §2: a '#' member the server does not understand is dropped", arguments: [
        "foo#en", "redirect_uris#en", "scope#fr", "software_id#de", "#en",
    ])
    func unknownLocalizedMemberDropped(_ key: String) throws {
        let result = try Fixture.accept(Fixture.request([key: .string("javascript:alert(1)")]))
        #expect(result.metadata.json[key] == nil)
        #expect(result.metadata.localized[key] == nil)
    }

    @Test("RFC 5646 shape of a language tag", arguments: [
        ("en", true), ("ja-Jpan-JP", true), ("sgn-BE-FR", true), ("es-419", true), ("x-private", true),
        ("", false), ("en-", false), ("-en", false), ("1en", false), ("en US", false), ("abcdefghi", false), ("en-abcdefghi", false),
    ])
    func languageTagShape(_ tag: String, valid: Bool) {
        #expect(ClientMetadataValidator.isLanguageTag(tag[...]) == valid)
    }

    @Test("At most 50 language-tagged members are accepted")
    func localizedBounded() {
        func members(_ count: Int) -> [String: JSONValue] {
            Dictionary(uniqueKeysWithValues: (0..<count).map { ("client_name#x-n\($0)", JSONValue.string("Name \($0)")) })
        }
        #expect(Fixture.error(Fixture.request(members(ClientMetadataValidator.maximumLocalizedMembers))) == nil)
        #expect(Fixture.error(Fixture.request(members(ClientMetadataValidator.maximumLocalizedMembers + 1)))?.code == .invalidClientMetadata)
    }
}
