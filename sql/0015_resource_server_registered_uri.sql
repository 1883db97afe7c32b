-- Registrar schema, version 15: a resource server keeps the URL as its admin registered it.
--
-- `resource_uri` holds the canonical form, which is what requests are matched against (RFC 8707
-- §2: any case of scheme and host, a default port, with or without a trailing slash). What the
-- MCP server announces in its protected resource metadata (RFC 9728 §3.3: `resource` must be
-- identical to the URL its clients connect to) and what tokens name as their audience is the
-- URL as registered: scheme and host in lower case and a default port dropped (RFC 3986 §6.2.2.1,
-- §6.2.3), the path exactly as given, trailing slash included.
ALTER TABLE resource_servers
    ADD COLUMN registered_uri text CHECK (octet_length(registered_uri) <= 2000);
UPDATE resource_servers SET registered_uri = resource_uri WHERE registered_uri IS NULL;
ALTER TABLE resource_servers ALTER COLUMN registered_uri SET NOT NULL;
