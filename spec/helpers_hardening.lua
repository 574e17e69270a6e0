-- spec/helpers_hardening.lua — what the hardening specs share: a client
-- signed in with a personal API token made straight in the database (the
-- real auth plugin checks it), and this process's resident memory (specs
-- start their servers in-process, so it is the server's).
--
--   local hh = require "spec.helpers_hardening"
--   local c = hh.bearer(app, tag .. "-root", "admin")   -- app:client() + Authorization
--   hh.cleanup(tag)                                     -- drop the users made with that prefix
--   hh.rss() -> bytes
--   hh.sanitized() -> true under ASan (its quarantine keeps freed memory
--                     resident: RSS bounds hold for the plain build only)
local db = require "nest.db"
local crypto = require "nest.crypto"

local hh = {}

function hh.bearer(app, username, role)
  local id = assert(db.query("INSERT INTO users (username, email, role) VALUES ($1, $2, $3) RETURNING id",
    username, username .. "@example.invalid", role or "user"))[1].id
  local token = crypto.token(32)
  assert(db.query([[INSERT INTO session_tokens (user_id, token_hash, kind, name, expires_at)
                    VALUES ($1, $2, 'api', 'spec', now() + interval '1 day')]], id, crypto.sha256(token)))
  local c = app:client()
  c.headers.Authorization = "Bearer " .. token
  return c, id
end

function hh.cleanup(prefix)
  db.query("DELETE FROM users WHERE username LIKE $1", prefix .. "-%")
end

function hh.rss()
  local f = assert(io.open("/proc/self/statm"))
  local _, pages = f:read("n", "n")
  f:close()
  return pages * 4096
end

function hh.sanitized()
  local f = io.open("/proc/self/maps")
  if not f then return false end
  local s = f:read("a")
  f:close()
  return s:find("libasan", 1, true) ~= nil
end

return hh
