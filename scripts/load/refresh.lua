-- POST refresh-token grants for a public client: every answer carries the rotated refresh token
-- (OAuth 2.1 §4.3.1), which a later request of this thread sends. Each thread starts with its
-- share of the file REFRESH (see tokens.lua): at least one token per connection, since each
-- connection has one request in flight, plus one, since wrk calls request() once more per thread
-- than it sends (that token is dropped unused). BODY_PREFIX is the rest of the form, ending in
-- "refresh_token=".
dofile("scripts/load/statuses.lua")
dofile("scripts/load/tokens.lua")
local count = response
local queue, prefix

function init(args)
  statuses = {}
  queue = load_tokens("REFRESH")
  prefix = os.getenv("BODY_PREFIX")
end

function request()
  return post_form(prefix .. (table.remove(queue, 1) or "rt_none"))
end

function response(status, headers, body)
  count(status, headers, body)
  local token = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if token then table.insert(queue, token) end
end
