-- Step POST: one wrk thread per connection, each thread owning one patient session, so a
-- session's posts are strictly one after another. The step form carries the response's
-- optimistic-lock version (lock_version); every accepted save (303) moves it on by one, so the
-- thread counts it forward; a 409 conflict page carries the current version and resynchronises.
-- Requests file format: as replay.lua; line N (0-based) belongs to thread N. The body must hold
-- "lock_version=<n>".

-- Load common.lua from this script's own folder, wherever wrk is started from.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")
local unescape, split = common.unescape, common.split

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local method, path, headers, body_before, body_after, lock

function init(args)
  local file = assert(io.open(os.getenv("BENCH_REQUESTS"), "r"))
  local lines = {}
  for line in file:lines() do
    if #line > 0 then table.insert(lines, line) end
  end
  file:close()
  local f = split(lines[(thread_index or 0) % #lines + 1], "\t")
  method, path = unescape(f[1]), unescape(f[2])
  headers = {}
  for _, header in ipairs(split(unescape(f[3] or ""), "\n")) do
    local colon = string.find(header, ":", 1, true)
    if colon then headers[header:sub(1, colon - 1)] = header:sub(colon + 1):gsub("^%s+", "") end
  end
  local body = unescape(f[4] or "")
  local s, e, n = string.find(body, "lock_version=(%d+)")
  assert(s, "the POST body has no lock_version field")
  body_before, body_after, lock = body:sub(1, s - 1), body:sub(e + 1), tonumber(n)
end

function request()
  return wrk.format(method, path, headers, body_before .. "lock_version=" .. lock .. body_after)
end

function response(status, response_headers, body)
  if status == 303 or status == 302 then
    lock = lock + 1
  elseif status == 409 and body then
    local current = string.match(body, 'name="lock_version" value="(%d+)"')
    if current then lock = tonumber(current) end
  end
end

-- The one JSON line the harness reads back.
done = common.report
