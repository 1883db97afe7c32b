-- Sign-in through a tenant's own OpenID providers (OpenID Connect Core 1.0, authorization code
-- flow with PKCE), and the vault of the tokens those providers issued to Registrar for each user,
-- which the tenant's resource servers obtain by RFC 8693 token exchange.

-- One provider of a tenant, configured by its admins. The client secret is sealed under the
-- key-encryption key (AES-256-GCM, bound to tenant and provider): a copy of the database alone
-- cannot sign in anywhere.
CREATE TABLE identity_providers (
    tenant_id            uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    provider_id          text NOT NULL CHECK (provider_id ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
    display_name         text NOT NULL CHECK (octet_length(display_name) BETWEEN 1 AND 200),
    issuer               text NOT NULL CHECK (octet_length(issuer) BETWEEN 1 AND 2000),
    client_id            text NOT NULL CHECK (octet_length(client_id) BETWEEN 1 AND 1000),
    client_secret_sealed bytea NOT NULL,
    scopes               text[] NOT NULL,
    subject_claim        text NOT NULL DEFAULT 'sub',
    email_claim          text NOT NULL DEFAULT 'email',
    name_claim           text NOT NULL DEFAULT 'name',
    allowed_email_domains text[] NOT NULL DEFAULT '{}',
    -- Whether the tenant's local passwords stay available beside this provider.
    local_passwords      boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, provider_id)
);

-- Which local user an upstream subject is: created at the first sign-in, found at the next. The
-- subject is the ID token's checked issuer and subject ("{iss} {sub}"): under a multi-tenant
-- issuer, one directory's subject is never another's.
CREATE TABLE user_identities (
    tenant_id   uuid NOT NULL,
    provider_id text NOT NULL,
    subject     text NOT NULL CHECK (octet_length(subject) BETWEEN 1 AND 3000),
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, provider_id, subject),
    FOREIGN KEY (tenant_id, provider_id) REFERENCES identity_providers ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);
CREATE INDEX user_identities_by_user ON user_identities (tenant_id, user_id);

-- An upstream sign-in under way: found once, by the hash of its `state`, from the browser that
-- started it (the hash of its pre-session cookie), within ten minutes.
CREATE TABLE upstream_sign_ins (
    tenant_id     uuid NOT NULL,
    state_hash    text NOT NULL,
    provider_id   text NOT NULL,
    browser_hash  text NOT NULL,
    nonce         text NOT NULL,
    code_verifier text NOT NULL,
    return_to     text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, state_hash),
    FOREIGN KEY (tenant_id, provider_id) REFERENCES identity_providers ON DELETE CASCADE
);
CREATE INDEX upstream_sign_ins_by_expiry ON upstream_sign_ins (tenant_id, expires_at);

-- The vault: what a provider issued to Registrar for one user, sealed under the key-encryption
-- key and bound to tenant, user and provider.
CREATE TABLE upstream_tokens (
    tenant_id             uuid NOT NULL,
    user_id               uuid NOT NULL,
    provider_id           text NOT NULL,
    access_token_sealed   bytea NOT NULL,
    access_expires_at     timestamptz,
    refresh_token_sealed  bytea,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, provider_id),
    FOREIGN KEY (tenant_id, provider_id) REFERENCES identity_providers ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users ON DELETE CASCADE
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['identity_providers', 'user_identities', 'upstream_sign_ins', 'upstream_tokens']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = registrar_current_tenant()) '
                       'WITH CHECK (tenant_id = registrar_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO registrar_app', t);
    END LOOP;
END
$$;
