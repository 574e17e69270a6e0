-- scripts/lib/backup_info.lua — what scripts/backup and scripts/restore need
-- to know from the configuration, resolved as the server resolves it (config
-- file, then the environment; the download folder as an admin saved it in
-- Admin › Services › YouTube, when the database answers). Run inside the
-- runtime: `medianest run scripts/lib/backup_info.lua [-c FILE]`.
-- Prints shell-quoted NAME=VALUE lines for `eval`:
--   data_dir        absolute data directory (secret.key, image caches, ...)
--   database_url    the PostgreSQL URL (database.url or DATABASE_URL)
--   youtube_root    absolute download folder
--   key_source      "file" (<data_dir>/secret.key) or "config" (secret_key / MEDIANEST_SECRET_KEY)
-- With --key: only the configured secret_key (64 hex digits), for the backup.
local config = require "nest.config"
local cfg = config.get()

for _, a in ipairs({ ... }) do
  if a == "--key" then
    if not cfg.secret_key then io.stderr:write("no secret_key configured\n") return 1 end
    print(cfg.secret_key)
    return 0
  end
end

local function q(s) return "'" .. tostring(s):gsub("'", [['\'']]) .. "'" end

local function absolute(p)
  p = config.path(p)
  if p:sub(1, 1) ~= "/" then p = (os.getenv("PWD") or ".") .. "/" .. p end
  return p
end

local root = cfg.services.youtube.root
local ok, yt = pcall(function() return require("nest.services").get("youtube") end)
if ok and type(yt) == "table" and type(yt.root) == "string" and yt.root ~= "" then root = yt.root end

print("data_dir=" .. q(absolute(cfg.data_dir)))
print("database_url=" .. q(cfg.database.url or ""))
print("youtube_root=" .. q(absolute(root)))
print("key_source=" .. q(cfg.secret_key and "config" or "file"))
