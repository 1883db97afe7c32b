-- Registrar schema, version 5: one round trip for the commonest tenant-scoped read and write.
--
-- Each function sets the tenant for its own statement (set_config(…, true) outside an explicit
-- transaction lasts for the statement), so row-level security applies exactly as in a
-- tenant transaction, without BEGIN / set_config / COMMIT around a single query. They are
-- meant for autocommit use; inside another tenant's transaction they would switch its tenant.

CREATE FUNCTION registrar_find_client(p_tenant uuid, p_client text)
    RETURNS SETOF clients
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    RETURN QUERY SELECT * FROM clients WHERE tenant_id = p_tenant AND client_id = p_client;
END
$$;

CREATE FUNCTION registrar_append_audit(p_tenant uuid, p_action text, p_actor_type text, p_actor_id text, p_client_id text,
                                       p_source text, p_request_id text, p_details jsonb)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM set_config('registrar.tenant_id', p_tenant::text, true);
    INSERT INTO audit_events (tenant_id, action, actor_type, actor_id, client_id, source_address, request_id, details)
    VALUES (p_tenant, p_action, p_actor_type, p_actor_id, p_client_id, p_source, p_request_id, p_details);
END
$$;

GRANT EXECUTE ON FUNCTION registrar_find_client(uuid, text) TO registrar_app;
GRANT EXECUTE ON FUNCTION registrar_append_audit(uuid, text, text, text, text, text, text, jsonb) TO registrar_app;
