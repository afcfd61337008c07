-- Helpers shared by the wrk scripts: decoding the harness's requests file.
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

return M
