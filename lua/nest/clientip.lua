-- nest/clientip.lua — who the client is: the peer's address, unless the
-- peer is one of config trusted_proxies (exact addresses, or IPv4 CIDR blocks
-- like "10.0.0.0/8"); then X-Forwarded-For is read from the right, skipping
-- trusted addresses, and the first untrusted one is the client. So behind a
-- proxy on 127.0.0.1 listed in trusted_proxies, a request forwarded for
-- 10.1.2.3 comes from 10.1.2.3; without trusted_proxies the header is
-- ignored (anyone can send it) and the proxy's address is the client.
--
-- nest.request applies it once per request: req.ip is the client,
-- req.peer_ip the TCP peer. Rate limits, /metrics access and sign-in limits
-- all read req.ip.
--
--   resolve(peer, xff, trusted_list) -> address (normalised)
--   normalise(ip)                    "::ffff:1.2.3.4" -> "1.2.3.4", brackets and case
--   is_loopback(ip)                  127.0.0.0/8 and ::1
local M = {}

local function ipv4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  if a > 255 or b > 255 or c > 255 or d > 255 then return nil end
  return ((a * 256 + b) * 256 + c) * 256 + d
end

function M.normalise(ip)
  ip = ip:match("^%s*(.-)%s*$"):gsub("^%[(.*)%]$", "%1")
  local v4 = ip:lower():match("^::ffff:(%d+%.%d+%.%d+%.%d+)$")
  return v4 or ip:lower()
end
local normalise = M.normalise

function M.is_loopback(ip)
  ip = normalise(ip or "")
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

function M.resolve(peer, xff, list)
  local ip = normalise(peer or "")
  if not list or #list == 0 or not trusted(list, ip) then return ip end
  if not xff then return ip end
  local hops = {}
  for part in xff:gmatch("[^,]+") do hops[#hops + 1] = normalise(part) end
  for i = #hops, 1, -1 do
    if hops[i] ~= "" and not trusted(list, hops[i]) then return hops[i] end
  end
  return hops[1] ~= "" and hops[1] or ip
end

return M
