-- registrar_record_issued_tokens (0017) was called only by the redemption and spending functions,
-- which 0020 rewrote as single statements that write the same rows themselves. Nothing calls it.
DROP FUNCTION registrar_record_issued_tokens(uuid, uuid, timestamptz, text, timestamptz, text, timestamptz);
