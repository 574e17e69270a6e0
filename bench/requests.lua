-- bench/requests.lua — the seed's requests scenario for wrk, one user per
-- thread (run with -t N -c N): the dashboard (GET /api/v1/auth/session and
-- GET /api/v1/media/requests, what the signed-in page loads), a search for
-- "matrix", then the seed's exact request body {"tmdbId":"603","mediaType":
-- "movie"}. THINK_MS (env) is the mean think time after each step (0: none).
-- Tokens come from TOKENS_FILE, one per line (bench/requests.sh makes them).
-- done() prints "RESULT rps= p50= p95= p99= errors= non2xx= s200=n s409=n ..." (answers by status).
local threads = {}
local counter = 0

local function read_tokens()
  local out = {}
  for line in io.lines(os.getenv("TOKENS_FILE")) do if line ~= "" then out[#out + 1] = line end end
  return out
end

function setup(thread)
  counter = counter + 1
  local tokens = read_tokens()
  thread:set("token", tokens[(counter - 1) % #tokens + 1])
  thread:set("id", counter)
  threads[#threads + 1] = thread
end

local step, think
-- answers by status; a global: done() reads each thread's copy with thread:get
counts = {}

function init()
  step = 0
  think = tonumber(os.getenv("THINK_MS") or "0") or 0
  math.randomseed(id * 7919)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Accept"] = "application/json"
end

local STEPS = {
  { "GET", "/api/v1/auth/session" },
  { "GET", "/api/v1/media/requests" },
  { "GET", "/api/v1/media/search?q=matrix" },
  { "POST", "/api/v1/media/request", '{"tmdbId":"603","mediaType":"movie"}' },
}

function request()
  step = step % #STEPS + 1
  local s = STEPS[step]
  -- wrk.format takes these headers instead of wrk.headers, not on top of them
  local headers = { Authorization = wrk.headers.Authorization, Accept = "application/json" }
  if s[3] then headers["Content-Type"] = "application/json" end
  return wrk.format(s[1], s[2], headers, s[3])
end

function delay()
  if think <= 0 then return 0 end
  -- between half and one and a half times the mean
  return math.floor(think * (0.5 + math.random()))
end

function response(status)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency)
  local agg, codes = {}, {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("counts") or {}) do
      if not agg[code] then codes[#codes + 1] = code end
      agg[code] = (agg[code] or 0) + n
    end
  end
  table.sort(codes)
  local by = {}
  for _, c in ipairs(codes) do by[#by + 1] = ("s%d=%d"):format(c, agg[c]) end
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50=%.2f p95=%.2f p99=%.2f errors=%d non2xx=%d %s\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, e.status, table.concat(by, " ")))
end
