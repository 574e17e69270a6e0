-- plugins/auth/users.lua — the users table: sign-in, the shell and the admin screens.
-- Used by the plugin and by `medianest user` / `medianest token` (which
-- require it as plugins.auth.users).
--
--   exists()                      -> true when at least one user exists
--   by_name(name) / by_id(id)     -> row | nil
--   public(row)                   -> {id, username, email, thumb, role}
--   sign_in(account, plex_token, server_token, opts) -> row | nil, code, message
--   add(name, role) / set_role(name, role) / disable(name) / enable(name) / list()
--   server_token(user_id)         -> the user's Plex server access token (plaintext) | nil
--
--   page(page, per_page, q) / details(id) / update(id, {role?, disabled?}) / delete(id)
--                                 the admin screens' view (plugins/admin), by id
-- The shell's set_role / disable / enable go through update(), like the
-- admin API: one place revokes sessions and the auth cache everywhere.
--
-- Tokens are sealed with nest.secrets under the purposes PLEX_TOKEN and
-- SERVER_TOKEN below (users.plex_token_enc / users.server_token_enc).
local db = require "nest.db"
local json = require "nest.json"
local secrets = require "nest.secrets"
local authcache = require "nest.authcache"

local M = {}

M.PLEX_TOKEN = "users.plex_token"
M.SERVER_TOKEN = "users.server_token"

local COLS = "id, plex_id, plex_uuid, username, email, thumb, role, disabled_at, created_at, last_login_at"

local function q(...)
  local rows, err = db.query(...)
  if not rows then error(setmetatable({ code = err and err.code == "UNAVAILABLE" and "UNAVAILABLE" or "DB",
    message = tostring(err) }, { __tostring = function(e) return e.message end }), 2) end
  return rows
end
M.q = q

local function nn(v) if v == json.null then return nil end return v end

function M.public(u)
  return { id = u.id, username = u.username, email = nn(u.email) or json.null,
           thumb = nn(u.thumb) or json.null, role = u.role }
end

function M.exists()
  return q("SELECT EXISTS (SELECT 1 FROM users) AS e")[1].e
end

function M.by_name(name)
  return q("SELECT " .. COLS .. " FROM users WHERE lower(username) = lower($1)", name)[1]
end

function M.by_id(id)
  return q("SELECT " .. COLS .. " FROM users WHERE id = $1", id)[1]
end

function M.list()
  return q("SELECT " .. COLS .. " FROM users ORDER BY id")
end

-- Expire every setup link still open (an admin exists now).
function M.close_setup()
  q("UPDATE setup_tokens SET expires_at = now() WHERE used_at IS NULL AND expires_at > now()")
end

function M.add(name, role)
  local rows, err = db.query("INSERT INTO users (username, role) VALUES ($1, $2) RETURNING " .. COLS,
    name, role or "user")
  if not rows then
    if err.code == "23505" then return nil, "a user named '" .. name .. "' already exists" end
    if err.code == "23514" then return nil, "invalid user name" end
    return nil, tostring(err)
  end
  if role == "admin" then M.close_setup() end
  return rows[1]
end

-- The shell's commands go through update() below, the admin API's path:
-- one place revokes sessions and reaches every instance's auth cache.
local function by_name_then(name, change)
  local u = M.by_name(name)
  if not u then return nil, "no user named '" .. name .. "'" end
  local v, err = M.update(u.id, change)
  if not v then return nil, tostring(err or "no user named '" .. name .. "'") end
  return M.by_id(u.id)
end

function M.set_role(name, role) return by_name_then(name, { role = role }) end
-- Disable a user and revoke every session and token of theirs, at once.
function M.disable(name) return by_name_then(name, { disabled = true }) end
function M.enable(name) return by_name_then(name, { disabled = false }) end

function M.server_token(user_id)
  local r = q("SELECT server_token_enc FROM users WHERE id = $1", user_id)[1]
  if not r or r.server_token_enc == json.null then return nil end
  return secrets.open(r.server_token_enc, M.SERVER_TOKEN)
end

-- A sign-in from Plex, inside a transaction serialised against other
-- sign-ins (the "first user" rule must not race).
--   account: plex.tv /api/v2/user; opts.setup_token_id: the setup link the
--   PIN came through. Returns the user row, or nil, error code, message.
function M.sign_in(account, plex_token, server_token, opts)
  opts = opts or {}
  local plex_id = math.tointeger(account.id)
  if not plex_id then return nil, "PLEX_UNREACHABLE", "plex.tv answered a user without an id" end
  local username = type(account.username) == "string" and account.username ~= "" and account.username
    or (type(account.title) == "string" and account.title) or ("plex-" .. plex_id)
  local email = type(account.email) == "string" and account.email or db.null
  local thumb = type(account.thumb) == "string" and account.thumb or db.null
  local uuid = type(account.uuid) == "string" and account.uuid or db.null
  local ptok = secrets.seal(plex_token, M.PLEX_TOKEN)
  local stok = server_token and secrets.seal(server_token, M.SERVER_TOKEN) or db.null

  local function refuse(code, message) return nil, { code = code, message = message } end
  local function name_free(name, except)
    return q("SELECT 1 AS x FROM users WHERE lower(username) = lower($1) AND id <> $2", name, except or 0)[1] == nil
  end
  local result, err = db.tx(function()
    q("SELECT pg_advisory_xact_lock(724311001)")        -- sign-ins one at a time
    local any = M.exists()
    local admin = false
    if opts.setup_token_id then
      local used = q("UPDATE setup_tokens SET used_at = now() WHERE id = $1 AND used_at IS NULL "
        .. "AND expires_at > now() RETURNING id", opts.setup_token_id)
      admin = used[1] ~= nil
    end
    if not any and not admin then
      return refuse("SETUP_REQUIRED", "MediaNest is not set up yet: open the setup link that "
        .. "`medianest serve` printed (or ask the person who installed it) and sign in from there")
    end
    local row = q("SELECT " .. COLS .. " FROM users WHERE plex_id = $1", plex_id)[1]
    if not row then
      -- a user made from the shell, signing in with Plex for the first time
      row = q("SELECT " .. COLS .. " FROM users WHERE lower(username) = lower($1) AND plex_id IS NULL",
        username)[1]
    end
    if row and row.disabled_at ~= json.null then
      return refuse("USER_DISABLED", "This account is disabled; ask an administrator")
    end
    if not name_free(username, row and row.id) then
      username = row and row.username or (username .. "-" .. plex_id)
    end
    if row then
      row = q("UPDATE users SET username = $2, plex_id = $3, plex_uuid = $4, email = $5, thumb = $6, "
        .. "plex_token_enc = $7, server_token_enc = $8, last_login_at = now()"
        .. (admin and ", role = 'admin'" or "") .. " WHERE id = $1 RETURNING " .. COLS,
        row.id, username, plex_id, uuid, email, thumb, ptok, stok)[1]
    else
      row = q("INSERT INTO users (username, plex_id, plex_uuid, email, thumb, plex_token_enc, "
        .. "server_token_enc, role, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) "
        .. "RETURNING " .. COLS, username, plex_id, uuid, email, thumb, ptok, stok,
        admin and "admin" or "user")[1]
    end
    if admin then
      q("UPDATE setup_tokens SET used_by = $2 WHERE id = $1", opts.setup_token_id, row.id)
      M.close_setup()
    end
    return row
  end)
  if not result then
    if type(err) == "table" and err.code then return nil, err.code, err.message end
    error(err, 0)
  end
  return result
end

-- ---- the admin screens (plugins/admin) ------------------------------------
-- page, details, update, delete: by id, with the JSON view of a user. Every
-- change reaches the auth cache of every instance (nest.authcache).

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

-- page(page, per_page, q) -> { users (each with activeSessions), page, perPage, totalPages, totalResults } | nil, err
function M.page(page, per_page, q)
  local qp = q or db.null
  local count, err = db.query("SELECT count(*) AS n FROM users WHERE " .. SEARCH, qp)
  if not count then return nil, err end
  local rows
  rows, err = db.query("SELECT " .. COLS .. ", " .. ACTIVE_SESSIONS .. " FROM users WHERE " .. SEARCH ..
                       " ORDER BY id LIMIT $2 OFFSET $3", qp, per_page, (page - 1) * per_page)
  if not rows then return nil, err end
  local users = json.array()
  for i, r in ipairs(rows) do users[i] = M.view(r); users[i].activeSessions = r.active_tokens end
  local total = count[1].n
  return { users = users, page = page, perPage = per_page, totalResults = total,
           totalPages = (total + per_page - 1) // per_page }
end

-- details(id) -> user view (with activeSessions) | nil (unknown) | nil, err
function M.details(id)
  local rows, err = db.query("SELECT " .. COLS .. ", " .. ACTIVE_SESSIONS .. " FROM users WHERE id = $1", id)
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
      WHERE id = $1 RETURNING ]] .. COLS, id, change.role or db.null, disabled)
    if not rows then return nil, err end
    if not rows[1] then return false end
    if change.role == "admin" then M.close_setup() end   -- an admin exists: no setup link
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
