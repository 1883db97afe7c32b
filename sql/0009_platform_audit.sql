-- Registrar schema, version 9: the platform audit log.
--
-- Changes to the tenant registry (tenants, their domains) and to platform keys are recorded here,
-- by triggers, in the same transaction as the change itself, so that no change goes unrecorded
-- and no record exists for a change that was rolled back. The log belongs to the platform, not
-- to a tenant: it has no foreign key to tenants, so deleting a tenant (with cascade=true too)
-- leaves the record of its life and of its deletion in place. Who acted comes from settings of
-- the same transaction (registrar.actor_type, registrar.actor_id, registrar.request_id,
-- registrar.source_address); a change made without them (psql, a script) reads as 'operator'.

CREATE TABLE platform_audit_events (
    event_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    action         text NOT NULL,
    actor_type     text NOT NULL,
    actor_id       text,
    -- The tenant the event is about, kept as plain values: the tenant may be gone.
    tenant_id      uuid,
    tenant_slug    text,
    source_address text,
    request_id     text,
    details        jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX platform_audit_events_by_time ON platform_audit_events (occurred_at DESC, event_id DESC);
CREATE INDEX platform_audit_events_by_tenant ON platform_audit_events (tenant_id, event_id DESC);

-- Platform data, not tenant data: no row-level security; the API shows it to platform keys only.
-- Append-only for the application role.
GRANT SELECT, INSERT ON platform_audit_events TO registrar_app;
REVOKE UPDATE, DELETE, TRUNCATE ON platform_audit_events FROM registrar_app;

CREATE FUNCTION registrar_platform_setting(p_name text) RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting(p_name, true), '') $$;

CREATE FUNCTION registrar_record_platform_event() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_action  text;
    v_tenant  uuid;
    v_slug    text;
    v_details jsonb := '{}'::jsonb;
BEGIN
    IF TG_TABLE_NAME = 'tenants' THEN
        IF TG_OP = 'INSERT' THEN
            v_action := 'tenant.created';
            v_tenant := NEW.tenant_id; v_slug := NEW.slug;
            v_details := jsonb_build_object('display_name', NEW.display_name, 'status', NEW.status);
        ELSIF TG_OP = 'UPDATE' THEN
            v_action := 'tenant.updated';
            v_tenant := NEW.tenant_id; v_slug := NEW.slug;
            IF NEW.display_name IS DISTINCT FROM OLD.display_name THEN
                v_details := v_details || jsonb_build_object('display_name', NEW.display_name);
            END IF;
            IF NEW.status IS DISTINCT FROM OLD.status THEN
                v_details := v_details || jsonb_build_object('status', NEW.status);
            END IF;
            IF NEW.slug IS DISTINCT FROM OLD.slug THEN
                v_details := v_details || jsonb_build_object('previous_slug', OLD.slug);
            END IF;
        ELSE
            v_action := 'tenant.deleted';
            v_tenant := OLD.tenant_id; v_slug := OLD.slug;
            v_details := jsonb_build_object('display_name', OLD.display_name);
        END IF;
    ELSIF TG_TABLE_NAME = 'tenant_domains' THEN
        IF TG_OP = 'INSERT' THEN
            v_action := 'tenant.domain_added';
            v_tenant := NEW.tenant_id; v_details := jsonb_build_object('host', NEW.host);
        ELSE
            v_action := 'tenant.domain_removed';
            v_tenant := OLD.tenant_id; v_details := jsonb_build_object('host', OLD.host);
        END IF;
        SELECT slug INTO v_slug FROM tenants WHERE tenant_id = v_tenant;
        IF v_slug IS NULL THEN
            -- A cascade from the tenant's deletion: the row is gone, its name is in this log.
            SELECT tenant_slug INTO v_slug FROM platform_audit_events
            WHERE tenant_id = v_tenant AND tenant_slug IS NOT NULL ORDER BY event_id DESC LIMIT 1;
        END IF;
    ELSE
        -- admin_keys, platform keys only (the triggers' WHEN clauses): never the secret hash.
        IF TG_OP = 'INSERT' THEN
            v_action := 'platform_key.created';
            v_details := jsonb_build_object('key_id', NEW.key_id, 'label', NEW.label);
        ELSIF TG_OP = 'UPDATE' THEN
            v_action := 'platform_key.revoked';
            v_details := jsonb_build_object('key_id', NEW.key_id);
        ELSE
            v_action := 'platform_key.deleted';
            v_details := jsonb_build_object('key_id', OLD.key_id);
        END IF;
    END IF;
    INSERT INTO platform_audit_events (action, actor_type, actor_id, tenant_id, tenant_slug, source_address, request_id, details)
    VALUES (v_action,
            COALESCE(registrar_platform_setting('registrar.actor_type'), 'operator'),
            registrar_platform_setting('registrar.actor_id'),
            v_tenant, v_slug,
            registrar_platform_setting('registrar.source_address'),
            registrar_platform_setting('registrar.request_id'),
            v_details);
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_platform_audit
    AFTER INSERT OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION registrar_record_platform_event();
CREATE TRIGGER tenants_platform_audit_update
    AFTER UPDATE ON tenants
    FOR EACH ROW
    WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.status IS DISTINCT FROM NEW.status OR OLD.slug IS DISTINCT FROM NEW.slug)
    EXECUTE FUNCTION registrar_record_platform_event();
CREATE TRIGGER tenant_domains_platform_audit
    AFTER INSERT OR DELETE ON tenant_domains
    FOR EACH ROW EXECUTE FUNCTION registrar_record_platform_event();
CREATE TRIGGER admin_keys_platform_audit_insert
    AFTER INSERT ON admin_keys
    FOR EACH ROW WHEN (NEW.tenant_id IS NULL)
    EXECUTE FUNCTION registrar_record_platform_event();
CREATE TRIGGER admin_keys_platform_audit_revoke
    AFTER UPDATE OF revoked_at ON admin_keys
    FOR EACH ROW WHEN (NEW.tenant_id IS NULL AND OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION registrar_record_platform_event();
CREATE TRIGGER admin_keys_platform_audit_delete
    AFTER DELETE ON admin_keys
    FOR EACH ROW WHEN (OLD.tenant_id IS NULL)
    EXECUTE FUNCTION registrar_record_platform_event();

GRANT EXECUTE ON FUNCTION registrar_platform_setting(text), registrar_record_platform_event() TO registrar_app;
