-- Replays prepared requests round-robin and prints one JSON result line when done.
--
-- BENCH_REQUESTS names a file with one request per line, four tab-separated fields, each
-- percent-encoded: METHOD, PATH, HEADERS ("Name: value" lines), BODY. The harness writes it with
-- the cookies, CSRF tokens, bearer tokens and form bodies it got from real requests, so a step
-- POST carries the same valid answers each time. Requests are formatted once per thread at init.

-- Load common.lua from this script's own folder, wherever wrk is started from.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path
local common = require("common")
local unescape, split = common.unescape, common.split

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local prepared = {}
local position = 0

function init(args)
  local path = os.getenv("BENCH_REQUESTS")
  local file = assert(io.open(path, "r"), "cannot open BENCH_REQUESTS file " .. tostring(path))
  local index, mine, total = 0, thread_index or 0, tonumber(os.getenv("BENCH_THREADS") or "1")
  local all = {}
  for line in file:lines() do
    if #line > 0 then
      local f = split(line, "\t")
      local headers = {}
      for _, header in ipairs(split(unescape(f[3] or ""), "\n")) do
        local colon = string.find(header, ":", 1, true)
        if colon then
          headers[header:sub(1, colon - 1)] = header:sub(colon + 1):gsub("^%s+", "")
        end
      end
      local body = unescape(f[4] or "")
      if #body == 0 then body = nil end
      local raw = wrk.format(unescape(f[1]), unescape(f[2]), headers, body)
      table.insert(all, raw)
      if index % total == mine then table.insert(prepared, raw) end
      index = index + 1
    end
  end
  file:close()
  if #prepared == 0 then prepared = all end  -- more threads than requests: share them
  position = mine % #prepared
end

function request()
  position = position % #prepared + 1
  return prepared[position]
end

-- The one JSON line the harness reads back.
done = common.report
