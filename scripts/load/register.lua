-- POST a public client registration (Claude Code's shape) and count answers by status.
-- BODY may be overridden through the environment (e.g. a confidential client).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY") or
  '{"client_name":"Claude Code (bench)","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"none"}'

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + n end
  end
  for status, n in pairs(total) do io.write(string.format("status %d %d\n", status, n)) end
end
