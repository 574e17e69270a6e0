-- plugins/auth/plextv.lua — the plex.tv client of the sign-in (reference:
-- external-apis.md "plex.tv"), and the configured Plex server's identity.
--
--   create_pin()            -> {id, code, expiresIn} | nil, err
--   get_pin(id)             -> {authToken|nil, expiresIn} | nil, "not_found" | nil, err
--   user(token)             -> plex.tv account | nil, "unauthorized" | nil, err
--   resources(token)        -> array of devices | nil, "unauthorized" | nil, err
--   auth_url(code)          -> the page the browser opens (app.plex.tv/auth#?...)
--   machine_id()            -> the configured PMS's machineIdentifier (cached ~1 h) | nil, err
--   server_device(list, id) -> the device of `list` that is that server, or nil
--
-- Every call carries the install's X-Plex-Client-Identifier (made once by
-- migration 0007, shared by every instance) and asks for JSON. err for an
-- unreachable or failing upstream is a string starting "plex.tv: " / "plex: ".
local fetch = require "nest.fetch"
local services = require "nest.services"
local cache = require "nest.cache"
local db = require "nest.db"
local json = require "nest.json"

local M = {}

local VERSION = "1.0.0"
local TIMEOUT = { connect = 3, total = 10 }

local client_id_memo
function M.client_id()
  if client_id_memo then return client_id_memo end
  local rows, err = db.query(
    "SELECT value FROM install_settings WHERE key = 'plex_client_identifier'")
  if not rows then return nil, "install settings: " .. tostring(err) end
  if not rows[1] then return nil, "install settings: no plex_client_identifier (run medianest migrate)" end
  client_id_memo = rows[1].value
  return client_id_memo
end

local function tv()
  local s = services.get("plextv") or {}
  return s.url or "https://plex.tv", s.options or {}, s
end

local function headers(token)
  local cid, err = M.client_id()
  if not cid then return nil, err end
  local _, opts = tv()
  local h = {
    Accept = "application/json",
    ["X-Plex-Client-Identifier"] = cid,
    ["X-Plex-Product"] = opts.product or "MediaNest",
    ["X-Plex-Version"] = VERSION,
    ["X-Plex-Platform"] = "Web",
    ["X-Plex-Device"] = "MediaNest",
    ["X-Plex-Device-Name"] = opts.product or "MediaNest",
  }
  if token then h["X-Plex-Token"] = token end
  return h
end

-- One call; -> decoded JSON body, status | nil, err, status
local function call(method, path, token, query)
  local h, herr = headers(token)
  if not h then return nil, herr end
  local base, _, s = tv()
  s = s.url and s or { url = base }
  local res, err = services.fetch(s, base:gsub("/+$", "") .. path,
    { method = method, headers = h, query = query, timeout = TIMEOUT, service = "plextv" })
  if not res then return nil, "plex.tv: " .. tostring(err) end
  if res.status == 401 then return nil, "unauthorized", 401 end
  if res.status == 404 then return nil, "not_found", 404 end
  if res.status < 200 or res.status >= 300 then
    return nil, ("plex.tv: %s %s answered %d"):format(method, path, res.status), res.status
  end
  local body = json.decode(res.body or "")
  if body == nil then return nil, "plex.tv: " .. path .. " did not answer JSON", res.status end
  return body, res.status
end

function M.create_pin()
  local b, err = call("POST", "/api/v2/pins", nil, { strong = "true" })
  if not b then return nil, err end
  if math.type(b.id) ~= "integer" or type(b.code) ~= "string" then
    return nil, "plex.tv: unexpected PIN answer"
  end
  return { id = b.id, code = b.code, expiresIn = math.tointeger(b.expiresIn) or 1800 }
end

function M.get_pin(id)
  local b, err = call("GET", "/api/v2/pins/" .. math.tointeger(id))
  if not b then return nil, err end
  local tok = b.authToken
  if tok == json.null or tok == "" then tok = nil end
  return { authToken = tok, expiresIn = b.expiresIn }
end

function M.user(token)
  return call("GET", "/api/v2/user", token)
end

function M.resources(token)
  local b, err = call("GET", "/api/v2/resources", token, { includeHttps = "1", includeRelay = "1" })
  if not b then return nil, err end
  if type(b) ~= "table" then return nil, "plex.tv: unexpected resources answer" end
  return b
end

local function enc(s) return fetch.encode_uri_component(s) end

function M.auth_url(code, forward_url)
  local _, opts = tv()
  local cid = M.client_id() or ""
  local base = opts.app_url or "https://app.plex.tv/auth"
  local u = base .. "#?clientID=" .. enc(cid) .. "&code=" .. enc(code)
    .. "&context%5Bdevice%5D%5Bproduct%5D=" .. enc(opts.product or "MediaNest")
  if forward_url then u = u .. "&forwardUrl=" .. enc(forward_url) end
  return u
end

-- The configured Plex Media Server's machineIdentifier, from its /identity.
function M.machine_id()
  local s = services.get("plex") or {}
  if not s.url then return nil, "plex: no Plex server is configured (services.plex.url)" end
  local url = s.url:gsub("/+$", "")
  local v, err = cache.fetch("auth:pms-machine:" .. url, { ttl = 3600 }, function()
    local h = { Accept = "application/json" }
    if s.token then h["X-Plex-Token"] = s.token end
    local res, ferr = services.fetch(s, url .. "/identity", { headers = h, timeout = TIMEOUT, service = "plex" })
    if not res then return nil, "plex: " .. tostring(ferr) end
    if res.status ~= 200 then return nil, "plex: /identity answered " .. res.status end
    local b = json.decode(res.body or "")
    local mid = type(b) == "table" and type(b.MediaContainer) == "table" and b.MediaContainer.machineIdentifier
    if type(mid) ~= "string" or mid == "" then return nil, "plex: /identity has no machineIdentifier" end
    return mid
  end)
  if not v then return nil, err or "plex: no machine identifier" end
  return v
end

function M.server_device(list, machine_id)
  for _, d in ipairs(list) do
    if type(d) == "table" and d.clientIdentifier == machine_id
       and type(d.provides) == "string" and ("," .. d.provides .. ","):find(",server,", 1, true) then
      return d
    end
  end
  return nil
end

return M
