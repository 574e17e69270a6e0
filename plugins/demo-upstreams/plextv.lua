-- plugins/demo-upstreams/plextv.lua — the plex.tv fake under /demo/plextv:
-- PINs (strong codes, bound to the client identifier that made them,
-- expiring), the approve page standing in for app.plex.tv/auth, the user
-- and resources endpoints, and three demo users (owner, friend, stranger).
-- JSON with `Accept: application/json`, XML otherwise, as plex.tv does.
--
-- State (PINs) lives in this generation's Lua state: a reload forgets the
-- PINs in flight, which a user sees as an expired PIN.
local json = require "nest.json"
local crypto = require "nest.crypto"
local util = require "plugins.demo-upstreams.plexutil"

local M = {}

local PREFIX = "/demo/plextv"
M.PREFIX = PREFIX
M.MACHINE_ID = "demo-pms-machine-0001"

local function user(id, name, title, token, server_token, access)
  return { id = id, username = name, title = title, token = token, server_token = server_token,
           access = access, uuid = ("d3m0%04d%s"):format(id, ("0"):rep(8)),
           email = name .. "@demo.medianest.invalid" }
end

-- The demo users, by username (contracts.md).
M.USERS = {
  owner = user(1001, "owner", "Olivia Owner", "demo-token-owner", "demo-token-owner", "owned"),
  friend = user(1002, "friend", "Frank Friend", "demo-token-friend", "demo-server-token-friend", "shared"),
  stranger = user(1003, "stranger", "Sam Stranger", "demo-token-stranger", nil, nil),
}
M.USER_ORDER = { "owner", "friend", "stranger" }

local by_token = {}
for _, u in pairs(M.USERS) do by_token[u.token] = u end
function M.user_by_token(t) return t and by_token[t] end

local state = { pins = {}, by_code = {}, next_id = nil }
local control
local settings

local function now() return os.time() end

local function send(req, res, root, value, status)
  if util.wants_json(req) then return res:json(value, status or 200) end
  return res:send(util.tv_xml(root, value), status or 200, "application/xml; charset=utf-8")
end

local function tv_error(req, res, status, code, message)
  local body = { errors = { { code = code, message = message, status = status } } }
  if util.wants_json(req) then return res:json(body, status) end
  return res:send(util.tv_xml("errors", body.errors), status, "application/xml; charset=utf-8")
end
M.tv_error = tv_error

local ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
local UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
local function random_code(len, alphabet)
  local bytes = crypto.random(len)
  local out = {}
  for i = 1, len do
    local b = bytes:byte(i) % #alphabet + 1
    out[i] = alphabet:sub(b, b)
  end
  return table.concat(out)
end

local function base_url(req)
  return "http://" .. (req.headers.host or "127.0.0.1")
end

local function pin_view(p, req)
  local left = p.expires_at - now()
  return {
    id = p.id, code = p.code, product = p.product, trusted = false,
    qr = base_url(req) .. PREFIX .. "/api/v2/pins/qr/" .. p.code,
    clientIdentifier = p.client_id,
    location = { code = "XX", european_union_member = false, continent_code = "XX",
                 country = "Demoland", city = "Localhost", time_zone = "UTC", postal_code = "00000",
                 in_privacy_restricted_country = false, subdivisions = "Demo", coordinates = "0.0, 0.0" },
    expiresIn = left > 0 and left or 0,
    createdAt = util.iso(p.created_at), expiresAt = util.iso(p.expires_at),
    authToken = p.token or json.null, newRegistration = json.null,
  }
end

local function live_pin(id)
  local p = state.pins[id]
  if not p then return nil end
  if p.expires_at <= now() then
    state.pins[id] = nil
    state.by_code[p.code] = nil
    return nil
  end
  return p
end

-- Approve a PIN for a demo user: returns true | nil, status, message.
local function approve(p, username)
  local u = M.USERS[username or "owner"]
  if not u then return nil, 400, "unknown demo user '" .. tostring(username) .. "'" end
  p.token = u.token
  p.user = u.username
  return true
end
M.approve_pin = function(id, username)
  local p = live_pin(id)
  if not p then return nil, 404, "PIN not found or expired" end
  return approve(p, username)
end

local function account(u, req)
  local thumb = base_url(req) .. PREFIX .. "/users/" .. u.uuid .. "/avatar"
  return {
    id = u.id, uuid = u.uuid, username = u.username, title = u.title, friendlyName = u.title,
    email = u.email, locale = json.null, confirmed = true, joinedAt = 1600000000 + u.id,
    emailOnlyAuth = false, hasPassword = true, protected = false, thumb = thumb,
    authToken = u.token, mailingListStatus = "unsubscribed", mailingListActive = false,
    scrobbleTypes = "", country = "XX", restricted = false, anonymous = json.null, home = false,
    guest = false, homeSize = 1, homeAdmin = false, maxHomeSize = 15, rememberExpiresAt = now() + 7 * 86400,
    subscription = { active = false, subscribedAt = json.null, status = "Inactive",
                     paymentService = json.null, plan = json.null, features = json.array() },
    subscriptionDescription = json.null, twoFactorEnabled = false, backupCodesCreated = false,
    roles = json.array(), entitlements = json.array(), services = json.array(),
  }
end

local function resources_for(u, req)
  local out = json.array()
  if not u.access then return out end
  local hh = req.headers.host or "127.0.0.1"
  local host = hh:match("^%[([^%]]*)%]") or hh:match("^([^:]+)") or "127.0.0.1"
  local port = tonumber(hh:match("%]?:(%d+)$")) or 80
  local pms = base_url(req) .. "/demo/plex"
  out[#out + 1] = {
    name = "Demo Plex Server", product = "Plex Media Server", productVersion = "1.40.2.8395",
    platform = "Linux", platformVersion = "12", device = "PC", clientIdentifier = M.MACHINE_ID,
    createdAt = "2023-01-01T00:00:00Z", lastSeenAt = util.iso(now()),
    provides = "server", ownerId = u.access == "owned" and json.null or M.USERS.owner.id,
    sourceTitle = u.access == "owned" and json.null or M.USERS.owner.username,
    publicAddress = host, accessToken = u.server_token, owned = u.access == "owned",
    home = false, synced = false, relay = true, presence = true, httpsRequired = false,
    publicAddressMatches = true, dnsRebindingProtection = false, natLoopbackSupported = true,
    connections = { { protocol = "http", address = host, port = port, uri = pms,
                      ["local"] = true, relay = false, IPv6 = host:find(":", 1, true) ~= nil } },
  }
  if u.access == "owned" then
    -- a player on the same account: clients must filter on `provides`
    out[#out + 1] = {
      name = "Living Room TV", product = "Plex for Android (TV)", productVersion = "10.0",
      platform = "Android", platformVersion = "12", device = "TV", clientIdentifier = "demo-player-tv-0001",
      createdAt = "2023-02-01T00:00:00Z", lastSeenAt = util.iso(now() - 3600),
      provides = "client,player,pubsub-player", ownerId = json.null, sourceTitle = json.null,
      publicAddress = host, accessToken = u.token, owned = true, home = false, synced = false,
      relay = false, presence = false, httpsRequired = false, publicAddressMatches = true,
      dnsRebindingProtection = false, natLoopbackSupported = false, connections = json.array(),
    }
  end
  return out
end

-- Page assets: the approve page standing in for app.plex.tv/auth. The
-- server's CSP forbids inline script and style, hence the two files.
local function read_asset(name)
  local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
  local f = assert(io.open(dir .. "/plextv-assets/" .. name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function user_options()
  local out = {}
  for _, name in ipairs(M.USER_ORDER) do
    local u = M.USERS[name]
    local note = u.access == "owned" and "owns the server" or u.access == "shared" and "server shared with them"
      or "no access to the server"
    out[#out + 1] = ('<label class="user"><input type="radio" name="user" value="%s"%s> <b>%s</b> (%s) <span class="note">%s</span></label>')
      :format(name, name == "owner" and " checked" or "", util.esc(u.title), name, note)
  end
  return table.concat(out, "\n")
end

function M.routes(r, conf, ctl)
  settings, control = conf, ctl
  state.pin_ttl = conf.pin_ttl
  local opts = { auth = "public", at_root = true }
  local takes_body = { auth = "public", at_root = true, body_limit = 16 * 1024 }
  local asset_cache = {}
  local function asset(name)
    asset_cache[name] = asset_cache[name] or read_asset(name)
    return asset_cache[name]
  end

  -- every API call goes through the control (latency, failures)
  local function api(fn)
    return function(req, res)
      if control:before() then
        return tv_error(req, res, control.failure_status, 1500, "Service temporarily unavailable")
      end
      return fn(req, res)
    end
  end

  local function token_user(req, res)
    local u = M.user_by_token(util.plex_param(req, "X-Plex-Token"))
    if not u then tv_error(req, res, 401, 1001, "User could not be authenticated") end
    return u
  end

  r:post(PREFIX .. "/api/v2/pins", takes_body, api(function(req, res)
    local cid = util.plex_param(req, "X-Plex-Client-Identifier")
    if not cid then return tv_error(req, res, 400, 1000, "X-Plex-Client-Identifier is missing") end
    local q = req:query_params()
    local strong = q.strong == "true" or q.strong == "1"
    if not state.next_id then
      local b = crypto.random(3)
      state.next_id = 300000000 + b:byte(1) * 65536 + b:byte(2) * 256 + b:byte(3)
    end
    state.next_id = state.next_id + 1
    local code
    repeat code = strong and random_code(25, ALNUM) or random_code(4, UPPER) until not state.by_code[code]
    local t = now()
    local p = { id = state.next_id, code = code, client_id = cid,
                product = util.plex_param(req, "X-Plex-Product") or "Plex Web",
                created_at = t, expires_at = t + (strong and state.pin_ttl or math.min(state.pin_ttl, 900)) }
    state.pins[p.id] = p
    state.by_code[code] = p
    return send(req, res, "pin", pin_view(p, req), 201)
  end))

  r:get(PREFIX .. "/api/v2/pins/{id}", opts, api(function(req, res)
    local cid = util.plex_param(req, "X-Plex-Client-Identifier")
    if not cid then return tv_error(req, res, 400, 1000, "X-Plex-Client-Identifier is missing") end
    local p = live_pin(math.tointeger(tonumber(req.params.id)))
    -- a PIN is only visible to the client identifier that created it
    if not p or p.client_id ~= cid then return tv_error(req, res, 404, 1020, "Code not found or expired") end
    return send(req, res, "pin", pin_view(p, req))
  end))

  -- programmatic approval, for specs: {"user": "owner"|"friend"|"stranger"} -> 204
  r:post(PREFIX .. "/api/v2/pins/{id}/approve", takes_body, function(req, res)
    local body = (req.body and req.body ~= "") and req:json() or {}
    local ok, status, msg = M.approve_pin(math.tointeger(tonumber(req.params.id)), body.user)
    if not ok then return tv_error(req, res, status, status == 404 and 1020 or 1000, msg) end
    return res:status(204)
  end)

  r:get(PREFIX .. "/api/v2/user", opts, api(function(req, res)
    local u = token_user(req, res)
    if not u then return end
    return send(req, res, "user", account(u, req))
  end))

  r:get(PREFIX .. "/api/v2/resources", opts, api(function(req, res)
    local u = token_user(req, res)
    if not u then return end
    return send(req, res, "resources", resources_for(u, req))
  end))

  r:get(PREFIX .. "/api/v2/ping", opts, api(function(req, res)
    local u = token_user(req, res)
    if not u then return end
    return send(req, res, "pong", { pong = true })
  end))

  r:get(PREFIX .. "/users/{uuid}/avatar", opts, function(req, res)
    local image = require "plugins.demo-upstreams.image"
    local n = 0
    for _, u in pairs(M.USERS) do if u.uuid == req.params.uuid then n = u.id end end
    if n == 0 then return res:send("Not Found", 404) end
    res:header("cache-control", "public, max-age=86400")
    return res:send(image.avatar(n, 128), 200, "image/png")
  end)

  -- the approve page (stands in for app.plex.tv/auth#?clientID=..&code=..&context[device][product]=..)
  r:get(PREFIX .. "/auth", opts, function(_, res)
    local html = asset("auth.html"):gsub("{{USERS}}", function() return user_options() end)
    res:header("cache-control", "no-store")
    return res:send(html, 200, "text/html; charset=utf-8")
  end)
  r:get(PREFIX .. "/auth.js", opts, function(_, res)
    return res:send(asset("auth.js"), 200, "text/javascript; charset=utf-8")
  end)
  r:get(PREFIX .. "/auth.css", opts, function(_, res)
    return res:send(asset("auth.css"), 200, "text/css; charset=utf-8")
  end)
  -- what the page asks: the PIN behind a code (the product that asked)
  r:get(PREFIX .. "/auth/pin", opts, function(req, res)
    local p = state.by_code[req:query_string("code", { required = true, max = 64 })]
    p = p and live_pin(p.id)
    if not p then return res:error(404, "NOT_FOUND", "This code is unknown or has expired") end
    return res:json({ product = p.product, clientIdentifier = p.client_id, approved = p.token ~= nil,
                      expiresAt = util.iso(p.expires_at) })
  end)
  -- the page's Allow button: {"code", "clientID", "user"} -> 204
  r:post(PREFIX .. "/auth/approve", takes_body, function(req, res)
    local body = req:json()
    local p = type(body.code) == "string" and state.by_code[body.code]
    p = p and live_pin(p.id)
    if not p or (body.clientID and body.clientID ~= "" and body.clientID ~= p.client_id) then
      return res:error(404, "NOT_FOUND", "This code is unknown or has expired")
    end
    local ok, status, msg = approve(p, body.user)
    if not ok then return res:error(status, "VALIDATION_ERROR", msg) end
    return res:status(204)
  end)

  util.control_routes(r, PREFIX, control, {
    state = function(s) s.pin_ttl = state.pin_ttl; s.pins = 0; for _ in pairs(state.pins) do s.pins = s.pins + 1 end end,
    apply = function(body)
      if body.reset then state.pin_ttl = settings.pin_ttl end
      if body.pin_ttl ~= nil then
        if math.type(body.pin_ttl) ~= "integer" or body.pin_ttl < 1 then return nil, "pin_ttl must be a positive integer" end
        state.pin_ttl = body.pin_ttl
      end
      if body.expire_pins then
        for _, p in pairs(state.pins) do p.expires_at = now() end
      end
      return true
    end,
  })
end

M._state = state
return M
