import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle

/// What a test may replace; the executable takes the defaults.
public struct AppOverrides: Sendable {
    public var now: @Sendable () -> Date = { Date() }
    public var maximumDatabaseConnections = 20
    /// Off only for tests of a server whose database is unreachable on purpose.
    public var checkSchemaAtStart = true
    /// How long one database operation may take before it is answered as unavailable.
    public var databaseTimeout: Duration = .seconds(10)
    /// Every request's deadline; database waits past it give up and the request is answered 503.
    public var requestTimeout: Duration = .seconds(30)
    /// Header, read and idle timeouts of every HTTP/1 connection.
    public var connectionTimeouts = ConnectionTimeouts()
    /// How long a tenant (and its policy) read for one request serves the next ones.
    public var tenantCacheLifetime: Duration = .seconds(5)
    /// How often coalesced read audit events are written (at most a minute: one event per client per minute).
    public var readAuditFlushInterval: Duration = .seconds(60)
    /// Counts the token verifications that reach argon2 (tests read it).
    public var argon2Verifications = VerificationCounter()
    /// How the outbound fetcher resolves host names (tests make a name resolve where they need it).
    public var hostResolver: any HostResolver = SystemHostResolver.shared
    /// The outbound fetcher's time limit for one fetch (tests of a slow host shorten it).
    public var outboundTimeout: Duration = .seconds(5)
    public init() {}
}

/// Everything the server is made of; `buildApplication` runs it, tests may inspect it.
struct AppComponents {
    let router: Router<AppRequestContext>
    let postgres: PostgresClient
    /// The event loops' own pools, run beside `postgres`; nil when tasks do not run on the loops.
    let loopLocal: LoopLocalPools?
    let hasher: Argon2Hasher
    let migrator: Migrator
    let database: Database
    let reaper: ClientReaper
    let sweeper: RateLimitSweeper
    /// Sweeps expired codes, refresh tokens and revocation entries on the reaper's schedule.
    let tokenSweeper: TokenSweeper
    let readAudit: ReadAuditCoalescer
    /// Issues the codes `/authorize` answers with (tests make codes through it directly).
    let authorizationCodes: AuthorizationCodeService
    /// Revokes token families when a grant or a user's sessions are revoked.
    let tokenFamilies: any TokenFamilyRepository
    /// The router of the separate metrics listener, when `--metrics-port` asks for one.
    let metricsRouter: Router<AppRequestContext>?
}

/// The composition root, used by `registrar serve` and by the tests alike.
public func buildApplication(config: RegistrarConfig, logger: Logger, overrides: AppOverrides = .init()) throws -> some ApplicationProtocol {
    let components = try buildComponents(config: config, logger: logger, overrides: overrides)
    let (postgres, migrator, database, hasher) = (components.postgres, components.migrator, components.database, components.hasher)
    let timeouts = overrides.connectionTimeouts
    var app = Application(
        router: components.router,
        server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionTimeoutHandler(timeouts: timeouts)],
                                            idleTimeout: TimeAmount(timeouts.idle))),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: nil),
        services: [postgres] + (components.loopLocal?.clients ?? []) as [any Service] + [Argon2HasherService(hasher: hasher)]
            + (config.reaperInterval.map { [ClientReaperService(reaper: components.reaper, interval: $0, sweeper: components.sweeper,
                                                                        tokenSweeper: components.tokenSweeper)] } ?? [])
            + [ReadAuditFlushService(coalescer: components.readAudit, interval: overrides.readAuditFlushInterval, logger: logger)]
            + (components.metricsRouter.map { router in
                [Application(router: router, configuration: .init(address: .hostname(config.host, port: config.metricsPort ?? 0), serverName: nil),
                             logger: logger)]
            } ?? []),
        logger: logger
    )
    if overrides.checkSchemaAtStart {
        app.beforeServerStarts {
            // Refuse to serve a schema older than the code, or one whose applied files changed.
            try await withDeadline(.seconds(30), "database schema check") {
                try await migrator.check(client: postgres, logger: logger)
            }
        }
    }
    if let bootstrapKey = config.bootstrapKey {
        app.beforeServerStarts {
            let created = try await AdminKeyService(hasher: hasher, keys: PostgresAdminKeyRepository(database: database),
                                                    tags: try config.resolvedTokenTagKey()).bootstrap(bootstrapKey)
            if created { logger.notice("bootstrap platform key stored") }
        }
    }
    return app
}

func buildComponents(config: RegistrarConfig, logger: Logger, overrides: AppOverrides) throws -> AppComponents {
    // Before any component is made, so that the metrics they make land in the exported registry.
    RegistrarMetrics.bootstrap()
    let postgres = PostgresClient(configuration: config.databaseURL.clientConfiguration(maximumConnections: overrides.maximumDatabaseConnections,
                                                                                       statementTimeout: overrides.databaseTimeout,
                                                                                       keepsConnections: true),
                                  eventLoopGroup: BalancedEventLoopGroup(), backgroundLogger: logger)
    // The loops' own pools serve only tasks that run on the loops, that is with the NIO executor
    // in place (`registrar serve`'s default), and then this runs on a loop too. Without it (tests,
    // `--no-nio-executor`) they would hold connections nothing uses.
    let loopLocal = config.loopDatabaseConnections > 0 && MultiThreadedEventLoopGroup.currentEventLoop != nil
        ? LoopLocalPools(configuration: config.databaseURL.clientConfiguration(maximumConnections: config.loopDatabaseConnections,
                                                                               statementTimeout: overrides.databaseTimeout,
                                                                               keepsConnections: true),
                         logger: logger)
        : nil
    let database = Database(client: postgres, logger: logger, timeout: overrides.databaseTimeout, loopLocal: loopLocal)
    let migrator = try Migrator(directory: config.sqlDirectory)
    let hasher = Argon2Hasher(parameters: config.argon2, threads: config.argon2Threads, queueLimit: config.argon2QueueLimit)
    let tenants = PostgresTenantRepository(
        database: database, customDomains: CustomDomainRule(publicBaseURL: config.publicBaseURL, baseDomain: config.baseDomain))
    let clients = PostgresClientRepository(database: database)
    let initialAccessTokens = PostgresInitialAccessTokenRepository(database: database)
    let adminKeys = PostgresAdminKeyRepository(database: database)
    let limiter: any RateLimiter = config.rateLimiting ? PostgresRateLimiter(database: database) : UnlimitedRateLimiter()
    let platformLimits = config.platformRateLimits
    let resolver = TenantResolver(tenants: tenants, publicBaseURL: config.publicBaseURL, baseDomain: config.baseDomain,
                                  cache: TenantCache(lifetime: overrides.tenantCacheLifetime),
                                  limiter: limiter, lookupLimit: platformLimits.tenantLookupsPerAddress)
    let tags = try config.resolvedTokenTagKey()
    // The tenants' token signing keys, sealed under the key-encryption key (design §4).
    let encryption = try config.resolvedKeyEncryptionKey()
    let signingKeys = SigningKeyStore(repository: PostgresSigningKeyRepository(database: database),
                                      encryption: encryption, now: overrides.now)
    let accessTokens = AccessTokenIssuer(keys: signingKeys, now: overrides.now)
    let accessTokenValidator = AccessTokenValidator(keys: signingKeys, now: overrides.now)
    let registration = ClientRegistrationService(hasher: hasher, tags: tags, clients: clients, now: overrides.now)
    let verifier = TokenVerifier(hasher: hasher, cache: VerifiedTokenCache(), tags: tags, argon2Verifications: overrides.argon2Verifications)
    let intake = RegistrationIntake(now: overrides.now)
    let usage = UsageRecorder(clients: clients, now: overrides.now)
    let failures = FailedAuthenticationRecorder(limiter: limiter, clients: clients, platform: platformLimits)
    let reaperRepository = PostgresClientReaperRepository(database: database)
    let readAudit = ReadAuditCoalescer(audit: PostgresAuditRepository(database: database), now: overrides.now)
    let metrics = MetricsController(platformHost: config.metricsPort == nil ? resolver.platformHost : nil, token: config.metricsToken)
    let authorizationCodes = AuthorizationCodeService(codes: PostgresAuthorizationCodeRepository(database: database), now: overrides.now)
    let tokenFamilies = PostgresTokenFamilyRepository(database: database, now: overrides.now)
    // The tenant's local users and their browser sessions (sign-in, /authorize, consent).
    let users = PostgresUserRepository(database: database)
    let sessionStore = SessionStore(sessions: PostgresSessionRepository(database: database), now: overrides.now)
    // Its own key, derived from the tag key: a CSRF token is never a valid token tag, nor the reverse.
    let csrf = CSRFProtection(key: tags.derived(for: "csrf"))
    let pages = try PageRenderer()
    let openAPIDocument = config.openAPIFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
    // Everything fetched on a client's say-so goes through this one guarded client.
    var outbound = config.outbound
    outbound.timeout = overrides.outboundTimeout
    let fetcher = try GuardedHTTPClient(configuration: outbound, resolver: overrides.hostResolver)
    let remoteKeys = RemoteKeySets(fetcher: fetcher)
    let documents = MetadataDocumentClients(clients: clients, fetcher: fetcher, limiter: limiter, platform: platformLimits,
                                            logger: logger, now: overrides.now)
    // The tenants' upstream OpenID providers and the vault of what they issued.
    let identityProviders = PostgresIdentityProviderRepository(database: database)
    let upstream = UpstreamProviders(fetcher: fetcher)
    let vault = TokenVault(providers: identityProviders, upstream: upstream, encryption: encryption, now: overrides.now)

    // The middleware order, outermost first, is part of the design:
    // 1. RequestMiddleware: request id, source address, access log, `nosniff` on every answer;
    //    RequestMetricsMiddleware beside it counts every answer by route template and status,
    //    as rendered by the layers below;
    // 2. CORSMiddleware: preflights, and CORS headers on every answer of the open endpoints,
    //    errors included (it sits outside the error rendering for that reason);
    // 3. ErrorMiddleware: every failure becomes OAuth JSON or problem+json, 404/405 included;
    // 4. DeadlineMiddleware: binds the request deadline that database waits are bounded by; past
    //    it a 503 is thrown, which the error middleware above renders;
    // 5. PlatformActorMiddleware: on /admin/v1, who acts, for the platform audit log;
    // then the routes. A router middleware wraps the routes added after it and the not-found
    // answer, so this holds for unknown paths and wrong methods too.
    let router = Router(context: AppRequestContext.self)
    let routeMethods = RouteMethodTable()
    router.add(middleware: RequestMiddleware(trustedProxies: config.trustedProxies, ipv6PrefixLength: platformLimits.ipv6PrefixLength))
    router.add(middleware: RequestMetricsMiddleware(tenantLabels: config.metricsTenantLabels))
    router.add(middleware: CORSMiddleware())
    router.add(middleware: ErrorMiddleware(routes: routeMethods))
    router.add(middleware: DeadlineMiddleware(limit: overrides.requestTimeout))
    router.add(middleware: PlatformActorMiddleware())
    HealthController(database: database, requiredSchemaVersion: migrator.requiredVersion).addRoutes(to: router)
    var metricsRouter: Router<AppRequestContext>?
    if config.metricsPort == nil {
        metrics.addRoutes(to: router)
    } else {
        let separate = Router(context: AppRequestContext.self)
        let separateMethods = RouteMethodTable()
        separate.add(middleware: RequestMiddleware(trustedProxies: config.trustedProxies, ipv6PrefixLength: platformLimits.ipv6PrefixLength))
        separate.add(middleware: ErrorMiddleware(routes: separateMethods))
        metrics.addRoutes(to: separate)
        separateMethods.load(from: separate)
        metricsRouter = separate
    }
    MetadataController(resolver: resolver, serviceDocumentation: config.serviceDocumentation).addRoutes(to: router)
    JWKSController(resolver: resolver, keys: signingKeys).addRoutes(to: router)
    RegistrationController(
        resolver: resolver, registration: registration,
        initialAccessTokens: InitialAccessTokenAuthenticator(tokens: initialAccessTokens, verifier: verifier, limiter: limiter, now: overrides.now),
        intake: intake, limiter: limiter, failures: failures, platform: platformLimits, maximumBodyBytes: config.maximumBodyBytes
    ).addRoutes(to: router)
    ClientConfigurationController(
        resolver: resolver, clients: clients, initialAccessTokens: initialAccessTokens,
        authenticator: RegistrationAccessTokenAuthenticator(clients: clients, verifier: verifier, limiter: limiter, failures: failures, usage: usage,
                                                           platform: platformLimits, now: overrides.now),
        intake: intake, hasher: hasher, readAudit: readAudit, maximumBodyBytes: config.maximumBodyBytes, now: overrides.now
    ).addRoutes(to: router)
    let admin = AdminController(
        authenticator: AdminAuthenticator(keys: adminKeys, verifier: verifier, limiter: limiter, now: overrides.now),
        tenants: tenants, clients: clients, initialAccessTokens: initialAccessTokens,
        tokenService: InitialAccessTokenService(hasher: hasher, tokens: initialAccessTokens, tags: tags, now: overrides.now),
        keys: adminKeys, audit: PostgresAuditRepository(database: database),
        platformAudit: PostgresPlatformAuditRepository(database: database), hasher: hasher, verifier: verifier,
        resolver: resolver, intake: intake, limiter: limiter, usage: usage, failures: failures, platformRateLimits: platformLimits, reaper: reaperRepository,
        assertions: ClientAssertionVerifier(replay: PostgresClientAssertionReplayRepository(database: database), remoteKeys: remoteKeys), openAPIDocument: openAPIDocument, maximumBodyBytes: config.maximumBodyBytes, now: overrides.now
    )
    admin.addRoutes(to: router)
    admin.addSigningKeyRoutes(to: router, keys: signingKeys)
    let resourceServerRepository = PostgresResourceServerRepository(database: database)
    admin.addResourceServerRoutes(to: router, servers: resourceServerRepository)
    admin.addUserRoutes(to: router, service: UserService(hasher: hasher, users: users, now: overrides.now))
    let signIn = try SignInController(resolver: resolver, users: users, sessions: sessionStore, hasher: hasher, csrf: csrf, limiter: limiter,
                                      pages: pages, identityProviders: identityProviders, now: overrides.now)
    signIn.addRoutes(to: router)
    UpstreamSignInController(signIn: signIn, providers: identityProviders, upstream: upstream, users: users, sessions: sessionStore,
                             encryption: encryption, now: overrides.now).addRoutes(to: router)
    admin.addIdentityProviderRoutes(to: router, providers: identityProviders, encryption: encryption)
    let consentGrants = PostgresConsentGrantRepository(database: database)
    AdminGrantRoutes(admin: admin, users: users, grants: consentGrants).addRoutes(to: router)
    // GET /authorize, the consent form and the user's grants (no CORS: browser navigations only).
    AuthorizeController(
        resolver: resolver, clients: clients, documents: documents, sessions: sessionStore, grants: consentGrants,
        codes: authorizationCodes, resources: resourceServerRepository,
        csrf: csrf, pages: pages, now: overrides.now
    ).addRoutes(to: router)
    // The token, revocation and introspection endpoints (RFC 6749, RFC 7009, RFC 7662).
    let assertions = ClientAssertionVerifier(replay: PostgresClientAssertionReplayRepository(database: database), remoteKeys: remoteKeys)
    let tokenGrantRepository = PostgresTokenGrantRepository(database: database)
    TokenController(
        resolver: resolver,
        authenticator: ClientAuthenticator(clients: clients, credentials: tokenGrantRepository, documents: documents, verifier: verifier,
                                           assertions: assertions, limiter: limiter, failures: failures, platform: platformLimits, now: overrides.now),
        grants: TokenGrants(grants: tokenGrantRepository, issuer: accessTokens, signingKeys: signingKeys, resources: resourceServerRepository,
                            now: overrides.now),
        repository: tokenGrantRepository, validator: accessTokenValidator,
        resourceServers: ResourceServerAuthenticator(servers: resourceServerRepository, verifier: verifier, now: overrides.now),
        limiter: limiter, failures: failures, platform: platformLimits, usage: usage, audit: clients, maximumBodyBytes: config.maximumBodyBytes,
        vault: vault, now: overrides.now
    ).addRoutes(to: router)
    // OpenID Connect UserInfo (Bearer access tokens of the tenant, revocation list checked).
    UserinfoController(resolver: resolver, validator: accessTokenValidator, revocations: tokenGrantRepository, users: users,
                       maximumBodyBytes: config.maximumBodyBytes).addRoutes(to: router)
    routeMethods.load(from: router)
    return AppComponents(router: router, postgres: postgres, loopLocal: loopLocal, hasher: hasher, migrator: migrator, database: database,
                         reaper: ClientReaper(repository: reaperRepository, now: overrides.now, logger: logger),
                         sweeper: RateLimitSweeper(limiter: limiter),
                         tokenSweeper: TokenSweeper(repository: PostgresTokenSweepRepository(database: database), now: overrides.now),
                         readAudit: readAudit,
                         authorizationCodes: authorizationCodes, tokenFamilies: tokenFamilies, metricsRouter: metricsRouter)
}

extension DatabaseURL {
    /// `statementTimeout`: the session default of every pooled connection, so that a single
    /// statement outside a transaction is bounded by PostgreSQL too (transactions set their own).
    /// `keepsConnections`: for the server's long-lived pool (see below); CLI pools stay lazy.
    func clientConfiguration(maximumConnections: Int, statementTimeout: Duration? = nil, keepsConnections: Bool = false) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS = switch self.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var configuration = if let socketPath {
            PostgresClient.Configuration(unixSocketPath: socketPath, username: username, password: password, database: database)
        } else {
            PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        // Every statement here touches a handful of rows, but PostgreSQL estimates a set-returning
        // function at 1,000 rows, so a lookup joining three of them looks expensive enough to be
        // compiled by LLVM at each execution: milliseconds of compiling for microseconds of work.
        configuration.options.additionalStartupParameters.append(("jit", "off"))
        if keepsConnections {
            // The server's pool opens all its connections and keeps them. The pool schedules an
            // idle timer (above its minimum) and a keep-alive timer each time a connection comes
            // back to it: two sleeping tasks and two dispatch timers per statement, about a
            // quarter of the server's CPU per refresh grant or introspection. PostgreSQL's own TCP
            // keepalives (asked for below) keep idle connections alive through NAT and firewalls.
            configuration.options.minimumConnections = maximumConnections
            configuration.options.keepAliveBehavior = nil
            configuration.options.additionalStartupParameters += [
                ("tcp_keepalives_idle", "60"), ("tcp_keepalives_interval", "10"), ("tcp_keepalives_count", "3"),
            ]
        }
        if let statementTimeout {
            configuration.options.additionalStartupParameters.append(("statement_timeout", Database.statementTimeout(statementTimeout)))
        }
        return configuration
    }
}

/// Runs `body` with a connected pool that is closed afterwards (CLI commands, migrations).
public func withPostgresClient<T: Sendable>(_ url: DatabaseURL, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    let client = PostgresClient(configuration: url.clientConfiguration(maximumConnections: 2), backgroundLogger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}
