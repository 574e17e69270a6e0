-- medianest user add|list|set-role|disable|enable — manage users from the
-- shell (docs/auth.md). Works on the database of config database.url /
-- DATABASE_URL, through the auth plugin's users module.
-- Exit codes: 0 done, 1 failed (no such user, name taken, database), 2 usage.
local USAGE = [[
usage: medianest user <command> [-c FILE]

commands:
  add NAME [--admin]         create a user (they sign in with the Plex account of that name)
  list                       list the users: id, name, role, state, last sign-in
  set-role NAME admin|user   change a user's role
  disable NAME               disable a user and revoke their sessions and API tokens at once
  enable NAME                let a disabled user sign in again

The database is config database.url or DATABASE_URL.]]

local args, rest = { ... }, {}
local skip = false
for i, a in ipairs(args) do
  if skip then skip = false
  elseif a == "-c" or a == "--config" then skip = true
  elseif a == "--help" or a == "-h" then print(USAGE) return 0
  else rest[#rest + 1] = a end
  local _ = i
end

local function fail(msg, code)
  io.stderr:write("medianest user: ", msg, "\n")
  return code or 1
end

local cmd = rest[1]
if not cmd then io.stderr:write(USAGE, "\n") return 2 end

local cfg = require("nest.config").get()
if not cfg.database or not cfg.database.url or cfg.database.url == "" then
  return fail("no database configured (database.url or DATABASE_URL)")
end
package.path = cfg.root .. "/?.lua;" .. cfg.root .. "/?/init.lua;" .. package.path
local users = require "plugins.auth.users"
local json = require "nest.json"

local function nn(v) if v == nil or v == json.null then return "-" end return tostring(v) end

local function run()
  if cmd == "add" then
    local name, admin = nil, false
    for i = 2, #rest do
      if rest[i] == "--admin" then admin = true
      elseif not name then name = rest[i]
      else return fail("unexpected argument '" .. rest[i] .. "'\n" .. USAGE, 2) end
    end
    if not name or name == "" then return fail("add: NAME is required\n" .. USAGE, 2) end
    local u, err = users.add(name, admin and "admin" or "user")
    if not u then return fail(err) end
    print(("added user %s (id %d, %s)"):format(u.username, u.id, u.role))
    return 0
  elseif cmd == "list" then
    if #rest > 1 then return fail("list takes no arguments", 2) end
    local list = users.list()
    print(("%-6s %-24s %-6s %-9s %s"):format("ID", "NAME", "ROLE", "STATE", "LAST SIGN-IN"))
    for _, u in ipairs(list) do
      print(("%-6d %-24s %-6s %-9s %s"):format(u.id, u.username, u.role,
        u.disabled_at ~= json.null and "disabled" or "active", nn(u.last_login_at)))
    end
    return 0
  elseif cmd == "set-role" then
    local name, role = rest[2], rest[3]
    if not name or (role ~= "admin" and role ~= "user") or rest[4] then
      return fail("usage: medianest user set-role NAME admin|user", 2)
    end
    local u, err = users.set_role(name, role)
    if not u then return fail(err) end
    print(("%s is now %s"):format(u.username, u.role))
    return 0
  elseif cmd == "disable" or cmd == "enable" then
    local name = rest[2]
    if not name or rest[3] then return fail("usage: medianest user " .. cmd .. " NAME", 2) end
    local u, err
    if cmd == "disable" then u, err = users.disable(name) else u, err = users.enable(name) end
    if not u then return fail(type(err) == "table" and tostring(err.message or err) or tostring(err)) end
    print(("%s is %s"):format(u.username, cmd == "disable" and "disabled; their sessions and tokens are revoked"
      or "enabled"))
    return 0
  end
  return fail("unknown command '" .. tostring(cmd) .. "'\n" .. USAGE, 2)
end

local ok, code = pcall(run)
if not ok then return fail(tostring(type(code) == "table" and code.message or code)) end
return code
