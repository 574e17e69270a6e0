-- nest/config.lua — the settings: defaults, then config.lua, then the
-- environment, then overrides (specs). Every setting is listed with its
-- default and meaning in config.lua.example; an unknown top-level key is an
-- error, so a typo is caught by `medianest check` instead of being ignored.
local M = {}

local current

local function defaults()
  return {
    listen = "127.0.0.1:8080",          -- MEDIANEST_LISTEN (host:port)
    public_url = nil,                   -- how users reach us, for links
    data_dir = ".data/medianest",       -- MEDIANEST_DATA_DIR
    secret_key = nil,                   -- MEDIANEST_SECRET_KEY (64 hex chars)
    trusted_proxies = {},               -- addresses whose X-Forwarded-* we believe
    allowed_origins = {},               -- WebSocket Origins besides our own
    demo = false,                       -- serve --demo
    http = {
      max_header_bytes = 16 * 1024,
      max_body_bytes = 10 * 1024 * 1024,
      header_timeout = 10,
      idle_timeout = 60,
      max_connections = 10000,
      gzip_min_bytes = 1024,
      write_high_water = 1024 * 1024,
      drain_timeout = 10,
      slow_request = 1.0,
      access_log = true,
    },
    static = { dir = "static/dist" },
    security_headers = {
      content_security_policy = "default-src 'self'; img-src 'self' data:; "
        .. "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; "
        .. "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
      hsts = false,                     -- only behind a TLS proxy that says so
    },
    log = { level = "info", file = nil },
    database = {
      url = nil, pool_max = 20, idle_timeout = 30, connect_timeout = 2,
      statement_timeout = 30, queue_max = 1000, queue_timeout = 5,
      slow_query = 0.1, migrate_on_start = true,
    },
    redis = { url = nil, connect_timeout = 1, command_timeout = 2, reconnect_max = 5 },
    cache = { l1_bytes = 64 * 1024 * 1024 },
    fetch = { max_host_connections = 10, connect_timeout = 2, timeout = 10, max_size = 10 * 1024 * 1024 },
    metrics = { token = nil },
    rate_limits = {
      api = { limit = 100, window = 60 },
      auth = { limit = 10, window = 60, by = "ip" },
      search = { limit = 30, window = 60 },
      media_request = { limit = 20, window = 3600 },
      youtube = { limit = 5, window = 3600 },
    },
    websocket = { ping_interval = 25, pong_timeout = 60, max_message = 1024 * 1024, queue_max = 1024 },
    plugins = {
      paths = {},                       -- operator plugin dirs, searched first
      enabled = { "health", "ready", "metrics", "ratelimit" },
      settings = {},                    -- per-plugin config, by plugin name
    },
    dev = { watch = false },
    bench = { enabled = false },        -- the /bench/status route (on with --demo)
  }
end

local function is_array(t)
  return type(t) == "table" and (next(t) == nil or t[1] ~= nil)
end

-- Merge src into dst: tables merge key by key, arrays and scalars replace.
local function merge(dst, src, path, strict)
  for k, v in pairs(src) do
    local here = path .. k
    if strict and dst[k] == nil and path == "" then
      local known = defaults()
      if known[k] == nil and k ~= "listen" then
        return nil, "unknown setting '" .. here .. "'"
      end
    end
    if type(v) == "table" and type(dst[k]) == "table" and not is_array(v) and not is_array(dst[k]) then
      local ok, err = merge(dst[k], v, here .. ".", false)
      if not ok then return nil, err end
    else
      dst[k] = v
    end
  end
  return true
end

local function load_file(path)
  local env = setmetatable({ os = { getenv = os.getenv } }, { __index = _G })
  local chunk, err = loadfile(path, "t", env)
  if not chunk then return nil, "config: " .. err end
  local ok, t = pcall(chunk)
  if not ok then return nil, "config " .. path .. ": " .. tostring(t) end
  if type(t) ~= "table" then return nil, "config " .. path .. ": must return a table" end
  return t
end

local function env_overrides(cfg)
  local function env(name) local v = os.getenv(name); if v and v ~= "" then return v end end
  cfg.listen = env("MEDIANEST_LISTEN") or cfg.listen
  cfg.data_dir = env("MEDIANEST_DATA_DIR") or cfg.data_dir
  cfg.secret_key = env("MEDIANEST_SECRET_KEY") or cfg.secret_key
  cfg.database.url = env("DATABASE_URL") or cfg.database.url
  cfg.redis.url = env("REDIS_URL") or cfg.redis.url
  cfg.metrics.token = env("MEDIANEST_METRICS_TOKEN") or cfg.metrics.token
  cfg.log.level = env("MEDIANEST_LOG_LEVEL") or cfg.log.level
end

local function check(cfg)
  local host, port = tostring(cfg.listen):match("^%[?([^%]]*)%]?:(%d+)$")
  port = tonumber(port)
  if not host or not port or port > 65535 then
    return nil, "listen: expected host:port, got '" .. tostring(cfg.listen) .. "'"
  end
  cfg.listen_host, cfg.listen_port = host, port
  if cfg.secret_key ~= nil and not tostring(cfg.secret_key):match("^%x+$") then
    return nil, "secret_key: expected 64 hex characters (32 bytes)"
  end
  if cfg.secret_key and #cfg.secret_key ~= 64 then
    return nil, "secret_key: expected 64 hex characters (32 bytes), got " .. #cfg.secret_key
  end
  for _, k in ipairs({ "max_header_bytes", "max_body_bytes", "header_timeout", "idle_timeout",
                       "max_connections", "drain_timeout" }) do
    local v = cfg.http[k]
    if type(v) ~= "number" or v <= 0 then return nil, "http." .. k .. ": expected a positive number" end
  end
  if type(cfg.plugins.enabled) ~= "table" then return nil, "plugins.enabled: expected a list" end
  if cfg.demo or cfg.bench.enabled then
    local has = false
    for _, n in ipairs(cfg.plugins.enabled) do if n == "bench" then has = true end end
    if not has then table.insert(cfg.plugins.enabled, "bench") end
  end
  return cfg
end

-- load(opts) -> cfg | nil, err. opts: config_path, overrides_json, demo, root.
function M.load(opts)
  local cfg = defaults()
  if opts.config_path then
    local t, err = load_file(opts.config_path)
    if not t then return nil, err end
    local ok, merr = merge(cfg, t, "", true)
    if not ok then return nil, "config " .. opts.config_path .. ": " .. merr end
  end
  env_overrides(cfg)
  if opts.overrides_json then
    local t = require("nest.json").decode(opts.overrides_json)   -- keeps integers integers
    if type(t) ~= "table" then return nil, "overrides: not a JSON object" end
    local ok, merr = merge(cfg, t, "", true)
    if not ok then return nil, "overrides: " .. merr end
  end
  if opts.demo then cfg.demo = true end
  cfg.root = opts.root
  local checked, err = check(cfg)
  if not checked then return nil, err end
  current = cfg
  return cfg
end

-- The config of this generation (set by load).
function M.get()
  return current
end

-- Resolve a path from the config: relative ones are relative to the source root.
function M.path(p)
  if not p or p:sub(1, 1) == "/" then return p end
  return (current and current.root or ".") .. "/" .. p
end

M.defaults = defaults
return M
