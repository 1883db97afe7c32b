-- POST authorization-code exchanges for a public client (RFC 6749 §4.1.3 with PKCE), one code per
-- request from the file CODES (see tokens.lua); BODY_PREFIX is the rest of the form, ending in
-- "code=". When this thread's codes are used up it sends a spent one again, which the server
-- refuses (invalid_grant): only the 200 answers count as exchanges.
dofile("scripts/load/statuses.lua")
dofile("scripts/load/tokens.lua")
local codes, position, prefix

function init(args)
  statuses = {}
  codes = load_tokens("CODES")
  position = 0
  prefix = os.getenv("BODY_PREFIX")
end

function request()
  position = position + 1
  return post_form(prefix .. (codes[position] or codes[1] or "ac_none"))
end
