-- Helpers shared by the wrk scripts: decoding the harness's requests file, and the result line.
local M = {}

function M.unescape(s)
  return (s:gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

function M.split(s, sep)
  local parts, start = {}, 1
  while true do
    local i = string.find(s, sep, start, true)
    if not i then table.insert(parts, s:sub(start)); return parts end
    table.insert(parts, s:sub(start, i - 1))
    start = i + #sep
  end
end

function M.report(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max))
end

return M
