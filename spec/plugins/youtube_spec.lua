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
end)
