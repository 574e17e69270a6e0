-- nest/request.lua — the req object handlers get: the raw fields the core
-- passes (method, path, query_string, headers, body, ip, id) plus parsed
-- query, cookies and JSON body (lazily), path params, the user, and
-- validators that answer 400 with a clear message when input is bad.
local errors = require "nest.errors"
local json = require "nest.json"
local config = require "nest.config"
local clientip = require "nest.clientip"

local Request = {}
Request.__index = Request

local M = {}

-- raw.ip becomes the client's address (X-Forwarded-For believed only from
-- trusted_proxies); the TCP peer stays in raw.peer_ip.
function M.new(raw)
  raw.peer_ip = raw.ip
  local cfg = config.get()
  local list = cfg and cfg.trusted_proxies
  if list and #list > 0 then
    raw.ip = clientip.resolve(raw.ip, raw.headers["x-forwarded-for"], list)
  end
  return setmetatable(raw, Request)
end

local function unescape(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
M.unescape = unescape

local function bad(name, msg)
  errors.raise(400, "VALIDATION_ERROR", ("%s %s"):format(name, msg), { field = name })
end

-- The query as a table (first value wins for repeated names; all values in
-- query_all).
function Request:query_params()
  local q = rawget(self, "query")
  if q then return q end
  q = {}
  local all = {}
  local qs = self.raw_query
  if qs then
    for pair in qs:gmatch("[^&]+") do
      local k, v = pair:match("^([^=]*)=?(.*)$")
      k, v = unescape(k), unescape(v)
      -- what a handler reads goes to PostgreSQL, which takes only UTF-8
      -- text without NUL: refuse it here, for every route, not as a 500 there
      if not utf8.len(k) or not utf8.len(v) or k:find("\0", 1, true) or v:find("\0", 1, true) then
        bad(utf8.len(k) and not k:find("\0", 1, true) and k or "query", "must be UTF-8 text without NUL")
      end
      if q[k] == nil then q[k] = v end
      all[k] = all[k] or {}
      table.insert(all[k], v)
    end
  end
  self.query, self.query_all = q, all
  return q
end

function Request:header(name)
  return self.headers[name:lower()]
end

-- The token of an `Authorization: Bearer <token>` header, or nil. The one
-- rule for every reader (auth, /metrics, /ws): the scheme is
-- case-insensitive (RFC 9110 §11.1), the token has no spaces, and
-- whitespace around it is allowed.
function Request:bearer()
  local authz = self.headers.authorization
  return authz and authz:match("^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$") or nil
end

function Request:cookies()
  local c = rawget(self, "_cookies")
  if c then return c end
  c = {}
  local h = self.headers.cookie
  if h then
    for k, v in h:gmatch("([^=;%s]+)=([^;]*)") do
      if c[k] == nil then c[k] = v:gsub('^"(.*)"$', "%1") end
    end
  end
  self._cookies = c
  return c
end

function Request:cookie(name)
  return self:cookies()[name]
end

-- query_string(name, {required, default, max, min, pattern})
function Request:query_string(name, opts)
  opts = opts or {}
  local v = self:query_params()[name]
  if v == nil or v == "" then
    if opts.required then bad(name, "is required") end
    return opts.default
  end
  if opts.max and #v > opts.max then bad(name, "must be at most " .. opts.max .. " characters") end
  if opts.min and #v < opts.min then bad(name, "must be at least " .. opts.min .. " characters") end
  if opts.pattern and not v:match(opts.pattern) then bad(name, "has an invalid format") end
  return v
end
Request.query_str = Request.query_string

-- query_int(name, {required, default, min, max})
function Request:query_int(name, opts)
  opts = opts or {}
  local v = self:query_params()[name]
  if v == nil or v == "" then
    if opts.required then bad(name, "is required") end
    return opts.default
  end
  local n = math.tointeger(tonumber(v))
  if not n or not v:match("^%-?%d+$") then bad(name, "must be an integer") end
  if opts.min and n < opts.min then bad(name, "must be at least " .. opts.min) end
  if opts.max and n > opts.max then bad(name, "must be at most " .. opts.max) end
  return n
end

-- param_int(name): a path parameter that must be a positive integer (404 otherwise:
-- a malformed id names no resource).
function Request:param_int(name)
  local v = self.params and self.params[name]
  local n = v and v:match("^%d+$") and math.tointeger(tonumber(v))
  if not n then errors.raise(404, "NOT_FOUND", "Not found") end
  return n
end

-- The body parsed as JSON; 400 when it is not JSON, 415 when declared otherwise.
function Request:json()
  local cached = rawget(self, "_json")
  if cached ~= nil then return cached end
  local ct = self.headers["content-type"]
  if ct and not ct:lower():find("json", 1, true) then
    errors.raise(415, "UNSUPPORTED_MEDIA_TYPE", "Expected a JSON body (Content-Type: application/json)")
  end
  local body = self.body
  if not body or body == "" then errors.raise(400, "INVALID_JSON", "Expected a JSON body") end
  local v, err = json.decode(body)
  if v == nil then errors.raise(400, "INVALID_JSON", "The body is not valid JSON: " .. tostring(err)) end
  self._json = v
  return v
end

-- body_fields(schema): the JSON body validated by a nest.schema spec.
function Request:body_fields(spec)
  local v, err = require("nest.schema").validate(spec, self:json(), "body")
  if not v then errors.raise(400, "VALIDATION_ERROR", err) end
  return v
end

M.Request = Request
return M
