-- spec/unit/crypto_spec.lua — nest.crypto: digests, sealed blobs, encodings.
local crypto = require "nest.crypto"

local function unhex(s)
  return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

describe("nest.crypto", function()
  local key = string.rep("k", 32)

  describe("digests", function()
    it("computes the SHA-256 of \"abc\" as raw bytes", function()
      local d = crypto.sha256("abc")
      assert.equal(32, #d)
      assert.equal(unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), d)
    end)

    it("gives the SHA-256 in hex with sha256_hex", function()
      assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        crypto.sha256_hex("abc"))
    end)

    it("computes HMAC-SHA-256 per RFC 4231 test case 2", function()
      assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        crypto.hex(crypto.hmac_sha256("Jefe", "what do ya want for nothing?")))
      assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        crypto.hmac_sha256_hex("Jefe", "what do ya want for nothing?"))
    end)

    it("hashes strings with embedded NUL bytes in full", function()
      assert.are_not.equal(crypto.sha256("a\0b"), crypto.sha256("a\0c"))
    end)
  end)

  describe("random", function()
    it("returns the number of bytes asked for, different each time", function()
      local a, b = crypto.random(32), crypto.random(32)
      assert.equal(32, #a)
      assert.are_not.equal(a, b)
      assert.equal(4096, #crypto.random(4096))
    end)

    it("refuses a size outside 1..4096, naming the argument", function()
      assert.has_error(function() crypto.random(0) end)
      assert.has_error(function() crypto.random(4097) end)
      local ok, err = pcall(crypto.random, 0)
      assert.is_false(ok)
      assert.matches("bad argument #1", err)
    end)

    it("makes url-safe tokens of 256 bits by default", function()
      local t = crypto.token()
      assert.equal(43, #t)
      assert.matches("^[%w_-]+$", t)
      assert.are_not.equal(t, crypto.token())
      assert.equal(16, #crypto.base64url_decode(crypto.token(16)))
    end)
  end)

  describe("aead", function()
    it("round trips a plaintext, with and without associated data", function()
      local blob = crypto.aead_encrypt(key, "hello")
      assert.equal(5 + 28, #blob)
      assert.equal("hello", crypto.aead_decrypt(key, blob))
      local blob2 = crypto.aead_encrypt(key, "hello", "user:42")
      assert.equal("hello", crypto.aead_decrypt(key, blob2, "user:42"))
    end)

    it("round trips empty and binary plaintexts", function()
      assert.equal("", crypto.aead_decrypt(key, crypto.aead_encrypt(key, "")))
      local bin = "\0\1\2\255" .. string.rep("x", 10000)
      assert.equal(bin, crypto.aead_decrypt(key, crypto.aead_encrypt(key, bin)))
    end)

    it("uses a fresh nonce for every blob", function()
      assert.are_not.equal(crypto.aead_encrypt(key, "same"), crypto.aead_encrypt(key, "same"))
    end)

    it("returns nil, \"decrypt failed\" for a tampered blob", function()
      local blob = crypto.aead_encrypt(key, "hello")
      for i = 1, #blob do
        local b = blob:byte(i)
        local bad = blob:sub(1, i - 1) .. string.char(b ~ 1) .. blob:sub(i + 1)
        local pt, err = crypto.aead_decrypt(key, bad)
        assert.is_nil(pt)
        assert.equal("decrypt failed", err)
      end
    end)

    it("returns nil, \"decrypt failed\" for short, truncated or foreign blobs", function()
      local blob = crypto.aead_encrypt(key, "hello", "aad")
      assert.same({ nil, "decrypt failed" }, { crypto.aead_decrypt(key, "") })
      assert.same({ nil, "decrypt failed" }, { crypto.aead_decrypt(key, "short") })
      assert.same({ nil, "decrypt failed" }, { crypto.aead_decrypt(key, blob:sub(1, -2)) })
      assert.same({ nil, "decrypt failed" }, { crypto.aead_decrypt(key, blob, "other") })
      assert.same({ nil, "decrypt failed" }, { crypto.aead_decrypt(key, blob) })
      assert.same({ nil, "decrypt failed" },
        { crypto.aead_decrypt(string.rep("x", 32), blob, "aad") })
    end)

    it("raises an error naming the key argument when the key is not 32 bytes", function()
      local ok, err = pcall(crypto.aead_encrypt, "short", "x")
      assert.is_false(ok)
      assert.matches("bad argument #1.*key must be 32 bytes", err)
      ok, err = pcall(crypto.aead_decrypt, string.rep("k", 33), "x")
      assert.is_false(ok)
      assert.matches("bad argument #1.*key must be 32 bytes", err)
    end)

    it("seals and opens url-safe text with a derived key", function()
      local k = crypto.derive_key("operator secret", "session")
      assert.equal(32, #k)
      assert.are_not.equal(k, crypto.derive_key("operator secret", "csrf"))
      local text = crypto.seal(k, '{"uid":42}', "v1")
      assert.matches("^[%w_-]+$", text)
      assert.equal('{"uid":42}', crypto.open(k, text, "v1"))
      assert.same({ nil, "decrypt failed" }, { crypto.open(k, text, "v2") })
      assert.same({ nil, "decrypt failed" }, { crypto.open(k, text .. "A") })
      assert.same({ nil, "decrypt failed" }, { crypto.open(k, "not base64!") })
      assert.same({ nil, "decrypt failed" }, { crypto.open(k, nil) })
    end)
  end)

  describe("equal", function()
    it("compares strings by content", function()
      assert.is_true(crypto.equal("abc", "abc"))
      assert.is_false(crypto.equal("abc", "abd"))
      assert.is_false(crypto.equal("abc", "abcd"))
      assert.is_true(crypto.equal("", ""))
    end)

    it("verifies signatures made by sign", function()
      local sig = crypto.sign("k", "state=1")
      assert.is_true(crypto.verify("k", "state=1", sig))
      assert.is_false(crypto.verify("k", "state=2", sig))
      assert.is_false(crypto.verify("other", "state=1", sig))
      assert.is_false(crypto.verify("k", "state=1", nil))
    end)
  end)

  describe("encodings", function()
    it("encodes base64url without padding per RFC 4648", function()
      assert.equal("", crypto.base64url_encode(""))
      assert.equal("Zg", crypto.base64url_encode("f"))
      assert.equal("Zm8", crypto.base64url_encode("fo"))
      assert.equal("Zm9vYmFy", crypto.base64url_encode("foobar"))
      assert.equal("-_8", crypto.base64url_encode("\251\255"))
    end)

    it("round trips every byte value through base64url", function()
      local all = {}
      for i = 0, 255 do all[#all + 1] = string.char(i) end
      all = table.concat(all)
      assert.equal(all, crypto.base64url_decode(crypto.base64url_encode(all)))
    end)

    it("returns nil, err for text that is not base64url", function()
      for _, bad in ipairs({ "Zm9v+A", "Zm9v/A", "Zg==", "Zm 9v", "Zm9vY", "Zh", "Zm\0v" }) do
        local v, err = crypto.base64url_decode(bad)
        assert.is_nil(v)
        assert.equal("invalid base64url", err)
      end
    end)

    it("hex-encodes in lower case", function()
      assert.equal("0001abff", crypto.hex("\0\1\171\255"))
      assert.equal("", crypto.hex(""))
    end)
  end)
end)
