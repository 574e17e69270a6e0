-- plugins/account/store.lua — a signed-in user's own sessions (browser
-- sign-ins; API tokens are plugins/auth's) and notification preferences.
-- Every query is scoped to the user: another user's session id is unknown.
local authcache = require "nest.authcache"
local db = require "nest.db"
local json = require "nest.json"

local M = {}

local function check(v, err)
  if v == nil and err ~= nil then error(err, 0) end
  return v
end

-- sessions(user_id, current_id) -> list, newest use first
function M.sessions(user_id, current)
  local rows = check(db.query([[
    SELECT id, created_at, last_used_at, expires_at FROM session_tokens
    WHERE user_id = $1 AND kind = 'session' AND revoked_at IS NULL AND expires_at > now()
    ORDER BY coalesce(last_used_at, created_at) DESC, id DESC LIMIT 100]], user_id))
  local out = json.array()
  for i, r in ipairs(rows) do
    out[i] = { id = r.id, createdAt = r.created_at, lastUsedAt = r.last_used_at, expiresAt = r.expires_at,
               current = r.id == current }
  end
  return out
end

-- The ended sessions leave the auth cache of every instance (nest.authcache)
-- at once, not when their cached lookup expires.
local function forget(rows)
  for _, row in ipairs(rows) do authcache.revoke_session(row.id) end
  return #rows
end

-- revoke(user_id, id) -> true | false (not theirs, or already ended)
function M.revoke(user_id, id)
  return forget(check(db.query([[UPDATE session_tokens SET revoked_at = now()
    WHERE id = $1 AND user_id = $2 AND kind = 'session' AND revoked_at IS NULL RETURNING id]], id, user_id))) > 0
end

-- revoke_others(user_id, keep_id) -> how many ended
function M.revoke_others(user_id, keep)
  return forget(check(db.query([[UPDATE session_tokens SET revoked_at = now()
    WHERE user_id = $1 AND kind = 'session' AND revoked_at IS NULL AND id <> $2 RETURNING id]], user_id, keep or 0)))
end

-- muted(user_id) -> list of kinds turned off
function M.muted(user_id)
  local rows = check(db.query("SELECT muted::text AS m FROM notification_preferences WHERE user_id = $1", user_id))
  local out = json.array()
  if rows[1] then
    for k in rows[1].m:gmatch("[%w_]+") do out[#out + 1] = k end
  end
  return out
end

function M.set_muted(user_id, kinds)
  local lit = "{" .. table.concat(kinds, ",") .. "}"   -- kinds are checked names ([a-z]+)
  check(db.query([[INSERT INTO notification_preferences (user_id, muted) VALUES ($1, $2::text[])
    ON CONFLICT (user_id) DO UPDATE SET muted = EXCLUDED.muted, updated_at = now()]], user_id, lit))
end

return M
