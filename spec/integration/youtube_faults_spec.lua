-- spec/integration/youtube_faults_spec.lua — nothing lost when things die
-- mid-download: the real binary (`medianest serve`) killed with SIGKILL or
-- stopped with SIGTERM while yt-dlp runs, then started again; and
-- PostgreSQL restarted under a running download. Each time the download
-- finishes with every video exactly once (one file each, one archive line
-- each) and never ends as "failed".
local h = require "spec.helpers"
local hy = require "spec.helpers_youtube"
local db = require "nest.db"

local slurp = h.read_file

-- A MediaNest server process of this bench; :stop(signal) -> exit code.
local function server(bench, dir)
  local cfg = dir .. "/config.lua"
  local f = assert(io.open(cfg, "w"))
  f:write(("return { listen = '127.0.0.1:0', data_dir = %q,\n"):format(dir .. "/data"),
    ("  services = { plex = { url = %q, token = 'demo-token-owner' },\n"):format(bench.up:url("/demo/plex")),
    ("    youtube = { root = %q, ytdlp = %q, concurrency = 1 } },\n"):format(bench.root, bench.ytdlp),
    "  rate_limits = { api = { limit = 100000, window = 60 }, youtube = { limit = 1000, window = 3600 } },\n",
    "  plugins = { enabled = { 'health', 'auth', 'youtube' },\n",
    "    settings = { youtube = { lease = 3, heartbeat = 1, poll = 0.1, min_free_bytes = 0 } } } }\n")
  f:close()
  local n = (bench.servers or 0) + 1
  bench.servers = n
  local out, pidf, rcf = ("%s/out%d.txt"):format(dir, n), ("%s/pid%d"):format(dir, n), ("%s/rc%d"):format(dir, n)
  -- env -u: the config's data_dir, not the one scripts/spec exports; exec keeps the pid the binary's
  assert(os.execute(("( env -u MEDIANEST_DATA_DIR %q serve -c %q >%q 2>&1 & echo $! >%q; wait $!; echo $? >%q ) &")
    :format(h.bin(), cfg, out, pidf, rcf)))
  local pid = h.wait_until(function() local p = slurp(pidf) return p and p:match("%d+") end, 10)
  local port = tonumber(h.wait_until(function()
    return (slurp(out) or ""):match("listening on http://127%.0%.0%.1:(%d+)/")
  end, 20, 0.02, "the server to listen: " .. tostring(slurp(out))))
  local s = { pid = pid, port = port, out = out }
  function s.client(c)
    local x = h.client("127.0.0.1", port)
    x.headers.Authorization = c.headers.Authorization
    return x
  end
  function s.stop(sig)
    os.execute(("kill -%s %s"):format(sig, pid))
    return h.wait_until(function() local v = slurp(rcf) return v and v:match("%d+") end, 30, 0.05, "the server to exit")
  end
  return s
end

-- The download's row straight from the database (the server may be down).
local function row(id)
  return assert(db.query("SELECT status, attempts, items_done, error FROM youtube_downloads WHERE id = $1", id))[1]
end

-- Every video of the download exactly once: one file each, one archive line each.
local function assert_once(bench, user, d)
  local folder = ("%s/%s-%s/%s"):format(bench.root, user.username:lower(), ("%d"):format(user.id), d.title)
  local videos = hy.tree(folder)
  assert.equal(#d.items, hy.count(videos, "%.webm$"), table.concat(videos, "\n"))
  local archive = slurp(("%s/%s-%d/.archive.txt"):format(bench.root, user.username:lower(), user.id)) or ""
  for _, it in ipairs(d.items) do
    assert.equal("completed", it.status)
    local n = 0
    for _ in archive:gmatch(it.videoId:gsub("%-", "%%-")) do n = n + 1 end
    assert.equal(1, n, it.videoId .. " in the archive")
  end
  assert.equal(0, hy.count(hy.tree(bench.root), "%.part$"))
end

describe("youtube downloads survive", function()
  local bench, dir

  setup(function()
    -- 512 KiB a video at 256 KiB/s: 2 s each, 8 s for the playlist
    bench = hy.bench({ app = false, env = { FAKE_YTDLP_RATE = 262144, FAKE_YTDLP_BYTES = 524288 } })
    dir = bench.dir .. "/server"
    os.execute("mkdir -p '" .. dir .. "'")
  end)

  teardown(function() bench:stop() end)

  local function interrupted(sig, list)
    local srv = server(bench, dir)
    local user = bench:user(sig:lower(), "user", { client = function() return h.client("127.0.0.1", srv.port) end })
    local c = srv.client(user)
    local d = bench:download(c, "https://www.youtube.com/playlist?list=" .. list)
    -- mid-download: one video done, the next on its way
    h.wait_until(function() local r = row(d.id) return r.items_done >= 1 end, 30, 0.05, "the first video")
    local code = srv.stop(sig)
    return d, user, code
  end

  it("kill -9 of the server: after a restart the job resumes and completes, every item once", function()
    local d, user = interrupted("KILL", "PLdemo4")
    assert.are_not.equal("failed", row(d.id).status)
    local srv = server(bench, dir)
    local done = bench:wait_status(srv.client(user), d.id, "completed", 60)
    assert.equal(2, done.attempts)
    assert_once(bench, user, done)
    assert.equal("0", srv.stop("TERM"))
  end)

  it("SIGTERM mid-download: back to the queue, not failed; the next start finishes it", function()
    local d, user, code = interrupted("TERM", "PLdemo5")
    assert.equal("0", code)
    local r = row(d.id)
    assert.are_not.equal("failed", r.status)
    assert.equal(db.null, r.error)
    local srv = server(bench, dir)
    local done = bench:wait_status(srv.client(user), d.id, "completed", 60)
    assert_once(bench, user, done)
    assert.equal("0", srv.stop("TERM"))
  end)

  local managed = os.getenv("MN_PG_MANAGED") == "1"
  local pg_it = managed and it or pending
  pg_it("a PostgreSQL restart mid-download: the download goes on, nothing lost", function()
    local app = bench:start_app()
    local user = bench:user("pg", "user", app)
    local d = bench:download(user, "https://www.youtube.com/playlist?list=PLdemo4")
    h.wait_until(function() local r = row(d.id) return r.items_done >= 1 end, 30, 0.05, "the first video")
    assert.equal("downloading", row(d.id).status)
    local ok = os.execute("bash " .. h.root .. "/scripts/lib/services.sh pg-restart >/dev/null 2>&1")
    assert.truthy(ok, "pg-restart failed")
    local done = bench:wait_status(user, d.id, "completed", 60)
    assert_once(bench, user, done)
  end)
end)
