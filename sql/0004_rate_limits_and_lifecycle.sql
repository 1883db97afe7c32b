-- Registrar schema, version 4: shared rate limits and the lifecycle of per-user clients.

-- GCRA state ("theoretical arrival time") per limited key, shared by every instance. UNLOGGED:
-- losing it in a crash only forgets recent traffic. Keys carry the tenant id (the all-zero id
-- for platform-wide limits); the table holds no tenant data, so it is outside row-level security.
CREATE UNLOGGED TABLE rate_limits (
    tenant_id uuid NOT NULL,
    key       text NOT NULL,
    tat       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

-- One GCRA step in one statement: a request at p_now against a limit of one event per
-- p_interval with room for p_burst events at once. Allowed → advances the state and returns 0;
-- refused → changes nothing and returns the milliseconds until a request would be allowed.
-- With p_consume = false it only looks (for "is this address blocked?" before any hashing).
CREATE FUNCTION registrar_rate_limit(p_tenant uuid, p_key text, p_now timestamptz, p_interval interval,
                                     p_burst integer, p_consume boolean DEFAULT true)
    RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    current_tat timestamptz;
    next_tat timestamptz;
BEGIN
    IF p_consume THEN
        -- The row exists before it is locked, so concurrent first requests queue on one lock.
        INSERT INTO rate_limits (tenant_id, key, tat) VALUES (p_tenant, p_key, p_now) ON CONFLICT DO NOTHING;
    END IF;
    SELECT tat INTO current_tat FROM rate_limits WHERE tenant_id = p_tenant AND key = p_key FOR UPDATE;
    next_tat := GREATEST(COALESCE(current_tat, p_now), p_now) + p_interval;
    IF next_tat - p_now > p_interval * p_burst THEN
        RETURN ceil(extract(epoch FROM (next_tat - p_interval * p_burst - p_now)) * 1000)::bigint;
    END IF;
    IF p_consume THEN
        UPDATE rate_limits SET tat = next_tat WHERE tenant_id = p_tenant AND key = p_key;
    END IF;
    RETURN 0;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits TO registrar_app;
GRANT EXECUTE ON FUNCTION registrar_rate_limit(uuid, text, timestamptz, interval, integer, boolean) TO registrar_app;

-- Identical public registrations from one source are answered with the existing client when the
-- tenant asks for it: the fingerprint of the normalised metadata and the source.
ALTER TABLE clients ADD COLUMN dedup_key text;
CREATE INDEX clients_by_dedup_key ON clients (tenant_id, dedup_key, created_at DESC) WHERE dedup_key IS NOT NULL;

-- When the reaper disabled a client for disuse; it deletes it once the grace has passed.
ALTER TABLE clients ADD COLUMN reaped_at timestamptz;
CREATE INDEX clients_by_reaping ON clients (tenant_id, reaped_at) WHERE reaped_at IS NOT NULL;

-- The reaper, a platform job, finds the tenants whose policy asks for reaping.
CREATE POLICY tenant_policies_platform_read ON tenant_policies FOR SELECT USING (registrar_current_scope() = 'platform');
