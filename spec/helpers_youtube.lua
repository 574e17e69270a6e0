-- spec/helpers_youtube.lua — the YouTube feature's test bench: an app with
-- the youtube plugin whose yt-dlp is bin/fake-yt-dlp behind a wrapper
-- script (so a spec changes the fake's behaviour — rate, failures, exit
-- codes — between tests without restarting), a demo Plex (another app
-- serving demo-upstreams) whose YouTube section is the download root, and
-- users signed in with API tokens.
--
--   local hy = require "spec.helpers_youtube"
--   local bench = hy.bench({ settings = { lease = 2 } })
--   bench:fake({ FAKE_YTDLP_RATE = "1M" })      -- the next yt-dlp runs see this
--   bench:fake_script("#!/bin/sh\nkill -SEGV $$\n")
--   local alice = bench:user("alice")           -- client with .id, Bearer token
--   local d = bench:download(alice, url)        -- POST, asserts 201, -> download
--   bench:wait_status(alice, d.id, "completed")
--   bench:plex("GET", "/library/sections/3/collections")   -- the demo Plex
--   bench:plex_control({ failure_rate = 1 })    -- make it fail ({ reset = true })
--   bench:start_app({ workers = false })        -- another instance on the same queue
--   bench:stop_apps()                           -- the MediaNest apps only
--   bench:stop()
local h = require "spec.helpers"
local db = require "nest.db"
local crypto = require "nest.crypto"
local cjson = require "cjson.safe"

local hy = {}

hy.PLAYLIST = "https://www.youtube.com/playlist?list=PLdemo3"
hy.VIDEO = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"

local Bench = {}
Bench.__index = Bench

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  if mode then os.execute("chmod " .. mode .. " '" .. path .. "'") end
end

-- The wrapper yt-dlp: the fake with these environment variables.
function Bench:fake(env)
  local lines = { "#!/bin/sh" }
  for k, v in pairs(env or {}) do lines[#lines + 1] = ("export %s='%s'"):format(k, tostring(v)) end
  lines[#lines + 1] = ("exec %s/bin/fake-yt-dlp \"$@\""):format(h.root)
  -- write then rename: a yt-dlp starting meanwhile never reads half a script
  write(self.ytdlp .. ".new", table.concat(lines, "\n") .. "\n", "755")
  os.rename(self.ytdlp .. ".new", self.ytdlp)
end

-- Any script as the yt-dlp (crashes, usage errors).
function Bench:fake_script(text)
  write(self.ytdlp .. ".new", text, "755")
  os.rename(self.ytdlp .. ".new", self.ytdlp)
end

-- config(extra_settings) -> the config of a MediaNest app of this bench
function Bench:config(settings)
  local s = { lease = 3, heartbeat = 1, poll = 0.1, scan_timeout = 20, min_free_bytes = 0, plex_retry = 0.5 }
  for k, v in pairs(settings or {}) do s[k] = v end
  return {
    services = {
      plex = { url = self.up:url("/demo/plex"), token = "demo-token-owner" },
      youtube = { root = self.root, ytdlp = self.ytdlp, concurrency = 2, quota_bytes = 1 << 40 },
    },
    rate_limits = { api = { limit = 100000, window = 60 }, search = { limit = 100000, window = 60 },
                    youtube = { limit = 1000, window = 3600 } },
    websocket = { test_token = nil },
    plugins = {
      enabled = { "health", "ws", "auth", "metrics", "notifications", "youtube" },
      settings = { youtube = s },
    },
  }
end

function Bench:start_app(settings)
  local app = h.start({ config = self:config(settings) })
  self.apps[#self.apps + 1] = app
  return app
end

-- A user (a row of our own) and a client authenticated with an API token
-- (of `app`: anything with a :client() method; the bench's app by default).
function Bench:user(name, role, app)
  local username = self.tag .. "-" .. name
  local rows = assert(db.query("INSERT INTO users (username, email, role) VALUES ($1, $2, $3) RETURNING id",
    username, username .. "@example.invalid", role or "user"))
  local id = rows[1].id
  local token = crypto.token(32)
  assert(db.query([[INSERT INTO session_tokens (user_id, token_hash, kind, name, expires_at)
                    VALUES ($1, $2, 'api', 'spec', now() + interval '1 day')]], id, crypto.sha256(token)))
  local c = (app or self.app):client()
  c.headers.Authorization = "Bearer " .. token
  c.id, c.token, c.username = id, token, username
  return c
end

-- A client of the same user on another app (instance).
function Bench:as(c, app)
  local c2 = app:client()
  c2.headers.Authorization = c.headers.Authorization
  c2.id, c2.token, c2.username = c.id, c.token, c.username
  return c2
end

function Bench:download(c, url, quality, extra)
  local body = { url = url, quality = quality or "best" }
  for k, v in pairs(extra or {}) do body[k] = v end
  local r = c:post("/api/v1/youtube/downloads", body)
  assert(r.status == 201, "POST /youtube/downloads: " .. tostring(r.status) .. " " .. tostring(r.body))
  return r.json.download
end

function Bench:get(c, id)
  local r = c:get(("/api/v1/youtube/downloads/%d"):format(id))
  return r.status == 200 and r.json.download or nil, r
end

function Bench:wait_status(c, id, status, timeout)
  local last
  return h.wait_until(function()
    last = self:get(c, id)
    return last and last.status == status and last
  end, timeout or 20, 0.05, ("download %d to be %s (last: %s %s)"):format(id, status,
    tostring(last and last.status), tostring(last and last.error)))
end

-- A request to the demo Plex as its owner -> MediaContainer | nil, res
function Bench:plex(method, path)
  local c = self.up:client()
  local r = c:request(method, "/demo/plex" .. path .. (path:find("?", 1, true) and "&" or "?")
    .. "X-Plex-Token=demo-token-owner", { headers = { Accept = "application/json" } })
  c:close()
  if r.status ~= 200 then return nil, r end
  return (cjson.decode(r.body) or {}).MediaContainer, r
end

function Bench:plex_state()
  local r = self.up:client():get("/demo/plex/_control")
  return r.json
end

-- Make the demo Plex fail (failure_rate, failure_status...) or reset it.
function Bench:plex_control(body)
  local r = self.up:client():post("/demo/plex/_control", body)
  assert(r.status == 200, "demo Plex control: " .. tostring(r.status) .. " " .. tostring(r.body))
end

-- Files under dir (relative names, sorted), recursively; hidden ones too.
function hy.tree(dir)
  local p = io.popen("cd '" .. dir .. "' 2>/dev/null && find . -type f | sort")
  local out = {}
  for line in p:lines() do out[#out + 1] = line:sub(3) end
  p:close()
  return out
end

function hy.count(list, pattern)
  local n = 0
  for _, s in ipairs(list) do if s:find(pattern) then n = n + 1 end end
  return n
end

-- bench(opts) -> a bench with the demo Plex and one MediaNest app.
function hy.bench(opts)
  opts = opts or {}
  local self = setmetatable({ apps = {}, tag = "yt" .. crypto.hex(crypto.random(4)) }, Bench)
  self.dir = h.tmpname("-youtube")
  self.root = self.dir .. "/media"
  self.ytdlp = self.dir .. "/yt-dlp"
  os.execute("mkdir -p '" .. self.root .. "'")
  self:fake(opts.env)
  self.up = h.start({ plugins = { "demo-upstreams" }, config = { plugins = { settings = { ["demo-upstreams"] = {
    youtube_root = self.root, movies = 5, shows = 1, videos = 2, scan_seconds = 0.1 } } } } })
  if opts.app ~= false then self.app = self:start_app(opts.settings) end
  return self
end

-- Stop every MediaNest app of the bench (the demo Plex keeps running).
function Bench:stop_apps()
  for _, app in ipairs(self.apps) do
    if os.getenv("YT_DEBUG") then   -- the server's warnings and errors, to debug a failing spec
      for _, l in ipairs(app:log_lines()) do
        if l.level == "error" or l.level == "warn" then io.stderr:write(cjson.encode(l), "\n") end
      end
    end
    pcall(app.stop, app)
  end
  self.apps = {}
end

function Bench:stop()
  self:stop_apps()
  self.up:stop()
  db.query("DELETE FROM users WHERE username LIKE $1", self.tag .. "-%")
  os.execute("rm -rf '" .. self.dir .. "'")
end

return hy
