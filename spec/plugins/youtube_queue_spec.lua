-- spec/plugins/youtube_queue_spec.lua — the YouTube queue shared by two
-- instances (two apps on one database): every job runs once, on one of them,
-- both take work; a reload puts running downloads back in the queue and
-- they finish on the new generation; a lapsed lease is taken back.
local h = require "spec.helpers"
local hy = require "spec.helpers_youtube"
local db = require "nest.db"

describe("youtube queue", function()
  local bench, a, b

  setup(function()
    bench = hy.bench({ env = { FAKE_YTDLP_RATE = 1048576, FAKE_YTDLP_BYTES = 524288 } })
    a = bench.app
    b = bench:start_app()
  end)

  teardown(function() bench:stop() end)

  it("two instances share one queue and no job runs twice", function()
    local alice = bench:user("alice", "user", a)
    local alice_b = bench:as(alice, b)
    local ids = {}
    for i = 1, 8 do
      local c = i % 2 == 0 and alice or alice_b
      ids[i] = bench:download(c, ("https://www.youtube.com/playlist?list=PLshare%02d"):format(i)).id
    end
    local instances, videos = {}, {}
    for _, id in ipairs(ids) do
      local d = bench:wait_status(alice, id, "completed", 60)
      assert.equal(1, d.attempts)
      for _, it in ipairs(d.items) do
        assert.equal("completed", it.status)
        assert.is_nil(videos[it.videoId], "downloaded twice: " .. it.videoId)
        videos[it.videoId] = true
      end
      local row = assert(db.query("SELECT worker_id FROM youtube_downloads WHERE id = $1", id))[1]
      instances[row.worker_id:match("^[^:]*:%d+:([^:]+):")] = true
    end
    local n = 0
    for _ in pairs(instances) do n = n + 1 end
    assert.equal(2, n, "both instances should have taken work")
    -- the archive lists each video once
    local archive = h.read_file(("%s/%s-alice-%d/.archive.txt"):format(bench.root, bench.tag, alice.id))
    local seen = {}
    for line in archive:gmatch("[^\n]+") do
      assert.is_nil(seen[line], "archived twice: " .. line)
      seen[line] = true
    end
  end)

  it("takes back a job whose lease lapsed (its worker died) and finishes it", function()
    local bob = bench:user("bob", "user", a)
    local d = bench:download(bob, hy.VIDEO)
    bench:wait_status(bob, d.id, "completed")
    -- as if a worker of a vanished process held a second download
    local rows = assert(db.query([[INSERT INTO youtube_downloads (user_id, url, kind, youtube_id, title, status,
        worker_id, lease_until, output_dir, items_total)
      VALUES ($1, 'https://youtu.be/CCCCCCCCCCC', 'video', 'CCCCCCCCCCC', 'Orphan', 'downloading',
        'elsewhere:1:dead:1', now() - interval '1 second', $2, 1) RETURNING id]],
      bob.id, ("%s/%s-bob-%d/Videos"):format(bench.root, bench.tag, bob.id)))
    local orphan = rows[1].id
    assert(db.query("INSERT INTO youtube_items (download_id, position, video_id, title) VALUES ($1, 0, 'CCCCCCCCCCC', 'Orphan')", orphan))
    local done = bench:wait_status(bob, orphan, "completed", 30)
    assert.equal("completed", done.items[1].status)
  end)

  it("a reload stops running downloads, puts them back in the queue, and the new generation finishes them", function()
    local carol = bench:user("carol", "user", a)
    bench:fake({ FAKE_YTDLP_RATE = 262144, FAKE_YTDLP_BYTES = 524288 })
    local d = bench:download(carol, "https://www.youtube.com/playlist?list=PLdemo4")
    h.wait_until(function()
      local r = assert(db.query("SELECT items_done, status FROM youtube_downloads WHERE id = $1", d.id))[1]
      return r.status == "downloading" and r.items_done >= 1
    end, 30, 0.05, "the first video")
    local attempts = assert(db.query("SELECT attempts FROM youtube_downloads WHERE id = $1", d.id))[1].attempts
    assert.is_true(a.handle:reload({ force = true }).ok)
    assert.is_true(b.handle:reload({ force = true }).ok)
    local done = bench:wait_status(carol, d.id, "completed", 60)
    assert.is_true(done.attempts > attempts, "the download was taken again after the reload")
    assert.equal(db.null, done.error or db.null)
    for _, it in ipairs(done.items) do assert.equal("completed", it.status) end
    local archive = h.read_file(("%s/%s-carol-%d/.archive.txt"):format(bench.root, bench.tag, carol.id))
    local lines = 0
    for _ in archive:gmatch("[^\n]+") do lines = lines + 1 end
    assert.equal(4, lines)
  end)

  describe("an instance that only serves the API (workers = false)", function()
    local c_app

    setup(function()
      bench:stop_apps()
      a = bench:start_app()                       -- the one that downloads
      c_app = bench:start_app({ workers = false })
    end)

    it("shows progress from the other instance live, and cancels a download running there", function()
      local hw = require "spec.helpers_ws"
      local dave = bench:user("dave", "user", c_app)
      bench:fake({ FAKE_YTDLP_RATE = 131072, FAKE_YTDLP_BYTES = 1048576 })
      local ws = assert(hw.connect(c_app, "/ws", { headers = { Authorization = dave.headers.Authorization } }))
      local d = bench:download(dave, "https://www.youtube.com/playlist?list=PLdemo3")
      local got
      h.wait_until(function()
        local ev = ws:recv_event(1)
        if ev and ev.event == "download:progress" and ev.data.id == d.id then got = ev.data end
        return got
      end, 20, 0, "progress relayed from the working instance")
      local row = assert(db.query("SELECT worker_id FROM youtube_downloads WHERE id = $1", d.id))[1]
      assert.truthy(row.worker_id ~= db.null, "claimed")
      local r = dave:delete("/api/v1/youtube/downloads/" .. ("%d"):format(d.id))
      assert.equal(200, r.status, r.body)
      assert.equal("cancelled", r.json.action)
      -- the working instance notices at its next heartbeat and kills yt-dlp
      h.wait_until(function()
        local p = io.popen("pgrep -f -- '[.]incoming/" .. ("%d"):format(d.id) .. " '")
        local out = p:read("a") p:close()
        return out == ""
      end, 10, 0.05, "yt-dlp to be killed")
      local staging = ("%s/%s-dave-%d/.incoming/%d"):format(bench.root, bench.tag, dave.id, d.id)
      h.wait_until(function() return #hy.tree(staging) == 0 end, 10, 0.05, "the partial files to go")
      ws:close()
    end)
  end)
end)
