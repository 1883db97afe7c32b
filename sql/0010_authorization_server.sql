-- Registrar schema, version 10: the authorization server of every tenant.
--
-- Users and their sessions, remembered consent (grants), authorization codes, refresh token
-- families, the access-token revocation list, the tenant's signing keys and its resource servers
-- (the MCP servers that accept its tokens). Like every tenant table: tenant_id first in every key,
-- row-level security enabled and forced. Secrets are never stored in clear: codes, refresh tokens
-- and session ids as SHA-256 (design §4: high entropy, so argon2 would only add latency),
-- passwords and resource-server credentials as argon2id, private keys sealed with AES-GCM under
-- the key-encryption key from configuration.

CREATE TABLE users (
    tenant_id       uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id         uuid NOT NULL DEFAULT gen_random_uuid(),
    email           text NOT NULL CHECK (octet_length(email) BETWEEN 3 AND 320),
    -- argon2id PHC string; NULL for a user who signs in elsewhere only.
    password_hash   text,
    display_name    text NOT NULL DEFAULT '' CHECK (octet_length(display_name) <= 400),
    email_verified  boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz,
    PRIMARY KEY (tenant_id, user_id)
);
-- Emails are unique per tenant regardless of case.
CREATE UNIQUE INDEX users_by_email ON users (tenant_id, lower(email));
CREATE INDEX users_by_creation ON users (tenant_id, created_at, user_id);

CREATE TABLE sessions (
    tenant_id           uuid NOT NULL,
    -- base64url(SHA-256(session id)); the id itself lives only in the browser's cookie.
    session_hash        text NOT NULL,
    user_id             uuid NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    idle_expires_at     timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    auth_time           timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, session_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);
CREATE INDEX sessions_by_expiry ON sessions (absolute_expires_at);

-- Remembered consent: one row per user and client, holding the union of the scopes consented to.
CREATE TABLE consent_grants (
    tenant_id  uuid NOT NULL,
    grant_id   uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL,
    client_id  text NOT NULL,
    scopes     text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, grant_id),
    UNIQUE (tenant_id, user_id, client_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients ON DELETE CASCADE
);

CREATE TABLE authorization_codes (
    tenant_id      uuid NOT NULL,
    code_hash      text NOT NULL,
    client_id      text NOT NULL,
    user_id        uuid NOT NULL,
    grant_id       uuid,
    redirect_uri   text NOT NULL,
    -- The redirect_uri parameter as sent: RFC 6749 §4.1.3 requires it at /token only if it was
    -- present at /authorize.
    redirect_uri_sent boolean NOT NULL,
    code_challenge text NOT NULL,
    scopes         text[] NOT NULL,
    resources      text[] NOT NULL,
    nonce          text,
    auth_time      timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    consumed_at    timestamptz,
    -- The family of tokens issued from this code, so that a second use revokes them (RFC 6749 §4.1.2).
    family_id      uuid,
    PRIMARY KEY (tenant_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients ON DELETE CASCADE
);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);

-- Everything issued from one authorization code: its refresh tokens (rotated) and the jti of
-- every access token, so that reuse or revocation ends all of it at once.
CREATE TABLE token_families (
    tenant_id           uuid NOT NULL,
    family_id           uuid NOT NULL DEFAULT gen_random_uuid(),
    client_id           text NOT NULL,
    user_id             uuid,
    grant_id            uuid,
    scopes              text[] NOT NULL,
    resources           text[] NOT NULL,
    auth_time           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- The refresh absolute lifetime: no refresh past it, however often the family rotates.
    absolute_expires_at timestamptz NOT NULL,
    revoked_at          timestamptz,
    revoked_reason      text,
    PRIMARY KEY (tenant_id, family_id),
    FOREIGN KEY (tenant_id, client_id) REFERENCES clients ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE INDEX token_families_by_client ON token_families (tenant_id, client_id) WHERE revoked_at IS NULL;
CREATE INDEX token_families_by_grant ON token_families (tenant_id, grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX token_families_by_user ON token_families (tenant_id, user_id) WHERE user_id IS NOT NULL;

CREATE TABLE refresh_tokens (
    tenant_id  uuid NOT NULL,
    token_hash text NOT NULL,
    family_id  uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set when the token was exchanged for its successor; a later use is a replay.
    rotated_at timestamptz,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, family_id) REFERENCES token_families ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

-- The access tokens a family was given, kept until they expire.
CREATE TABLE family_access_tokens (
    tenant_id  uuid NOT NULL,
    jti        text NOT NULL,
    family_id  uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, jti),
    FOREIGN KEY (tenant_id, family_id) REFERENCES token_families ON DELETE CASCADE
);
CREATE INDEX family_access_tokens_by_family ON family_access_tokens (tenant_id, family_id);
CREATE INDEX family_access_tokens_by_expiry ON family_access_tokens (expires_at);

-- Revoked access tokens, by jti, until they would have expired anyway (RFC 7009 §2, RFC 7662 §2.2).
CREATE TABLE access_token_revocations (
    tenant_id  uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX access_token_revocations_by_expiry ON access_token_revocations (expires_at);

-- The tenant's token signing keys (ES256). One key signs at a time; a retired key stays
-- published in /jwks.json until every token it signed has expired.
CREATE TABLE signing_keys (
    tenant_id          uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    kid                text NOT NULL,
    algorithm          text NOT NULL DEFAULT 'ES256' CHECK (algorithm = 'ES256'),
    -- AES-GCM combined form (nonce ‖ ciphertext ‖ tag) of the raw private key, under the
    -- key-encryption key, with the tenant id and kid as associated data.
    sealed_private_key bytea NOT NULL,
    public_jwk         jsonb NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    retired_at         timestamptz,
    -- When a retired key leaves the JWKS: its last token's expiry.
    publish_until      timestamptz,
    PRIMARY KEY (tenant_id, kid)
);
-- Exactly one signing key per tenant; two instances creating the first key at once cannot both win.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (tenant_id) WHERE retired_at IS NULL;

-- The tenant's resource servers (its MCP servers): the audiences its tokens may name.
CREATE TABLE resource_servers (
    tenant_id       uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    resource_id     text NOT NULL,
    -- The canonical form of the resource URL (RFC 8707 §2; lowercase scheme and host, no
    -- trailing slash on an empty path, no fragment).
    resource_uri    text NOT NULL CHECK (octet_length(resource_uri) <= 2000),
    display_name    text NOT NULL CHECK (octet_length(display_name) BETWEEN 1 AND 400),
    scopes          text[] NOT NULL DEFAULT '{}',
    -- The audience of tokens requested without `resource`; at most one per tenant.
    is_default      boolean NOT NULL DEFAULT false,
    -- Credentials for introspection and token exchange: argon2id PHC string and keyed tag.
    credential_hash text NOT NULL,
    credential_tag  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    PRIMARY KEY (tenant_id, resource_id),
    UNIQUE (tenant_id, resource_uri)
);
CREATE UNIQUE INDEX resource_servers_one_default ON resource_servers (tenant_id) WHERE is_default;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'sessions', 'consent_grants', 'authorization_codes', 'token_families',
                             'refresh_tokens', 'family_access_tokens', 'access_token_revocations',
                             'signing_keys', 'resource_servers']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = registrar_current_tenant()) '
                       'WITH CHECK (tenant_id = registrar_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO registrar_app', t);
    END LOOP;
END
$$;
