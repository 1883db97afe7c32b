-- GET with an optional bearer token (TOKEN), counting answers by status.
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
dofile("scripts/load/statuses.lua")
