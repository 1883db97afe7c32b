-- Registrar schema, version 7: a per-tenant counter of dynamically registered clients, so that
-- max_clients is checked against one row instead of count(*) over the tenant's clients.
--
-- Triggers keep the counter in the same transaction as the insert or delete of the client. The
-- counter row is updated by every registration, so concurrent registrations of one tenant queue
-- on it for the rest of their (short) transactions; that is what makes the limit exact.

CREATE TABLE tenant_client_counts (
    tenant_id   uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    dcr_clients integer NOT NULL DEFAULT 0 CHECK (dcr_clients >= 0)
);

-- Counts what exists now. The owner is subject to row-level security on clients (FORCE), so it is
-- lifted for this one read, inside the migration's transaction.
ALTER TABLE clients NO FORCE ROW LEVEL SECURITY;
INSERT INTO tenant_client_counts (tenant_id, dcr_clients)
SELECT t.tenant_id, count(c.client_id) FILTER (WHERE c.registered_via = 'dcr')
FROM tenants t LEFT JOIN clients c USING (tenant_id)
GROUP BY t.tenant_id;
ALTER TABLE clients FORCE ROW LEVEL SECURITY;

ALTER TABLE tenant_client_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_client_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_client_counts
    USING (tenant_id = registrar_current_tenant()) WITH CHECK (tenant_id = registrar_current_tenant());

CREATE FUNCTION registrar_count_clients() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.registered_via = 'dcr' THEN
        INSERT INTO tenant_client_counts AS counts (tenant_id, dcr_clients) VALUES (NEW.tenant_id, 1)
        ON CONFLICT (tenant_id) DO UPDATE SET dcr_clients = counts.dcr_clients + 1;
    ELSIF TG_OP = 'DELETE' AND OLD.registered_via = 'dcr' THEN
        UPDATE tenant_client_counts SET dcr_clients = dcr_clients - 1 WHERE tenant_id = OLD.tenant_id AND dcr_clients > 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_counted AFTER INSERT OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION registrar_count_clients();

GRANT SELECT, INSERT, UPDATE ON tenant_client_counts TO registrar_app;
