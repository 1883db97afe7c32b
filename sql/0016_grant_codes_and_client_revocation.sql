-- Registrar schema, version 16: what a revoked grant or a disabled client leaves behind.
--
-- An unredeemed authorization code belongs to its consent grant: deleting the grant deletes the
-- code, so a code issued a moment before the user revoked access cannot start a new family
-- afterwards. NOT VALID: codes live a minute; rows from before this migration are not checked.
ALTER TABLE authorization_codes
    ADD CONSTRAINT authorization_codes_grant FOREIGN KEY (tenant_id, grant_id) REFERENCES consent_grants ON DELETE CASCADE NOT VALID;

-- Disabling or deleting a client ends every token issued to it: its families are revoked and
-- their unexpired access tokens listed as revoked (RFC 7662 §2.2: inactive at introspection at
-- once), in the transaction that changes the client. Only in the client's own tenant
-- transaction: a tenant's deletion takes all of its rows with it anyway. Two statements, not
-- one: a refresh racing it holds its family's row, the UPDATE waits for it, and only a statement
-- that starts after that wait sees the access token the refresh recorded.
CREATE FUNCTION registrar_revoke_client_tokens() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_families uuid[];
BEGIN
    IF registrar_current_tenant() IS NOT DISTINCT FROM OLD.tenant_id THEN
        WITH revoked AS (
            UPDATE token_families SET revoked_at = now(), revoked_reason = 'client_revoked'
            WHERE tenant_id = OLD.tenant_id AND client_id = OLD.client_id AND revoked_at IS NULL
            RETURNING family_id
        )
        SELECT array_agg(family_id) INTO v_families FROM revoked;
        IF v_families IS NOT NULL THEN
            INSERT INTO access_token_revocations (tenant_id, jti, expires_at)
            SELECT a.tenant_id, a.jti, a.expires_at FROM family_access_tokens a
            WHERE a.tenant_id = OLD.tenant_id AND a.family_id = ANY (v_families) AND a.expires_at > now()
            ON CONFLICT (tenant_id, jti) DO NOTHING;
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER clients_revoke_tokens_on_disable AFTER UPDATE OF status ON clients
    FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status = 'disabled')
    EXECUTE FUNCTION registrar_revoke_client_tokens();
CREATE TRIGGER clients_revoke_tokens_on_delete BEFORE DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION registrar_revoke_client_tokens();
