-- Registrar schema, version 1: tenants, their domains and policies, clients, the audit log.
--
-- Every table carries tenant_id and every primary key starts with it. Row-level security is the
-- second wall behind the application's own tenant filter: it is ENABLEd and FORCEd, and the
-- application role (registrar_app) neither owns these tables nor bypasses RLS. A request sets its
-- tenant for its own transaction only: set_config('registrar.tenant_id', <uuid>, true).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'registrar_app') THEN
        CREATE ROLE registrar_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- The tenant of the current transaction; NULL when none is set (an unset placeholder reads as '').
CREATE FUNCTION registrar_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('registrar.tenant_id', true), '')::uuid $$;

-- 'platform' in a transaction that manages the tenant registry itself.
CREATE FUNCTION registrar_current_scope() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('registrar.scope', true), '') $$;

CREATE TABLE tenants (
    tenant_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug         text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenant_domains (
    tenant_id  uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    host       text NOT NULL CHECK (host = lower(host)),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, host),
    -- One host names one tenant; resolution looks hosts up before any tenant is known.
    UNIQUE (host)
);

CREATE TABLE tenant_policies (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    version    integer NOT NULL DEFAULT 1 CHECK (version > 0),
    document   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clients (
    tenant_id                      uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    client_id                      text NOT NULL,
    metadata                       jsonb NOT NULL,
    token_endpoint_auth_method     text NOT NULL,
    client_secret_hash             text,
    client_secret_expires_at       timestamptz,
    registration_access_token_hash text NOT NULL,
    previous_rat_hash              text,
    previous_rat_valid_until       timestamptz,
    registered_via                 text NOT NULL CHECK (registered_via IN ('dcr', 'admin', 'cimd')),
    initial_access_token_id        text,
    source_address                 text,
    status                         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at                     timestamptz NOT NULL DEFAULT now(),
    updated_at                     timestamptz NOT NULL DEFAULT now(),
    last_used_at                   timestamptz,
    PRIMARY KEY (tenant_id, client_id),
    CHECK ((client_secret_hash IS NULL) = (token_endpoint_auth_method NOT IN ('client_secret_basic', 'client_secret_post')))
);
CREATE INDEX clients_by_creation ON clients (tenant_id, created_at, client_id);

CREATE TABLE audit_events (
    tenant_id      uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    event_id       bigint GENERATED ALWAYS AS IDENTITY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    action         text NOT NULL,
    actor_type     text NOT NULL,
    actor_id       text,
    client_id      text,
    source_address text,
    request_id     text,
    details        jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX audit_events_by_time ON audit_events (tenant_id, occurred_at DESC, event_id DESC);

-- The registry: readable for tenant resolution, writable only in a platform transaction.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_read ON tenants FOR SELECT USING (true);
CREATE POLICY tenants_write ON tenants FOR ALL
    USING (registrar_current_scope() = 'platform') WITH CHECK (registrar_current_scope() = 'platform');

ALTER TABLE tenant_domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_domains FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_domains_read ON tenant_domains FOR SELECT USING (true);
CREATE POLICY tenant_domains_write ON tenant_domains FOR ALL
    USING (registrar_current_scope() = 'platform') WITH CHECK (registrar_current_scope() = 'platform');

-- Tenant data: only the rows of the transaction's tenant exist.
ALTER TABLE tenant_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_policies
    USING (tenant_id = registrar_current_tenant()) WITH CHECK (tenant_id = registrar_current_tenant());

ALTER TABLE clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE clients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON clients
    USING (tenant_id = registrar_current_tenant()) WITH CHECK (tenant_id = registrar_current_tenant());

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (tenant_id = registrar_current_tenant()) WITH CHECK (tenant_id = registrar_current_tenant());

-- Resolves a tenant by slug or by custom domain, with its policy document, in one round trip.
-- The tenant is set for this statement only, so the policy row passes RLS like any tenant read.
CREATE FUNCTION registrar_resolve_tenant(p_slug text, p_host text)
    RETURNS TABLE (tenant_id uuid, slug text, display_name text, status text, policy text, policy_version integer)
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    match tenants%ROWTYPE;
BEGIN
    IF p_host IS NOT NULL THEN
        SELECT t.* INTO match FROM tenants t JOIN tenant_domains d USING (tenant_id) WHERE d.host = p_host;
    ELSE
        SELECT t.* INTO match FROM tenants t WHERE t.slug = p_slug;
    END IF;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM set_config('registrar.tenant_id', match.tenant_id::text, true);
    RETURN QUERY
        SELECT match.tenant_id, match.slug, match.display_name, match.status, p.document::text, p.version
        FROM (SELECT 1) AS one
        LEFT JOIN tenant_policies p ON p.tenant_id = match.tenant_id;
END
$$;

-- The application role reads and writes tenant data (RLS decides which rows), reads the
-- migration record, and may only append to the audit log: no UPDATE, no DELETE.
GRANT USAGE ON SCHEMA public TO registrar_app;
GRANT SELECT ON schema_migrations TO registrar_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, tenant_domains, tenant_policies, clients TO registrar_app;
GRANT SELECT, INSERT ON audit_events TO registrar_app;
GRANT EXECUTE ON FUNCTION registrar_current_tenant(), registrar_current_scope(), registrar_resolve_tenant(text, text) TO registrar_app;
