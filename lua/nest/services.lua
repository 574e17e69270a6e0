-- nest/services.lua — where an integration is and how to reach it.
--
-- A service (plex, plextv, overseerr, uptime_kuma, youtube) is configured in
-- two places: config.lua's `services.<name>` (and `serve --demo`, which points
-- them at the demo upstreams), and what an admin saved in the service_config
-- table (PUT /api/v1/admin/services/{name}), whose values win. get() merges
-- the two and decrypts the secrets, so a plugin never reads either directly.
--
--   get(name) -> { name, enabled, url, api_key, webhook_secret, token,
--                  options = { ...non-secret settings } }   | nil (unknown name)
--   forget([name])   drop the memo after a change (the admin plugin calls it)
--
-- Results are memoised per generation for a few seconds: a service's
-- settings are read on every upstream call, and a change made on another
-- instance is visible within MEMO_TTL.
local config = require "nest.config"
local secrets = require "nest.secrets"
local json = require "nest.json"
local log = require "nest.log"

local M = {}

M.NAMES = { "plex", "plextv", "overseerr", "uptime_kuma", "youtube" }
M.SECRET_FIELDS = { "api_key", "webhook_secret", "token", "password" }
local MEMO_TTL = 5

local memo = {}      -- name -> { at = seconds, value = resolved }

local known = {}
for _, n in ipairs(M.NAMES) do known[n] = true end

local function now() return require("nest.core.app").hrtime() end

local function is_secret(k)
  for _, s in ipairs(M.SECRET_FIELDS) do if s == k then return true end end
  return false
end

local function from_config(name)
  local cfg = config.get() or {}
  local c = (cfg.services or {})[name] or {}
  local out = { name = name, enabled = c.enabled ~= false, url = c.url, options = {} }
  for k, v in pairs(c) do
    if is_secret(k) then out[k] = v
    elseif k ~= "url" and k ~= "enabled" then out.options[k] = v end
  end
  return out
end

local function purpose(name, field) return "service:" .. name .. ":" .. field end

local function open_field(name, field, blob)
  if blob == nil or blob == json.null then return nil end
  local v, err = secrets.open(blob, purpose(name, field))
  if not v then log.warn("service secret does not decrypt", { service = name, field = field, error = err }) end
  return v
end

local function from_db(name)
  local ok, db = pcall(require, "nest.db")
  if not ok then return nil end
  local cfg = config.get() or {}
  if not (cfg.database and cfg.database.url) then return nil end
  local rows, err = db.query(
    "SELECT enabled, url, api_key_enc, webhook_secret_enc, secrets_enc, settings " ..
    "FROM service_config WHERE name = $1", name)
  if not rows then
    log.warn("service_config unreadable; using config.lua", { service = name, error = tostring(err) })
    return nil
  end
  return rows[1]
end

local function merge_row(out, name, row)
  out.enabled = row.enabled
  if row.url ~= json.null and row.url ~= nil then out.url = row.url end
  out.api_key = open_field(name, "api_key", row.api_key_enc) or out.api_key
  out.webhook_secret = open_field(name, "webhook_secret", row.webhook_secret_enc) or out.webhook_secret
  local more = open_field(name, "secrets", row.secrets_enc)
  if more then
    for k, v in pairs(json.decode(more) or {}) do out[k] = v end
  end
  for k, v in pairs(type(row.settings) == "table" and row.settings or {}) do out.options[k] = v end
  out.saved = true
end

function M.get(name)
  if not known[name] then return nil end
  local m = memo[name]
  local t = now()
  if m and t - m.at < MEMO_TTL then return m.value end
  local out = from_config(name)
  local row = from_db(name)
  if row then merge_row(out, name, row) end
  memo[name] = { at = t, value = out }
  return out
end

function M.forget(name)
  if name then memo[name] = nil else memo = {} end
end

-- The purpose under which a service's secret field is sealed (for the admin
-- plugin, which writes service_config).
M.purpose = purpose

return M
