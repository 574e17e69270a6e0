-- spec/integration/migrate_spec.lua — nest.migrate and `medianest migrate` on
-- fresh, empty databases made on DATABASE_URL's server (dropped afterwards).
local db = require "nest.db"
local migrate = require "nest.migrate"
local h = require "spec.helpers"

local URL = os.getenv("DATABASE_URL")
assert(URL and URL ~= "", "DATABASE_URL is not set: source scripts/lib/services.sh and run "
  .. "mn_services_up .data test && mn_fresh_test_db (scripts/test does)")

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function url_with_db(name)
  local base, q = URL:match("^(postgres[%w]*://[^/?]*)/?[^?]*(.*)$")
  return base .. "/" .. name .. q
end

local made = {}
local function fresh_db()
  local name = ("medianest_test_mig_%d_%d"):format(os.time(), math.random(1, 1e9))
  db.configure({ url = URL })
  assert(db.query('CREATE DATABASE "' .. name .. '"'))
  made[#made + 1] = name
  local u = url_with_db(name)
  db.configure({ url = u })
  return u, name
end

local function names(rows, field)
  local out = {}
  for _, r in ipairs(rows) do out[r[field]] = true end
  return out
end

local self_exe = h.bin

describe("migrations", function()
  after_each(function()
    db.configure({ url = URL })
    for _, name in ipairs(made) do
      assert(db.query('DROP DATABASE IF EXISTS "' .. name .. '" WITH (FORCE)'))
    end
    made = {}
  end)

  it("`medianest migrate` on an empty database creates every table and the named indexes", function()
    local url = fresh_db()
    local p = io.popen("DATABASE_URL=" .. sh_quote(url) .. " " .. sh_quote(self_exe()) .. " migrate 2>&1; echo \"rc=$?\"")
    local out = p:read("a")
    p:close()
    assert.truthy(out:find("rc=0", 1, true), out)
    assert.truthy(out:find("applied 0001_init.sql", 1, true), out)
    local tables = names(assert(db.query(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")), "tablename")
    for _, t in ipairs({ "users", "session_tokens", "media_requests", "request_watchers",
                         "youtube_downloads", "youtube_items", "service_config", "service_status",
                         "monitor_visibility", "notifications", "error_reports", "schema_migrations" }) do
      assert.is_true(tables[t] == true, "table " .. t .. " missing")
    end
    local idx = assert(db.query("SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
    local by = {}
    for _, r in ipairs(idx) do by[r.indexname] = r end
    assert.truthy(by.idx_media_requests_user_created.indexdef:find("(user_id, created_at DESC)", 1, true))
    assert.truthy(by.idx_youtube_downloads_user_status.indexdef:find("(user_id, status)", 1, true))
    assert.truthy(by.idx_youtube_downloads_user_status.indexdef:find("WHERE", 1, true))
    assert.truthy(by.idx_service_status_name_updated.indexdef:find("(service_name, last_check_at DESC)", 1, true))
    assert.truthy(by.idx_session_tokens_hash.indexdef:find("(token_hash)", 1, true))
    local files = assert(migrate.files())
    local recorded = assert(db.query("SELECT version FROM schema_migrations ORDER BY version"))
    assert.are.equal(#files, #recorded)
    -- a second run applies nothing
    p = io.popen("DATABASE_URL=" .. sh_quote(url) .. " " .. sh_quote(self_exe()) .. " migrate 2>&1; echo \"rc=$?\"")
    out = p:read("a")
    p:close()
    assert.truthy(out:find("nothing to apply", 1, true), out)
    assert.truthy(out:find("rc=0", 1, true), out)
  end)

  it("stops at a failing migration and leaves the database as it was", function()
    local dir = h.tmpname("-migrations")
    assert(os.execute("mkdir -p " .. sh_quote(dir)))
    local function write(name, s) local f = assert(io.open(dir .. "/" .. name, "w")) f:write(s) f:close() end
    write("0001_ok.sql", "CREATE TABLE mig_ok (id int PRIMARY KEY);")
    write("0002_bad.sql", "CREATE TABLE mig_bad (id int);\nINSERT INTO mig_bad VALUES (1);\nSELECT no_such_column FROM mig_bad;")
    write("0003_later.sql", "CREATE TABLE mig_later (id int);")
    fresh_db()
    local applied, err, partial = migrate.run({ dir = dir })
    assert.is_nil(applied)
    assert.truthy(err:find("0002_bad.sql", 1, true), err)
    assert.truthy(err:find("42703", 1, true), err)   -- undefined_column
    assert.are.equal(1, #partial)
    local tables = names(assert(db.query(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")), "tablename")
    assert.is_true(tables.mig_ok)
    assert.is_nil(tables.mig_bad)
    assert.is_nil(tables.mig_later)
    local v = assert(db.query("SELECT version FROM schema_migrations ORDER BY version"))
    assert.are.same({ { version = "0001" } }, v)
    -- fixed, it applies from where it stopped
    write("0002_bad.sql", "CREATE TABLE mig_bad (id int);")
    local again = assert(migrate.run({ dir = dir }))
    assert.are.equal(2, #again)
    os.execute("rm -rf " .. sh_quote(dir))
  end)
end)
