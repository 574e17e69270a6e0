-- bench/requests.lua — the seed's requests scenario for wrk, one user per
-- thread (run with -t N -c N): the dashboard (GET /api/v1/auth/session and
-- GET /api/v1/media/requests, what the signed-in page loads), a search for
-- "matrix", then the seed's exact request body {"tmdbId":"603","mediaType":
-- "movie"}. THINK_MS (env) is the mean think time after each step (0: none).
-- Tokens come from TOKENS_FILE, one per line (bench/requests.sh makes them).
-- done() prints "RESULT rps= p50= p95= p99= errors= non2xx= s200= s201= s409= s429= s5xx=".
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
local counts = { s200 = 0, s201 = 0, s409 = 0, s429 = 0, s5xx = 0, other = 0 }

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
  local headers = s[3] and { ["Content-Type"] = "application/json" } or nil
  return wrk.format(s[1], s[2], headers, s[3])
end

function delay()
  if think <= 0 then return 0 end
  -- between half and one and a half times the mean
  return math.floor(think * (0.5 + math.random()))
end

function response(status)
  local k = ({ [200] = "s200", [201] = "s201", [409] = "s409", [429] = "s429" })[status]
  if not k then k = status >= 500 and "s5xx" or "other" end
  counts[k] = counts[k] + 1
end

function done(summary, latency)
  local agg = { s200 = 0, s201 = 0, s409 = 0, s429 = 0, s5xx = 0, other = 0 }
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k in pairs(agg) do agg[k] = agg[k] + (c and c[k] or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f p50=%.2f p95=%.2f p99=%.2f errors=%d non2xx=%d s200=%d s201=%d s409=%d s429=%d s5xx=%d other=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout, e.status,
    agg.s200, agg.s201, agg.s409, agg.s429, agg.s5xx, agg.other))
end
