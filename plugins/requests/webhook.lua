-- plugins/requests/webhook.lua — POST /webhooks/overseerr: Overseerr's
-- webhook agent telling us a request changed.
--
-- Authenticated by the shared secret Overseerr sends as its "Authorization
-- Header" setting (raw, unsigned), compared in constant time. The payload is
-- Overseerr's default template: every value a string, `media` / `request`
-- objects or null; unknown notification types (issues, TEST_NOTIFICATION)
-- are answered 204 and ignored. A change goes through status.change, which
-- is idempotent: a redelivery finds the status already set and does
-- nothing (and notifications are keyed per request and status besides).
local crypto = require "nest.crypto"
local errors = require "nest.errors"
local services = require "nest.services"
local store = require "plugins.requests.store"
local status = require "plugins.requests.status"

local M = {}

function M.authenticate(req)
  local s = services.get("overseerr")
  local secret = s and s.webhook_secret
  if type(secret) ~= "string" or secret == "" then
    errors.raise(401, "WEBHOOK_NOT_CONFIGURED", "No webhook secret is set (Admin › Services › Overseerr)")
  end
  local given = req.headers["authorization"] or ""
  -- Overseerr sends the configured value as is; accept "Bearer <secret>" too
  local bare = given:match("^[Bb]earer%s+(.+)$")
  if not (crypto.equal(given, secret) or (bare and crypto.equal(bare, secret))) then
    errors.raise(401, "UNAUTHORIZED", "Wrong or missing webhook secret")
  end
end

local function str(t, k)
  local v = type(t) == "table" and t[k] or nil
  if type(v) == "number" then v = tostring(math.tointeger(v) or v) end
  if type(v) ~= "string" or v == "" then return nil end
  return v
end

-- The local rows a payload is about: by Overseerr request id, else every
-- live request of the title.
local function targets(p)
  local rid = math.tointeger(tonumber(str(p.request, "request_id") or ""))
  if rid then
    local row = store.by_overseerr_id(rid)
    if row then return { row } end
  end
  local tmdb = math.tointeger(tonumber(str(p.media, "tmdbId") or ""))
  local kind = str(p.media, "media_type")
  if tmdb and (kind == "movie" or kind == "tv") then return store.live_for(tmdb, kind) end
  return {}
end

-- handle(payload) -> {matched = n, changed = n}
function M.handle(p)
  if type(p) ~= "table" then errors.raise(400, "INVALID_PAYLOAD", "Expected Overseerr's JSON payload") end
  local kind = str(p, "notification_type")
  local to = kind and status.from_webhook(kind, str(p.media, "status"))
  if not to then return { ignored = true } end
  local rows = targets(p)
  local changed = 0
  -- the template's {{message}} is the title's overview, not a reason: not kept
  for _, row in ipairs(rows) do
    if status.change(row.id, to, "webhook") then changed = changed + 1 end
  end
  return { matched = #rows, changed = changed }
end

return M
