-- plugins/account/init.lua — the signed-in user's own settings that are not
-- plugins/auth's (issue 15, /settings; docs/admin.md):
--
--   GET    /api/v1/account/sessions           {sessions: [{id, createdAt, lastUsedAt, expiresAt, current}]}
--   DELETE /api/v1/account/sessions/{id}      204; 404 not theirs; 409 the current one (sign out instead)
--   POST   /api/v1/account/sessions/revoke-others   {revoked: n} — every sign-in but this one
--   GET    /api/v1/account/notifications      {kinds: [{kind, enabled}]}
--   PUT    /api/v1/account/notifications      {muted: ["requests", ...]} -> the same shape
--
-- auth = "user" everywhere; a revoked session's next request is anonymous
-- (plugins/auth looks every token up). Muted kinds are honoured by
-- nest.notify for every notification sent afterwards.
local errors = require "nest.errors"
local notify = require "nest.notify"
local store = require "plugins.account.store"

local plugin = { name = "account", version = "1.0.0", priority = 0,
                 description = "Own sessions and notification preferences (/account)" }

local USER = { auth = "user" }

local function current(req)
  return req.auth and req.auth.kind == "session" and req.auth.session_id or nil
end

local function kinds_view(muted)
  local off = {}
  for _, k in ipairs(muted) do off[k] = true end
  local names = {}
  for k in pairs(notify.KINDS) do names[#names + 1] = k end
  table.sort(names)
  local out = {}
  for i, k in ipairs(names) do out[i] = { kind = k, enabled = not off[k] } end
  return { kinds = out }
end

function plugin.routes(r)
  r:get("/account/sessions", USER, function(req, res)
    res:header("cache-control", "no-store")
    return res:json({ sessions = store.sessions(req.user.id, current(req)) })
  end)

  r:delete("/account/sessions/{id}", USER, function(req, res)
    local id = req:param_int("id")
    if id == current(req) then
      errors.raise(409, "CURRENT_SESSION", "This is the session you are using: sign out instead")
    end
    if not store.revoke(req.user.id, id) then errors.raise(404, "NOT_FOUND", "No such session") end
    return res:status(204)
  end)

  r:post("/account/sessions/revoke-others", { auth = "user", body_limit = 256 }, function(req, res)
    return res:json({ revoked = store.revoke_others(req.user.id, current(req)) })
  end)

  r:get("/account/notifications", USER, function(req, res)
    return res:json(kinds_view(store.muted(req.user.id)))
  end)

  r:put("/account/notifications", { auth = "user", body_limit = 1024 }, function(req, res)
    local body = req:json()
    local muted = type(body) == "table" and body.muted
    if type(muted) ~= "table" or #muted > 16 then
      errors.raise(400, "VALIDATION_ERROR", "muted must be a list of notification kinds", { field = "muted" })
    end
    local seen, list = {}, {}
    for _, k in ipairs(muted) do
      if type(k) ~= "string" or not notify.KINDS[k] then
        errors.raise(400, "VALIDATION_ERROR", "Unknown notification kind: " .. tostring(k), { field = "muted" })
      end
      if not seen[k] then seen[k] = true; list[#list + 1] = k end
    end
    store.set_muted(req.user.id, list)
    return res:json(kinds_view(list))
  end)
end

return plugin
