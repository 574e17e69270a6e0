-- spec/helpers_admin.lua — what the admin-area specs share: users made
-- straight in the database under a unique tag (the database is shared by
-- the specs of a run), Bearer clients for them (a personal API token, the
-- way plugins/auth checks it), and the route-guard check every admin
-- endpoint must pass (anonymous 401, user 403, admin 2xx).
local db = require "nest.db"
local crypto = require "nest.crypto"

local ha = {}

function ha.tag(prefix) return prefix .. crypto.hex(crypto.random(4)) end

function ha.make_user(tag, name, role)
  local rows = assert(db.query(
    "INSERT INTO users (username, email, role) VALUES ($1, $2, $3) RETURNING id",
    tag .. "-" .. name, tag .. "-" .. name .. "@example.invalid", role or "user"))
  return rows[1].id
end

function ha.drop_users(tag)
  assert(db.query("DELETE FROM users WHERE username LIKE $1", tag .. "-%"))
end

-- A client authenticated with a fresh API token of user_id.
function ha.bearer(app, user_id)
  local token = crypto.token(32)
  assert(db.query([[INSERT INTO session_tokens (user_id, token_hash, kind, name, expires_at)
                    VALUES ($1, $2, 'api', 'spec', now() + interval '1 day')]],
    user_id, crypto.sha256(token)))
  local c = app:client()
  c.headers.Authorization = "Bearer " .. token
  return c, token
end

-- Each {method, path, json?} answers 401 to anon and 403 to user.
function ha.assert_guarded(routes, anon, user)
  for _, rt in ipairs(routes) do
    local opts = { json = rt[3] }
    local r1 = assert(anon:request(rt[1], rt[2], opts))
    assert(r1.status == 401, rt[1] .. " " .. rt[2] .. " anonymous: " .. r1.status)
    assert(r1.json.error.code == "UNAUTHENTICATED", rt[2])
    local r2 = assert(user:request(rt[1], rt[2], opts))
    assert(r2.status == 403, rt[1] .. " " .. rt[2] .. " user: " .. r2.status)
    assert(r2.json.error.code == "FORBIDDEN", rt[2])
  end
end

return ha
