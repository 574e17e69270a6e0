-- spec/unit/metrics_spec.lua — nest.metrics over nest.core.metrics
-- (core/lua_metrics.c, core/metrics.c). The registry belongs to the app the
-- specs run in, so every metric here has a name of its own.
local metrics = require "nest.metrics"

local n = 0
local function name(base)
  n = n + 1
  return ("spec_metrics_%d_%s"):format(n, base)
end

-- The value on the exposition line that starts with `series .. " "`, or nil.
local function sample(series)
  local text = metrics.expose()
  local pat = "\n" .. series .. " "
  local i = ("\n" .. text):find(pat, 1, true)
  if not i then return nil end
  return tonumber(text:match("^(%S+)", i + #pat - 1))
end

describe("nest.metrics", function()
  it("counts with positional label values, numbers converted", function()
    local nm = name("requests_total")
    local c = metrics.counter(nm, "Requests.", { "method", "code" })
    c:inc(1, "GET", 200)
    c:inc(nil, "GET", "200")
    c:inc(2.5, "POST", 500)
    assert.equal(2, sample(nm .. '{method="GET",code="200"}'))
    assert.equal(2.5, sample(nm .. '{method="POST",code="500"}'))
  end)

  it("writes HELP and TYPE lines before the series", function()
    local nm = name("things_total")
    metrics.counter(nm, "Things.\nSecond line"):inc()
    local text = metrics.expose()
    assert.truthy(text:find("# HELP " .. nm .. " Things.\\nSecond line\n# TYPE " .. nm
      .. " counter\n" .. nm .. " 1\n", 1, true))
  end)

  it("refuses to count down", function()
    local c = metrics.counter(name("c_total"), "C.")
    assert.has_error(function() c:inc(-1) end)
  end)

  it("moves a gauge both ways and sets it", function()
    local nm = name("gauge")
    local g = metrics.gauge(nm, "G.", { "pool" })
    g:inc(1, "db")
    g:inc(nil, "db")
    g:dec(0.5, "db")
    assert.equal(1.5, sample(nm .. '{pool="db"}'))
    g:set(-7, "db")
    assert.equal(-7, sample(nm .. '{pool="db"}'))
  end)

  it("exposes histogram buckets cumulatively, with +Inf, _sum and _count", function()
    local nm = name("seconds")
    local hg = metrics.histogram(nm, "H.", { "route" }, { 0.25, 1 })
    for _, v in ipairs({ 0.125, 0.25, 0.5, 3 }) do hg:observe(v, "/a") end
    local text = metrics.expose()
    assert.truthy(text:find(table.concat({
      nm .. '_bucket{route="/a",le="0.25"} 2',
      nm .. '_bucket{route="/a",le="1"} 3',
      nm .. '_bucket{route="/a",le="+Inf"} 4',
      nm .. '_sum{route="/a"} 3.875',
      nm .. '_count{route="/a"} 4',
    }, "\n") .. "\n", 1, true))
  end)

  it("uses the default buckets when none are given", function()
    local nm = name("default_seconds")
    metrics.histogram(nm, "D."):observe(0.003)
    local text = metrics.expose()
    local les = {}
    for le in text:gmatch(nm .. '_bucket{le="([^"]+)"}') do les[#les + 1] = le end
    assert.same({ "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf" }, les)
  end)

  it("takes histogram options as a table", function()
    local nm = name("opt_seconds")
    local hg = metrics.histogram(nm, "O.", { "k" }, { buckets = { 1 }, max_series = 1 })
    hg:observe(0.5, "a")
    hg:observe(0.5, "b")
    assert.equal(1, sample(nm .. '_bucket{k="a",le="1"}'))
    assert.equal(1, sample(nm .. '_count{k="_overflow"}'))
  end)

  it("escapes backslashes, quotes and newlines in label values", function()
    local nm = name("escaped")
    metrics.gauge(nm, "E.", { "v" }):set(1, 'a"b\\c\nd')
    assert.truthy(metrics.expose():find(nm .. '{v="a\\"b\\\\c\\nd"} 1\n', 1, true))
  end)

  it("returns the same metric when a name is registered again alike", function()
    local nm = name("again_total")
    metrics.counter(nm, "A.", { "x" }):inc(1, "y")
    metrics.counter(nm, "A.", { "x" }):inc(1, "y")
    assert.equal(2, sample(nm .. '{x="y"}'))
  end)

  it("raises when a name comes back with other labels or type, naming the caller", function()
    local nm = name("clash_total")
    metrics.counter(nm, "C.", { "x" })
    local ok, err = pcall(metrics.counter, nm, "C.", { "z" })
    assert.is_false(ok)
    assert.matches("already registered", err)
    local _, err2 = pcall(function() metrics.gauge(nm, "C.", { "x" }) end)
    assert.matches("metrics_spec.lua:%d+: nest.metrics: " .. nm, err2)
  end)

  it("raises on invalid metric and label names", function()
    assert.has_error(function() metrics.counter("bad-name", "B.") end)
    assert.has_error(function() metrics.counter("1st", "B.") end)
    assert.has_error(function() metrics.counter(name("ok"), "B.", { "bad:label" }) end)
    assert.has_error(function() metrics.counter(name("ok"), "B.", { "__reserved" }) end)
    assert.has_error(function() metrics.histogram(name("ok"), "B.", { "le" }) end)
    assert.has_error(function() metrics.histogram(name("ok"), "B.", nil, { 1, 0.5 }) end)
  end)

  it("raises when the number of label values is wrong", function()
    local c = metrics.counter(name("l_total"), "L.", { "a", "b" })
    local ok, err = pcall(c.inc, c, 1, "only one")
    assert.is_false(ok)
    assert.matches("expected 2 label values, got 1", err)
    assert.has_error(function() c:inc(1, "a", "b", "c") end)
  end)

  it("folds label sets past the cap into _overflow and counts them", function()
    local nm = name("capped_total")
    local c = metrics.counter(nm, "C.", { "user" }, { max_series = 2 })
    for _, u in ipairs({ "u1", "u2", "u3", "u4", "u1" }) do c:inc(1, u) end
    assert.equal(2, sample(nm .. '{user="u1"}'))
    assert.equal(1, sample(nm .. '{user="u2"}'))
    assert.is_nil(sample(nm .. '{user="u3"}'))
    assert.equal(2, sample(nm .. '{user="_overflow"}'))
    assert.equal(2, sample('metrics_overflow_total{metric="' .. nm .. '"}'))
  end)

  it("includes the process collector's values", function()
    assert.is_true(sample("process_resident_memory_bytes") > 0)
    assert.is_true(sample("process_cpu_seconds_total") >= 0)
  end)

  it("names its content type", function()
    assert.equal("text/plain; version=0.0.4; charset=utf-8", metrics.CONTENT_TYPE)
  end)

  it("times a function into a histogram and passes its results through", function()
    local nm = name("timed_seconds")
    local hg = metrics.histogram(nm, "T.", { "op" })
    local a, b = metrics.time(hg, function() return 1, nil end, "ok")
    assert.equal(1, a)
    assert.is_nil(b)
    assert.has_error(function() metrics.time(hg, function() error("boom") end, "fail") end)
    assert.equal(1, sample(nm .. '_count{op="ok"}'))
    assert.equal(1, sample(nm .. '_count{op="fail"}'))
  end)

  it("shows handles by type and name", function()
    local nm = name("shown")
    local g = metrics.gauge(nm, "S.")
    assert.equal("gauge: " .. nm, tostring(g))
    assert.equal(nm, g:name())
  end)
end)
