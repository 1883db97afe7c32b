-- Scale seed for scripts/bench: 1,000,000 clients across 10,000 tenants, plus 10,000 more in the
-- tenant the benchmark measures, written with generate_series in one pass. Run as a superuser
-- (the tables force row-level security on everyone else, their owner included).
SET synchronous_commit = off;

INSERT INTO tenants (slug, display_name)
SELECT 'seed-' || g, 'Seed tenant ' || g FROM generate_series(1, 10000) AS g
ON CONFLICT (slug) DO NOTHING;

INSERT INTO clients (tenant_id, client_id, metadata, token_endpoint_auth_method, registration_access_token_hash,
                     registered_via, created_at, updated_at)
SELECT t.tenant_id,
       'cl_seed' || t.n || 'x' || c,
       jsonb_build_object('client_name', 'Seed client ' || c,
                          'redirect_uris', jsonb_build_array('https://claude.ai/api/mcp/auth_callback'),
                          'grant_types', jsonb_build_array('authorization_code', 'refresh_token'),
                          'response_types', jsonb_build_array('code'),
                          'token_endpoint_auth_method', 'none', 'scope', 'openid profile email'),
       'none',
       '$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVkc2VlZA$QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE',
       'dcr',
       now() - (c || ' minutes')::interval,
       now()
FROM (SELECT tenant_id, row_number() OVER (ORDER BY slug) AS n FROM tenants WHERE slug LIKE 'seed-%') AS t,
     generate_series(1, 100) AS c;

INSERT INTO clients (tenant_id, client_id, metadata, token_endpoint_auth_method, registration_access_token_hash,
                     registered_via, created_at, updated_at)
SELECT t.tenant_id, 'cl_bulk' || c,
       jsonb_build_object('client_name', 'Bulk client ' || c,
                          'redirect_uris', jsonb_build_array('http://127.0.0.1/callback'),
                          'grant_types', jsonb_build_array('authorization_code'), 'response_types', jsonb_build_array('code'),
                          'token_endpoint_auth_method', 'none'),
       'none',
       '$argon2id$v=19$m=19456,t=2,p=1$c2VlZHNlZWRzZWVkc2VlZA$QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE',
       'dcr', now() - (c || ' seconds')::interval, now()
FROM tenants AS t, generate_series(1, 10000) AS c
WHERE t.slug = 'bench';

-- Settle what the seed itself set off before anything is measured: the vacuum its inserts trigger
-- (it would otherwise run during the measurement) and the checkpoint its WAL started (spread over
-- half a minute of writes by checkpoint_completion_target). A database that holds a million
-- clients in production was not written in the last minute.
VACUUM (ANALYZE) tenants;
VACUUM (ANALYZE) clients;
CHECKPOINT;
