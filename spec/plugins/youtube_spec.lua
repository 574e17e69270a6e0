-- spec/plugins/youtube_spec.lua — the YouTube feature end to end with
-- bin/fake-yt-dlp and the demo Plex: preview, the queue, files on disk, the
-- partial scan and the collection, cancel / retry / delete, quota and the
-- hourly limit, duplicates, per-user isolation, how each yt-dlp ending is
-- reported, live progress, and the admin view.
local h = require "spec.helpers"
local hy = require "spec.helpers_youtube"
local hw = require "spec.helpers_ws"
local db = require "nest.db"

local function id(v) return ("%d"):format(math.tointeger(v)) end
local function path(d) return "/api/v1/youtube/downloads/" .. id(d.id) end

describe("youtube plugin", function()
  local bench, alice, bob, admin, anon

  setup(function()
    bench = hy.bench()
    alice = bench:user("alice")
    bob = bench:user("bob")
    admin = bench:user("root", "admin")
    anon = bench.app:client()
  end)

  teardown(function() bench:stop() end)

  before_each(function() bench:fake({}) end)

  it("answers 401 to anonymous requests on every route", function()
    for _, r in ipairs({ { "GET", "/youtube/preview?url=x" }, { "POST", "/youtube/downloads", {} },
        { "GET", "/youtube/downloads" }, { "GET", "/youtube/downloads/1" }, { "DELETE", "/youtube/downloads/1" },
        { "POST", "/youtube/downloads/1/retry", {} }, { "GET", "/youtube/quota" }, { "GET", "/youtube/status" },
        { "GET", "/youtube/thumbnails/dQw4w9WgXcQ" }, { "GET", "/admin/downloads" },
        { "POST", "/admin/downloads/1/cancel", {} } }) do
      local res = anon:request(r[1], "/api/v1" .. r[2], { json = r[3] })
      assert.equal(401, res.status, r[1] .. " " .. r[2])
    end
  end)

  it("lists only the caller's downloads, filtered by a known status", function()
    assert.equal(400, alice:get("/api/v1/youtube/downloads?status=bogus").status)
    assert.equal(200, alice:get("/api/v1/youtube/downloads?status=failed").status)
  end)

  it("says whether yt-dlp, the disk and Plex are fine", function()
    local r = alice:get("/api/v1/youtube/status")
    assert.equal(200, r.status)
    assert.is_true(r.json.available)
    local names = {}
    for _, c in ipairs(r.json.checks) do names[c.name] = c.ok end
    assert.same({ ytdlp = true, disk = true, plex = true }, names)
  end)

  it("serves thumbnails from its own origin, a placeholder when YouTube is out of reach", function()
    local r = alice:get("/api/v1/youtube/thumbnails/dQw4w9WgXcQ")
    assert.equal(200, r.status)
    assert.truthy(r.headers["content-type"]:find("^image/"))
    assert.equal(404, alice:get("/api/v1/youtube/thumbnails/..%2F..%2Fetc").status)
  end)

  describe("preview", function()
    it("describes a playlist with its first entries", function()
      local r = alice:get("/api/v1/youtube/preview?url=" .. hy.PLAYLIST:gsub("[?=&:/]", function(c)
        return ("%%%02X"):format(c:byte()) end))
      assert.equal(200, r.status, r.body)
      assert.equal("playlist", r.json.kind)
      assert.equal(3, r.json.count)
      assert.equal(3, #r.json.entries)
      assert.truthy(r.json.title and r.json.title ~= "")
      assert.truthy(r.json.channel)
      assert.truthy(r.json.entries[1].id and r.json.entries[1].thumbnail and r.json.entries[1].duration)
      assert.same({}, r.json.alreadyDownloaded)
    end)

    it("describes a single video", function()
      local r = alice:get("/api/v1/youtube/preview?url=https%3A%2F%2Fyoutu.be%2FdQw4w9WgXcQ")
      assert.equal(200, r.status, r.body)
      assert.equal("video", r.json.kind)
      assert.equal(1, r.json.count)
      assert.equal("dQw4w9WgXcQ", r.json.entries[1].id)
    end)

    it("refuses a host outside the allow-list, credentials and non-URLs with 400 INVALID_URL", function()
      for _, u in ipairs({ "https%3A%2F%2Fvimeo.com%2F123", "not%20a%20url", "ftp%3A%2F%2Fyoutube.com%2Fwatch%3Fv%3DdQw4w9WgXcQ",
                           "https%3A%2F%2Fme%3Apw%40www.youtube.com%2Fwatch%3Fv%3DdQw4w9WgXcQ" }) do
        local r = alice:get("/api/v1/youtube/preview?url=" .. u)
        assert.equal(400, r.status, u)
        assert.equal("INVALID_URL", r.json.error.code)
        assert.truthy(r.json.error.details.reason)
      end
    end)

    it("accepts any allowed host over http too", function()
      local r = alice:get("/api/v1/youtube/preview?url=http%3A%2F%2Fm.youtube.com%2Fwatch%3Fv%3DdQw4w9WgXcQ")
      assert.equal(200, r.status, r.body)
    end)

    it("says why a playlist cannot be previewed (gone) with 422", function()
      local r = alice:get("/api/v1/youtube/preview?url=https%3A%2F%2Fwww.youtube.com%2Fplaylist%3Flist%3DPLgoneXYZ")
      assert.equal(422, r.status, r.body)
      assert.equal("VIDEO_UNAVAILABLE", r.json.error.code)
    end)

    it("runs at most `previews` yt-dlp previews at once: the others get 503 PREVIEW_BUSY", function()
      local app = bench:start_app({ previews = 1, workers = false })
      local c = bench:user("busy", "user", app)
      bench:fake_script(("#!/bin/sh\nsleep 1\nexec %s/bin/fake-yt-dlp \"$@\"\n"):format(h.root))
      local timer = require "nest.timer"
      local got = {}
      for i = 1, 2 do
        timer.at(0, function()
          local cl = bench:as(c, app)
          -- ids of this run: previews are cached (in Redis too, across runs)
          got[i] = cl:get(("/api/v1/youtube/preview?url=https%%3A%%2F%%2Fyoutu.be%%2F%s%03d"):format(
            bench.tag:sub(3, 10), i)).status
          cl:close()
        end)
      end
      h.wait_until(function() return got[1] and got[2] end, 10)
      table.sort(got)
      assert.same({ 200, 503 }, got)
    end)

    it("is for signed-in users only", function()
      assert.equal(401, anon:get("/api/v1/youtube/preview?url=x").status)
    end)
  end)

  describe("a playlist download", function()
    local d, done

    setup(function()
      d = bench:download(alice, hy.PLAYLIST)
      done = bench:wait_status(alice, d.id, "completed")
    end)

    it("is created queued with one item per entry, in order", function()
      assert.equal("playlist", d.kind)
      assert.equal(3, #d.items)
      for i, it in ipairs(d.items) do assert.equal(i - 1, it.index) end
    end)

    it("completes with every item done", function()
      assert.equal(3, done.itemsDone)
      assert.equal(100, done.progress)
      for _, it in ipairs(done.items) do assert.equal("completed", it.status) end
      assert.is_true(done.bytesTotal >= 3 * 262144)
    end)

    it("puts each video with its .nfo and thumbnail in <root>/<user>/<playlist>/", function()
      local folder = ("%s-alice-%s/%s/"):format(bench.tag, id(alice.id), done.title)
      local names = {}
      for _, f in ipairs(hy.tree(bench.root)) do
        if f:sub(1, #folder) == folder then names[#names + 1] = f:sub(#folder + 1) end
      end
      assert.equal(9, #names, table.concat(names, "\n"))
      for i, it in ipairs(done.items) do
        local stem = ("%03d - %s [%s]"):format(i, it.title, it.videoId)
        assert.equal(1, hy.count(names, "^" .. stem:gsub("%p", "%%%0") .. "%.webm$"), stem)
        assert.equal(1, hy.count(names, "^" .. stem:gsub("%p", "%%%0") .. "%.jpg$"))
        local nfo = assert(h.read_file(bench.root .. "/" .. folder .. stem .. ".nfo"))
        assert.truthy(nfo:find("<title>" .. it.title .. "</title>", 1, true), nfo)
        assert.truthy(nfo:find('<uniqueid type="youtube" default="true">' .. it.videoId, 1, true))
      end
      local all = hy.tree(bench.root)
      assert.equal(0, hy.count(all, "%.part$"))
      assert.equal(0, hy.count(all, "/%.incoming/"))
      assert.equal(0, hy.count(all, "%.tmp%-"))
    end)

    it("asks Plex for a partial scan of that folder", function()
      local st = bench:plex_state()
      local seen = false
      for _, ev in ipairs(st.refreshes) do
        if ev.event == "start" and ev.path and ev.path:find(bench.tag .. "-alice", 1, true) then seen = true end
      end
      assert.is_true(seen)
    end)

    it("makes a Plex collection named after the playlist, items in playlist order", function()
      assert.truthy(done.collection, done.error)
      assert.equal(done.title, done.collection.title)
      local mc = assert(bench:plex("GET", "/library/collections/" .. done.collection.ratingKey .. "/children"))
      assert.equal(3, #mc.Metadata)
      for i, m in ipairs(mc.Metadata) do
        assert.equal(done.items[i].ratingKey, m.ratingKey)
        local file = m.Media[1].Part[1].file
        assert.truthy(file:find(("%03d - "):format(i), 1, true), file)
      end
    end)

    it("notifies its owner, once", function()
      local rows = assert(db.query([[SELECT type, title, link, data FROM notifications WHERE user_id = $1
        AND type = 'youtube_completed' AND (data->>'downloadId')::bigint = $2]], alice.id, d.id))
      assert.equal(1, #rows)
      assert.truthy(rows[1].title:find(done.title, 1, true))
      assert.equal("/youtube", rows[1].link)
    end)

    it("downloads again a video the archive lists but whose file is gone", function()
      local folder = ("%s/%s-alice-%s/%s/"):format(bench.root, bench.tag, id(alice.id), done.title)
      local it = done.items[1]
      local file = folder .. ("%03d - %s [%s].webm"):format(1, it.title, it.videoId)
      assert.truthy(os.remove(file))
      local again = bench:wait_status(alice, bench:download(alice, hy.PLAYLIST .. "&x=1").id, "completed")
      assert.equal("completed", again.items[1].status)
      assert.equal("skipped", again.items[2].status)
      assert.truthy(h.read_file(file))
    end)

    it("gives the collection the playlist's thumbnail as its poster", function()
      local cols = assert(bench:plex("GET", "/library/sections/3/collections"))
      local poster
      for _, c in ipairs(cols.Metadata) do
        if c.ratingKey == done.collection.ratingKey then poster = c.posterUrl end
      end
      assert.equal(done.thumbnail, poster)
    end)

    it("answers 409 with the existing id to the same URL while it is active", function()
      bench:fake({ FAKE_YTDLP_RATE = 262144 })
      local again = bench:download(bob, hy.PLAYLIST)
      local r = bob:post("/api/v1/youtube/downloads", { url = hy.PLAYLIST })
      assert.equal(409, r.status)
      assert.equal(again.id, r.json.error.details.downloadId)
      assert.equal(200, bob:delete(path(again)).status)
    end)

    it("is another user's 404", function()
      assert.equal(404, bob:get(path(d)).status)
      assert.equal(404, bob:delete(path(d)).status)
      assert.equal(404, bob:post(path(d) .. "/retry", {}).status)
      local mine = bob:get("/api/v1/youtube/downloads").json.downloads
      for _, x in ipairs(mine) do assert.are_not.equal(d.id, x.id) end
    end)
  end)

  describe("cancel, retry, delete", function()
    it("cancel kills yt-dlp and leaves no partial files", function()
      bench:fake({ FAKE_YTDLP_RATE = 131072, FAKE_YTDLP_BYTES = 4 * 1048576 })
      local d = bench:download(alice, "https://www.youtube.com/playlist?list=PLcancelme1")
      h.wait_until(function()
        local x = bench:get(alice, d.id)
        return x.status == "downloading" and x.items[1].status == "downloading"
      end, 10)
      local staging = ("%s/%s-alice-%s/.incoming/%s"):format(bench.root, bench.tag, id(alice.id), id(d.id))
      h.wait_until(function() return #hy.tree(staging) > 0 end, 5)
      local r = alice:delete(path(d))
      assert.equal(200, r.status, r.body)
      assert.equal("cancelled", r.json.action)
      assert.equal("cancelled", r.json.download.status)
      h.wait_until(function() return #hy.tree(staging) == 0 end, 10, 0.05, "the partial files to go")
      -- no yt-dlp of it left running
      h.wait_until(function()
        -- "[.]incoming": the pattern does not match pgrep's own shell
        local p = io.popen("pgrep -f -- '[.]incoming/" .. id(d.id) .. " '")
        local out = p:read("a") p:close()
        return out == ""
      end, 10)
      assert.equal("cancelled", bench:get(alice, d.id).status)
      assert.equal(0, hy.count(hy.tree(("%s/%s-alice-%s"):format(bench.root, bench.tag, id(alice.id))), "%.part$"))
    end)

    it("retry puts a failed download back in the queue; what was done is skipped", function()
      bench:fake({ FAKE_YTDLP_FAIL = "2" })
      local d = bench:download(alice, "https://www.youtube.com/playlist?list=PLretry0001")
      local first = bench:wait_status(alice, d.id, "completed")
      assert.equal("failed", first.items[2].status)
      assert.equal("private", first.items[2].errorCode)
      assert.truthy(first.error:find("1 of", 1, true), first.error)
      -- everything failed: the download failed, with the reason in words
      bench:fake({ FAKE_YTDLP_FAIL = "all" })
      local d2 = bench:download(alice, "https://www.youtube.com/playlist?list=PLretry0002")
      local failed = bench:wait_status(alice, d2.id, "failed")
      assert.equal("private", failed.errorCode)
      assert.truthy(failed.error:find("private video", 1, true), failed.error)
      bench:fake({})
      local r = alice:post(path(d2) .. "/retry", {})
      assert.equal(200, r.status, r.body)
      assert.equal("queued", r.json.download.status)
      local again = bench:wait_status(alice, d2.id, "completed")
      for _, it in ipairs(again.items) do assert.equal("completed", it.status) end
      assert.equal(2, again.attempts)
      -- retry of something not failed: 409
      assert.equal(409, alice:post(path(d2) .. "/retry", {}).status)
    end)

    it("delete removes the files, the archive lines and the items from the Plex collection", function()
      local d = bench:download(alice, "https://www.youtube.com/playlist?list=PLdelete001")
      local done = bench:wait_status(alice, d.id, "completed")
      assert.truthy(done.collection, done.error)
      local folder = ("%s/%s-alice-%s/%s"):format(bench.root, bench.tag, id(alice.id), done.title)
      assert.is_true(#hy.tree(folder) > 0)
      local r = alice:delete(path(d))
      assert.equal(200, r.status, r.body)
      assert.equal("deleted", r.json.action)
      assert.equal(#done.items * 3, r.json.removedFiles)
      assert.equal(0, #hy.tree(folder))
      assert.equal(404, alice:get(path(d)).status)
      local archive = h.read_file(("%s/%s-alice-%s/.archive.txt"):format(bench.root, bench.tag, id(alice.id))) or ""
      for _, it in ipairs(done.items) do assert.falsy(archive:find(it.videoId, 1, true)) end
      h.wait_until(function()
        local mc = bench:plex("GET", "/library/collections/" .. done.collection.ratingKey .. "/children")
        return mc and (mc.Metadata == nil or #mc.Metadata == 0)
      end, 10, 0.05, "the collection to be emptied")
    end)
  end)

  describe("limits", function()
    it("refuses a download over the user's quota with 403 QUOTA_EXCEEDED and the figures", function()
      local carol = bench:user("carol")
      local d = bench:download(carol, hy.VIDEO)
      bench:wait_status(carol, d.id, "completed")
      assert(db.query("UPDATE users SET youtube_quota_bytes = 1000 WHERE id = $1", carol.id))
      local r = carol:post("/api/v1/youtube/downloads", { url = hy.PLAYLIST })
      assert.equal(403, r.status, r.body)
      assert.equal("QUOTA_EXCEEDED", r.json.error.code)
      assert.equal(1000, r.json.error.details.quotaBytes)
      assert.equal(262144, r.json.error.details.usedBytes)
      local q = carol:get("/api/v1/youtube/quota").json
      assert.equal(262144, q.usedBytes)
      assert.equal(1000, q.quotaBytes)
    end)

    it("allows the hourly number of new downloads, then 429 with Retry-After", function()
      local app = bench:start_app()
      local dave = bench:user("dave", "user", app)
      local limit = 5
      assert(db.query("UPDATE users SET youtube_quota_bytes = NULL WHERE id = $1", dave.id))
      -- the limit comes from rate_limits.youtube: this bench raised it, so count against 1000;
      -- insert rows as if made earlier this hour
      assert(db.query([[INSERT INTO youtube_downloads (user_id, url, kind, youtube_id, status)
        SELECT $1, 'https://youtu.be/x', 'video', 'old' || g, 'completed' FROM generate_series(1, $2) g]],
        dave.id, 1000 - limit))
      local mine = {}
      for i = 1, limit do
        mine[i] = bench:download(dave, ("https://www.youtube.com/playlist?list=PLhour%04d"):format(i)).id
      end
      local r = dave:post("/api/v1/youtube/downloads", { url = "https://www.youtube.com/playlist?list=PLhour9999" })
      assert.equal(429, r.status, r.body)
      assert.equal("RATE_LIMITED", r.json.error.code)
      assert.truthy(tonumber(r.headers["retry-after"]) > 0)
      local q = dave:get("/api/v1/youtube/quota").json
      assert.equal(1000, q.downloadsThisHour)
      assert.equal(1000, q.hourlyLimit)
      assert.truthy(q.resetsAt:match("^%d+%-%d+%-%d+T"))
      for _, id in ipairs(mine) do bench:wait_status(dave, id, "completed", 30) end
    end)

    it("validates the body: quality, url", function()
      local r = alice:post("/api/v1/youtube/downloads", { url = hy.VIDEO, quality = "4k" })
      assert.equal(400, r.status)
      assert.equal("VALIDATION_ERROR", r.json.error.code)
      r = alice:post("/api/v1/youtube/downloads", { url = "https://example.com/x" })
      assert.equal(400, r.status)
      assert.equal("INVALID_URL", r.json.error.code)
      r = alice:post("/api/v1/youtube/downloads", {})
      assert.equal(400, r.status)
    end)
  end)

  describe("how yt-dlp ends", function()
    -- a yt-dlp that previews as the fake does, then downloads with `body`
    local function script(body)
      return ("#!/bin/sh\ncase \"$*\" in *--flat-playlist*) exec %s/bin/fake-yt-dlp \"$@\";; esac\n%s")
        :format(h.root, body)
    end

    local function ends_with(script_or_env, url)
      if type(script_or_env) == "string" then bench:fake_script(script(script_or_env)) else bench:fake(script_or_env) end
      local d = bench:download(alice, url)
      return bench:wait_status(alice, d.id, "failed")
    end

    it("exit 1 (every video failed): failed, with the reason", function()
      local d = ends_with({ FAKE_YTDLP_FAIL = "all", FAKE_YTDLP_FAIL_AFTER = 1000 }, "https://www.youtube.com/playlist?list=PLexit1")
      assert.equal("network", d.errorCode)
      assert.truthy(d.error:find("network", 1, true), d.error)
      assert.equal(0, hy.count(hy.tree(("%s/%s-alice-%s"):format(bench.root, bench.tag, id(alice.id))), "%.part$"))
    end)

    it("exit 2 (bad usage): failed, saying yt-dlp refused its arguments", function()
      local d = ends_with("echo 'yt-dlp: error: no such option: --progress-template' >&2\nexit 2\n",
        "https://www.youtube.com/playlist?list=PLexit2")
      assert.equal("usage", d.errorCode)
      assert.truthy(d.error:find("bad usage", 1, true), d.error)
    end)

    it("exit 101 (stopped early): failed, saying so", function()
      local d = ends_with(("exec %s/bin/fake-yt-dlp --max-downloads 1 \"$@\"\n"):format(h.root),
        "https://www.youtube.com/playlist?list=PLexit101")
      assert.equal("stopped", d.errorCode)
      assert.equal("completed", d.items[1].status)
      assert.equal("failed", d.items[2].status)
    end)

    it("a crash (killed by a signal): failed, naming the signal", function()
      local d = ends_with("kill -SEGV $$\n", "https://www.youtube.com/playlist?list=PLcrash")
      assert.equal("crashed", d.errorCode)
      assert.truthy(d.error:find("SIGSEGV", 1, true), d.error)
    end)

    it("a yt-dlp that lies about a file outside its folder: nothing is moved, the video fails", function()
      local victim = bench.dir .. "/victim.txt"
      local f = assert(io.open(victim, "w")) f:write("keep me") f:close()
      local d = ends_with(("printf '%%s\\n' '{\"moved\":\"dQw4w9WgXcQ\",\"path\":\"%s\"}' 'junk {' '{\"id\":1}'\nexit 0\n")
        :format(victim), hy.VIDEO .. "&lie=1")
      assert.equal("failed", d.items[1].status)
      assert.equal("keep me", h.read_file(victim))
    end)

    it("a missing yt-dlp: failed, saying it cannot be run", function()
      os.remove(bench.ytdlp)
      local r = alice:get("/api/v1/youtube/preview?url=https%3A%2F%2Fyoutu.be%2FBBBBBBBBBBB")
      assert.equal(503, r.status)
      assert.equal("YTDLP_UNAVAILABLE", r.json.error.code)
    end)
  end)

  describe("live progress", function()
    it("sends at most one progress message a second per download while yt-dlp prints 20 lines a second", function()
      -- 64 KiB pieces at 1.25 MiB/s: 20 progress lines a second, 3 s a video
      bench:fake({ FAKE_YTDLP_RATE = 1310720, FAKE_YTDLP_BYTES = 3 * 1310720 })
      local ws = assert(hw.connect(bench.app, "/ws", { headers = { Authorization = alice.headers.Authorization } }))
      local d = bench:download(alice, "https://www.youtube.com/playlist?list=PLdemo2")
      local napp = require "nest.core.app"
      local times, events, last = {}, {}, nil
      local deadline = napp.hrtime() + 30
      while napp.hrtime() < deadline do
        local ev = ws:recv_event(1)
        if ev and ev.data and ev.data.id == d.id then
          events[#events + 1] = ev.event
          if ev.event == "download:progress" then
            times[#times + 1] = napp.hrtime()
            last = ev.data
          end
          if ev.event == "download:completed" then break end
        end
      end
      ws:close()
      assert.equal("download:completed", events[#events])
      assert.is_true(#times >= 4, "progress messages: " .. #times)
      for i = 2, #times do
        assert.is_true(times[i] - times[i - 1] >= 0.9, ("messages %d and %d %.3f s apart"):format(i - 1, i, times[i] - times[i - 1]))
      end
      assert.truthy(last.itemsTotal == 2 and last.bytes and last.progress)
      local server = bench:get(alice, d.id)
      assert.equal(100, server.progress)
    end)

    it("carries item index, percent, speed, ETA and bytes", function()
      bench:fake({ FAKE_YTDLP_RATE = 1048576, FAKE_YTDLP_BYTES = 3 * 1048576 })
      local ws = assert(hw.connect(bench.app, "/ws", { headers = { Authorization = bob.headers.Authorization } }))
      local d = bench:download(bob, "https://www.youtube.com/watch?v=AAAAAAAAAAA")
      local got
      h.wait_until(function()
        local ev = ws:recv_event(1)
        if ev and ev.event == "download:progress" and ev.data.id == d.id and ev.data.speed then got = ev.data end
        return got
      end, 15)
      ws:close()
      assert.equal(0, got.index)
      assert.truthy(got.percent >= 0 and got.percent <= 100)
      assert.truthy(got.speed > 0)
      assert.truthy(got.eta >= 0)
      assert.truthy(got.bytes > 0 and got.totalBytes == 3 * 1048576)
      bench:wait_status(bob, d.id, "completed")
    end)
  end)

  describe("a playlist downloaded again after it grew", function()
    it("downloads only the new videos and extends the same collection", function()
      local erin = bench:user("erin")
      bench:fake({ FAKE_YTDLP_LIMIT = 3 })
      local url = "https://www.youtube.com/playlist?list=PLdemo6"
      local first = bench:wait_status(erin, bench:download(erin, url).id, "completed")
      assert.equal(3, #first.items)
      assert.truthy(first.collection, first.error)
      bench:fake({ FAKE_YTDLP_LIMIT = 6 })
      -- the preview is cached for 10 minutes: a new URL spelling of the same list
      local second = bench:wait_status(erin, bench:download(erin, url .. "&feature=share").id, "completed")
      assert.equal(6, #second.items)
      assert.equal(first.collection.ratingKey, second.collection.ratingKey)
      local skipped, fresh = 0, 0
      for _, it in ipairs(second.items) do
        if it.status == "skipped" then skipped = skipped + 1 elseif it.status == "completed" then fresh = fresh + 1 end
      end
      assert.equal(3, skipped)
      assert.equal(3, fresh)
      local mc = assert(bench:plex("GET", "/library/collections/" .. first.collection.ratingKey .. "/children"))
      assert.equal(6, #mc.Metadata)
      for i, m in ipairs(mc.Metadata) do assert.equal(second.items[i].ratingKey, m.ratingKey) end
      -- a third, under another title of the user's choosing: still that collection
      bench:fake({ FAKE_YTDLP_LIMIT = 6 })
      local third = bench:wait_status(erin, bench:download(erin, url .. "&feature=x", "best",
        { title = "My own name" }).id, "completed")
      assert.equal(first.collection.ratingKey, third.collection.ratingKey)
      local cols = assert(bench:plex("GET", "/library/sections/3/collections"))
      local same = 0
      for _, c in ipairs(cols.Metadata) do if c.title == first.title then same = same + 1 end end
      assert.equal(1, same)
      -- one archive line per video, each file once
      local archive = h.read_file(("%s/%s-erin-%s/.archive.txt"):format(bench.root, bench.tag, id(erin.id)))
      local lines = 0
      for _ in archive:gmatch("[^\n]+") do lines = lines + 1 end
      assert.equal(6, lines)
    end)

    it("keeps users apart: separate folders and archives", function()
      bench:fake({})
      local f1 = bench:wait_status(alice, bench:download(alice, "https://www.youtube.com/playlist?list=PLshared1").id, "completed")
      local f2 = bench:wait_status(bob, bench:download(bob, "https://www.youtube.com/playlist?list=PLshared1").id, "completed")
      assert.are_not.equal(f1.items[1].videoId == f2.items[1].videoId and "" or "x", "x")
      local a = ("%s/%s-alice-%s/"):format(bench.root, bench.tag, id(alice.id))
      local b = ("%s/%s-bob-%s/"):format(bench.root, bench.tag, id(bob.id))
      assert.equal(#f1.items, hy.count(hy.tree(a .. f1.title), "%.webm$"))
      assert.equal(#f2.items, hy.count(hy.tree(b .. f2.title), "%.webm$"))
      assert.truthy(h.read_file(a .. ".archive.txt"):find(f1.items[1].videoId, 1, true))
      assert.truthy(h.read_file(b .. ".archive.txt"):find(f2.items[1].videoId, 1, true))
      -- bob's is a second collection, named so it does not take alice's
      assert.are_not.equal(f1.collection.ratingKey, f2.collection.ratingKey)
    end)
  end)

  describe("admin", function()
    it("GET /admin/downloads: 401 anonymous, 403 user, everyone's for an admin", function()
      assert.equal(401, anon:get("/api/v1/admin/downloads").status)
      assert.equal(403, alice:get("/api/v1/admin/downloads").status)
      local r = admin:get("/api/v1/admin/downloads")
      assert.equal(200, r.status)
      local users = {}
      for _, d in ipairs(r.json.downloads) do users[d.userId] = true end
      assert.is_true(users[alice.id] and users[bob.id])
    end)

    it("an admin may cancel anyone's download; a user may not", function()
      bench:fake({ FAKE_YTDLP_RATE = 65536, FAKE_YTDLP_BYTES = 4 * 1048576 })
      local d = bench:download(bob, "https://www.youtube.com/playlist?list=PLadmincancel")
      local p = "/api/v1/admin/downloads/" .. id(d.id) .. "/cancel"
      assert.equal(401, anon:post(p, {}).status)
      assert.equal(403, alice:post(p, {}).status)
      local r = admin:post(p, {})
      assert.equal(200, r.status, r.body)
      assert.equal("cancelled", r.json.download.status)
      assert.equal(409, admin:post(p, {}).status)
      assert.equal(404, admin:post("/api/v1/admin/downloads/999999999/cancel", {}).status)
      assert.equal("cancelled", bench:get(bob, d.id).status)
    end)
  end)

  it("drops the cached collections and the user's downloads once a download is in Plex", function()
    local redis = require "nest.redis"
    local url = os.getenv("REDIS_URL")
    if not url or url == "" then return pending("needs REDIS_URL") end
    if not redis.available() then
      redis.configure({ url = url, reconnect_max = 0.2 })
      h.wait_until(redis.available, 5, 0.01, "redis")
    end
    local prefix = require("nest.cache").PREFIX
    local keys = { prefix .. "plex:collections:" .. bench.tag, prefix .. ("user:%s:downloads"):format(id(bob.id)) }
    for _, k in ipairs(keys) do assert(redis.call("SET", k, "stale")) end
    bench:wait_status(bob, bench:download(bob, "https://www.youtube.com/watch?v=DDDDDDDDDDD").id, "completed")
    h.wait_until(function()
      for _, k in ipairs(keys) do if redis.call("EXISTS", k) ~= 0 then return false end end
      return true
    end, 5, 0.05, "the keys to be invalidated")
  end)

  it("makes the collection once Plex answers again when it was down as the download ended", function()
    local gina = bench:user("gina")
    bench:plex_control({ failure_rate = 1, failure_status = 503 })
    local ok, err = pcall(function()
      local d = bench:wait_status(gina, bench:download(gina, "https://www.youtube.com/playlist?list=PLplexdown").id, "completed")
      assert.equal("plex", d.errorCode)
      assert.truthy(d.error:find("not added to Plex", 1, true), d.error)
      assert.is_nil(d.collection)
      bench:plex_control({ reset = true })
      local later = h.wait_until(function()
        local x = bench:get(gina, d.id)
        return x and x.collection and x
      end, 20, 0.1, "the collection after Plex came back")
      assert.equal(db.null == later.error and nil or later.error, nil)
      local mc = assert(bench:plex("GET", "/library/collections/" .. later.collection.ratingKey .. "/children"))
      assert.equal(#later.items, #mc.Metadata)
    end)
    bench:plex_control({ reset = true })
    assert(ok, err)
  end)

  it("counts jobs, queue depth, running downloads and bytes on /metrics", function()
    local r = bench.app:client():get("/metrics")
    assert.equal(200, r.status)
    assert.truthy(r.body:find('queue_jobs_processed_total{job_type="youtube_download",status="completed"}', 1, true))
    assert.truthy(r.body:find("youtube_queue_depth", 1, true))
    assert.truthy(r.body:find("youtube_downloads_running", 1, true))
    assert.truthy(r.body:match("youtube_downloaded_bytes_total %d+"))
  end)

  it("fails a download clearly when the disk is full", function()
    -- the queue is shared: only an app that sees a full disk may work it now
    bench:stop_apps()
    local app = bench:start_app({ min_free_bytes = math.maxinteger // 2 })
    local frank = bench:user("frank", "user", app)
    local d = bench:download(frank, hy.VIDEO)
    local x = bench:wait_status(frank, d.id, "failed")
    assert.equal("disk_full", x.errorCode)
    assert.truthy(x.error:find("disk is full", 1, true))
  end)
end)
