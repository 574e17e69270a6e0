-- plugins/auth/users.lua — the users table as sign-in and the shell see it.
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

function M.set_role(name, role)
  local rows = q("UPDATE users SET role = $2 WHERE lower(username) = lower($1) RETURNING " .. COLS, name, role)
  if not rows[1] then return nil, "no user named '" .. name .. "'" end
  if role == "admin" then M.close_setup() end
  authcache.revoke_user(rows[1].id)             -- signed-in requests see the new role
  return rows[1]
end

-- Disable a user and revoke every session and token of theirs, at once.
function M.disable(name)
  local row, err = db.tx(function()
    local rows = q("UPDATE users SET disabled_at = COALESCE(disabled_at, now()) "
      .. "WHERE lower(username) = lower($1) RETURNING " .. COLS, name)
    if not rows[1] then return nil, "no user named '" .. name .. "'" end
    q("UPDATE session_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", rows[1].id)
    return rows[1]
  end)
  if row then authcache.revoke_user(row.id) end  -- after the commit: a lookup now finds nothing
  return row, err
end

function M.enable(name)
  local rows = q("UPDATE users SET disabled_at = NULL WHERE lower(username) = lower($1) RETURNING " .. COLS, name)
  if not rows[1] then return nil, "no user named '" .. name .. "'" end
  return rows[1]
end

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

return M
