-- nest/migrate.lua — applies migrations/NNNN_name.sql in order (docs/architecture.md#postgresql).
--
--   local migrate = require "nest.migrate"
--   local applied, err = migrate.run({ dir = ..., log = function(line) end })
--     -> { {version = "0001", name = "init", file = "0001_init.sql"}, ... } | nil, err, applied
--   migrate.pending([dir]) -> list of files not applied yet | nil, err
--
-- Each file runs as one simple query (several statements allowed) inside its
-- own transaction together with its row in schema_migrations, so a file is
-- applied entirely or not at all. The first failure stops the run: that
-- migration is rolled back, the ones before it stay applied, and err names
-- the file and the server's message. statement_timeout is lifted inside a
-- migration (a long index build is legitimate). A transaction-level
-- advisory lock serialises instances migrating at the same time; a version
-- another instance applied meanwhile is skipped.
local db = require "nest.db"

local M = {}

local LOCK = 7234001   -- pg_advisory_xact_lock key: "medianest migrations"

local function root()
  local ok, config = pcall(require, "nest.config")
  local cfg = ok and config.get and config.get()
  if cfg and cfg.root then return cfg.root end
  return require("nest.core.app").info().root
end

--- files(dir) -> sorted list of {version, name, file, path} | nil, err
function M.files(dir)
  dir = dir or (root() .. "/migrations")
  local p = io.popen("ls -1 '" .. dir:gsub("'", "'\\''") .. "' 2>/dev/null")
  if not p then return nil, "cannot list " .. dir end
  local out = {}
  for f in p:lines() do
    local v, n = f:match("^(%d%d%d%d+)_([%w_%-]+)%.sql$")
    if v then out[#out + 1] = { version = v, name = n, file = f, path = dir .. "/" .. f } end
  end
  p:close()
  table.sort(out, function(a, b) return a.version < b.version end)
  for i = 2, #out do
    if out[i].version == out[i - 1].version then
      return nil, ("two migrations numbered %s: %s and %s"):format(out[i].version, out[i - 1].file, out[i].file)
    end
  end
  return out
end

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

local function ensure_table()
  return db.tx(function()
    local ok, err = db.query("SELECT pg_advisory_xact_lock($1)", LOCK)
    if not ok then return nil, err end
    return db.query([[CREATE TABLE IF NOT EXISTS schema_migrations (
      version    text PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())]])
  end)
end

local function applied_set()
  local rows, err = db.query("SELECT version FROM schema_migrations")
  if not rows then return nil, err end
  local set = {}
  for _, r in ipairs(rows) do set[r.version] = true end
  return set
end

--- pending([dir]) -> files not applied yet | nil, err
function M.pending(dir)
  local files, err = M.files(dir)
  if not files then return nil, err end
  local ok, terr = ensure_table()
  if not ok then return nil, "cannot create schema_migrations: " .. tostring(terr) end
  local set, serr = applied_set()
  if not set then return nil, "cannot read schema_migrations: " .. tostring(serr) end
  local out = {}
  for _, m in ipairs(files) do if not set[m.version] then out[#out + 1] = m end end
  return out
end

-- One migration in its own transaction. -> true (applied) | false (someone
-- else did) | nil, err
local function apply(m, sql)
  return db.tx(function()
    local ok, err = db.query("SELECT pg_advisory_xact_lock($1)", LOCK)
    if not ok then return nil, err end
    local done = db.query("SELECT 1 FROM schema_migrations WHERE version = $1", m.version)
    if done and #done > 0 then return false end
    ok, err = db.query("SET LOCAL statement_timeout = 0")
    if not ok then return nil, err end
    ok, err = db.query({ sql, simple = true })
    if not ok then return nil, err end
    ok, err = db.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
    if not ok then return nil, err end
    return true
  end)
end

--- run{dir, log} -> applied list | nil, err, applied list
function M.run(opts)
  opts = opts or {}
  local log = opts.log or function() end
  local todo, err = M.pending(opts.dir)
  if not todo then return nil, err, {} end
  local applied = {}
  for _, m in ipairs(todo) do
    local sql, rerr = read(m.path)
    if not sql then return nil, ("migration %s: cannot read: %s"):format(m.file, rerr), applied end
    local ok, aerr = apply(m, sql)
    if ok == nil then
      local e = aerr
      local msg = type(e) == "table" and ((e.code and (e.code .. ": ") or "") .. tostring(e.message)
        .. (e.detail and (" (" .. e.detail .. ")") or "")) or tostring(e)
      return nil, ("migration %s failed, rolled back: %s"):format(m.file, msg), applied
    end
    if ok then
      applied[#applied + 1] = m
      log("applied " .. m.file)
    end
  end
  return applied
end

return M
