-- spec/integration/static_spec.lua — static files (core/http_static.c) over
-- real sockets: ETag / Last-Modified / 304, Range / 206 / 416, precompressed
-- siblings, cache policy by name, HEAD, the SPA fallback, large files read
-- from disk, and path traversal refused with 404.
local h = require "spec.helpers"

local FIX = h.root .. "/spec/fixtures/static"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function raw_get(app, target, headers)
  local s = app:raw()
  local lines = { "GET " .. target .. " HTTP/1.1", "Host: spec", "Connection: close" }
  for _, l in ipairs(headers or {}) do lines[#lines + 1] = l end
  assert(s.conn:write(table.concat(lines, "\r\n") .. "\r\n\r\n"))
  local r = assert(s:read_response())
  s.conn:close()
  return r
end

describe("static files", function()
  local app
  setup(function() app = h.start({ config = { static = { dir = FIX } } }) end)
  teardown(function() app:stop() end)

  it("serves a file with its type, length, ETag and Last-Modified", function()
    local r = assert(app:get("/docs/range.txt"))
    assert.equal(200, r.status)
    assert.equal(slurp(FIX .. "/docs/range.txt"), r.body)
    assert.equal("text/plain; charset=utf-8", r.headers["content-type"])
    assert.equal("36", r.headers["content-length"])
    assert.matches('^"[%x]+%-[%x]+"$', r.headers["etag"])
    assert.matches("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$", r.headers["last-modified"])
    assert.equal("bytes", r.headers["accept-ranges"])
    assert.equal("nosniff", r.headers["x-content-type-options"])   -- security headers here too
  end)

  it("serves / and dir/ as their index.html", function()
    local r = assert(app:get("/"))
    assert.equal(200, r.status)
    assert.equal(slurp(FIX .. "/index.html"), r.body)
    assert.equal("text/html; charset=utf-8", r.headers["content-type"])
    assert.equal(slurp(FIX .. "/docs/index.html"), assert(app:get("/docs/")).body)
  end)

  it("answers 304 to a matching If-None-Match and 200 to a stale one", function()
    local r = assert(app:get("/docs/range.txt"))
    local etag = r.headers["etag"]
    local n = assert(app:get("/docs/range.txt", { headers = { ["If-None-Match"] = etag } }))
    assert.equal(304, n.status)
    assert.equal("", n.body)
    assert.equal(etag, n.headers["etag"])
    assert.is_nil(n.headers["content-length"])
    local list = assert(app:get("/docs/range.txt", { headers = { ["If-None-Match"] = '"x", W/' .. etag } }))
    assert.equal(304, list.status)
    local stale = assert(app:get("/docs/range.txt", { headers = { ["If-None-Match"] = '"0-0"' } }))
    assert.equal(200, stale.status)
    assert.equal(36, #stale.body)
  end)

  it("answers 304 to If-Modified-Since at or after the mtime, 200 before it", function()
    local r = assert(app:get("/docs/range.txt"))
    local lm = r.headers["last-modified"]
    assert.equal(304, assert(app:get("/docs/range.txt", { headers = { ["If-Modified-Since"] = lm } })).status)
    local old = assert(app:get("/docs/range.txt",
      { headers = { ["If-Modified-Since"] = "Mon, 01 Jan 2001 00:00:00 GMT" } }))
    assert.equal(200, old.status)
    -- If-None-Match wins over If-Modified-Since
    local both = assert(app:get("/docs/range.txt",
      { headers = { ["If-Modified-Since"] = lm, ["If-None-Match"] = '"other"' } }))
    assert.equal(200, both.status)
  end)

  describe("Range", function()
    it("answers bytes=a-b, a- and -n with 206 and Content-Range", function()
      local cases = {
        { "bytes=0-4", "01234", "bytes 0-4/36" },
        { "bytes=10-", "abcdefghijklmnopqrstuvwxyz", "bytes 10-35/36" },
        { "bytes=-3", "xyz", "bytes 33-35/36" },
        { "bytes=30-1000", "uvwxyz", "bytes 30-35/36" },
        { "bytes=-100", "0123456789abcdefghijklmnopqrstuvwxyz", "bytes 0-35/36" },
      }
      for _, c in ipairs(cases) do
        local r = assert(app:get("/docs/range.txt", { headers = { Range = c[1] } }))
        assert.equal(206, r.status, c[1])
        assert.equal(c[2], r.body, c[1])
        assert.equal(c[3], r.headers["content-range"], c[1])
        assert.equal(tostring(#c[2]), r.headers["content-length"], c[1])
      end
    end)

    it("answers 416 with bytes */size when unsatisfiable", function()
      for _, rg in ipairs({ "bytes=36-", "bytes=1000-2000", "bytes=-0" }) do
        local r = assert(app:get("/docs/range.txt", { headers = { Range = rg } }))
        assert.equal(416, r.status, rg)
        assert.equal("bytes */36", r.headers["content-range"], rg)
      end
    end)

    it("ignores malformed or multiple ranges and a stale If-Range (200, whole file)", function()
      for _, hd in ipairs({ { Range = "bytes=5-2" }, { Range = "items=0-1" }, { Range = "bytes=0-1,4-5" },
                            { Range = "bytes=0-1", ["If-Range"] = '"stale"' } }) do
        local r = assert(app:get("/docs/range.txt", { headers = hd }))
        assert.equal(200, r.status)
        assert.equal(36, #r.body)
      end
    end)
  end)

  describe("precompressed siblings", function()
    local js = "/assets/app.3f9a2c1b.js"

    it("serves the .gz sibling when gzip is accepted, with its own ETag and Vary", function()
      local plain = assert(app:get(js))
      local r = assert(app:get(js, { headers = { ["Accept-Encoding"] = "gzip, deflate" } }))
      assert.equal(200, r.status)
      assert.equal("gzip", r.headers["content-encoding"])
      assert.equal(slurp(FIX .. js .. ".gz"), r.body)
      assert.equal("text/javascript; charset=utf-8", r.headers["content-type"])
      assert.matches("Accept%-Encoding", r.headers["vary"])
      assert.not_equal(plain.headers["etag"], r.headers["etag"])
      assert.is_nil(plain.headers["content-encoding"])
      assert.equal(slurp(FIX .. js), plain.body)
      assert.matches("Accept%-Encoding", plain.headers["vary"])
    end)

    it("never serves a sibling for a Range or when gzip is refused", function()
      local r = assert(app:get(js, { headers = { ["Accept-Encoding"] = "gzip", Range = "bytes=0-9" } }))
      assert.equal(206, r.status)
      assert.is_nil(r.headers["content-encoding"])
      assert.equal(slurp(FIX .. js):sub(1, 10), r.body)
      local q0 = assert(app:get(js, { headers = { ["Accept-Encoding"] = "gzip;q=0, br" } }))
      assert.is_nil(q0.headers["content-encoding"])
    end)
  end)

  it("caches hashed names forever and everything else with no-cache", function()
    local forever = "public, max-age=31536000, immutable"
    assert.equal(forever, assert(app:get("/assets/app.3f9a2c1b.js")).headers["cache-control"])
    assert.equal(forever, assert(app:get("/assets/chunk-BxK3_9aZ.css")).headers["cache-control"])
    assert.equal("no-cache", assert(app:get("/index.html")).headers["cache-control"])
    assert.equal("no-cache", assert(app:get("/sw.js")).headers["cache-control"])
    assert.equal("no-cache", assert(app:get("/docs/range.txt")).headers["cache-control"])
  end)

  it("answers HEAD with the headers and no body", function()
    local s = app:raw()
    assert(s.conn:write("HEAD /docs/range.txt HTTP/1.1\r\nHost: spec\r\n\r\nGET /health HTTP/1.1\r\nHost: spec\r\n\r\n"))
    local r = assert(s:read_response({ head = true }))
    assert.equal(200, r.status)
    assert.equal("36", r.headers["content-length"])
    assert.is_truthy(r.headers["etag"])
    local g = assert(s:read_response())
    assert.same({ status = "ok" }, g.json)
    s.conn:close()
  end)

  it("falls back to index.html for unknown non-API paths, not for /api", function()
    local index = slurp(FIX .. "/index.html")
    for _, p in ipairs({ "/dashboard", "/media/requests/42", "/settings/" }) do
      local r = assert(app:get(p))
      assert.equal(200, r.status, p)
      assert.equal(index, r.body, p)
      assert.equal("no-cache", r.headers["cache-control"], p)
    end
    local api = assert(app:get("/api/v1/nothing"))
    assert.equal(404, api.status)
    assert.equal("NOT_FOUND", api.json.error.code)
    local api2 = assert(app:get("/api/nothing"))
    assert.equal(404, api2.status)
    -- a POST to an unknown path is not a page load; with a body it is
    -- refused before the body is read (no route takes it)
    assert.equal(404, assert(app:post("/dashboard")).status)
    assert.equal(413, assert(app:post("/dashboard", {})).status)
  end)

  it("refuses path traversal, encoded or not, NUL and backslashes with 404", function()
    for _, p in ipairs({ "/../spec/helpers.lua", "/assets/../../CMakeLists.txt", "/%2e%2e/CMakeLists.txt",
                         "/%2E%2E/%2e%2e/etc/passwd", "/assets/%2e%2e/index.html", "/./index.html",
                         "/index.html%00.js", "/assets%5c..%5cindex.html", "/%zz", "/docs/.." }) do
      local r = raw_get(app, p)
      assert.equal(404, r.status, p)
      assert.is_nil(r.body:find("spec index", 1, true), p)
      assert.is_nil(r.body:find("cmake_minimum_required", 1, true), p)
    end
  end)

  it("never lists or serves dotfiles", function()
    local tmp = h.tmpname("-static")
    assert(os.execute("mkdir -p " .. tmp .. " && printf secret > " .. tmp .. "/.env && printf hi > "
      .. tmp .. "/a.txt"))
    local a2 = h.start({ config = { static = { dir = tmp } } })
    local ok, err = pcall(function()
      assert.equal("hi", assert(a2:get("/a.txt")).body)
      assert.equal(404, assert(a2:get("/.env")).status)
    end)
    a2:stop()
    os.execute("rm -rf " .. tmp)
    assert(ok, err)
  end)

  it("serves files over 256 KiB from disk, whole and by range", function()
    local tmp = h.tmpname("-static")
    assert(os.execute("mkdir -p " .. tmp))
    local parts = {}
    for i = 1, 40000 do parts[#parts + 1] = ("%09d\n"):format(i) end   -- 400 000 bytes
    local big = table.concat(parts)
    local f = assert(io.open(tmp .. "/big.bin", "wb"))
    f:write(big)
    f:close()
    local a2 = h.start({ config = { static = { dir = tmp } } })
    local ok, err = pcall(function()
      local r = assert(a2:get("/big.bin"))
      assert.equal(200, r.status)
      assert.equal(#big, #r.body)
      assert.equal(big, r.body)
      local p = assert(a2:get("/big.bin", { headers = { Range = "bytes=300000-300009" } }))
      assert.equal(206, p.status)
      assert.equal(big:sub(300001, 300010), p.body)
      assert.equal("application/octet-stream", r.headers["content-type"])
    end)
    a2:stop()
    os.execute("rm -rf " .. tmp)
    assert(ok, err)
  end)
end)
