-- spec/integration/db_spec.lua — nest.db against the real PostgreSQL
-- (DATABASE_URL, provisioned by scripts/test via scripts/lib/services.sh).
local db = require "nest.db"
local json = require "nest.json"
local timer = require "nest.timer"
local napp = require "nest.core.app"
local h = require "spec.helpers"

local URL = os.getenv("DATABASE_URL")
assert(URL and URL ~= "", "DATABASE_URL is not set: source scripts/lib/services.sh and run "
  .. "mn_services_up .data test && mn_fresh_test_db (scripts/test does)")

local function configure(extra)
  local o = { url = URL, pool_max = 20, queue_timeout = 5, queue_max = 1000 }
  for k, v in pairs(extra or {}) do o[k] = v end
  db.configure(o)
end

-- Spawn fn as its own task (a timer callback runs in a new task).
local function spawn(fn) timer.at(0, function(premature) if not premature then fn() end end) end

local function q1(sql, ...)
  local rows, err = db.query(sql, ...)
  assert(rows, tostring(err))
  return rows[1]
end

describe("nest.db", function()
  before_each(function() configure() end)

  describe("typed results", function()
    it("converts integers, floats, numerics and booleans", function()
      local r = q1([[SELECT 7::int2 a, '-2147483648'::int4 b, 9223372036854775807::int8 c,
        1.5::float4 d, 0.1::float8 e, 42::numeric f, 12.25::numeric g,
        123456789012345678901234.5::numeric h, 99999999999999999999::numeric i,
        true t, false f2, 26::oid o]])
      assert.are.equal(7, r.a); assert.are.equal("integer", math.type(r.a))
      assert.are.equal(-2147483648, r.b)
      assert.are.equal(math.maxinteger, r.c); assert.are.equal("integer", math.type(r.c))
      assert.are.equal(1.5, r.d); assert.are.equal(0.1, r.e)
      assert.are.equal(42, r.f); assert.are.equal("integer", math.type(r.f))
      assert.are.equal(12.25, r.g); assert.are.equal("float", math.type(r.g))
      assert.are.equal("123456789012345678901234.5", r.h)   -- would lose precision
      assert.are.equal("99999999999999999999", r.i)          -- beyond int64
      assert.is_true(r.t); assert.is_false(r.f2)
      assert.are.equal(26, r.o)
    end)

    it("decodes json and jsonb, or gives the text with raw_json", function()
      local r = q1([[SELECT '{"a":[1,2,{"b":null}],"n":1.5}'::jsonb j, '[]'::json e]])
      assert.are.same({ 1, 2, { b = json.null } }, r.j.a)
      assert.are.equal(1.5, r.j.n)
      assert.are.equal("[]", json.encode(r.e))
      local raw = assert(db.query({ [[SELECT '{"a":1}'::jsonb j]], raw_json = true }))
      assert.are.equal('{"a": 1}', raw[1].j)
    end)

    it("gives timestamps as ISO 8601 strings", function()
      local r = q1([[SELECT '2024-05-01 12:00:00.123+00'::timestamptz a,
        '2024-05-01 14:30:00+02:30'::timestamptz b, '2024-05-01 12:00:00'::timestamp c,
        '2024-05-01'::date d, now() n]])
      assert.are.equal("2024-05-01T12:00:00.123Z", r.a)
      assert.are.equal("2024-05-01T12:00:00Z", r.b)
      assert.are.equal("2024-05-01T12:00:00", r.c)
      assert.are.equal("2024-05-01", r.d)
      assert.truthy(r.n:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d[.%d]*Z$"))
    end)

    it("converts arrays of text and integers", function()
      local r = q1([=[SELECT ARRAY['a', 'b c', NULL, 'q"uote', 'back\slash', '']::text[] t,
        ARRAY[1, 2, NULL]::int4[] i, ARRAY[9007199254740993]::int8[] b,
        '{}'::text[] e, ARRAY[true, false] bo, ARRAY[[1,2],[3,4]] m]=])
      assert.are.same({ "a", "b c", db.null, 'q"uote', "back\\slash", "" }, r.t)
      assert.are.same({ 1, 2, db.null }, r.i)
      assert.are.equal(9007199254740993, r.b[1])
      assert.are.equal("[]", json.encode(r.e))
      assert.are.same({ true, false }, r.bo)
      assert.are.same({ { 1, 2 }, { 3, 4 } }, r.m)
    end)

    it("gives bytea as raw bytes and NULL as db.null (json null)", function()
      local r = q1([[SELECT '\x00ff41'::bytea b, NULL::text n, 'plain' s]])
      assert.are.equal("\0\255A", r.b)
      assert.are.equal(db.null, r.n)
      assert.are.equal(json.null, r.n)
      assert.are.equal("plain", r.s)
      assert.are.equal('{"n":null}', json.encode({ n = r.n }))
    end)

    it("round-trips parameters of every kind", function()
      local bin = "\0\1\2\255\254"
      local r = q1([[SELECT $1::text IS NULL a, $2::bool b, $3::int8 c, $4::float8 d,
        $5::text e, $6::bytea f, $7::jsonb g, $8::int4 h, $9::text IS NULL i]],
        nil, true, math.mininteger, 2.5, "héllo ☃", bin, { x = { 1, 2 }, y = "z" }, -3, db.null)
      assert.is_true(r.a); assert.is_true(r.b)
      assert.are.equal(math.mininteger, r.c)
      assert.are.equal(2.5, r.d)
      assert.are.equal("héllo ☃", r.e)
      assert.are.equal(bin, r.f)
      assert.are.same({ x = { 1, 2 }, y = "z" }, r.g)
      assert.are.equal(-3, r.h)
      assert.is_true(r.i)
    end)

    it("gives {affected = n} for writes and rows for RETURNING", function()
      assert(db.query("CREATE TEMP TABLE IF NOT EXISTS t_aff (id serial PRIMARY KEY, v text)"))
      -- temp tables live per connection: use a transaction to stay on one
      local ok, err = db.tx(function()
        assert(db.query("CREATE TEMP TABLE t_ret (id serial PRIMARY KEY, v text) ON COMMIT DROP"))
        local ins = assert(db.query("INSERT INTO t_ret (v) VALUES ($1), ($2)", "a", "b"))
        assert.are.same({ affected = 2 }, ins)
        local ret = assert(db.query("INSERT INTO t_ret (v) VALUES ($1) RETURNING id, v", "c"))
        assert.are.same({ { id = 3, v = "c" } }, ret)
        local upd = assert(db.query("UPDATE t_ret SET v = 'x' WHERE id <= 2"))
        assert.are.equal(2, upd.affected)
        local none = assert(db.query("SELECT * FROM t_ret WHERE false"))
        assert.are.equal(0, #none)
        assert.are.equal("[]", json.encode(none))
        return true
      end)
      assert.is_true(ok, tostring(err))
    end)
  end)

  describe("prepared statements", function()
    it("prepares once per connection and executes by name", function()
      configure({ pool_max = 1 })
      local sql = "SELECT $1::int * 2 AS v, $2::text AS s"
      for i = 1, 3 do
        local r = assert(db.query({ sql, prepare = true }, i, "x" .. i))
        assert.are.same({ { v = i * 2, s = "x" .. i } }, r)
      end
      local n = q1("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1", sql).n
      assert.are.equal(1, n)
      local _, err = db.query({ "SELECT nope", prepare = true })
      assert.are.equal("42703", err.code)
      assert.are.equal(1, q1("SELECT 1 AS one").one)
    end)

    it("forgets a statement whose result type changed and prepares it again", function()
      configure({ pool_max = 1 })
      assert(db.query("DROP TABLE IF EXISTS prep_spec"))
      assert(db.query("CREATE TABLE prep_spec (a int)"))
      assert(db.query("INSERT INTO prep_spec VALUES (1)"))
      assert(db.query({ "SELECT * FROM prep_spec", prepare = true }))
      assert(db.query("ALTER TABLE prep_spec ADD COLUMN b int DEFAULT 2"))
      local r, err = db.query({ "SELECT * FROM prep_spec", prepare = true })
      if not r then assert.are.equal("0A000", err.code) end
      r = assert(db.query({ "SELECT * FROM prep_spec", prepare = true }))
      assert.are.same({ { a = 1, b = 2 } }, r)
    end)
  end)

  describe("errors", function()
    it("returns nil and a table with the SQLSTATE", function()
      local rows, err = db.query("SELEC 1")
      assert.is_nil(rows)
      assert.are.equal("42601", err.code)
      assert.truthy(err.message:find("syntax error", 1, true))
      assert.truthy(tostring(err):find("^42601: syntax error"))
      local _, e2 = db.query("SELECT 1/0")
      assert.are.equal("22012", e2.code)
    end)

    it("raises on a parameter SQL cannot take", function()
      assert.has_error(function() db.query("SELECT $1", function() end) end)
    end)

    it("times a query out with the per-call timeout and keeps the pool clean", function()
      local t0 = napp.hrtime()
      local rows, err = db.query({ "SELECT pg_sleep(5)", timeout = 0.2 })
      assert.is_nil(rows)
      assert.are.equal("TIMEOUT", err.code)
      assert.is_true(napp.hrtime() - t0 < 2)
      assert.are.equal(1, q1("SELECT 1 AS one").one)
    end)

    it("reports an unreachable server as UNAVAILABLE, fast", function()
      -- a port nothing listens on: the pool fails fast instead of hanging
      local port = assert(io.popen("perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen=>1,LocalAddr=>\"127.0.0.1\",LocalPort=>0)->sockport'")):read("a")
      configure({ url = "postgresql://medianest@127.0.0.1:" .. port .. "/x" })
      local t0 = napp.hrtime()
      local rows, err = db.query("SELECT 1")
      assert.is_nil(rows)
      assert.are.equal("UNAVAILABLE", err.code)
      assert.is_true(db.is_unavailable(err))
      assert.is_true(napp.hrtime() - t0 < 1.5)
      configure()
      assert.are.equal(1, q1("SELECT 1 AS one").one)
    end)
  end)

  describe("the pool", function()
    it("serves 500 concurrent tasks over 20 connections", function()
      configure({ pool_max = 20 })
      local done, failed, max_in_use = 0, {}, 0
      for i = 1, 500 do
        spawn(function()
          local rows, err = db.query("SELECT $1::int + 1 AS v, pg_sleep(0.005)", i)
          if rows and rows[1].v == i + 1 then done = done + 1
          else failed[#failed + 1] = tostring(err) end
          local c = db.counts()
          if c.in_use > max_in_use then max_in_use = c.in_use end
        end)
      end
      h.wait_until(function() return done + #failed == 500 end, 30, 0.02, "500 queries")
      assert.are.same({}, failed)
      assert.are.equal(500, done)
      assert.is_true(max_in_use <= 20)
      assert.is_true(db.counts().total <= 20)
    end)

    it("answers 'pool exhausted' when no connection frees up within queue_timeout", function()
      configure({ pool_max = 1 })
      local first
      spawn(function() first = { db.query("SELECT pg_sleep(1)") } end)
      h.wait_until(function() return db.counts().in_use == 1 end, 5, 0.01, "the one connection in use")
      local t0 = napp.hrtime()
      local rows, err = db.query({ "SELECT 1", queue_timeout = 0.2 })
      local waited = napp.hrtime() - t0
      assert.is_nil(rows)
      assert.are.equal("UNAVAILABLE", err.code)
      assert.truthy(err.message:find("pool exhausted", 1, true))
      assert.is_true(waited >= 0.15 and waited < 0.9, "waited " .. waited)
      h.wait_until(function() return first end, 5, 0.01, "the sleeping query")
      assert.truthy(first[1])
      assert.are.equal(1, q1("SELECT 1 AS one").one)
    end)

    it("records db_query_duration_seconds and db_pool_connections{state}", function()
      local metrics = require "nest.core.metrics"
      local before = metrics.expose():match("\ndb_query_duration_seconds_count (%d+)") or "0"
      assert(db.query("SELECT 1"))
      local text = metrics.expose()
      local after = text:match("\ndb_query_duration_seconds_count (%d+)")
      assert.is_true(tonumber(after) > tonumber(before))
      for _, st in ipairs({ "in_use", "idle", "connecting", "draining", "waiting" }) do
        assert.truthy(text:find('db_pool_connections{state="' .. st .. '"}', 1, true), st)
      end
    end)

    it("fails at once when the waiter queue is full", function()
      configure({ pool_max = 1, queue_max = 0 })
      local first
      spawn(function() first = { db.query("SELECT pg_sleep(0.3)") } end)
      h.wait_until(function() return db.counts().in_use == 1 end, 5, 0.01)
      local rows, err = db.query("SELECT 1")
      assert.is_nil(rows)
      assert.truthy(err.message:find("pool exhausted", 1, true))
      h.wait_until(function() return first end, 5, 0.01)
    end)
  end)

  describe("db.tx", function()
    before_each(function()
      assert(db.query("CREATE TABLE IF NOT EXISTS tx_spec (id int PRIMARY KEY, v text)"))
      assert(db.query("TRUNCATE tx_spec"))
    end)

    it("commits and pins one connection", function()
      local pids = {}
      local v = assert(db.tx(function()
        pids[1] = q1("SELECT pg_backend_pid() AS p").p
        assert(db.query("INSERT INTO tx_spec VALUES (1, 'a')"))
        pids[2] = q1("SELECT pg_backend_pid() AS p").p
        assert.are.equal("T", q1("SELECT CASE WHEN txid_current_if_assigned() IS NULL THEN 'F' ELSE 'T' END AS t").t)
        return "ok"
      end))
      assert.are.equal("ok", v)
      assert.are.equal(pids[1], pids[2])
      assert.are.equal(1, q1("SELECT count(*) AS n FROM tx_spec").n)
    end)

    it("keeps the pinned connection inside a plugin's own coroutine", function()
      local outer, inner
      assert(db.tx(function()
        outer = q1("SELECT pg_backend_pid() AS p").p
        local gen = coroutine.wrap(function()
          coroutine.yield(q1("SELECT pg_backend_pid() AS p").p)
        end)
        inner = gen()
        return true
      end))
      assert.are.equal(outer, inner)
    end)

    it("a task of its own does not join another task's transaction", function()
      local pid_other
      local other_done = false
      assert(db.tx(function()
        local mine = q1("SELECT pg_backend_pid() AS p").p
        timer.at(0, function() pid_other = q1("SELECT pg_backend_pid() AS p").p other_done = true end)
        h.wait_until(function() return other_done end, 5, 0.01)
        assert.are_not.equal(mine, pid_other)
        return true
      end))
    end)

    it("rolls back when fn raises, and re-raises", function()
      local ok, e = pcall(db.tx, function()
        assert(db.query("INSERT INTO tx_spec VALUES (1, 'a')"))
        error("boom", 0)
      end)
      assert.is_false(ok)
      assert.are.equal("boom", e)
      assert.are.equal(0, q1("SELECT count(*) AS n FROM tx_spec").n)
      assert.are.equal(0, db.counts().in_use)
    end)

    it("rolls back when fn returns nil, err (a failed statement)", function()
      local v, err = db.tx(function()
        assert(db.query("INSERT INTO tx_spec VALUES (1, 'a')"))
        return db.query("INSERT INTO tx_spec VALUES (1, 'dup')")   -- 23505
      end)
      assert.is_nil(v)
      assert.are.equal("23505", err.code)
      assert.are.equal(0, q1("SELECT count(*) AS n FROM tx_spec").n)
    end)
  end)

  describe("cancellation", function()
    local app
    after_each(function() if app then app:stop() app = nil end end)

    it("a request cancelled mid-query cancels it and returns a clean connection", function()
      app = h.start({ plugins = { "health", "db_probe" },
                      config = { database = { url = URL, pool_max = 2, migrate_on_start = false },
                                 plugins = { paths = { h.root .. "/spec/fixtures/plugins" } } } })
      local s = app:raw()
      s.conn:write("GET /api/v1/db_probe/sleep?s=5 HTTP/1.1\r\nHost: x\r\n\r\n")
      local active = "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep%db_probe%' "
        .. "AND state = 'active' AND pid <> pg_backend_pid()"
      h.wait_until(function() return q1(active).n == 1 end, 5, 0.02, "the sleep to run")
      local t0 = napp.hrtime()
      s.conn:close()
      h.wait_until(function() return q1(active).n == 0 end, 3, 0.02, "the sleep to be cancelled")
      assert.is_true(napp.hrtime() - t0 < 2)
      -- both connections usable again, quickly
      for _ = 1, 3 do
        local res = app:get("/api/v1/db_probe/one")
        assert.are.equal(200, res.status)
        assert.are.equal(1, res.json.one)
      end
      local c = app:get("/api/v1/db_probe/counts").json
      assert.are.equal(0, c.draining)
      assert.is_true(napp.hrtime() - t0 < 3)
    end)
  end)
end)
