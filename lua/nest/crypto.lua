-- nest/crypto.lua — hashes, MACs, sealed (encrypted + authenticated) blobs,
-- constant-time comparison and url-safe encodings.
--
-- Everything in nest.core.crypto (core/lua_crypto.c) is re-exported as is:
--   random(n)                          n (1..4096) bytes from the CSPRNG
--   sha256(s), hmac_sha256(key, msg)   raw 32-byte digests
--   aead_encrypt(key32, plaintext[, aad]) -> blob (nonce || ciphertext || tag, AES-256-GCM)
--   aead_decrypt(key32, blob[, aad])   -> plaintext | nil, "decrypt failed"
--   equal(a, b)                        constant-time string comparison
--   base64url_encode(s), base64url_decode(s) -> bytes | nil, "invalid base64url"
--   hex(s)
-- and this module adds the conveniences the framework keeps reaching for.
local core = require "nest.core.crypto"

local crypto = {}
for k, v in pairs(core) do crypto[k] = v end

local hex, sha256, hmac = core.hex, core.sha256, core.hmac_sha256
local b64e, b64d = core.base64url_encode, core.base64url_decode
local encrypt, decrypt = core.aead_encrypt, core.aead_decrypt

--- sha256_hex(s) -> 64 lower-case hex digits
function crypto.sha256_hex(s) return hex(sha256(s)) end

--- hmac_sha256_hex(key, msg) -> 64 lower-case hex digits
function crypto.hmac_sha256_hex(key, msg) return hex(hmac(key, msg)) end

--- token([nbytes = 32]) -> url-safe random text (base64url of nbytes random bytes);
-- 32 bytes = 256 bits, 43 characters. For session ids, CSRF tokens, API keys.
function crypto.token(nbytes)
  return b64e(core.random(nbytes or 32))
end

--- derive_key(secret, purpose) -> 32-byte key for aead_* / hmac_sha256.
-- secret is the operator's secret_key (any length); purpose names the use
-- ("session", "csrf", ...) so that one secret yields independent keys.
function crypto.derive_key(secret, purpose)
  if type(secret) ~= "string" or secret == "" then
    error("nest.crypto.derive_key: secret must be a non-empty string", 2)
  end
  if type(purpose) ~= "string" then
    error("nest.crypto.derive_key: purpose must be a string", 2)
  end
  return hmac(secret, "medianest/" .. purpose)
end

--- seal(key32, plaintext[, aad]) -> url-safe text (base64url of aead_encrypt),
-- fit for a cookie or a URL.
function crypto.seal(key, plaintext, aad)
  return b64e(encrypt(key, plaintext, aad))
end

--- open(key32, text[, aad]) -> plaintext | nil, err. Anything that is not a
-- blob sealed with this key and aad (bad encoding, truncated, tampered,
-- another key) is an expected failure, never an error.
function crypto.open(key, text, aad)
  if type(text) ~= "string" then return nil, "decrypt failed" end
  local blob = b64d(text)
  if not blob then return nil, "decrypt failed" end
  return decrypt(key, blob, aad)
end

--- sign(key, msg) -> base64url HMAC-SHA-256 of msg; verify(key, msg, sig) -> boolean
-- (constant time). For signed, not secret, values (e.g. OAuth state).
function crypto.sign(key, msg) return b64e(hmac(key, msg)) end

function crypto.verify(key, msg, sig)
  if type(sig) ~= "string" then return false end
  return core.equal(b64e(hmac(key, msg)), sig)
end

return crypto
