-- Registrar schema, version 6: rate limits checked in order, bounded keys, and a sweeper.

-- Keys are built by the server from bounded parts (a limit name, an issued identifier, an
-- aggregated address); nothing a caller sends may make one longer. Older keys that break the
-- bound (from paths that were never checked) are dropped first: losing them forgets only traffic.
DELETE FROM rate_limits WHERE octet_length(key) > 200;
ALTER TABLE rate_limits ADD CONSTRAINT rate_limits_key_length CHECK (octet_length(key) <= 200);

-- Several GCRA checks in one round trip, evaluated in the order given and stopping at the first
-- refusal: a caller refused by an earlier check (its address over its failure limit, say) never
-- reaches, and so never spends or creates, the state of a later one (a client's or a key's
-- budget). Checks before the refusal keep their effect; callers put the ones that only look
-- (p_consume = false) first. Returns the 1-based index of the refused check and the
-- milliseconds until it would be allowed, or (0, 0) when every check passed.
--
-- A consuming check is one upsert: the row is created or advanced only when the request is
-- allowed, and the upsert is safe against the sweeper deleting the row at the same moment.
CREATE FUNCTION registrar_rate_limits_in_order(p_tenants uuid[], p_keys text[], p_intervals_us bigint[], p_bursts bigint[],
                                               p_consume boolean[], OUT refused integer, OUT wait_milliseconds bigint)
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    -- The database's clock: one clock for every instance sharing the limits.
    now_ts timestamptz := clock_timestamp();
    step interval;
    room interval;
    current_tat timestamptz;
    next_tat timestamptz;
BEGIN
    refused := 0;
    wait_milliseconds := 0;
    FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        step := p_intervals_us[i] * interval '1 microsecond';
        room := step * p_bursts[i];
        IF p_consume[i] THEN
            INSERT INTO rate_limits AS r (tenant_id, key, tat) VALUES (p_tenants[i], p_keys[i], now_ts + step)
            ON CONFLICT (tenant_id, key) DO UPDATE SET tat = GREATEST(r.tat, now_ts) + step
                WHERE GREATEST(r.tat, now_ts) + step - now_ts <= room
            RETURNING tat INTO next_tat;
            CONTINUE WHEN FOUND;
        END IF;
        SELECT tat INTO current_tat FROM rate_limits WHERE tenant_id = p_tenants[i] AND key = p_keys[i];
        next_tat := GREATEST(COALESCE(current_tat, now_ts), now_ts) + step;
        IF p_consume[i] OR next_tat - now_ts > room THEN
            -- A consuming check that got here was refused by the upsert.
            refused := i;
            wait_milliseconds := GREATEST(1, ceil(extract(epoch FROM (next_tat - room - now_ts)) * 1000)::bigint);
            RETURN;
        END IF;
    END LOOP;
END
$$;

GRANT EXECUTE ON FUNCTION registrar_rate_limits_in_order(uuid[], text[], bigint[], bigint[], boolean[]) TO registrar_app;

-- A row whose theoretical arrival time has passed behaves exactly like a missing row, so it can
-- go. One bounded batch per call (short locks, SKIP LOCKED so that instances sweeping at once
-- share the work); the caller repeats while batches come back full. There is deliberately no
-- index on tat: every allowed request updates it, and an index would end HOT updates.
CREATE FUNCTION registrar_sweep_rate_limits(p_batch integer)
    RETURNS integer
    LANGUAGE sql VOLATILE
    AS $$
    WITH swept AS (
        DELETE FROM rate_limits
        WHERE ctid IN (SELECT ctid FROM rate_limits WHERE tat <= clock_timestamp() LIMIT p_batch FOR UPDATE SKIP LOCKED)
          AND tat <= clock_timestamp()
        RETURNING 1
    )
    SELECT count(*)::integer FROM swept
$$;

GRANT EXECUTE ON FUNCTION registrar_sweep_rate_limits(integer) TO registrar_app;
