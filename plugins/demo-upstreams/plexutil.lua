-- plugins/demo-upstreams/plexutil.lua — what the plex.tv and Plex Media
-- Server fakes share: XML writers in the two dialects (plex.tv wraps arrays,
-- PMS repeats child elements), the JSON-or-XML choice by Accept, the token
-- lookup (header or query), and the latency / failure control of a fake.
local json = require "nest.json"
local timer = require "nest.timer"

local M = {}

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["\n"] = "&#10;" }
local function esc(s) return (tostring(s):gsub('[&<>"\n]', ESC)) end
M.esc = esc

local function is_array(v) return type(v) == "table" and (v[1] ~= nil or json.is_array(v)) end

local function scalar(v)
  if v == true then return "1" elseif v == false then return "0" end
  return esc(v)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- One element: scalar fields become attributes (sorted, so the output is
-- stable), tables become children by `child(out, key, value)`.
local function element(out, name, t, child)
  out[#out + 1] = "<" .. name
  local kids = {}
  for _, k in ipairs(sorted_keys(t)) do
    local v = t[k]
    if type(v) == "table" then
      if v ~= json.null then kids[#kids + 1] = k end
    elseif v ~= json.null then
      out[#out + 1] = " " .. k .. '="' .. scalar(v) .. '"'
    end
  end
  if #kids == 0 then out[#out + 1] = "/>" return end
  out[#out + 1] = ">"
  for _, k in ipairs(kids) do child(out, k, t[k]) end
  out[#out + 1] = "</" .. name .. ">"
end

-- PMS dialect: an array under key K repeats one element per entry, named
-- by name_of(K, entry) (Metadata -> Video/Directory/..., Genre -> Genre).
function M.pms_xml(root_name, t, name_of)
  local out = { '<?xml version="1.0" encoding="UTF-8"?>\n' }
  local function child(o, k, v)
    if is_array(v) then
      for _, item in ipairs(v) do element(o, name_of(k, item), item, child) end
    else
      element(o, k, v, child)
    end
  end
  element(out, root_name, t, child)
  out[#out + 1] = "\n"
  return table.concat(out)
end

-- plex.tv dialect: an array under key K is <K> wrapping <singular(K)>
-- elements ("connections" -> <connections><connection/>...).
local function singular(k)
  if k:sub(-3) == "ies" then return k:sub(1, -4) .. "y" end
  if k:sub(-1) == "s" then return k:sub(1, -2) end
  return k
end
function M.tv_xml(root_name, t)
  local out = { '<?xml version="1.0" encoding="UTF-8"?>\n' }
  local function child(o, k, v)
    if is_array(v) then
      o[#o + 1] = "<" .. k .. ' size="' .. #v .. '">'
      for _, item in ipairs(v) do
        if type(item) == "table" then element(o, singular(k), item, child)
        else o[#o + 1] = "<" .. singular(k) .. ">" .. esc(item) .. "</" .. singular(k) .. ">" end
      end
      o[#o + 1] = "</" .. k .. ">"
    else
      element(o, k, v, child)
    end
  end
  if is_array(t) then child(out, root_name, t) else element(out, root_name, t, child) end
  out[#out + 1] = "\n"
  return table.concat(out)
end

function M.wants_json(req)
  local a = req.headers.accept
  return a ~= nil and a:find("application/json", 1, true) ~= nil
end

-- A Plex header, also accepted as a query parameter (X-Plex-Token=...).
function M.plex_param(req, name)
  local v = req.headers[name:lower()]
  if v and v ~= "" then return v end
  local q = req:query_params()
  v = q[name]
  if v and v ~= "" then return v end
  return nil
end

---------------------------------------------------------------------------
-- Latency and failure injection, one control per fake
---------------------------------------------------------------------------

local Control = {}
Control.__index = Control

function M.control(settings)
  local c = setmetatable({ defaults = settings }, Control)
  c:reset()
  return c
end

function Control:reset()
  local s = self.defaults
  self.latency_ms = s.latency_ms or 0
  self.failure_rate = s.failure_rate or 0
  self.failure_status = s.failure_status or 500
  self.fail_next = 0
  self.requests = 0
  self.failures = 0
end

function Control:state()
  return { latency_ms = self.latency_ms, failure_rate = self.failure_rate,
           failure_status = self.failure_status, fail_next = self.fail_next,
           requests = self.requests, failures = self.failures }
end

-- Apply a control body: {latency_ms, failure_rate, failure_status, fail_next, reset}.
-- Returns nil, message when a value is out of range.
function Control:apply(body)
  if type(body) ~= "table" then return nil, "expected a JSON object" end
  if body.reset then self:reset() end
  local function num(k, lo, hi)
    local v = body[k]
    if v == nil then return true end
    if type(v) ~= "number" or v < lo or v > hi then
      return nil, ("%s must be a number in [%s, %s]"):format(k, lo, hi)
    end
    self[k] = v
    return true
  end
  local ok, err = num("latency_ms", 0, 60000)
  if ok then ok, err = num("failure_rate", 0, 1) end
  if ok then ok, err = num("failure_status", 400, 599) end
  if ok then ok, err = num("fail_next", 0, 1e6) end
  if not ok then return nil, err end
  self.failure_status = math.tointeger(self.failure_status) or 500
  self.fail_next = math.tointeger(self.fail_next) or 0
  return true
end

-- Called at the start of every faked request: waits the latency, then
-- returns true when this request must fail (the caller answers the error).
function Control:before()
  self.requests = self.requests + 1
  if self.latency_ms > 0 then timer.sleep(self.latency_ms / 1000) end
  local fail = false
  if self.fail_next > 0 then
    self.fail_next = self.fail_next - 1
    fail = true
  elseif self.failure_rate > 0 and math.random() < self.failure_rate then
    fail = true
  end
  if fail then self.failures = self.failures + 1 end
  return fail
end

-- The routes GET/POST <prefix>/_control for a control.
function M.control_routes(r, prefix, control, extra)
  local opts = { auth = "public", at_root = true }
  local function show(res)
    local s = control:state()
    if extra and extra.state then extra.state(s) end
    return res:json(s)
  end
  r:get(prefix .. "/_control", opts, function(_, res) return show(res) end)
  r:post(prefix .. "/_control", { auth = "public", at_root = true, body_limit = 16 * 1024 }, function(req, res)
    local body = req:json()
    local ok, err = control:apply(body)
    if ok and extra and extra.apply then ok, err = extra.apply(body) end
    if not ok then return res:error(400, "VALIDATION_ERROR", err) end
    return show(res)
  end)
end

-- ISO-8601 UTC ("2024-05-01T12:00:00Z").
function M.iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

return M
