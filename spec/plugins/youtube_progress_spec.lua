-- spec/plugins/youtube_progress_spec.lua — the yt-dlp output parser
-- (plugins/youtube/progress.lua), which trusts nothing it reads: examples of
-- the real lines, then a property test — thousands of random and mutated
-- lines never raise, and whatever they yield is within bounds. Also the URL
-- rules (urls.lua) and file names (files.lua). The parser is Lua, so this
-- property test stands where a C parser would have a libFuzzer target.
local progress = require "plugins.youtube.progress"
local urls = require "plugins.youtube.urls"
local files = require "plugins.youtube.files"

local REAL = '{"id":"dQw4w9WgXcQ","progress":{"status": "downloading", "downloaded_bytes": 65536, '
  .. '"total_bytes": 262144, "total_bytes_estimate": 262144.0, "tmpfilename": "/m/dQw4w9WgXcQ.webm.part", '
  .. '"filename": "/m/dQw4w9WgXcQ.webm", "eta": 3, "speed": 65536.0, "elapsed": 1.0, "ctx_id": null}}'

describe("youtube progress parser", function()
  it("reads a progress line", function()
    local p = progress.new()
    local ev = p:feed(REAL)
    assert.same({ type = "progress", id = "dQw4w9WgXcQ", status = "downloading", downloaded = 65536,
      total = 262144, percent = 25, speed = 65536, eta = 3, filename = "/m/dQw4w9WgXcQ.webm" }, ev)
    assert.equal(0, p.bad)
  end)

  it("reads a finished line and a moved line", function()
    local p = progress.new()
    local ev = p:feed('{"id":"abc","progress":{"status":"finished","downloaded_bytes":10,"total_bytes":10}}')
    assert.equal(100, ev.percent)
    ev = p:feed('{"moved":"abc","path":"/m/abc.webm"}')
    assert.same({ type = "moved", id = "abc", path = "/m/abc.webm" }, ev)
  end)

  it("uses the estimate when there is no total", function()
    local ev = progress.new():feed('{"id":"a","progress":{"status":"downloading","downloaded_bytes":5,"total_bytes_estimate":10.0}}')
    assert.equal(50, ev.percent)
  end)

  it("ignores yt-dlp's chatter without counting it bad, and counts broken JSON", function()
    local p = progress.new()
    assert.is_nil(p:feed("[download] Destination: x"))
    assert.is_nil(p:feed("WARNING: something"))
    assert.equal(0, p.bad)
    assert.is_nil(p:feed('{"id":"a","progress":'))
    assert.is_nil(p:feed('{"id":"../etc","progress":{"status":"downloading"}}'))
    assert.is_nil(p:feed('{"moved":"a","path":"x\\ny"}'))
    assert.is_nil(p:feed('{"id":"a","progress":{"status":"exploding"}}'))
    assert.equal(4, p.bad)
  end)

  it("bounds the numbers: negative, NaN-like, huge, and done > total", function()
    local p = progress.new()
    local ev = p:feed('{"id":"a","progress":{"status":"downloading","downloaded_bytes":-5,"total_bytes":1e300,"speed":-1,"eta":1e99}}')
    assert.is_nil(ev.downloaded)
    assert.equal(1 << 50, ev.total)
    assert.is_nil(ev.speed)
    assert.equal(10 * 365 * 86400, ev.eta)
    ev = p:feed('{"id":"a","progress":{"status":"downloading","downloaded_bytes":20,"total_bytes":10}}')
    assert.equal(100, ev.percent)
  end)

  it("never raises and keeps every value in bounds (property test, 20,000 lines)", function()
    math.randomseed(20261202)
    local pieces = { "{", "}", "[", "]", '"', ":", ",", "null", "true", "-1", "1e309", "0.5", '"id"', '"progress"',
      '"moved"', '"path"', '"status"', '"downloading"', '"finished"', '"downloaded_bytes"', '"total_bytes"',
      '"speed"', '"eta"', "\0", "\n", "\255", "\\u0000", "\\ud800", "9999999999999999999999", " " }
    local function random_line()
      if math.random() < 0.5 then
        -- a real line with a few bytes changed
        local s = REAL
        for _ = 1, math.random(1, 6) do
          local i = math.random(1, #s)
          s = s:sub(1, i - 1) .. pieces[math.random(#pieces)] .. s:sub(i + 1)
        end
        return s
      end
      local t = {}
      for i = 1, math.random(1, 40) do t[i] = pieces[math.random(#pieces)] end
      return table.concat(t)
    end
    local p = progress.new()
    local seen = 0
    for _ = 1, 20000 do
      local ok, ev = pcall(p.feed, p, random_line())
      assert.is_true(ok, tostring(ev))
      if ev then
        seen = seen + 1
        assert.truthy(ev.type == "progress" or ev.type == "moved")
        assert.truthy(#ev.id <= 64 and ev.id:match("^[%w_%-]+$"))
        for _, k in ipairs({ "downloaded", "total", "speed", "eta" }) do
          local v = ev[k]
          assert.truthy(v == nil or (math.type(v) and v >= 0 and v <= (1 << 50)), k)
        end
        assert.truthy(ev.percent == nil or (ev.percent >= 0 and ev.percent <= 100))
        if ev.path then assert.falsy(ev.path:find("[%z\n\r]")) end
      end
    end
    assert.is_true(seen > 100, "the mutations should leave some lines valid: " .. seen)
    assert.is_true(p.bad > 1000)
  end)
end)

describe("youtube URLs", function()
  local function kind(u) local r, why = urls.parse(u) return r and (r.kind .. ":" .. r.id) or ("bad: " .. why) end

  it("knows playlists and videos under every YouTube spelling", function()
    assert.equal("playlist:PLabc", kind("https://www.youtube.com/playlist?list=PLabc"))
    assert.equal("playlist:PLabc", kind("https://youtube.com/watch?v=dQw4w9WgXcQ&list=PLabc"))
    assert.equal("video:dQw4w9WgXcQ", kind("https://m.youtube.com/watch?v=dQw4w9WgXcQ"))
    assert.equal("video:dQw4w9WgXcQ", kind("http://youtu.be/dQw4w9WgXcQ"))
    assert.equal("video:dQw4w9WgXcQ", kind("https://www.youtube.com/shorts/dQw4w9WgXcQ"))
    assert.equal("playlist:OLAK5uy_x", kind("https://music.youtube.com/playlist?list=OLAK5uy_x"))
  end)

  it("refuses other hosts, credentials, other schemes and junk, saying why", function()
    assert.truthy(kind("https://evil.com/watch?v=dQw4w9WgXcQ"):find("not allowed"))
    assert.truthy(kind("https://youtube.com.evil.com/watch?v=dQw4w9WgXcQ"):find("not allowed"))
    assert.truthy(kind("https://a:b@www.youtube.com/watch?v=dQw4w9WgXcQ"):find("credentials"))
    assert.truthy(kind("javascript:alert(1)"):find("not a URL"))
    assert.truthy(kind("file:///etc/passwd"):find("only http"))
    assert.truthy(kind("https://www.youtube.com/watch?v=short"):find("no valid v="))
    assert.truthy(kind("https://www.youtube.com/ watch"):find("spaces"))
  end)

  it("accepts an operator's extra host and leaves the kind to the preview", function()
    local r = assert(urls.parse("https://vimeo.com/123", { "vimeo.com" }))
    assert.is_nil(r.kind)
  end)
end)

describe("youtube file names", function()
  it("are safe on every file system", function()
    assert.equal("AC-DC - Live", files.sanitise("AC/DC - Live"))
    assert.equal("a-b-c-d-e-f-g-h-i", files.sanitise('a\\b:c*d?e"f<g>h|i'))
    assert.equal("Untitled", files.sanitise(".."))
    assert.equal("hidden", files.sanitise(".hidden"))
    assert.equal("_CON", files.sanitise("CON"))
    assert.equal("_com1.txt", files.sanitise("com1.txt"))
    assert.equal("tab here", files.sanitise("tab\there\0"))
    assert.equal("trailing", files.sanitise("trailing. . "))
    assert.equal("Café", files.sanitise("Café"))
    local long = files.sanitise(("é"):rep(200))
    assert.truthy(#long <= 120 and utf8.len(long))
    assert.truthy(utf8.len(files.sanitise("bad \255 utf8")))
  end)
end)
