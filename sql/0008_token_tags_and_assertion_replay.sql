-- Registrar schema, version 8: keyed pre-check tags beside argon2id hashes, and the replay
-- record of client assertions (RFC 7523).

-- tag = base64url(HMAC-SHA-256(server key, token)[0..16]) of the token whose hash sits beside
-- it. Only a presented token whose tag matches is sent to argon2 (design §4). NULL: a row
-- stored before tags existed; it is verified with argon2 and gets its tag on success.
ALTER TABLE clients ADD COLUMN client_secret_tag text;
ALTER TABLE clients ADD COLUMN registration_access_token_tag text;
ALTER TABLE clients ADD COLUMN previous_rat_tag text;
ALTER TABLE initial_access_tokens ADD COLUMN secret_tag text;
ALTER TABLE admin_keys ADD COLUMN secret_tag text;

-- RFC 7523 §3: a client assertion's `jti` is accepted once. The row lives until the assertion
-- would have expired anyway, shared by every instance (the insert fails on a replay); the
-- reaper's schedule sweeps expired rows.
CREATE TABLE client_assertion_jtis (
    tenant_id  uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    client_id  text NOT NULL,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, client_id, jti)
);
CREATE INDEX client_assertion_jtis_by_expiry ON client_assertion_jtis (expires_at);

ALTER TABLE client_assertion_jtis ENABLE ROW LEVEL SECURITY;
ALTER TABLE client_assertion_jtis FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON client_assertion_jtis
    USING (tenant_id = registrar_current_tenant()) WITH CHECK (tenant_id = registrar_current_tenant());

GRANT SELECT, INSERT, DELETE ON client_assertion_jtis TO registrar_app;
