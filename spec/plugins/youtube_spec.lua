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

    it("answers 409 with the existing id to the same URL while it is active", function()
      bench:fake({ FAKE_YTDLP_RATE = "256K" })
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
      bench:fake({ FAKE_YTDLP_RATE = "128K", FAKE_YTDLP_BYTES = 4 * 1048576 })
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
      assert.equal(0, hy.count(hy.tree(bench.root), "%.part$"))
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
      for i = 1, 1000 - limit do
        if i % 200 == 0 then h.wait_until(function() return true end) end
      end
      assert(db.query([[INSERT INTO youtube_downloads (user_id, url, kind, youtube_id, status)
        SELECT $1, 'https://youtu.be/x', 'video', 'old' || g, 'completed' FROM generate_series(1, $2) g]],
        dave.id, 1000 - limit))
      for i = 1, limit do
        bench:download(dave, ("https://www.youtube.com/playlist?list=PLhour%04d"):format(i))
      end
      local r = dave:post("/api/v1/youtube/downloads", { url = "https://www.youtube.com/playlist?list=PLhour9999" })
      assert.equal(429, r.status, r.body)
      assert.equal("RATE_LIMITED", r.json.error.code)
      assert.truthy(tonumber(r.headers["retry-after"]) > 0)
      local q = dave:get("/api/v1/youtube/quota").json
      assert.equal(1000, q.downloadsThisHour)
      assert.equal(1000, q.hourlyLimit)
      assert.truthy(q.resetsAt:match("^%d+%-%d+%-%d+T"))
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
end)
