-- plugins/auth/sessions.lua — browser sessions and personal API tokens
-- (docs/auth.md#sessions-tokens-csrf). Both are 32 random bytes shown once (base64url, 43
-- characters) and stored only as SHA-256 of that string in session_tokens.
--
--   create_session(user_id, days)  -> raw, {id, csrf_token}
--   create_api(user_id, name)      -> raw, id
--   resolve(raw, kind)             -> info | nil  (info: session id, kind, csrf_token,
--                                     stale (true when the hourly refresh is due), user fields)
--   touch(info, days)              -> slides a session's expiry / an api token's last use
--   revoke(id)                     -> revokes one row
--   list_api(user_id), revoke_api(user_id, id) -> the user's own tokens only
--
-- resolve answers from nest.authcache for up to auth.cache_seconds (5) after
-- one database lookup; every revocation here goes through authcache so it
-- takes effect on every instance (see that module for the bounds). A cached
-- answer is never stale: the lookup that found the refresh due made it.
local db = require "nest.db"
local crypto = require "nest.crypto"
local authcache = require "nest.authcache"
local users = require "plugins.auth.users"

local M = {}

local q = users.q

-- hex of the digest: bytea parameters go through decode($n, 'hex'), so a
-- digest that happens to be valid UTF-8 is never read as bytea escape text.
function M.hash(raw) return crypto.sha256_hex(raw) end

function M.create_session(user_id, days)
  local raw = crypto.token(32)
  local csrf = crypto.token(32)
  local row = q("INSERT INTO session_tokens (user_id, token_hash, kind, csrf_token, expires_at, last_used_at) "
    .. "VALUES ($1, decode($2, 'hex'), 'session', $3, now() + make_interval(days => $4), now()) RETURNING id",
    user_id, M.hash(raw), csrf, math.tointeger(days) or 30)[1]
  return raw, { id = row.id, csrf_token = csrf }
end

function M.create_api(user_id, name)
  local raw = crypto.token(32)
  local row = q("INSERT INTO session_tokens (user_id, token_hash, kind, name) VALUES ($1, decode($2, 'hex'), 'api', $3) "
    .. "RETURNING id, name, created_at", user_id, M.hash(raw), name)[1]
  return raw, row
end

local RESOLVE = [[
SELECT s.id AS session_id, s.kind, s.csrf_token,
       (s.last_used_at IS NULL OR s.last_used_at < now() - interval '1 hour') AS stale,
       u.id, u.username, u.email, u.thumb, u.role
  FROM session_tokens s JOIN users u ON u.id = s.user_id
 WHERE s.token_hash = decode($1, 'hex') AND s.kind = $2 AND s.revoked_at IS NULL
   AND (s.expires_at IS NULL OR s.expires_at > now())
   AND u.disabled_at IS NULL]]

local QUERY = { RESOLVE, prepare = true }

function M.resolve(raw, kind)
  if type(raw) ~= "string" or #raw < 20 or #raw > 200 then return nil end
  -- keyed by the token itself: a hit costs no SHA-256 (the token lives in
  -- this process' memory as long as the entry, at most 5 s, as it does in
  -- every request that carries it)
  local key = kind == "api" and raw or "s" .. raw
  local info = authcache.get(key)
  if info then return info end
  local epoch = authcache.epoch()
  local rows, err = db.query(QUERY, M.hash(raw), kind)
  if not rows then
    error(setmetatable({ code = err.code == "UNAVAILABLE" and "UNAVAILABLE" or "DB", message = tostring(err) },
      { __tostring = function(e) return e.message end }), 0)
  end
  info = rows[1]
  if info then
    local cached = {}
    for k, v in pairs(info) do cached[k] = v end
    cached.stale = false
    authcache.put(key, cached, epoch)
  end
  return info
end

-- Slide the session's expiry (at most hourly: callers check info.stale).
function M.touch(info, days)
  if info.kind == "session" then
    q("UPDATE session_tokens SET last_used_at = now(), expires_at = now() + make_interval(days => $2) "
      .. "WHERE id = $1", info.session_id, math.tointeger(days) or 30)
  else
    q("UPDATE session_tokens SET last_used_at = now() WHERE id = $1", info.session_id)
  end
end

function M.revoke(id)
  q("UPDATE session_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", id)
  authcache.revoke_session(id)
end

function M.list_api(user_id)
  return q("SELECT id, name, created_at, last_used_at FROM session_tokens "
    .. "WHERE user_id = $1 AND kind = 'api' AND revoked_at IS NULL ORDER BY id", user_id)
end

function M.revoke_api(user_id, id)
  local rows = q("UPDATE session_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 "
    .. "AND kind = 'api' AND revoked_at IS NULL RETURNING id", id, user_id)
  if rows[1] then authcache.revoke_session(rows[1].id) end
  return rows[1] ~= nil
end

return M
