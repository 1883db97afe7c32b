-- GET the authorization URL with a signed-in session (COOKIE) whose consent is remembered: every
-- answer is a 302 to the client with a fresh code. Collects the codes and writes them, one a
-- line, to the file OUT when the run is done (for code.lua); counts answers by status.
dofile("scripts/load/statuses.lua")
wrk.headers["Cookie"] = assert(os.getenv("COOKIE"), "COOKIE is not set")
local count = response
local threads_seen = {}
local count_thread = setup
function setup(thread)
  table.insert(threads_seen, thread)
  count_thread(thread)
end

function init(args)
  statuses = {}
  codes = {}
end

function response(status, headers, body)
  count(status, headers, body)
  local location = headers["Location"] or headers["location"] or ""
  local code = location:match("[?&]code=([^&]+)")
  if code then table.insert(codes, code) end
end

local report = done
function done(summary, latency, requests)
  report(summary, latency, requests)
  local file = assert(io.open(assert(os.getenv("OUT"), "OUT is not set"), "w"))
  for _, thread in ipairs(threads_seen) do
    for _, code in ipairs(thread:get("codes")) do file:write(code, "\n") end
  end
  file:close()
end
