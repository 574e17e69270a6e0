-- plugins/requests/init.lua — media requests through Overseerr (docs/requests.md,
-- issue 13): search what Overseerr knows, request a movie or chosen seasons
-- as yourself, follow anyone's request, and hear live (WebSocket and
-- notifications) when it is approved, available, declined or failed.
--
-- Status changes come from Overseerr's webhook, with a periodic sync as the
-- backstop and the admin's approve/decline; all three take one path
-- (status.lua). The webhook can be relayed to extra URLs (relay.lua).
-- Overseerr's key and the webhook secret come from nest.services and never
-- reach a browser or the log.
local db = require "nest.db"
local errors = require "nest.errors"
local json = require "nest.json"
local catalog = require "plugins.requests.catalog"
local images = require "plugins.requests.images"
local overseerr = require "plugins.requests.overseerr"
local relay = require "plugins.requests.relay"
local status = require "plugins.requests.status"
local store = require "plugins.requests.store"
local submit = require "plugins.requests.submit"
local sync = require "plugins.requests.sync"
local webhook = require "plugins.requests.webhook"

local plugin = {
  name = "requests", version = "1.0.0", priority = 500,
  description = "Requests through Overseerr: search, request, follow, live status",
  schema = { fields = {
    sync_interval = { type = "number", default = 300, min = 0, max = 86400 },   -- 0: no periodic sync
    -- a user with no Overseerr account: "refuse" (403, say so) or "key_user"
    -- (made as the API key's user; MediaNest records who really asked)
    unmapped_users = { type = "string", default = "refuse", one_of = { "refuse", "key_user" } },
    tmdb_image_url = { type = "string" },                                        -- default image.tmdb.org/t/p
    cache_ttl = { type = "number", default = 300, min = 0.1, max = 86400 },     -- search and details, fresh (s)
  } },
}

plugin.invalidations = {
  media_request_created = { "user:{userId}:requests", "stats:requests:*", "requests:media:{mediaType}:{tmdbId}:*" },
  media_request_status_changed = { "user:{userId}:requests", "stats:requests:*",
                                   "requests:media:{mediaType}:{tmdbId}:*" },
  -- the library's "recently added" lists (the library plugin's keys)
  media_available = { "library:recent*", "plex:recent*" },
}

local PER_PAGE = 20

local function page_of(req) return req:query_int("page", { default = 1, min = 1, max = 10000 }) end

local function status_filter(req)
  local s = req:query_string("status", { max = 32 })
  if s == nil or s == "" or s == "all" then return nil end
  for _, k in ipairs(store.STATUSES) do if k == s then return s end end
  errors.raise(400, "VALIDATION_ERROR", "status must be one of: all, " .. table.concat(store.STATUSES, ", "),
    { field = "status" })
end

local function listing(rows, total, page, viewer)
  local ids = {}
  for i, r in ipairs(rows) do ids[i] = r.id end
  local following = viewer and store.following_set(viewer, ids) or {}
  local out = json.array()
  for i, r in ipairs(rows) do out[i] = store.shape(r, viewer, following[r.id] == true) end
  return { results = out, page = page, totalPages = math.max(1, math.ceil(total / PER_PAGE)), totalResults = total }
end

-- The request as its author, a follower or an admin sees it; 404 for anyone else.
local function visible(req)
  local id = req:param_int("id")
  local row = id <= math.maxinteger // 2 and store.get(id)
  if row and (row.user_id == req.user.id or req.user.role == "admin" or store.is_watching(row.id, req.user.id)) then
    return row
  end
  errors.raise(404, "NOT_FOUND", "No such request")
end

local function any_request(req)
  local id = req:param_int("id")
  local row = id <= math.maxinteger // 2 and store.get(id)
  if not row then errors.raise(404, "NOT_FOUND", "No such request") end
  return row
end

local function detailed(row, viewer)
  local out = store.shape(row, viewer, store.is_watching(row.id, viewer))
  out.history = store.history(row.id)
  return out
end

-- Overseerr's answer to an admin action, applied like a webhook.
local function admin_action(req, action, message)
  local row = any_request(req)
  if row.overseerr_request_id == db.null then
    errors.raise(409, "NOT_FORWARDED", "This request is not known to Overseerr")
  end
  local body, err = overseerr.call("POST", ("/request/%d/%s"):format(row.overseerr_request_id, action))
  if not body then catalog.raise(err) end
  local to = status.from_overseerr(body, row.seasons ~= db.null and row.seasons or nil, true)
  if not status.change(row.id, to, "admin", { by = req.user.id, message = message }) and message then
    -- Overseerr's webhook told us first; the reason is still the admin's
    store.set_message(row.id, message)
  end
  return detailed(store.get(row.id), req.user.id)
end

function plugin.routes(r, conf)
  -- Search and details -------------------------------------------------------
  r:get("/media/search", { auth = "user", rate = "search" }, function(req, res)
    local q = req:query_string("q", { required = true, min = 1, max = 200 })
    return res:json(catalog.search(q, page_of(req), req.user.id, conf.cache_ttl))
  end)

  for _, kind in ipairs({ "movie", "tv" }) do
    r:get("/media/" .. kind .. "/{tmdbId}", { auth = "user" }, function(req, res)
      local id = req:param_int("tmdbId")
      if id > 2147483647 then errors.raise(404, "MEDIA_NOT_FOUND", "No such title") end
      local d = catalog.details(kind, id, conf.cache_ttl)
      local live = store.live_for(id, kind)
      local item = catalog.annotate({ { tmdbId = id, mediaType = kind, availability = d.availability } }, req.user.id)[1]
      d.availability, d.requestId, d.requested, d.following = item.availability, item.requestId, item.requested,
                                                              item.following
      return res:json(catalog.annotate_seasons(d, live))
    end)
  end

  -- Requests -------------------------------------------------------------------
  r:post("/media/request", { auth = "user", rate = "media_request", body_limit = 4096 }, function(req, res)
    local row = submit.create(req.user, req:json(), conf)
    return res:json(detailed(row, req.user.id), 201)
  end)

  r:get("/media/requests", { auth = "user" }, function(req, res)
    local page = page_of(req)
    local rows, total = store.list({ user_id = req.user.id, status = status_filter(req) }, page, PER_PAGE)
    return res:json(listing(rows, total, page, req.user.id))
  end)

  r:get("/media/following", { auth = "user" }, function(req, res)
    local page = page_of(req)
    local rows, total = store.list({ following = req.user.id, status = status_filter(req) }, page, PER_PAGE)
    return res:json(listing(rows, total, page, req.user.id))
  end)

  r:get("/media/requests/{id}", { auth = "user" }, function(req, res)
    return res:json(detailed(visible(req), req.user.id))
  end)

  r:delete("/media/requests/{id}", { auth = "user" }, function(req, res)
    local row = any_request(req)
    if row.user_id ~= req.user.id then errors.raise(404, "NOT_FOUND", "No such request") end
    if row.status ~= "pending" then
      errors.raise(409, "NOT_CANCELLABLE", "Only a pending request can be cancelled; this one is " .. row.status,
        { status = row.status })
    end
    if row.overseerr_request_id ~= db.null then
      local ok, err = overseerr.call("DELETE", "/request/" .. row.overseerr_request_id)
      if not ok and not (err.upstream and err.status == 404) then catalog.raise(err) end
    end
    status.change(row.id, "cancelled", "user", { by = req.user.id })
    return res:json(detailed(store.get(row.id), req.user.id))
  end)

  -- Following ------------------------------------------------------------------
  r:post("/media/requests/{id}/watch", { auth = "user", body_limit = 64 }, function(req, res)
    local row = any_request(req)
    if row.user_id == req.user.id then
      errors.raise(409, "OWN_REQUEST", "This is your own request: you hear about it anyway")
    end
    local added = store.watch(row.id, req.user.id)
    return res:json(store.shape(store.get(row.id), req.user.id, true), added and 201 or 200)
  end)

  r:delete("/media/requests/{id}/watch", { auth = "user" }, function(req, res)
    local row = any_request(req)
    store.unwatch(row.id, req.user.id)
    return res:json(store.shape(store.get(row.id), req.user.id, false))
  end)

  -- Overseerr's webhook ----------------------------------------------------------
  r:post("/webhooks/overseerr", { auth = "public", csrf = false, body_limit = 64 * 1024 }, function(req, res)
    webhook.authenticate(req)
    local payload = req:json()
    local result = webhook.handle(payload)
    relay.send(payload)
    if result.ignored then return res:send("", 204) end
    return res:json(result)
  end)

  -- Posters ------------------------------------------------------------------------
  r:get("/images/tmdb/{size}/{path}", { auth = "user", rate = false }, function(req, res)
    return images.serve(req, res, conf)
  end)

  -- Admin ----------------------------------------------------------------------------
  r:get("/admin/requests", { auth = "admin" }, function(req, res)
    local page = page_of(req)
    local user = req:query_int("user", { min = 1 })
    local rows, total = store.list({ user_id = user, status = status_filter(req) }, page, PER_PAGE)
    return res:json(listing(rows, total, page, nil))
  end)

  r:post("/admin/requests/{id}/approve", { auth = "admin", body_limit = 64 }, function(req, res)
    return res:json(admin_action(req, "approve"))
  end)

  r:post("/admin/requests/{id}/decline", { auth = "admin", body_limit = 1024 }, function(req, res)
    local reason
    if req.body and req.body ~= "" then
      reason = req:body_fields({ type = "table", fields = { reason = { type = "string", max = 500 } } }).reason
    end
    return res:json(admin_action(req, "decline", reason))
  end)

  r:post("/admin/requests/sync", { auth = "admin", body_limit = 64 }, function(_, res)
    local result, err = sync.run()
    if not result then catalog.raise(err) end
    return res:json(result)
  end)

  r:get("/admin/requests/relays", { auth = "admin" }, function(_, res)
    return res:json({ results = relay.list() })
  end)

  r:post("/admin/requests/relays", { auth = "admin", body_limit = 4096 }, function(req, res)
    local b = req:body_fields({ type = "table", fields = {
      url = { type = "string", required = true, max = 2048 },
      format = { type = "string", default = "json", one_of = { "json", "discord" } } } })
    if not relay.valid_url(b.url) then
      errors.raise(400, "VALIDATION_ERROR", "url must be an http(s) URL", { field = "url" })
    end
    local t, why = relay.add(b.url, b.format, req.user.id)
    if not t then errors.raise(409, "TOO_MANY_RELAYS", ("At most %d relay targets (%s)"):format(relay.MAX_TARGETS, why)) end
    return res:json(t, 201)
  end)

  r:delete("/admin/requests/relays/{id}", { auth = "admin" }, function(req, res)
    if not relay.remove(req:param_int("id")) then errors.raise(404, "NOT_FOUND", "No such relay target") end
    return res:send("", 204)
  end)
end

function plugin.init(_, conf)
  plugin.sync_timer = sync.start(conf.sync_interval)
end

function plugin.destroy()
  if plugin.sync_timer then plugin.sync_timer:cancel() end
end

return plugin
