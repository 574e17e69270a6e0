-- nest/db.lua — PostgreSQL for the framework and plugins (docs/architecture.md#postgresql), over
-- nest.core.db (core/lua_db.c, core/pg_pool.c: a non-blocking pool on the
-- event loop).
--
--   local db = require "nest.db"
--   local rows, err = db.query("SELECT id, name FROM users WHERE id = $1", 42)
--   local r = db.query("UPDATE users SET name = $1 WHERE id = $2", "ann", 42)  -- r.affected
--   local rows = db.query({ "SELECT pg_sleep(1)", timeout = 0.5 })           -- options form
--   local v, err = db.tx(function()
--     db.query("INSERT ...")            -- same connection, inside BEGIN ... COMMIT
--     return "done"
--   end)
--
-- Results: SELECT / RETURNING give an array of rows (tables keyed by column
-- name; an empty result encodes as []); other statements give
-- { affected = n }. Types: int2/int4/int8/oid -> integer; float4/float8 ->
-- number; numeric -> integer when whole and within int64, number when it has
-- at most 15 significant digits, else its exact text; bool -> boolean;
-- json/jsonb -> decoded with nest.json (options raw_json = true: the text);
-- timestamptz -> ISO 8601 in UTC ("2024-05-01T12:00:00.123Z"), timestamp ->
-- ISO 8601 without zone, date -> "2024-05-01"; arrays of those (and of
-- text/varchar/uuid) -> Lua arrays; bytea -> raw bytes; NULL -> db.null
-- (the same value as nest.json.null, so it encodes as JSON null); anything
-- else -> its text.
--
-- Parameters $1..: nil or db.null -> NULL; booleans; numbers (integers stay
-- exact); strings (a string that is not valid UTF-8 or holds a NUL byte is
-- sent in binary, as bytea wants it); tables -> JSON text (for json/jsonb
-- columns). Give trailing NULLs as db.null (a trailing nil is not counted by
-- `...` in the options form either way: use db.null).
--
-- Options (first argument a table { sql, ... }): timeout (s, cancels the
-- query on the server; err.code "TIMEOUT"), queue_timeout (s, waiting for a
-- free connection), raw_json, simple (several statements in one string, no
-- parameters; the last statement's result), prepare (a named prepared
-- statement, made on each connection the first time it runs this text and
-- executed by name after: saves parsing and planning for hot queries; if a
-- schema change alters its result columns the next run fails once with
-- code "0A000" and the statement is prepared afresh on the run after).
--
-- Errors: nil, err — err is a table { code, message, detail, hint } whose
-- tostring is "CODE: message". code is the SQLSTATE for errors the server
-- reports ("23505" unique violation...), "UNAVAILABLE" when the database
-- cannot be reached, a connection broke mid-query or the pool is exhausted
-- (the server layer should answer 503 for these), "TIMEOUT" for a per-call
-- timeout. Programming errors (a parameter of a type SQL cannot take) raise.
--
-- The pool is configured from config.database on first use (or explicitly
-- with db.configure{...}); it belongs to the app and outlives generations.
local core = require "nest.core.db"
local json = require "nest.json"

core.setup(json.null, json.decode, json.encode, json.array_mt)

local db = { null = json.null }

local Err = {}
Err.__index = Err
Err.__tostring = function(e)
  return (e.code and (e.code .. ": ") or "") .. tostring(e.message)
end

local function mkerr(msg, code, detail, hint)
  return setmetatable({ message = msg, code = code, detail = detail, hint = hint }, Err)
end
db.error = mkerr

--- is_unavailable(err) -> true for errors that mean "the database is not
-- there right now" (map to 503).
function db.is_unavailable(err)
  return type(err) == "table" and (err.code == "UNAVAILABLE" or err.code == "57P01"
    or err.code == "57P03")
end

local configured = false

--- configure{url, pool_max, idle_timeout, connect_timeout, statement_timeout,
-- queue_max, queue_timeout, slow_query}: create or update the app's pool.
function db.configure(opts)
  assert(type(opts) == "table" and type(opts.url) == "string" and opts.url ~= "",
    "nest.db.configure: opts.url (a postgresql:// URL) is required")
  core.configure(opts)
  configured = true
end

local function ensure()
  if configured then return true end
  local ok, config = pcall(require, "nest.config")
  local cfg = ok and config.get and config.get()
  local d = cfg and cfg.database
  if not d or not d.url or d.url == "" then
    return nil, mkerr("database not configured (database.url / DATABASE_URL)", "UNAVAILABLE")
  end
  db.configure(d)
  return true
end

-- Connections pinned by db.tx, by task (core.task(): the running task's
-- address). Weak values: when a task is cancelled inside a transaction, its
-- connection box becomes garbage with the task's stack and its __gc gives it
-- back (closed: it is mid-transaction). owner[box] is the coroutine that
-- opened the transaction: a lookup is honoured only from that coroutine or
-- from a plugin coroutine it resumed (then its status is "normal"), so an
-- entry left by a cancelled task is never picked up by a later task that
-- happens to reuse its address.
local pinned = setmetatable({}, { __mode = "v" })
local owner = setmetatable({}, { __mode = "k" })

local function pinned_conn()
  local key = core.task()
  local c = key and pinned[key]
  if not c then return nil end
  local o, co = owner[c], coroutine.running()
  if c:alive() and (o == co or (o and coroutine.status(o) == "normal")) then return c end
  pinned[key] = nil
  if c:alive() then c:release() end   -- a cancelled task's transaction: rolled back
  return nil
end

local function run(conn, sql, opts, n, ...)
  local params = n > 0 and { ... } or nil
  local r, msg, code, detail, hint = core.query(conn, sql, params, n, opts)
  if r == nil then return nil, mkerr(msg, code, detail, hint) end
  return r
end

--- query(sql, ...) / query({sql, timeout=, queue_timeout=, raw_json=, simple=}, ...)
-- -> rows | {affected = n} | nil, err
function db.query(sql, ...)
  local ok, err = ensure()
  if not ok then return nil, err end
  local opts
  if type(sql) == "table" then
    opts = sql
    sql = opts[1] or opts.sql
  end
  if type(sql) ~= "string" then error("nest.db.query: sql must be a string", 2) end
  return run(pinned_conn(), sql, opts, select("#", ...), ...)
end

local function finish(conn, key, ...)
  pinned[key] = nil
  conn:release()
  return ...
end

--- tx(fn, [opts]) -> fn's results | nil, err
-- Runs fn inside BEGIN ... COMMIT on one connection; every db.query made by
-- the same task meanwhile uses it. fn raising -> ROLLBACK and the error is
-- raised again; fn returning nil, err -> ROLLBACK and nil, err returned.
-- A db.tx inside a db.tx joins the outer transaction. The connection is
-- always released (error, cancel — see `pinned` — or success).
-- opts: queue_timeout.
function db.tx(fn, opts)
  assert(type(fn) == "function", "nest.db.tx: fn must be a function")
  local ok, err = ensure()
  if not ok then return nil, err end
  if pinned_conn() then return fn() end
  local key = core.task()
  if not key then error("nest.db.tx: no task is running", 2) end
  local conn, msg, code = core.acquire(opts and opts.queue_timeout)
  if not conn then return nil, mkerr(msg, code) end
  pinned[key] = conn
  owner[conn] = coroutine.running()
  local r, berr = run(conn, "BEGIN", nil, 0)
  if not r then return finish(conn, key, nil, berr) end
  local res = table.pack(pcall(fn))
  if not res[1] then
    run(conn, "ROLLBACK", nil, 0)
    finish(conn, key)
    error(res[2], 0)
  end
  if res[2] == nil and res[3] ~= nil then
    run(conn, "ROLLBACK", nil, 0)
    return finish(conn, key, nil, res[3])
  end
  local c, cerr = run(conn, "COMMIT", nil, 0)
  if not c then return finish(conn, key, nil, cerr) end
  return finish(conn, key, table.unpack(res, 2, res.n))
end

--- ping([timeout = 1]) -> true | nil, err
function db.ping(timeout)
  local r, err = db.query({ "SELECT 1 AS ok", timeout = timeout or 1, queue_timeout = timeout or 1 })
  if not r then return nil, err end
  return true
end

--- counts() -> {in_use, idle, connecting, draining, waiting, total, configured}
function db.counts() return core.counts() end

return db
