-- spec/helpers_hardening_http.lua — what the HTTP hardening specs share:
-- the process's resident memory, an attacker that writes bytes in its own
-- task until told to stop (it never reads, like the hostile clients the
-- specs stand for), and a check that another client is served promptly
-- meanwhile.
--
-- The servers these specs attack run inside the spec's own process (h.start),
-- so /proc/self/status's VmRSS is the server's memory plus the spec's, and
-- the spec's part is small and constant: the attacker writes the same few
-- strings over and over and never reads (its socket is paused, so the
-- server's answers stay in the kernel's buffers, not in this heap).
local h = require "spec.helpers"
local tcp = require "nest.core.tcp"
local timer = require "nest.timer"
local napp = require "nest.core.app"

local M = {}

-- rss_mb() -> the process's resident set size in MiB.
function M.rss_mb()
  local s = assert(h.read_file("/proc/self/status"))
  return tonumber(s:match("VmRSS:%s*(%d+)")) / 1024
end

-- Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
-- default) before it is reused, and stays resident meanwhile: RSS bounds
-- get that much slack there. The plain build is where the bounds bite.
local function sanitized()
  local maps = h.read_file("/proc/self/maps") or ""
  return maps:find("libasan", 1, true) ~= nil
end
M.rss_slack_mb = sanitized() and 256 or 0

-- assert_rss_growth(base, peak, bound_mb, what)
function M.assert_rss_growth(base, peak, bound, what)
  local limit = bound + M.rss_slack_mb
  assert(peak - base < limit, ("%s: RSS grew %.1f MiB (from %.1f to %.1f), over %d MiB"):format(
    what, peak - base, base, peak, limit))
end

-- attack(app, chunk, opts) -> attacker. A connection of its own that writes
-- `chunk` (a string, or a function returning the next one, nil to stop)
-- again and again from its own task, never reading. attacker.sent counts
-- the bytes the kernel took; attacker:stop() closes the connection (a write
-- the server never took fails with it); attacker.ended says the writer quit
-- (the server closed on it, or stop()).
function M.attack(app, chunk, opts)
  opts = opts or {}
  local conn = assert(tcp.connect(app.host, app.port, 5))
  conn:pause()
  local a = { conn = conn, sent = 0, ended = false }
  timer.at(0, function(premature)
    if premature then return end
    while not a.stopped do
      local data = type(chunk) == "function" and chunk(a) or chunk
      if not data then break end
      local ok, err = conn:write(data)
      if not ok then a.err = err break end
      a.sent = a.sent + #data
      if opts.pace then timer.sleep(opts.pace) end
    end
    a.ended = true
  end)
  function a.stop()
    if a.stopped then return end
    a.stopped = true
    conn:close()
  end
  return a
end

-- shipped_routes() -> router:list() of the shipped plugins as `serve --demo`
-- enables them (demo upstreams and bench included), built as `medianest
-- check` builds them. Built with a module cache of its own (a fresh
-- nest.config among them) that is thrown away afterwards, so the spec
-- process's config and plugin modules stay as other specs left them.
function M.shipped_routes()
  local before = {}
  for k, v in pairs(package.loaded) do before[k] = v end
  package.loaded["nest.config"], package.loaded["nest.server"] = nil, nil
  local ok, res = pcall(function()
    local cfg = assert(require("nest.config").load({ root = h.root, overrides_json = '{"demo":true}' }))
    return assert(require("nest.server").build(cfg, { check = true })).router:list()
  end)
  for k in pairs(package.loaded) do if before[k] == nil then package.loaded[k] = nil end end
  for k, v in pairs(before) do package.loaded[k] = v end
  if not ok then error(res, 2) end
  return res
end

-- time(fn) -> seconds fn took, and what it returned.
function M.time(fn)
  local t0 = napp.hrtime()
  local r1, r2 = fn()
  return napp.hrtime() - t0, r1, r2
end

-- served(app, path, within): a fresh client gets 200 from path within
-- `within` seconds; returns the seconds it took.
function M.assert_served(app, path, within)
  local c = app:client()
  local took, res, err = M.time(function() return c:get(path, { timeout = within }) end)
  c:close()
  assert(res, "another client was not answered: " .. tostring(err))
  assert(res.status == 200, "another client got " .. tostring(res.status))
  assert(took < within, ("another client waited %.2f s (over %.2f s)"):format(took, within))
  return took
end

-- peak(seconds, every, fn) samples fn() for `seconds`, calling check(s)
-- between samples; returns the highest RSS (MiB) seen meanwhile.
function M.watch_rss(seconds, check)
  local peak = M.rss_mb()
  local deadline = napp.hrtime() + seconds
  while napp.hrtime() < deadline do
    timer.sleep(0.1)
    local r = M.rss_mb()
    if r > peak then peak = r end
    if check then check() end
  end
  return peak
end

return M
