-- plugins/requests/relay.lua — passes each webhook Overseerr sends on to
-- extra URLs an admin lists (Overseerr allows one webhook: #972, #4320), as
-- plain JSON (the payload as received) or as a Discord-compatible message.
--
-- Never in the way of the answer to Overseerr: deliveries run in their own
-- task after it. Bounded: each delivery has a timeout and at most ATTEMPTS
-- tries with backoff; at most MAX_IN_FLIGHT deliveries run at once per
-- instance, beyond that a webhook is not relayed (logged). URLs are sealed
-- in request_relay_targets (a Discord webhook URL is a credential): admins
-- see scheme and host only.
local db = require "nest.db"
local fetch = require "nest.fetch"
local json = require "nest.json"
local log = require "nest.log"
local secrets = require "nest.secrets"
local timer = require "nest.timer"
local l1 = require "nest.core.cache"

local M = {}

local PURPOSE = "requests:relay-url"
local ATTEMPTS, TIMEOUT, MAX_IN_FLIGHT, MAX_TARGETS = 3, 5, 32, 10
M.MAX_TARGETS = MAX_TARGETS
local IN_FLIGHT = "requests:relay:in-flight"    -- L1 counter: survives reloads, per instance

local function hint(url) return url:match("^(https?://[^/?#]+)") or "?" end

function M.valid_url(url)
  return type(url) == "string" and #url <= 2048 and url:match("^https?://[%w%.%-]+[:%d]*[/?#]?") ~= nil
     and not url:find("%s")
end

local function shape(r)
  return { id = r.id, urlHint = r.url_hint, format = r.format, enabled = r.enabled, createdAt = r.created_at }
end

function M.list()
  local rows = assert(db.query("SELECT id, url_hint, format, enabled, created_at FROM request_relay_targets ORDER BY id"))
  local out = json.array()
  for i, r in ipairs(rows) do out[i] = shape(r) end
  return out
end

function M.add(url, format, by)
  local n = assert(db.query("SELECT count(*) AS n FROM request_relay_targets"))[1].n
  if n >= MAX_TARGETS then return nil, "full" end
  local rows = assert(db.query([[INSERT INTO request_relay_targets (url_enc, url_hint, format, created_by)
                                 VALUES ($1, $2, $3, $4) RETURNING id, url_hint, format, enabled, created_at]],
    secrets.seal(url, PURPOSE), hint(url), format, by))
  return shape(rows[1])
end

function M.remove(id)
  return assert(db.query("DELETE FROM request_relay_targets WHERE id = $1", id)).affected > 0
end

local function discord(p)
  local media = type(p.media) == "table" and p.media or {}
  local request = type(p.request) == "table" and p.request or {}
  local fields = json.array()
  if request.requestedBy_username and request.requestedBy_username ~= "" then
    fields[#fields + 1] = { name = "Requested by", value = request.requestedBy_username, inline = true }
  end
  if media.status and media.status ~= "" then
    fields[#fields + 1] = { name = "Status", value = media.status, inline = true }
  end
  return { content = json.null, username = "MediaNest",
           embeds = { { title = tostring(p.subject or p.event or "Overseerr"), description = tostring(p.event or ""),
                        fields = fields, image = type(p.image) == "string" and p.image ~= "" and { url = p.image } or nil } } }
end

local function deliver(target, payload)
  local body = target.format == "discord" and discord(payload) or payload
  for attempt = 1, ATTEMPTS do
    local res, err = fetch(target.url, { method = "POST", json = body, timeout = TIMEOUT, max_size = 65536,
                                         service = "overseerr-relay" })
    if res and res.status < 300 then return true end
    -- a 4xx other than 429 will not get better by trying again
    if res and res.status >= 400 and res.status < 500 and res.status ~= 429 then
      log.warn("webhook relay refused", { target = target.id, host = target.hint, status = res.status })
      return false
    end
    if attempt < ATTEMPTS then timer.sleep(0.5 * 2 ^ (attempt - 1)) end
    if attempt == ATTEMPTS then
      log.warn("webhook relay failed", { target = target.id, host = target.hint,
                                         status = res and res.status, error = err })
    end
  end
  return false
end

local function targets()
  local rows = db.query("SELECT id, url_enc, url_hint, format FROM request_relay_targets WHERE enabled ORDER BY id")
  local out = {}
  for _, r in ipairs(rows or {}) do
    local url = secrets.open(r.url_enc, PURPOSE)
    if url then out[#out + 1] = { id = r.id, url = url, hint = r.url_hint, format = r.format } end
  end
  return out
end

-- Relay a received payload (after the answer; never raises).
function M.send(payload)
  timer.at(0, function(premature)
    if premature then return end
    for _, t in ipairs(targets()) do
      if (l1.get(IN_FLIGHT) or 0) >= MAX_IN_FLIGHT then
        log.warn("webhook relay dropped: too many deliveries in flight", { target = t.id })
      else
        -- the counter lives a minute at most: a delivery cut off by a
        -- reload cannot hold a slot for ever
        l1.incr(IN_FLIGHT, 1, 0, 60)
        timer.at(0, function(p2)
          if not p2 then pcall(deliver, t, payload) end
          if (l1.get(IN_FLIGHT) or 0) > 0 then l1.incr(IN_FLIGHT, -1, 0, 60) end
        end)
      end
    end
  end)
end

return M
