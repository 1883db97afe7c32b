-- Registrar schema, version 14: sweeping what the token endpoint leaves behind, and the
-- one-round-trip revocation lookup of introspection.
--
-- Expired authorization codes, refresh tokens, remembered access-token jtis, revocation-list
-- entries and client-assertion jtis carry no information any more, and token families past
-- their absolute lifetime with nothing left in them can go too. The tables have forced
-- row-level security, so the sweep visits one tenant at a time, setting the tenant for each
-- (like any other tenant transaction), in bounded batches claimed with SKIP LOCKED so that
-- instances sweeping at once share the work. It returns the largest batch it deleted; the
-- caller repeats while that equals the batch size.
CREATE FUNCTION registrar_sweep_authorization_server(p_now timestamptz, p_batch integer)
    RETURNS integer
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    t uuid;
    n integer;
    most integer := 0;
BEGIN
    FOR t IN SELECT tenant_id FROM tenants ORDER BY tenant_id LOOP
        PERFORM set_config('registrar.tenant_id', t::text, true);

        DELETE FROM authorization_codes WHERE tenant_id = t AND code_hash IN (
            SELECT code_hash FROM authorization_codes WHERE tenant_id = t AND expires_at < p_now
            LIMIT p_batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        most := greatest(most, n);

        DELETE FROM refresh_tokens WHERE tenant_id = t AND token_hash IN (
            SELECT token_hash FROM refresh_tokens WHERE tenant_id = t AND expires_at < p_now
            LIMIT p_batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        most := greatest(most, n);

        DELETE FROM family_access_tokens WHERE tenant_id = t AND jti IN (
            SELECT jti FROM family_access_tokens WHERE tenant_id = t AND expires_at < p_now
            LIMIT p_batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        most := greatest(most, n);

        DELETE FROM access_token_revocations WHERE tenant_id = t AND jti IN (
            SELECT jti FROM access_token_revocations WHERE tenant_id = t AND expires_at < p_now
            LIMIT p_batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        most := greatest(most, n);

        -- The application role may not UPDATE this table, so it cannot lock rows FOR UPDATE;
        -- two sweepers deleting the same expired rows only wait for each other.
        DELETE FROM client_assertion_jtis WHERE tenant_id = t AND (client_id, jti) IN (
            SELECT client_id, jti FROM client_assertion_jtis WHERE tenant_id = t AND expires_at < p_now
            LIMIT p_batch);
        GET DIAGNOSTICS n = ROW_COUNT;
        most := greatest(most, n);

        -- A family past its absolute lifetime can issue nothing; once its last refresh token and
        -- access token have expired (and been swept) nothing refers to it any more.
        DELETE FROM token_families WHERE tenant_id = t AND family_id IN (
            SELECT f.family_id FROM token_families f
            WHERE f.tenant_id = t AND f.absolute_expires_at < p_now
              AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.tenant_id = t AND r.family_id = f.family_id)
              AND NOT EXISTS (SELECT 1 FROM family_access_tokens a WHERE a.tenant_id = t AND a.family_id = f.family_id)
            LIMIT p_batch FOR UPDATE SKIP LOCKED);
        GET DIAGNOSTICS n = ROW_COUNT;
        most := greatest(most, n);
    END LOOP;
    PERFORM set_config('registrar.tenant_id', '', true);
    RETURN most;
END
$$;

-- Whether an access token's jti is on the tenant's revocation list (RFC 7662 §2.2: a revoked
-- token is inactive at once). One statement instead of a transaction, so introspection costs
-- one round trip; the tenant is set for this statement only, like registrar_resolve_tenant.
CREATE FUNCTION registrar_access_token_revoked(p_tenant uuid, p_jti text)
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    RETURN EXISTS (SELECT 1 FROM access_token_revocations WHERE tenant_id = p_tenant AND jti = p_jti);
END
$$;

GRANT EXECUTE ON FUNCTION registrar_sweep_authorization_server(timestamptz, integer), registrar_access_token_revoked(uuid, text)
    TO registrar_app;
