-- POST the form BODY, with the Authorization header AUTHORIZATION when set; counts answers by
-- status. Used for /introspect with a resource server's HTTP Basic credentials.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = assert(os.getenv("BODY"), "BODY is not set")
local authorization = os.getenv("AUTHORIZATION")
if authorization and authorization ~= "" then wrk.headers["Authorization"] = authorization end
dofile("scripts/load/statuses.lua")
