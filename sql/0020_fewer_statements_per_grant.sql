-- The two grant writes of 0017 with fewer statements inside them.
--
-- Most of PostgreSQL's time in a grant went to setting up an executor for each statement a
-- function runs, not to the rows: the redemption ran seven statements and a nested function
-- call, the spending of a refresh token six. Each now runs one read and one write: the read
-- answers in one row whether the credential is there and whether it may be used, and the write
-- is one statement whose parts (the consumed code or spent token, the family, the successor
-- and the access token's jti) are data-modifying CTEs, so they apply together or not at all.
-- The answers, the lock order and what is written are those of 0017.

-- As in 0017. The read takes the code's user along, so that 'unknown' (no such code) and
-- 'refused' (its user was disabled meanwhile) come from one statement. The write consumes the
-- code only while it is unconsumed, unexpired and the client's; when it consumed nothing, the
-- code was consumed meanwhile ('reused') or has expired or is another client's ('refused').
CREATE OR REPLACE FUNCTION registrar_redeem_authorization_code(
        p_tenant uuid, p_hash text, p_client text, p_now timestamptz, p_family uuid, p_absolute_expires_at timestamptz,
        p_refresh_hash text, p_refresh_expires_at timestamptz, p_jti text, p_access_expires_at timestamptz)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    v_active boolean;
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    SELECT u.status = 'active' INTO v_active
    FROM authorization_codes c LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.user_id = c.user_id
    WHERE c.tenant_id = p_tenant AND c.code_hash = p_hash;
    IF NOT FOUND THEN
        RETURN 'unknown';
    END IF;
    IF NOT coalesce(v_active, false) THEN
        RETURN 'refused';
    END IF;
    WITH consumed AS (
        UPDATE authorization_codes c SET consumed_at = p_now, family_id = p_family
        WHERE c.tenant_id = p_tenant AND c.code_hash = p_hash AND c.client_id = p_client AND c.consumed_at IS NULL
          AND c.expires_at > p_now
        RETURNING c.client_id, c.user_id, c.grant_id, c.scopes, c.resources, c.auth_time
    ), family AS (
        INSERT INTO token_families AS f (tenant_id, family_id, client_id, user_id, grant_id, scopes, resources, auth_time,
                                         created_at, absolute_expires_at)
        SELECT p_tenant, p_family, client_id, user_id, grant_id, scopes, resources, auth_time, p_now, p_absolute_expires_at
        FROM consumed
        RETURNING f.family_id
    ), refresh AS (
        INSERT INTO refresh_tokens AS r (tenant_id, token_hash, family_id, created_at, expires_at)
        SELECT p_tenant, p_refresh_hash, family_id, p_now, p_refresh_expires_at FROM family WHERE p_refresh_hash IS NOT NULL
    )
    INSERT INTO family_access_tokens AS a (tenant_id, jti, family_id, expires_at)
    SELECT p_tenant, p_jti, family_id, p_access_expires_at FROM family;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM authorization_codes c
                                 WHERE c.tenant_id = p_tenant AND c.code_hash = p_hash AND c.consumed_at IS NOT NULL)
                    THEN 'reused' ELSE 'refused' END;
    END IF;
    RETURN 'issued';
END
$$;

-- As in 0017. The read locks the family row first (a revocation of the family updates that row,
-- so it waits for this statement and then lists the access token recorded here too) and, in the
-- same row, says whether the family may still be used; after a wait for the lock, that is
-- judged on the family's row as the revocation left it. The write spends the token only while
-- it is current and unexpired: rotated out (rotated_at set) when a successor is given, else
-- kept with its idle expiry moved to p_expires_at.
CREATE OR REPLACE FUNCTION registrar_spend_refresh_token(
        p_tenant uuid, p_hash text, p_client text, p_now timestamptz, p_successor_hash text, p_expires_at timestamptz,
        p_jti text, p_access_expires_at timestamptz)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    v_family uuid;
    v_usable boolean;
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    SELECT f.family_id,
           f.client_id = p_client AND f.revoked_at IS NULL AND f.absolute_expires_at > p_now
               AND (f.user_id IS NULL OR u.status = 'active')
    INTO v_family, v_usable
    FROM refresh_tokens r
    JOIN token_families f ON f.tenant_id = r.tenant_id AND f.family_id = r.family_id
    LEFT JOIN users u ON u.tenant_id = f.tenant_id AND u.user_id = f.user_id
    WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash
    FOR UPDATE OF f;
    IF NOT FOUND THEN
        RETURN 'unknown';
    END IF;
    IF NOT coalesce(v_usable, false) THEN
        RETURN 'refused';
    END IF;
    WITH spent AS (
        UPDATE refresh_tokens r
        SET rotated_at = CASE WHEN p_successor_hash IS NULL THEN r.rotated_at ELSE p_now END,
            expires_at = CASE WHEN p_successor_hash IS NULL THEN p_expires_at ELSE r.expires_at END
        WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash AND r.rotated_at IS NULL AND r.expires_at > p_now
        RETURNING r.family_id
    ), successor AS (
        INSERT INTO refresh_tokens AS s (tenant_id, token_hash, family_id, created_at, expires_at)
        SELECT p_tenant, p_successor_hash, family_id, p_now, p_expires_at FROM spent WHERE p_successor_hash IS NOT NULL
    )
    INSERT INTO family_access_tokens AS a (tenant_id, jti, family_id, expires_at)
    SELECT p_tenant, p_jti, family_id, p_access_expires_at FROM spent;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM refresh_tokens r
                                 WHERE r.tenant_id = p_tenant AND r.token_hash = p_hash AND r.rotated_at IS NOT NULL)
                    THEN 'reused' ELSE 'refused' END;
    END IF;
    RETURN 'issued';
END
$$;
