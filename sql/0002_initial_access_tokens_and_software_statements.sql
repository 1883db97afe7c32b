-- Registrar schema, version 2: initial access tokens (RFC 7591 §3) and the verified claims of
-- software statements (RFC 7591 §2.3) kept with the clients they registered.

CREATE TABLE initial_access_tokens (
    tenant_id   uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    token_id    text NOT NULL CHECK (token_id ~ '^[0-9A-Za-z]{16}$'),
    label       text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    secret_hash text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    max_uses    integer CHECK (max_uses > 0),
    uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
    revoked_at  timestamptz,
    -- Narrowing of the tenant policy for the clients this token creates.
    constraints jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, token_id),
    CHECK (max_uses IS NULL OR uses <= max_uses)
);
CREATE INDEX initial_access_tokens_by_creation ON initial_access_tokens (tenant_id, created_at DESC, token_id);

ALTER TABLE initial_access_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE initial_access_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON initial_access_tokens
    USING (tenant_id = registrar_current_tenant()) WITH CHECK (tenant_id = registrar_current_tenant());

ALTER TABLE clients ADD COLUMN software_statement jsonb;

GRANT SELECT, INSERT, UPDATE, DELETE ON initial_access_tokens TO registrar_app;
