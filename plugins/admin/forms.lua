-- plugins/admin/forms.lua — what an admin may set for each service, how a
-- PUT /admin/services/{name} body is checked, and what GET shows.
--
-- The API speaks camelCase (apiKey, webhookSecret, quotaBytes); nest.services
-- stores and resolves the config.lua names (api_key, quota_bytes). Each form
-- lists its secrets (API name -> stored field) and its options (API name ->
-- stored key and type). A body field left out keeps the saved value; null
-- clears it (config.lua's value applies again); secrets are never shown, only
-- { set, source }.
local json = require "nest.json"

local M = {}

-- Bounds checked before any per-field work: a body holding hundreds of
-- thousands of unknown keys once kept the loop busy for seconds.
M.MAX_BODY = 16 * 1024
M.MAX_FIELDS = 32

local function too_many(t)
  local n = 0
  for _ in pairs(t) do
    n = n + 1
    if n > M.MAX_FIELDS then return true end
  end
  return false
end

local TIMEOUT = { key = "timeout", type = "number", min = 1, max = 60 }

M.FORMS = {
  plex = {
    url = true,
    secrets = { token = "token", apiKey = "token" },    -- apiKey: the generic name of the same secret
    options = { timeout = TIMEOUT },
  },
  plextv = {
    url = true,
    secrets = {},
    options = {
      appUrl = { key = "app_url", type = "url" },
      product = { key = "product", type = "string", min = 1, max = 100 },
      timeout = TIMEOUT,
    },
  },
  overseerr = {
    url = true,
    secrets = { apiKey = "api_key", webhookSecret = "webhook_secret" },
    options = { timeout = TIMEOUT },
  },
  uptime_kuma = {
    url = true,
    secrets = { apiKey = "api_key" },
    options = {
      slug = { key = "slug", type = "string", min = 1, max = 64, pattern = "^[%w][%w_%-]*$" },
      timeout = TIMEOUT,
    },
  },
  youtube = {
    url = false,
    secrets = {},
    options = {
      root = { key = "root", type = "path" },
      concurrency = { key = "concurrency", type = "integer", min = 1, max = 16 },
      quotaBytes = { key = "quota_bytes", type = "integer", min = 0, max = 1 << 50 },
      allowedHosts = { key = "allowed_hosts", type = "hosts" },
    },
  },
}

-- The API name each stored secret field is shown under.
local SHOWN = { token = "token", api_key = "apiKey", webhook_secret = "webhookSecret" }

local function has_ctl(s) return s:find("[%z\1-\31\127]") ~= nil end

-- check_url(v) -> nil | why: absolute http(s) URL with a host, no
-- credentials (they belong in a secret field), no fragment.
function M.check_url(v)
  if type(v) ~= "string" then return "must be a string" end
  if #v > 2048 then return "must be at most 2048 characters" end
  if has_ctl(v) or v:find("%s") then return "must not contain spaces or control characters" end
  local scheme, rest = v:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return "must be an absolute URL (http:// or https://)" end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return "must use http or https, not " .. scheme end
  local authority = rest:match("^([^/?#]*)")
  if authority == "" then return "must name a host" end
  if authority:find("@", 1, true) then return "must not hold credentials: use the secret fields" end
  local host, port = authority:match("^(%[[%x:.]+%])(.*)$")
  if not host then host, port = authority:match("^([^:]+)(.*)$") end
  if not host or host == "" then return "must name a host" end
  if port ~= "" then
    local n = port:match("^:(%d+)$")
    if not n or tonumber(n) < 1 or tonumber(n) > 65535 then return "has an invalid port" end
  end
  if v:find("#", 1, true) then return "must not have a fragment" end
  return nil
end

local function check_option(spec, v)
  local t = spec.type
  if t == "url" then return M.check_url(v) end
  if t == "string" or t == "path" then
    if type(v) ~= "string" then return "must be a string" end
    local min, max = spec.min or 1, spec.max or 1024
    if #v < min then return "must not be empty" end
    if #v > max then return "must be at most " .. max .. " characters" end
    if has_ctl(v) then return "must not contain control characters" end
    if spec.pattern and not v:match(spec.pattern) then return "has an invalid format" end
    return nil
  end
  if t == "integer" or t == "number" then
    if type(v) ~= "number" or (t == "integer" and math.type(v) ~= "integer") then
      return "must be " .. (t == "integer" and "an integer" or "a number")
    end
    if v ~= v then return "must be a number" end
    if spec.min and v < spec.min then return "must be at least " .. spec.min end
    if spec.max and v > spec.max then return "must be at most " .. spec.max end
    return nil
  end
  if t == "hosts" then
    if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then return "must be an array of host names" end
    if #v > 50 then return "must list at most 50 hosts" end
    for i, host in ipairs(v) do
      if type(host) ~= "string" or #host > 253 or not host:match("^[%w][%w%.%-]*$") then
        return ("[%d] must be a host name (letters, digits, dots, dashes)"):format(i)
      end
    end
    return nil
  end
  error("forms: unknown option type " .. tostring(t))
end

-- parse(name, body) -> fields for nest.services.save | nil, errors
-- errors = array of { field, message }.
function M.parse(name, body)
  local form = M.FORMS[name]
  local errs = {}
  local function bad(field, msg) errs[#errs + 1] = { field = field, message = field .. " " .. msg } end
  if type(body) ~= "table" or (next(body) ~= nil and body[1] ~= nil) or json.is_array(body) then
    return nil, { { field = "body", message = "body must be a JSON object" } }
  end
  if too_many(body) then
    return nil, { { field = "body", message = ("body has more than %d fields"):format(M.MAX_FIELDS) } }
  end
  if type(body.options) == "table" and too_many(body.options) then
    return nil, { { field = "options", message = ("options has more than %d fields"):format(M.MAX_FIELDS) } }
  end
  local out = {}
  for k, v in pairs(body) do
    if type(k) ~= "string" then
      bad(tostring(k), "is not a field")
    elseif k == "url" then
      if not form.url then bad(k, "is not a setting of " .. name)
      elseif v == json.null then out.url = json.null
      else
        local why = M.check_url(v)
        if why then bad(k, why) else out.url = v end
      end
    elseif k == "enabled" then
      if type(v) ~= "boolean" then bad(k, "must be true or false") else out.enabled = v end
    elseif k == "options" then
      if v == json.null then out.options = json.null
      elseif type(v) ~= "table" or json.is_array(v) or (next(v) ~= nil and v[1] ~= nil) then
        bad(k, "must be an object")
      else
        local opts = {}
        for ok, ov in pairs(v) do
          local spec = type(ok) == "string" and form.options[ok]
          if not spec then
            bad("options." .. tostring(ok), "is not an option of " .. name)
          elseif ov ~= json.null then
            local why = check_option(spec, ov)
            if why then bad("options." .. ok, why) else opts[spec.key] = ov end
          end
        end
        out.options = opts
      end
    elseif form.secrets[k] then
      local field = form.secrets[k]
      if out[field] ~= nil then
        bad(k, "repeats a secret given under another name")
      elseif v == json.null then
        out[field] = json.null
      elseif type(v) ~= "string" then
        bad(k, "must be a string, or null to clear it")
      elseif v == "" or #v > 4096 then
        bad(k, "must be 1 to 4096 characters (null clears it)")
      elseif has_ctl(v) then
        bad(k, "must not contain control characters")
      else
        out[field] = v
      end
    else
      bad(k, "is not a setting of " .. name)
    end
  end
  if #errs > 0 then
    table.sort(errs, function(a, b) return a.field < b.field end)
    return nil, errs
  end
  return out
end

-- view(public) -> the JSON an admin sees, from nest.services.public_view.
function M.view(pv)
  local form = M.FORMS[pv.name]
  local options = {}
  for api, spec in pairs(form.options) do
    local v = pv.options[spec.key]
    if v ~= nil then options[api] = v end
  end
  local out = {
    name = pv.name, enabled = pv.enabled, url = pv.url or json.null,
    options = options, saved = pv.saved,
    updatedAt = pv.updatedAt or json.null, updatedBy = pv.updatedBy or json.null,
  }
  if not form.url then out.url = nil end
  for field, s in pairs(pv.secrets) do
    out[SHOWN[field] or field] = { set = s.set, source = s.source or json.null }
  end
  return out
end

return M
