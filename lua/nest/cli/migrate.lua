-- medianest migrate [-c FILE] — apply the pending database migrations
-- (migrations/NNNN_name.sql, see nest/migrate.lua) and say what was applied.
-- Exit 0 when everything is applied, 1 with the error otherwise.
local args = { ... }
for _, a in ipairs(args) do
  if a == "--help" or a == "-h" then
    print("usage: medianest migrate [-c FILE]\n\n"
      .. "Applies migrations/NNNN_name.sql not yet recorded in schema_migrations, in order,\n"
      .. "each in its own transaction. The database is config database.url or DATABASE_URL.")
    return 0
  end
end

local cfg = require("nest.config").get()
if not cfg.database or not cfg.database.url or cfg.database.url == "" then
  io.stderr:write("medianest migrate: no database configured (database.url or DATABASE_URL)\n")
  return 1
end

local migrate = require "nest.migrate"
local applied, err = migrate.run({ log = function(line) print(line) io.stdout:flush() end })
if not applied then
  io.stderr:write("medianest migrate: ", tostring(err), "\n")
  return 1
end
if #applied == 0 then print("nothing to apply: the database is up to date")
else print(("%d migration%s applied"):format(#applied, #applied == 1 and "" or "s")) end
return 0
