/// The part of a tenant's policy that governs client ID metadata documents
/// (draft-ietf-oauth-client-id-metadata-document-01): whether https URLs are accepted as
/// `client_id`, from which hosts, and how long a fetched document is believed. It lives in the
/// policy document (`client_id_metadata_documents`) beside the registration rules, which apply to
/// the documents' metadata exactly as to a registration: one policy engine, not two.
public struct MetadataDocumentSettings: Sendable, Equatable {
    /// The hosts of the metadata documents of the MCP clients people use: Claude, Claude Code and
    /// Claude Desktop (`claude.ai`), ChatGPT and VS Code.
    public static let knownMCPClientHosts = ["claude.ai", "chatgpt.com", "vscode.dev"]

    public var enabled = true
    /// Exact hosts or `*.domain` patterns; `*` alone admits any host (still through the SSRF guard).
    public var allowedHosts: [String] = knownMCPClientHosts
    /// Bounds on how long a document is cached, whatever its `Cache-Control` says (§4.4).
    public var cacheMinimumSeconds = 300
    public var cacheMaximumSeconds = 86_400
    /// Consent on every request for document clients whose only redirect URIs are loopback:
    /// anyone on a machine can answer on a loopback port, so such a client id proves nothing
    /// about who is asking (MCP security considerations).
    public var consentAlwaysForLoopbackOnlyClients = true

    public init() {}

    /// Whether documents at `host` may be used: `*`, an exact match, or a strict subdomain of a
    /// `*.` pattern (never its apex).
    public func allows(host: String) -> Bool {
        allowedHosts.contains("*") || RegistrationPolicy.host(host, matchesAnyOf: allowedHosts)
    }

    private enum Key: String, CaseIterable {
        case enabled
        case allowedHosts = "allowed_hosts"
        case cacheMinimumSeconds = "cache_min_seconds"
        case cacheMaximumSeconds = "cache_max_seconds"
        case consentAlwaysForLoopbackOnlyClients = "consent_always_for_loopback_only_clients"
    }

    /// The longest a document may be believed: a week, so that a client whose document is gone
    /// stops working within days at most.
    public static let cacheSecondsRange = 0...604_800

    init(json: JSONValue, field: String) throws(PolicyError) {
        guard let object = json.objectValue else { throw PolicyError(field: field, reason: "must be an object") }
        if let unknown = object.keys.first(where: { Key(rawValue: $0) == nil }) {
            throw PolicyError(field: "\(field).\(unknown)", reason: "unknown field")
        }
        var settings = MetadataDocumentSettings()
        let reader = FieldReader(object: object)
        do throws(PolicyError) {
            if let value = try reader.bool(Key.enabled.rawValue) { settings.enabled = value }
            if let hosts = try reader.strings(Key.allowedHosts.rawValue) {
                for host in hosts where host != "*" && !RegistrationPolicy.isValidHostPattern(host) {
                    throw PolicyError(field: Key.allowedHosts.rawValue, reason: "'\(host)' is not a host name, a '*.domain' pattern or '*'")
                }
                settings.allowedHosts = hosts.map { $0.lowercased() }
            }
            for (key, path) in [(Key.cacheMinimumSeconds, \MetadataDocumentSettings.cacheMinimumSeconds),
                                (Key.cacheMaximumSeconds, \MetadataDocumentSettings.cacheMaximumSeconds)] {
                if let value = try reader.int(key.rawValue) {
                    guard Self.cacheSecondsRange.contains(value) else {
                        throw PolicyError(field: key.rawValue, reason: "must be a whole number of seconds from 0 to \(Self.cacheSecondsRange.upperBound)")
                    }
                    settings[keyPath: path] = value
                }
            }
            guard settings.cacheMinimumSeconds <= settings.cacheMaximumSeconds else {
                throw PolicyError(field: Key.cacheMinimumSeconds.rawValue, reason: "must not exceed cache_max_seconds")
            }
            if let value = try reader.bool(Key.consentAlwaysForLoopbackOnlyClients.rawValue) { settings.consentAlwaysForLoopbackOnlyClients = value }
        } catch {
            // Field names are reported from the policy's root.
            throw PolicyError(field: "\(field).\(error.field)", reason: error.reason)
        }
        self = settings
    }

    public var json: JSONValue {
        .object([
            Key.enabled.rawValue: .bool(enabled),
            Key.allowedHosts.rawValue: .array(allowedHosts.map(JSONValue.string)),
            Key.cacheMinimumSeconds.rawValue: .number(Double(cacheMinimumSeconds)),
            Key.cacheMaximumSeconds.rawValue: .number(Double(cacheMaximumSeconds)),
            Key.consentAlwaysForLoopbackOnlyClients.rawValue: .bool(consentAlwaysForLoopbackOnlyClients),
        ])
    }
}
