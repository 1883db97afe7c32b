-- Shared by code.lua and refresh.lua, loaded after statuses.lua: each wrk thread takes its share
-- of the lines of the file named by the environment variable NAME (one token a line): line i goes
-- to thread i mod THREADS. wrk runs setup() in its main state and init() in each thread's, so the
-- thread number travels through thread:set().
local next_id = 0
local count_thread = setup
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  count_thread(thread)
end

function load_tokens(name)
  local threads_total = tonumber(os.getenv("THREADS") or "1")
  local file = assert(io.open(assert(os.getenv(name), name .. " is not set"), "r"))
  local mine, i = {}, 0
  for line in file:lines() do
    if line ~= "" and i % threads_total == thread_id then table.insert(mine, line) end
    i = i + 1
  end
  file:close()
  return mine
end

-- POSTs the form PREFIX .. token.
function post_form(body)
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
