-- Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document-01): a client whose
-- client_id is an https URL is stored as a client row like any other (registered_via = 'cimd'),
-- so that admins list, disable and audit it, and the reaper and last_used_at apply, with the
-- fetched document's validated metadata and how long that fetch is believed.
--
-- Such a client has no registration access token: RFC 7592 management is for clients that
-- registered, and a document's client is managed by whoever publishes the document.
ALTER TABLE clients ALTER COLUMN registration_access_token_hash DROP NOT NULL;
ALTER TABLE clients ADD CONSTRAINT clients_registration_access_token_unless_document
    CHECK (registration_access_token_hash IS NOT NULL OR registered_via = 'cimd');

-- When the document was fetched, until when it is believed (its Cache-Control within the
-- tenant's bounds), and its validators for a conditional revalidation once that has passed.
ALTER TABLE clients ADD COLUMN document_fetched_at timestamptz;
ALTER TABLE clients ADD COLUMN document_expires_at timestamptz;
ALTER TABLE clients ADD COLUMN document_etag text;
ALTER TABLE clients ADD COLUMN document_last_modified text;
ALTER TABLE clients ADD CONSTRAINT clients_document_only_for_documents
    CHECK (document_expires_at IS NULL OR registered_via = 'cimd');
-- A document's client is public or proves itself with a key: it never holds a secret or a
-- registration access token, and always its fetch.
ALTER TABLE clients ADD CONSTRAINT clients_documents_hold_no_secret
    CHECK (registered_via <> 'cimd' OR (client_secret_hash IS NULL AND registration_access_token_hash IS NULL
        AND token_endpoint_auth_method IN ('none', 'private_key_jwt')
        AND document_fetched_at IS NOT NULL AND document_expires_at IS NOT NULL));

-- max_clients bounds what anyone may create, and anyone may make the server store a document's
-- client by naming its URL: document clients count towards it as registrations do. The counter
-- keeps its column name; it now counts both.
CREATE OR REPLACE FUNCTION registrar_count_clients() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.registered_via IN ('dcr', 'cimd') THEN
        INSERT INTO tenant_client_counts AS counts (tenant_id, dcr_clients) VALUES (NEW.tenant_id, 1)
        ON CONFLICT (tenant_id) DO UPDATE SET dcr_clients = counts.dcr_clients + 1;
    ELSIF TG_OP = 'DELETE' AND OLD.registered_via IN ('dcr', 'cimd') THEN
        UPDATE tenant_client_counts SET dcr_clients = dcr_clients - 1 WHERE tenant_id = OLD.tenant_id AND dcr_clients > 0;
    END IF;
    RETURN NULL;
END
$$;

-- No document client exists before this version, so the counts stand as they are.
