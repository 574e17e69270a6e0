-- nest/secrets.lua — secrets at rest: service API keys, users' Plex tokens.
--
-- One master key per installation: secret_key (MEDIANEST_SECRET_KEY, 64 hex
-- digits) when the operator sets one, else a key file <data_dir>/secret.key
-- made with mode 0600 on first use. Each use ("plex_token", "service:plex",
-- ...) gets its own key derived from the master, and the purpose is bound as
-- additional data too, so a blob sealed for one column cannot be replayed into
-- another. Blobs are raw bytes (AES-256-GCM: nonce || ciphertext || tag), fit
-- for a bytea column.
--
--   seal(plaintext, purpose) -> blob
--   open(blob, purpose)      -> plaintext | nil, "decrypt failed"
--   ready()                  -> true | nil, err   (loads the key; serve calls it at start)
local crypto = require "nest.crypto"
local core = require "nest.core.crypto"
local config = require "nest.config"

local M = {}

local master            -- per generation; the key itself never changes under a running server
local derived = {}

local function hex_to_bytes(h)
  return (h:gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end))
end

local function load_master()
  if master then return master end
  local cfg = config.get() or {}
  if cfg.secret_key then
    master = hex_to_bytes(cfg.secret_key)          -- config checked: 64 hex digits
    return master
  end
  local dir = config.path(cfg.data_dir or ".data/medianest")
  local ok, merr = require("nest.core.fs").mkdir_p(dir)
  if not ok then return nil, "secret key: " .. merr end
  local key, err = core.key_file(dir .. "/secret.key")
  if not key then return nil, "secret key: " .. err end
  master = key
  return master
end

local function key_for(purpose)
  if type(purpose) ~= "string" or purpose == "" then
    error("nest.secrets: purpose must be a non-empty string", 3)
  end
  local k = derived[purpose]
  if k then return k end
  local m, err = load_master()
  if not m then error(err, 3) end
  k = crypto.derive_key(m, "secret:" .. purpose)
  derived[purpose] = k
  return k
end

function M.ready()
  local m, err = load_master()
  if not m then return nil, err end
  return true
end

function M.seal(plaintext, purpose)
  if type(plaintext) ~= "string" then error("nest.secrets.seal: plaintext must be a string", 2) end
  return core.aead_encrypt(key_for(purpose), plaintext, purpose)
end

function M.open(blob, purpose)
  local k = key_for(purpose)
  if type(blob) ~= "string" then return nil, "decrypt failed" end
  return core.aead_decrypt(k, blob, purpose)
end

return M
