-- nest/fetch.lua — outbound HTTP (see core/lua_fetch.c, core/fetch.c).
--
--   local fetch = require "nest.fetch"
--   local res, err = fetch(url, {
--     method = "GET",                 -- any token; default GET
--     headers = { Accept = "..." },   -- a value may be an array (repeated header)
--     query = { q = "a b" },          -- appended, percent-encoded (a space is %20)
--     body = "...",                   -- or json = { ... } (sets Content-Type)
--     timeout = 5,                    -- total seconds, or { connect = 1, total = 5 }
--     max_size = 1048576,             -- response body limit (default 10 MiB)
--     follow = true,                  -- follow redirects (off by default; max 5); a hop to
--                                     -- another origin drops the caller's headers
--     service = "overseerr",          -- label of upstream_request_duration_seconds
--     addresses = "public",           -- or "lan" (default): see "Addresses" below
--   })
--   res = { status, ok, headers (lower-case), body, json(), new_connections,
--           redirects, url, duration }
--   err = "timeout" | "connect refused: ..." | "too large" |
--         "address not allowed: <ip> (...)" | ...
--   fetch.resolve(host) -> {{address, class = "public"|"private"|"forbidden"}, ...}
--
-- Addresses: every request refuses link-local, cloud-metadata and reserved
-- addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200,
-- multicast...); addresses = "public" refuses loopback and private
-- networks too. The check is on the address actually connected to (after
-- DNS, for every address and redirect, and again on a kept-alive
-- connection), so a name that resolves to a metadata address is refused
-- like the literal (core/fetch.c, fetch_addr_class).
--
-- The body is decoded (gzip, deflate, br are asked for and undone), so
-- res.headers["content-length"] / ["content-encoding"] describe the wire,
-- not res.body; max_size limits the decoded bytes. A 3xx is a response like
-- any other unless follow is set (then PUT, DELETE... keep their method
-- across the redirect; a POST becomes a GET after 301/302/303).
--
-- Connections are kept alive and reused, at most fetch.max_host_connections
-- (config, default 10) to one host at once; TLS certificates are always
-- verified. Defaults for the timeouts and the size limit come from the
-- config's `fetch` table when it has one.
local core = require "nest.core.fetch"
local json = require "nest.json"
local napp = require "nest.core.app"

local follow

local M = {}

-- Percent-encode everything but A-Z a-z 0-9 - _ . ~ (so ! ' ( ) * are
-- encoded too: Overseerr rejects them raw, unlike JS encodeURIComponent).
function M.encode_uri_component(s)
  return (tostring(s):gsub("[^A-Za-z0-9%-_%.~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end
local enc = M.encode_uri_component

-- A query table as a string: keys sorted, array values repeat the key.
function M.encode_query(q)
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = q[k]
    if v == nil then v = q[tonumber(k)] end
    if type(v) == "table" then
      for _, x in ipairs(v) do parts[#parts + 1] = enc(k) .. "=" .. enc(x) end
    elseif v ~= false then
      parts[#parts + 1] = enc(k) .. "=" .. enc(v == true and "true" or v)
    end
  end
  return table.concat(parts, "&")
end

local Response = {}
Response.__index = Response

-- res:json() -> the decoded body | nil, err
function Response:json()
  if self._json == nil then
    local v, err = json.decode(self.body)
    if v == nil then return nil, "invalid JSON: " .. tostring(err) end
    self._json = v
  end
  return self._json
end

local function config_defaults()
  local ok, config = pcall(require, "nest.config")
  if not ok then return {} end
  local ok2, cfg = pcall(config.get)
  return ok2 and type(cfg) == "table" and type(cfg.fetch) == "table" and cfg.fetch or {}
end

local function header_lines(headers, have)
  local lines = {}
  for k, v in pairs(headers or {}) do
    if type(k) ~= "string" then error("fetch: header names must be strings", 3) end
    have[k:lower()] = true
    if type(v) == "table" then
      for _, x in ipairs(v) do lines[#lines + 1] = k .. ": " .. tostring(x) end
    else
      lines[#lines + 1] = k .. ": " .. tostring(v)
    end
  end
  return lines
end

-- "scheme://host:port" of an absolute http(s) URL (lower case, the default
-- port filled in), or nil.
local DEFAULT_PORT = { http = "80", https = "443" }
function M.origin(url)
  if type(url) ~= "string" then return nil end
  local scheme, authority = url:match("^(%a[%w+.-]*)://([^/?#]*)")
  if not scheme then return nil end
  scheme = scheme:lower()
  authority = authority:gsub("^.*@", ""):lower()
  local host, port = authority:match("^(%[[^%]]*%])(.*)$")
  if not host then host, port = authority:match("^([^:]*)(.*)$") end
  port = port:match("^:(%d+)$") or DEFAULT_PORT[scheme]
  if not host or host == "" or not port then return nil end
  return scheme .. "://" .. host .. ":" .. port
end

-- Location resolved against the URL it came from.
local function location(base, loc)
  if loc:match("^%a[%w+.-]*://") then return loc end
  local scheme, authority = base:match("^(%a[%w+.-]*)://([^/?#]*)")
  if loc:sub(1, 2) == "//" then return scheme .. ":" .. loc end
  if loc:sub(1, 1) == "/" then return scheme .. "://" .. authority .. loc end
  return (base:match("^(%a[%w+.-]*://[^?#]*/)") or (scheme .. "://" .. authority .. "/")) .. loc
end

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
local MAX_REDIRECTS, DEFAULT_TOTAL = 5, 10

-- Redirects are followed here, one request per hop, not by curl: curl
-- sends the caller's headers (an X-Api-Key, an X-Plex-Token) to whatever
-- host a Location names; a hop to another origin goes without them. A
-- POST becomes a GET after 301/302/303 (any method after 303); 307/308
-- keep method and body. The total timeout covers the whole chain.
follow = function(url, req, total, max)
  local deadline = napp.hrtime() + total
  local hops = 0
  while true do
    local left = deadline - napp.hrtime()
    if left <= 0 then return nil, "timeout" end
    req.timeout = left
    local res, err, detail = core.request(url, req)
    if not res then return nil, err, detail end
    local loc = res.headers.location
    if max == 0 or not REDIRECT[res.status] or not loc then
      res.redirects = hops
      return res
    end
    if hops >= max then return nil, "too many redirects" end
    hops = hops + 1
    local nxt = location(url, loc)
    if M.origin(nxt) ~= M.origin(url) then req.headers = {} end
    if res.status == 303 and req.method ~= "HEAD" or (res.status <= 302 and req.method == "POST") then
      req.method, req.body = "GET", nil
      local kept = {}
      for _, line in ipairs(req.headers) do
        if not line:lower():match("^content%-type:") then kept[#kept + 1] = line end
      end
      req.headers = kept
    end
    url = nxt
  end
end

function M.fetch(url, opts)
  if type(url) ~= "string" then error("fetch: url must be a string", 2) end
  opts = opts or {}
  local defaults = config_defaults()
  local have = {}
  local lines = header_lines(opts.headers, have)
  local body = opts.body
  if opts.json ~= nil then
    local err
    body, err = json.encode(opts.json)
    if not body then error("fetch: cannot encode opts.json: " .. tostring(err), 2) end
    if not have["content-type"] then lines[#lines + 1] = "Content-Type: application/json" end
    if not have["accept"] then lines[#lines + 1] = "Accept: application/json" end
  end
  if opts.query then
    local qs = type(opts.query) == "table" and M.encode_query(opts.query) or tostring(opts.query)
    if qs ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. qs end
  end
  local connect, total = defaults.connect_timeout, defaults.timeout
  local t = opts.timeout
  if type(t) == "number" then total = t
  elseif type(t) == "table" then connect, total = t.connect or connect, t.total or total
  elseif t ~= nil then error("fetch: opts.timeout must be a number or {connect, total}", 2) end
  local req = {
    method = opts.method and tostring(opts.method):upper() or "GET",
    headers = lines,
    body = body,
    connect_timeout = connect,
    max_size = opts.max_size or defaults.max_size,
    service = opts.service,
    addresses = opts.addresses,
    max_host_connections = defaults.max_host_connections,
  }
  local max = type(opts.follow) == "number" and opts.follow or opts.max_redirects or MAX_REDIRECTS
  local res, err, detail = follow(url, req, total or DEFAULT_TOTAL, opts.follow and max or 0)
  if not res then return nil, err, detail end
  res.ok = res.status >= 200 and res.status < 300
  return setmetatable(res, Response)
end

M.stats = core.stats
M.resolve = core.resolve

return setmetatable(M, { __call = function(_, url, opts) return M.fetch(url, opts) end })
