-- plugins/status/init.lua — the dashboard's data (docs/status.md):
-- the status of every service MediaNest depends on (its own checks and
-- Uptime Kuma's monitors), the features that status allows, the user's own
-- counts, admins' announcements and monitor visibility. docs/status.md
-- describes the sources, states, poller, API and WebSocket events.
--
--   GET    /dashboard/status            services (visible ones; admins: all) + features
--   GET    /dashboard/status/{id}       one service + its last 24 h (<= 100 points)
--   GET    /dashboard/stats             the user's requests/downloads by status, library size
--   GET    /announcements               those not ended (current and scheduled)
--   POST   /admin/announcements         {message, level, startsAt?, endsAt?} -> 201
--   DELETE /admin/announcements/{id}    -> 204
--   GET    /admin/monitors              every monitor, with visibility
--   PATCH  /admin/monitors/{id}         {visible}
-- WebSocket: subscribe to "status" (status:current, then service:status);
-- announcement:new / announcement:removed reach every connection.
--
-- The poller (plugins/status/poller.lua) runs on one instance of the
-- cluster (a lease); every instance answers from the snapshot it writes.
-- Other plugins ask require("plugins.status.features").get().
local errors = require "nest.errors"
local json = require "nest.json"
local view = require "plugins.status.view"
local store = require "plugins.status.store"
local live = require "plugins.status.live"
local poller = require "plugins.status.poller"
local stats = require "plugins.status.stats"
local ann = require "plugins.status.announcements"

local plugin = {
  name = "status", version = "1.0.0", priority = 300,
  description = "Service status, features, stats, announcements and monitor visibility",
  schema = { fields = {
    interval = { type = "number", default = 30, min = 0.05, max = 3600 },      -- seconds between cycles
    timeout = { type = "number", default = 5, min = 0.05, max = 60 },          -- per network call / process
    slow_ms = { type = "integer", default = 2000, min = 1, max = 600000 },     -- slower: degraded
    min_free_mb = { type = "integer", default = 1024, min = 0, max = 1 << 40 }, -- less free: degraded
    history_days = { type = "integer", default = 30, min = 1, max = 3650 },
    default_visible = { type = "boolean", default = true },                    -- for a new monitor
  } },
}

plugin.invalidations = {
  -- every poller cycle and every visibility change: each instance drops its copies
  status_changed = { view.KEY, "status:body:user", "status:body:admin" },
}

local HISTORY_POINTS = 100
local ADMIN = { auth = "admin" }

local function check(v, err)
  if v == nil and err ~= nil then error(err, 0) end   -- a database failure: 500/503
  return v
end

local function audience(req) return req.user.role == "admin" and "admin" or "user" end

local function service_id(req)
  local id = req.params.id
  if type(id) ~= "string" or #id > 120 or not id:match("^[%w_.:-]+$") then
    errors.raise(404, "NOT_FOUND", "No such service")
  end
  return id
end

local function changed_visibility()
  require("nest.invalidate").emit("status_changed", {})
  live.resend()
end

function plugin.routes(r)
  r:get("/dashboard/status", {}, function(req, res)
    return res:send(check(view.body(audience(req))), 200, "application/json")
  end)

  r:get("/dashboard/status/{id}", {}, function(req, res)
    local id, admin = service_id(req), audience(req) == "admin"
    local snap = check(view.snapshot())
    local row = snap.by_id[id]
    if not row or not (admin or row.visible == true) then errors.raise(404, "NOT_FOUND", "No such service") end
    local history = json.array()
    for i, p in ipairs(check(store.history(id, HISTORY_POINTS))) do
      history[i] = { at = p.at, status = p.status, responseTimeMs = p.ms }
    end
    return res:json({ service = view.service(row, admin), history = history })
  end)

  r:get("/dashboard/stats", {}, function(req, res)
    return res:json(check(stats.for_user(req.user.id)))
  end)

  r:get("/announcements", {}, function(_, res)
    return res:json({ announcements = check(ann.current()) })
  end)

  r:post("/admin/announcements", { auth = "admin", body_limit = ann.BODY_LIMIT }, function(req, res)
    local a = check(ann.create(ann.parse(req:json()), req.user.id))
    return res:json({ announcement = a }, 201)
  end)

  r:delete("/admin/announcements/{id}", ADMIN, function(req, res)
    local id = req:param_int("id")
    if not check(ann.remove(id)) then errors.raise(404, "NOT_FOUND", "No such announcement") end
    return res:status(204)
  end)

  r:get("/admin/monitors", ADMIN, function(_, res)
    local list = json.array()
    for i, m in ipairs(check(store.monitors(view.STALE))) do
      list[i] = { id = m.id, name = m.name, source = m.source, visible = m.visible, status = m.status }
    end
    return res:json({ monitors = list })
  end)

  r:patch("/admin/monitors/{id}", { auth = "admin", body_limit = 1024 }, function(req, res)
    local id = service_id(req)
    local body = req:json()
    if type(body) ~= "table" or type(body.visible) ~= "boolean" then
      errors.raise(400, "VALIDATION_ERROR", "visible must be true or false", { field = "visible" })
    end
    if not check(store.set_visible(id, body.visible, req.user.id, view.STALE)) then
      errors.raise(404, "NOT_FOUND", "No such monitor")
    end
    changed_visibility()
    for _, m in ipairs(check(store.monitors(view.STALE))) do
      if m.id == id then
        return res:json({ monitor = { id = m.id, name = m.name, source = m.source, visible = m.visible,
                                      status = m.status } })
      end
    end
    errors.raise(404, "NOT_FOUND", "No such monitor")
  end)
end

local ticker

function plugin.init(_, settings)
  live.install()
  ticker = poller.start(settings)
end

function plugin.destroy()
  if ticker then ticker:cancel() end
  poller.stop()
end

return plugin
