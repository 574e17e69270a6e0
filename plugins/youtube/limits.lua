-- plugins/youtube/limits.lua — a user's limits: the disk quota (bytes of
-- their downloads; their own users.youtube_quota_bytes or the service's
-- quota_bytes) and the new downloads per hour (rate_limits.youtube),
-- counted in PostgreSQL so the figure is exact across instances and the
-- same one GET /youtube/quota shows. (Not nest.ratelimit: a refused,
-- invalid or duplicate request is not a new download and must not count.)
local store = require "plugins.youtube.store"
local settings = require "plugins.youtube.settings"

local M = {}

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.ceil(t)) end

-- view(user_id, options) -> the API's quota | nil, err
function M.view(user_id, o)
  local limit, window = settings.hourly()
  local u, err = store.usage(user_id, window)
  if not u then return nil, err end
  local resets = u.recent > 0 and u.oldest and (u.oldest + window) or nil
  return { usedBytes = u.used, quotaBytes = u.own_quota or o.quota_bytes, downloadsThisHour = u.recent,
           hourlyLimit = limit, resetsAt = resets and iso(resets) or nil }
end

-- refusal(usage, options) -> nil (go on) | {status, code, message, details, retry}
-- (store.create calls it under the user's lock)
function M.refusal(u, o)
  local limit, window = settings.hourly()
  if u.recent >= limit then
    local retry = math.max(1, math.ceil((u.oldest or u.now) + window - u.now))
    return { status = 429, code = "RATE_LIMITED", retry = retry, details = { limit = limit },
      message = ("At most %d new downloads per hour; try again in %d min"):format(limit, math.ceil(retry / 60)) }
  end
  local quota = u.own_quota or o.quota_bytes
  if u.used >= quota then
    return { status = 403, code = "QUOTA_EXCEEDED", message = "Your download space is full: delete downloads to make room",
             details = { usedBytes = u.used, quotaBytes = quota } }
  end
end

-- answer(res, refusal): the 429 (with Retry-After and X-RateLimit-*) or 403.
function M.answer(res, r)
  if r.status == 429 then
    res:header("X-RateLimit-Limit", tostring(r.details.limit))
    res:header("X-RateLimit-Remaining", "0")
    res:header("X-RateLimit-Reset", tostring(r.retry))
    res:header("Retry-After", tostring(r.retry))
  end
  return res:error(r.status, r.code, r.message, r.details, r.retry)
end

return M
