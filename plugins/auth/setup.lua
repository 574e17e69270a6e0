-- plugins/auth/setup.lua — the one-time setup link (docs/auth.md#setup-the-first-admin).
--
-- While no user exists, `serve` makes a setup token (32 random bytes, stored
-- as SHA-256 in setup_tokens, so every instance sharing the database knows
-- it) and prints `setup: open <url>/setup?token=<token>` on stdout (the log
-- gets the link with the token redacted). The browser passes it as POST
-- /auth/plex/pin {"setupToken"}; the sign-in that completes with it consumes it (users.sign_in) and becomes admin. Single use, expiring
-- after auth.setup_token_ttl; once an admin exists every open link closes.
--
--   required()              -> true while no user exists
--   create(ttl)             -> raw token
--   find(raw)               -> setup_tokens.id of a valid (unused, unexpired) token | nil
--   link(cfg, port, raw)    -> the URL to print
--   announce(cfg, port)     -> the URL printed, or nil when setup is done
local crypto = require "nest.crypto"
local users = require "plugins.auth.users"
local log = require "nest.log"

local M = {}

local q = users.q

M.REDACTED = "<redacted: see the terminal>"

function M.required()
  return not users.exists()
end

function M.create(ttl)
  local raw = crypto.token(32)
  q("INSERT INTO setup_tokens (token_hash, expires_at) VALUES (decode($1, 'hex'), "
    .. "now() + make_interval(secs => $2))", crypto.sha256_hex(raw), tonumber(ttl) or 86400)
  return raw
end

function M.find(raw)
  if type(raw) ~= "string" or #raw < 20 or #raw > 200 then return nil end
  local r = q("SELECT id FROM setup_tokens WHERE token_hash = decode($1, 'hex') AND used_at IS NULL "
    .. "AND expires_at > now()", crypto.sha256_hex(raw))[1]
  return r and r.id
end

function M.link(cfg, port, raw)
  local base = cfg.public_url
  if not base or base == "" then
    local host = cfg.listen_host or "127.0.0.1"
    if host == "" or host == "0.0.0.0" or host == "::" then host = "127.0.0.1" end
    if host:find(":", 1, true) then host = "[" .. host .. "]" end
    base = ("http://%s:%d"):format(host, port or cfg.listen_port)
  end
  return base:gsub("/+$", "") .. "/setup?token=" .. raw
end

function M.announce(cfg, port)
  local ok, need = pcall(M.required)
  if not ok then
    log.warn("setup: cannot tell whether a user exists", { error = tostring(need) })
    return nil
  end
  if not need then return nil end
  local raw = M.create((cfg.auth or {}).setup_token_ttl)
  local line = "setup: open " .. M.link(cfg, port, raw)
  -- the link is for the operator's terminal; the log is often readable by
  -- more people (shipped, shared, kept), so it only says where to look
  io.stdout:write(line, "\n")
  io.stdout:flush()
  log.info("setup: open " .. M.link(cfg, port, M.REDACTED),
    { hint = "no user exists yet: whoever signs in through the link printed on the terminal becomes admin" })
  return line
end

return M
