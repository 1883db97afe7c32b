-- Registrar schema, version 3: admin API keys (platform- or tenant-scoped).
--
-- A key is presented as rk_{key_id}.{secret} before any tenant is known, so the table is
-- readable for lookup by id (the secret exists only as an argon2id hash); it is written only in
-- a platform transaction or, for a tenant's own keys, in that tenant's transaction.

CREATE TABLE admin_keys (
    key_id       text PRIMARY KEY CHECK (key_id ~ '^[0-9A-Za-z]{16}$'),
    tenant_id    uuid REFERENCES tenants ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('platform', 'admin', 'viewer', 'service')),
    label        text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    secret_hash  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CHECK ((role = 'platform') = (tenant_id IS NULL))
);
CREATE INDEX admin_keys_by_tenant ON admin_keys (tenant_id, created_at, key_id);

ALTER TABLE admin_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE admin_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY admin_keys_read ON admin_keys FOR SELECT USING (true);
CREATE POLICY admin_keys_write ON admin_keys FOR ALL
    USING (registrar_current_scope() = 'platform' OR tenant_id = registrar_current_tenant())
    WITH CHECK (registrar_current_scope() = 'platform' OR tenant_id = registrar_current_tenant());

GRANT SELECT, INSERT, UPDATE, DELETE ON admin_keys TO registrar_app;

-- The audit log is append-only for the application role, whatever was granted before.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM registrar_app;

-- Listing clients newest-first and by last use stays an index scan at any size.
CREATE INDEX clients_by_last_use ON clients (tenant_id, last_used_at);
