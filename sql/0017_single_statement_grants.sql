-- The token endpoint's grants and introspection's lookups as single statements.
--
-- A grant was one transaction of five round trips: BEGIN, the tenant setting, a locked read,
-- the write, COMMIT. It is now two statements, each its own transaction: an unlocked read, then
-- a write that checks again everything it relies on and applies only if the code is still
-- unconsumed (or the refresh token still current). When two requests race with one code or one
-- refresh token, one write applies and the other finds it spent and is answered as a reuse,
-- exactly as the locked read answered it. Each function sets the tenant for its own statement
-- only (like registrar_find_client), so row-level security applies as in a transaction, and
-- PL/pgSQL keeps the plans of its statements per connection, where an ad hoc statement is
-- planned at every execution.

-- What a grant issued, recorded in its family: the new refresh token (none when p_refresh_hash
-- is NULL) and the access token's jti, so that revoking the family can list it.
CREATE FUNCTION registrar_record_issued_tokens(p_tenant uuid, p_family uuid, p_now timestamptz, p_refresh_hash text,
                                               p_refresh_expires_at timestamptz, p_jti text, p_access_expires_at timestamptz)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    IF p_refresh_hash IS NOT NULL THEN
        INSERT INTO refresh_tokens AS r (tenant_id, token_hash, family_id, created_at, expires_at)
        VALUES (p_tenant, p_refresh_hash, p_family, p_now, p_refresh_expires_at);
    END IF;
    INSERT INTO family_access_tokens AS a (tenant_id, jti, family_id, expires_at)
    VALUES (p_tenant, p_jti, p_family, p_access_expires_at);
END
$$;

-- An authorization code with its user, unlocked.
CREATE FUNCTION registrar_find_authorization_code(p_tenant uuid, p_hash text)
    RETURNS TABLE (client_id text, grant_id uuid, redirect_uri text, redirect_uri_sent boolean, code_challenge text,
                   scopes text[], resources text[], nonce text, auth_time timestamptz, expires_at timestamptz,
                   consumed_at timestamptz, family_id uuid,
                   user_id uuid, email text, email_verified boolean, display_name text, status text)
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT c.client_id, c.grant_id, c.redirect_uri, c.redirect_uri_sent, c.code_challenge, c.scopes, c.resources, c.nonce,
               c.auth_time, c.expires_at, c.consumed_at, c.family_id,
               u.user_id, u.email, u.email_verified, u.display_name, u.status
        FROM authorization_codes c JOIN users u ON u.tenant_id = c.tenant_id AND u.user_id = c.user_id
        WHERE c.tenant_id = p_tenant AND c.code_hash = p_hash;
END
$$;

-- Consumes the code for `p_client` and writes what the exchange issued: the family, its first
-- refresh token (none when p_refresh_hash is NULL) and the access token's jti (RFC 6749 §4.1.2:
-- a second use must be able to revoke them). Answers 'issued'; 'reused' when the code was
-- consumed meanwhile; 'refused' when it expired or its user was disabled meanwhile; 'unknown'
-- when it is gone (swept, or deleted with its grant).
CREATE FUNCTION registrar_redeem_authorization_code(
        p_tenant uuid, p_hash text, p_client text, p_now timestamptz, p_family uuid, p_absolute_expires_at timestamptz,
        p_refresh_hash text, p_refresh_expires_at timestamptz, p_jti text, p_access_expires_at timestamptz)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    v_code authorization_codes%ROWTYPE;
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    IF NOT EXISTS (SELECT 1 FROM authorization_codes c JOIN users u ON u.tenant_id = c.tenant_id AND u.user_id = c.user_id
                   WHERE c.tenant_id = p_tenant AND c.code_hash = p_hash AND u.status = 'active') THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM authorization_codes c WHERE c.tenant_id = p_tenant AND c.code_hash = p_hash)
                    THEN 'refused' ELSE 'unknown' END;
    END IF;
    UPDATE authorization_codes c SET consumed_at = p_now, family_id = p_family
    WHERE c.tenant_id = p_tenant AND c.code_hash = p_hash AND c.client_id = p_client AND c.consumed_at IS NULL
      AND c.expires_at > p_now
    RETURNING c.* INTO v_code;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM authorization_codes c
                                 WHERE c.tenant_id = p_tenant AND c.code_hash = p_hash AND c.consumed_at IS NOT NULL)
                    THEN 'reused' ELSE 'refused' END;
    END IF;
    INSERT INTO token_families AS f (tenant_id, family_id, client_id, user_id, grant_id, scopes, resources, auth_time,
                                     created_at, absolute_expires_at)
    VALUES (p_tenant, p_family, v_code.client_id, v_code.user_id, v_code.grant_id, v_code.scopes, v_code.resources,
            v_code.auth_time, p_now, p_absolute_expires_at);
    PERFORM registrar_record_issued_tokens(p_tenant, p_family, p_now, p_refresh_hash, p_refresh_expires_at, p_jti, p_access_expires_at);
    RETURN 'issued';
END
$$;

-- A refresh token with its family and the family's user (if any), unlocked.
CREATE FUNCTION registrar_find_refresh_token(p_tenant uuid, p_hash text)
    RETURNS TABLE (family_id uuid, created_at timestamptz, expires_at timestamptz, rotated_at timestamptz, client_id text,
                   scopes text[], resources text[], auth_time timestamptz, absolute_expires_at timestamptz,
                   revoked_at timestamptz, user_id uuid, email text, email_verified boolean, display_name text, status text)
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    RETURN QUERY
        SELECT r.family_id, r.created_at, r.expires_at, r.rotated_at, f.client_id, f.scopes, f.resources, f.auth_time,
               f.absolute_expires_at, f.revoked_at, u.user_id, u.email, u.email_verified, u.display_name, u.status
        FROM refresh_tokens r
        JOIN token_families f ON f.tenant_id = r.tenant_id AND f.family_id = r.family_id
        LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.user_id = f.user_id
        WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash;
END
$$;

-- Spends the refresh token of `p_client` and records the access token issued with it. With
-- p_successor_hash the token is rotated out for that successor, which expires at p_expires_at;
-- without it the token stays and its idle expiry moves to p_expires_at. The family row is
-- locked first, so that a revocation of the family (which updates that row) waits for this
-- statement and then lists the access token recorded here too. Answers 'issued'; 'reused'
-- when the token was rotated out meanwhile; 'refused' when it or its family expired, the family
-- was revoked or its user disabled meanwhile; 'unknown' when there is no such token.
CREATE FUNCTION registrar_spend_refresh_token(
        p_tenant uuid, p_hash text, p_client text, p_now timestamptz, p_successor_hash text, p_expires_at timestamptz,
        p_jti text, p_access_expires_at timestamptz)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    v_family uuid;
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    SELECT f.family_id INTO v_family
    FROM refresh_tokens r JOIN token_families f ON f.tenant_id = r.tenant_id AND f.family_id = r.family_id
    WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash
    FOR UPDATE OF f;
    IF NOT FOUND THEN
        RETURN 'unknown';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM token_families f LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.user_id = f.user_id
                   WHERE f.tenant_id = p_tenant AND f.family_id = v_family AND f.client_id = p_client
                     AND f.revoked_at IS NULL AND f.absolute_expires_at > p_now
                     AND (f.user_id IS NULL OR u.status = 'active')) THEN
        RETURN 'refused';
    END IF;
    IF p_successor_hash IS NOT NULL THEN
        UPDATE refresh_tokens r SET rotated_at = p_now
        WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash AND r.rotated_at IS NULL AND r.expires_at > p_now;
    ELSE
        UPDATE refresh_tokens r SET expires_at = p_expires_at
        WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash AND r.rotated_at IS NULL AND r.expires_at > p_now;
    END IF;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM refresh_tokens r
                                 WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash AND r.rotated_at IS NOT NULL)
                    THEN 'reused' ELSE 'refused' END;
    END IF;
    PERFORM registrar_record_issued_tokens(p_tenant, v_family, p_now, p_successor_hash, p_expires_at, p_jti, p_access_expires_at);
    RETURN 'issued';
END
$$;

-- A resource server by id, for its authentication at introspection.
CREATE FUNCTION registrar_find_resource_server(p_tenant uuid, p_id text)
    RETURNS SETOF resource_servers
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    RETURN QUERY SELECT * FROM resource_servers s WHERE s.tenant_id = p_tenant AND s.resource_id = p_id;
END
$$;

GRANT EXECUTE ON FUNCTION
    registrar_record_issued_tokens(uuid, uuid, timestamptz, text, timestamptz, text, timestamptz),
    registrar_find_authorization_code(uuid, text),
    registrar_redeem_authorization_code(uuid, text, text, timestamptz, uuid, timestamptz, text, timestamptz, text, timestamptz),
    registrar_find_refresh_token(uuid, text),
    registrar_spend_refresh_token(uuid, text, text, timestamptz, text, timestamptz, text, timestamptz),
    registrar_find_resource_server(uuid, text)
    TO registrar_app;
