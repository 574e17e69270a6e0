-- plugins/admin/users.lua — the users table as the admin screens see it:
-- list (paged, optional search), one user, change role / disabled, delete.
-- Disabling a user revokes every session and API token of theirs in the same
-- transaction, so their next request is anonymous (docs/auth.md#sessions-tokens-csrf); every
-- change reaches the auth cache of every instance (nest.authcache).
local db = require "nest.db"
local authcache = require "nest.authcache"
local json = require "nest.json"

local M = {}

local COLUMNS = [[id, username, email, thumb, role, disabled_at, created_at, last_login_at]]

-- The JSON shape of a user row.
function M.view(row)
  return {
    id = row.id, username = row.username, email = row.email, thumb = row.thumb,
    role = row.role, disabled = row.disabled_at ~= db.null, disabledAt = row.disabled_at,
    createdAt = row.created_at, lastLoginAt = row.last_login_at,
  }
end

-- live sessions and API tokens of the row's user (the list and one user)
local ACTIVE_SESSIONS = [[(SELECT count(*) FROM session_tokens s WHERE s.user_id = users.id AND s.revoked_at IS NULL
         AND (s.expires_at IS NULL OR s.expires_at > now())) AS active_tokens]]

local SEARCH = [[($1::text IS NULL OR strpos(lower(username), lower($1)) > 0
                 OR strpos(lower(coalesce(email, '')), lower($1)) > 0)]]

-- list(page, per_page, q) -> { users (each with activeSessions), page, perPage, totalPages, totalResults } | nil, err
function M.list(page, per_page, q)
  local qp = q or db.null
  local count, err = db.query("SELECT count(*) AS n FROM users WHERE " .. SEARCH, qp)
  if not count then return nil, err end
  local rows
  rows, err = db.query("SELECT " .. COLUMNS .. ", " .. ACTIVE_SESSIONS .. " FROM users WHERE " .. SEARCH ..
                       " ORDER BY id LIMIT $2 OFFSET $3", qp, per_page, (page - 1) * per_page)
  if not rows then return nil, err end
  local users = json.array()
  for i, r in ipairs(rows) do users[i] = M.view(r); users[i].activeSessions = r.active_tokens end
  local total = count[1].n
  return { users = users, page = page, perPage = per_page, totalResults = total,
           totalPages = (total + per_page - 1) // per_page }
end

-- get(id) -> user view (with activeSessions) | nil (unknown) | nil, err
function M.get(id)
  local rows, err = db.query("SELECT " .. COLUMNS .. ", " .. ACTIVE_SESSIONS .. " FROM users WHERE id = $1", id)
  if not rows then return nil, err end
  if not rows[1] then return nil end
  local v = M.view(rows[1])
  v.activeSessions = rows[1].active_tokens
  return v
end

-- update(id, {role?, disabled?}) -> user view | nil (unknown) | nil, err.
-- disabled = true also revokes every live session and API token of the user.
function M.update(id, change)
  local view, err = db.tx(function()
    local disabled = change.disabled
    if disabled == nil then disabled = db.null end
    local rows, err = db.query([[
      UPDATE users SET
        role = coalesce($2, role),
        disabled_at = CASE WHEN $3::boolean IS NULL THEN disabled_at
                           WHEN $3::boolean THEN coalesce(disabled_at, now())
                           ELSE NULL END
      WHERE id = $1 RETURNING ]] .. COLUMNS, id, change.role or db.null, disabled)
    if not rows then return nil, err end
    if not rows[1] then return false end
    if change.disabled == true then
      local r, rerr = db.query([[UPDATE session_tokens SET revoked_at = now()
                                 WHERE user_id = $1 AND revoked_at IS NULL]], id)
      if not r then return nil, rerr end
    end
    return M.view(rows[1])
  end)
  if view then authcache.revoke_user(id) end      -- after the commit
  return view, err
end

-- delete(id) -> true | false (unknown) | nil, err. Sessions, tokens,
-- downloads and notifications go with the user (ON DELETE CASCADE); requests
-- and audit columns keep their rows with the user set to NULL.
function M.delete(id)
  local r, err = db.query("DELETE FROM users WHERE id = $1", id)
  if not r then return nil, err end
  if r.affected > 0 then authcache.revoke_user(id) end
  return r.affected > 0
end

return M
