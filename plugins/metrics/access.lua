-- plugins/metrics/access.lua — who may read /metrics: a loopback client,
-- or a request bearing the metrics token. The client address honours
-- X-Forwarded-For only when the peer is one of config trusted_proxies (exact
-- addresses or IPv4 CIDR blocks); see init.lua for the rules.
local crypto = require "nest.crypto"

local M = {}

local function ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  if a > 255 or b > 255 or c > 255 or d > 255 then return nil end
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- "::ffff:1.2.3.4" -> "1.2.3.4"; surrounding spaces and brackets dropped.
local function normalise(ip)
  ip = ip:match("^%s*(.-)%s*$"):gsub("^%[(.*)%]$", "%1")
  local v4 = ip:lower():match("^::ffff:(%d+%.%d+%.%d+%.%d+)$")
  return v4 or ip:lower()
end

local function is_loopback(ip)
  ip = normalise(ip)
  if ip == "::1" then return true end
  local n = ipv4(ip)
  return n ~= nil and n >> 24 == 127
end

-- entry: an exact address or an IPv4 CIDR block.
local function matches(entry, ip)
  entry = normalise(entry)
  local net, bits = entry:match("^([%d%.]+)/(%d+)$")
  if net then
    local a, b = ipv4(net), ipv4(ip)
    bits = tonumber(bits)
    if not a or not b or bits > 32 then return false end
    local shift = 32 - bits
    return a >> shift == b >> shift
  end
  return entry == ip
end

local function trusted(list, ip)
  for _, e in ipairs(list) do
    if matches(e, ip) then return true end
  end
  return false
end

--- client_ip(req, cfg) -> the client's address, X-Forwarded-For honoured
-- only when the peer is a trusted proxy (see the header comment).
function M.client_ip(req, cfg)
  local ip = normalise(req.ip or "")
  local list = cfg.trusted_proxies or {}
  if #list == 0 or not trusted(list, ip) then return ip end
  local xff = req.headers["x-forwarded-for"]
  if not xff then return ip end
  local hops = {}
  for part in xff:gmatch("[^,]+") do hops[#hops + 1] = normalise(part) end
  for i = #hops, 1, -1 do
    if hops[i] ~= "" and not trusted(list, hops[i]) then return hops[i] end
  end
  return hops[1] ~= "" and hops[1] or ip
end

M.is_loopback = is_loopback

local function token_ok(req, token)
  if type(token) ~= "string" or token == "" then return false end
  local auth = req.headers.authorization
  if not auth then return false end
  local given = auth:match("^[Bb]earer%s+(%S+)%s*$")
  if not given then return false end
  return crypto.equal(given, token)
end

--- allowed(req, cfg) -> true when this request may read /metrics.
function M.allowed(req, cfg)
  if is_loopback(M.client_ip(req, cfg)) then return true end
  return token_ok(req, cfg.metrics and cfg.metrics.token)
end

return M
