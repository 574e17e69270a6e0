-- medianest token create NAME [--name LABEL] — a personal API token for
-- user NAME (for scripts and benchmarks: `Authorization: Bearer <token>`).
-- Prints the token alone on stdout; it is shown only this once (the
-- database keeps its SHA-256). Exit codes: 0 done, 1 failed, 2 usage.
local USAGE = [[
usage: medianest token create NAME [--name LABEL] [-c FILE]

Creates a personal API token for the user NAME and prints it alone on stdout
(shown once: only its SHA-256 is stored). LABEL names it in the user's token
list (default "cli"). Revoke it from the web UI or DELETE /api/v1/auth/tokens/{id}.]]

local args, rest = { ... }, {}
local label = "cli"
local i = 1
while i <= #args do
  local a = args[i]
  if a == "-c" or a == "--config" then i = i + 1
  elseif a == "--name" then label = args[i + 1]; i = i + 1
  elseif a == "--help" or a == "-h" then print(USAGE) return 0
  else rest[#rest + 1] = a end
  i = i + 1
end

local function fail(msg, code)
  io.stderr:write("medianest token: ", msg, "\n")
  return code or 1
end

if rest[1] ~= "create" or not rest[2] or rest[3] then
  io.stderr:write(USAGE, "\n")
  return 2
end
if type(label) ~= "string" or label == "" or #label > 100 then
  return fail("--name: expected 1 to 100 characters", 2)
end

local cfg = require("nest.config").get()
if not cfg.database or not cfg.database.url or cfg.database.url == "" then
  return fail("no database configured (database.url or DATABASE_URL)")
end
package.path = cfg.root .. "/?.lua;" .. cfg.root .. "/?/init.lua;" .. package.path

local ok, raw, err = pcall(function()
  local users = require "plugins.auth.users"
  local sessions = require "plugins.auth.sessions"
  local json = require "nest.json"
  local u = users.by_name(rest[2])
  if not u then return nil, "no user named '" .. rest[2] .. "'" end
  if u.disabled_at ~= json.null then return nil, "user '" .. u.username .. "' is disabled" end
  local raw = sessions.create_api(u.id, label)
  return raw
end)
if not ok then return fail(tostring(type(raw) == "table" and raw.message or raw)) end
if not raw then return fail(err) end
print(raw)
return 0
