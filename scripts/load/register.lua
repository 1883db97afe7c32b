-- POST a public client registration (Claude Code's shape) and count answers by status.
-- BODY may be overridden through the environment (e.g. a confidential client).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY") or
  '{"client_name":"Claude Code (bench)","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none"}'
dofile("scripts/load/statuses.lua")
