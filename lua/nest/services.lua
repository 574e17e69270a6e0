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
--   save(name, fields, by_user_id) -> true | nil, err
--                    write the admin's settings (secrets sealed); see save()
--   public_view(name) -> what an admin may see: no secret values, only
--                    whether each secret is set and where it comes from
--   SECRETS[name]    the secret fields each service has
--   fetch(s, url, opts) -> nest.fetch's answer, for a request to service s
--                    (what get returned): refused unless url is on s.url's
--                    origin; reaches loopback/private addresses only when
--                    s.url itself is on them (addresses(s.url))
--   addresses(url)   "lan" | "public", see fetch()
--   origin(url)      "scheme://host:port" (lower case, default port filled in) | nil
--
-- Secrets go to the saved URL's host only: saving a URL on another origin
-- clears the saved secrets not given in the same save, and config.lua's
-- secrets apply only while the URL is on config.lua's URL's origin.
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

function M.origin(url) return require("nest.fetch").origin(url) end

local function host_of(url)
  local o = M.origin(url)
  if not o then return nil end
  local host = o:match("^%a[%w+.-]*://(.*):%d+$")
  return (host:gsub("^%[(.*)%]$", "%1"))
end

local ADDR_TTL = 60
local addr_memo = {}   -- host -> { at, value }

-- "lan" when every address url's host resolves to is loopback or private
-- (a Plex on the LAN is normal), else "public" (also when it does not
-- resolve). Judged once a minute per host; the connect-time check in
-- nest.fetch then holds a "public" service to public addresses, whatever
-- its name resolves to later (DNS rebinding) or wherever it redirects.
function M.addresses(url)
  local host = host_of(url)
  if not host then return "public" end
  local m = addr_memo[host]
  if m and now() - m.at < ADDR_TTL then return m.value end
  local list = require("nest.fetch").resolve(host)
  local value = "public"
  if type(list) == "table" and #list > 0 then
    value = "lan"
    for _, a in ipairs(list) do
      if a.class ~= "private" then value = "public" break end
    end
  end
  addr_memo[host] = { at = now(), value = value }
  return value
end

function M.fetch(s, url, opts)
  local want = s and M.origin(s.url)
  if not want or M.origin(url) ~= want then
    return nil, "not the service's address: requests with its settings go to " .. tostring(want)
  end
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.addresses = M.addresses(s.url)
  o.follow = false   -- a redirect elsewhere would carry the service's secrets with it
  return require("nest.fetch").fetch(url, o)
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

-- config.lua's secrets were meant for config.lua's URL: not for a URL an
-- admin saved on another origin.
local function drop_config_secrets(out, base)
  if out.url == base.url or M.origin(out.url) == M.origin(base.url) then return end
  for _, field in ipairs(M.SECRET_FIELDS) do
    if out[field] ~= nil and out[field] == base[field] then out[field] = nil end
  end
end

function M.get(name)
  if not known[name] then return nil end
  local m = memo[name]
  local t = now()
  if m and t - m.at < MEMO_TTL then return m.value end
  local out = from_config(name)
  local row = from_db(name)
  if row then
    local base = from_config(name)
    merge_row(out, name, row)
    drop_config_secrets(out, base)
  end
  memo[name] = { at = t, value = out }
  return out
end

function M.forget(name)
  if name then memo[name] = nil else memo = {} end
end

-- The purpose under which a service's secret field is sealed (for the admin
-- plugin, which writes service_config).
M.purpose = purpose

-- Which secrets each service has. api_key and webhook_secret have their own
-- columns; the others live together in secrets_enc, an encrypted JSON object.
M.SECRETS = {
  plex = { "token" },
  plextv = {},
  overseerr = { "api_key", "webhook_secret" },
  uptime_kuma = { "api_key" },
  youtube = {},
}
local COLUMN = { api_key = "api_key_enc", webhook_secret = "webhook_secret_enc" }

local function is_null(v) return v == nil or v == json.null end

-- save(name, fields, by_user_id) -> true | nil, err
-- fields (validated by the caller): url, enabled, options (a table of
-- non-secret settings, replacing the saved ones), and secret fields
-- (api_key, webhook_secret, token, password). A field left out keeps its
-- saved value; json.null clears it (config.lua's value, if any, applies
-- again). One transaction, the row locked, so concurrent saves of two
-- different secrets both land. Drops this instance's memo; other instances
-- see the change within MEMO_TTL.
function M.save(name, fields, by)
  if not known[name] then return nil, "unknown service " .. tostring(name) end
  local db = require "nest.db"
  local ok, err = db.tx(function()
    -- a first save starts from config.lua's enabled, not the column's default
    local r, e = db.query("INSERT INTO service_config (name, enabled) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                          name, from_config(name).enabled)
    if not r then return nil, e end
    local rows
    rows, e = db.query("SELECT enabled, url, api_key_enc, webhook_secret_enc, secrets_enc, settings " ..
                       "FROM service_config WHERE name = $1 FOR UPDATE", name)
    if not rows then return nil, e end
    local cur = rows[1]
    local enabled = cur.enabled
    if fields.enabled ~= nil and fields.enabled ~= json.null then enabled = fields.enabled == true end
    local url = cur.url
    if fields.url ~= nil then url = fields.url end
    -- the saved secrets were given for the old address: a new origin gets
    -- none of them unless this save gives them again
    local old_effective = (cur.url ~= nil and cur.url ~= json.null) and cur.url or from_config(name).url
    local new_effective = (url ~= nil and url ~= json.null) and url or from_config(name).url
    if fields.url ~= nil and M.origin(old_effective) ~= M.origin(new_effective) then
      for _, field in ipairs(M.SECRETS[name] or {}) do
        if fields[field] == nil then fields[field] = json.null end
      end
    end
    local settings = type(cur.settings) == "table" and cur.settings or {}
    if fields.options == json.null then settings = {}
    elseif type(fields.options) == "table" then settings = fields.options end
    local cols = { api_key_enc = cur.api_key_enc, webhook_secret_enc = cur.webhook_secret_enc }
    local more = is_null(cur.secrets_enc) and {} or json.decode(open_field(name, "secrets", cur.secrets_enc) or "{}") or {}
    local more_changed = false
    for _, field in ipairs(M.SECRET_FIELDS) do
      local v = fields[field]
      if v ~= nil then
        if v ~= json.null and type(v) ~= "string" then error("nest.services.save: " .. field .. " must be a string or null", 0) end
        local col = COLUMN[field]
        if col then
          cols[col] = v == json.null and json.null or secrets.seal(v, purpose(name, field))
        else
          more[field] = v ~= json.null and v or nil
          more_changed = true
        end
      end
    end
    local secrets_enc = cur.secrets_enc
    if more_changed then
      secrets_enc = next(more) and secrets.seal(json.encode(more), purpose(name, "secrets")) or json.null
    end
    r, e = db.query([[UPDATE service_config SET enabled = $2, url = $3, api_key_enc = $4,
                        webhook_secret_enc = $5, secrets_enc = $6, settings = $7::jsonb, updated_by = $8
                      WHERE name = $1]],
      name, enabled, url, cols.api_key_enc, cols.webhook_secret_enc, secrets_enc,
      json.encode(settings), by or json.null)
    if not r then return nil, e end
    return true
  end)
  M.forget(name)
  if not ok then return nil, err end
  return true
end

-- Whether the saved row holds a (decryptable) value for this secret field.
local function saved_has(name, row, field)
  local col = COLUMN[field]
  if col then return open_field(name, field, row[col]) ~= nil end
  local more = open_field(name, "secrets", row.secrets_enc)
  return more ~= nil and (json.decode(more) or {})[field] ~= nil
end

-- public_view(name) -> { name, enabled, url, options, secrets = { field =
-- { set = bool, source = "saved"|"config"|nil } }, saved, updatedAt,
-- updatedBy } | nil. Read fresh (no memo): it backs the admin screens.
-- Never holds a secret's value.
function M.public_view(name)
  if not known[name] then return nil end
  local base = from_config(name)
  local out = { name = name, enabled = base.enabled, url = base.url, options = base.options,
                secrets = {}, saved = false }
  local row
  local ok, db = pcall(require, "nest.db")
  local cfg = config.get() or {}
  if ok and cfg.database and cfg.database.url then
    local rows, err = db.query(
      "SELECT enabled, url, api_key_enc, webhook_secret_enc, secrets_enc, settings, updated_at, updated_by " ..
      "FROM service_config WHERE name = $1", name)
    if not rows then return nil, err end
    row = rows[1]
  end
  local resolved = from_config(name)
  if row then
    merge_row(resolved, name, row)
    out.enabled, out.url, out.options = resolved.enabled, resolved.url, resolved.options
    out.saved, out.updatedAt, out.updatedBy = true, row.updated_at, row.updated_by
  end
  for _, field in ipairs(M.SECRETS[name]) do
    local source
    if row and saved_has(name, row, field) then source = "saved"
    elseif base[field] ~= nil and base[field] ~= "" and M.origin(out.url) == M.origin(base.url) then
      source = "config"                    -- config.lua's secret, for config.lua's URL only
    end
    out.secrets[field] = { set = source ~= nil, source = source }
  end
  return out
end

return M
