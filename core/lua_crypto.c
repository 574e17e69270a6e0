/* lua_crypto.c — the Lua binding of crypto.c: module "nest.core.crypto".
 *
 * Every function is synchronous and cheap enough to run on the loop (a
 * SHA-256 of a few KB, one AES-GCM seal of a session cookie); none yields.
 * Strings in, strings out: digests, MACs and sealed blobs are raw binary
 * strings; hex() and base64url_encode() make them printable. Misuse (a
 * wrong key length, random(0)) raises an error naming the argument; a blob
 * that does not open or text that is not base64url is an expected failure
 * and returns nil, err. The public API is lua/nest/crypto.lua.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "crypto.h"
#include "lua_modules.h"

#define RANDOM_MAX 4096

static int raise_io(lua_State *L, const char *what) {
    return luaL_error(L, "nest.crypto.%s: libcrypto failed", what);
}

static const uint8_t *check_key(lua_State *L, int arg) {
    size_t n;
    const char *k = luaL_checklstring(L, arg, &n);
    if (n != CRYPTO_AEAD_KEY_LEN)
        luaL_argerror(L, arg, lua_pushfstring(L, "key must be %d bytes, got %d",
                                              CRYPTO_AEAD_KEY_LEN, (int)n));
    return (const uint8_t *)k;
}

/* random(n) -> n random bytes, 1 <= n <= 4096 */
static int l_random(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= RANDOM_MAX, 1, "must be between 1 and 4096");
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)n);
    if (crypto_random(p, (size_t)n) != 0) return raise_io(L, "random");
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
}

/* sha256(s) -> 32 raw bytes */
static int l_sha256(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    uint8_t d[CRYPTO_SHA256_LEN];
    if (crypto_sha256(s, n, d) != 0) return raise_io(L, "sha256");
    lua_pushlstring(L, (const char *)d, sizeof d);
    return 1;
}

/* hmac_sha256(key, msg) -> 32 raw bytes */
static int l_hmac_sha256(lua_State *L) {
    size_t kn, mn;
    const char *k = luaL_checklstring(L, 1, &kn);
    const char *m = luaL_checklstring(L, 2, &mn);
    uint8_t d[CRYPTO_SHA256_LEN];
    if (crypto_hmac_sha256(k, kn, m, mn, d) != 0) return raise_io(L, "hmac_sha256");
    lua_pushlstring(L, (const char *)d, sizeof d);
    return 1;
}

/* aead_encrypt(key32, plaintext[, aad]) -> nonce || ciphertext || tag */
static int l_aead_encrypt(lua_State *L) {
    const uint8_t *key = check_key(L, 1);
    size_t pn, an;
    const char *pt = luaL_checklstring(L, 2, &pn);
    const char *aad = luaL_optlstring(L, 3, "", &an);
    luaL_argcheck(L, pn <= CRYPTO_MAX_LEN, 2, "too long");
    size_t outn = pn + CRYPTO_AEAD_OVERHEAD;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, outn);
    int rc = crypto_aead_encrypt(key, pt, pn, aad, an, (uint8_t *)out);
    if (rc == -EINVAL) return luaL_argerror(L, 3, "too long");
    if (rc != 0) return raise_io(L, "aead_encrypt");
    luaL_pushresultsize(&b, outn);
    return 1;
}

/* aead_decrypt(key32, blob[, aad]) -> plaintext | nil, "decrypt failed" */
static int l_aead_decrypt(lua_State *L) {
    const uint8_t *key = check_key(L, 1);
    size_t bn, an, outn = 0;
    const char *blob = luaL_checklstring(L, 2, &bn);
    const char *aad = luaL_optlstring(L, 3, "", &an);
    if (bn < CRYPTO_AEAD_OVERHEAD) {
        lua_pushnil(L);
        lua_pushliteral(L, "decrypt failed");
        return 2;
    }
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, bn - CRYPTO_AEAD_OVERHEAD);
    int rc = crypto_aead_decrypt(key, blob, bn, aad, an, (uint8_t *)out, &outn);
    if (rc == -EBADMSG || rc == -EINVAL) {
        /* The buffer (maybe a userdata box) is left for the GC; it was zeroed. */
        lua_pushnil(L);
        lua_pushliteral(L, "decrypt failed");
        return 2;
    }
    if (rc != 0) return raise_io(L, "aead_decrypt");
    luaL_pushresultsize(&b, outn);
    return 1;
}

/* equal(a, b) -> boolean, in time independent of the contents */
static int l_equal(lua_State *L) {
    size_t an, bn;
    const char *a = luaL_checklstring(L, 1, &an);
    const char *b = luaL_checklstring(L, 2, &bn);
    lua_pushboolean(L, crypto_equal(a, an, b, bn));
    return 1;
}

/* base64url_encode(s) -> unpadded base64url text */
static int l_base64url_encode(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    /* +1: crypto_base64url_encode writes a NUL after the text */
    char *out = luaL_buffinitsize(L, &b, CRYPTO_B64URL_ENCODED_LEN(n) + 1);
    luaL_pushresultsize(&b, crypto_base64url_encode(s, n, out));
    return 1;
}

/* base64url_decode(text) -> bytes | nil, "invalid base64url" */
static int l_base64url_decode(lua_State *L) {
    size_t n, outn = 0;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, CRYPTO_B64URL_DECODED_MAX(n));
    if (crypto_base64url_decode(s, n, (uint8_t *)out, &outn) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid base64url");
        return 2;
    }
    luaL_pushresultsize(&b, outn);
    return 1;
}

/* hex(s) -> lower-case hex */
static int l_hex(lua_State *L) {
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 2 * n + 1);
    crypto_hex(s, n, out);
    luaL_pushresultsize(&b, 2 * n);
    return 1;
}

/* Read exactly n bytes of fd; 0 or -errno (-EIO when the file is short). */
static int read_full(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) return -EIO;
        got += (size_t)r;
    }
    return 0;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int write_full(int fd, const char *buf, size_t n) {
    size_t put = 0;
    while (put < n) {
        ssize_t w = write(fd, buf + put, n - put);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        put += (size_t)w;
    }
    return 0;
}

/* key_file(path) -> 32-byte key | nil, err. Reads the key kept (as 64 hex
 * digits) in path; when the file does not exist, makes a new random key and
 * creates the file with mode 0600 (O_EXCL: two processes starting together
 * cannot both write one). A file readable by others is refused: the key
 * protects every secret in the database. Runs once at start-up, so the few
 * blocking syscalls are fine. */
static int l_key_file(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    uint8_t key[CRYPTO_AEAD_KEY_LEN];
    char hex[2 * CRYPTO_AEAD_KEY_LEN + 1];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (crypto_random(key, sizeof key) != 0) { close(fd); unlink(path); return raise_io(L, "key_file"); }
        crypto_hex((const char *)key, sizeof key, hex);
        hex[2 * sizeof key] = '\n';
        int rc = write_full(fd, hex, sizeof hex);
        if (close(fd) != 0 && rc == 0) rc = -errno;
        if (rc != 0) { unlink(path); lua_pushnil(L); lua_pushfstring(L, "%s: %s", path, strerror(-rc)); return 2; }
        lua_pushlstring(L, (const char *)key, sizeof key);
        return 1;
    }
    if (errno != EEXIST) { lua_pushnil(L); lua_pushfstring(L, "%s: %s", path, strerror(errno)); return 2; }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        lua_pushnil(L); lua_pushfstring(L, "%s: %s", path, strerror(e)); return 2;
    }
    if (st.st_mode & 077) {
        close(fd);
        char mode[8];
        snprintf(mode, sizeof mode, "%03o", (unsigned)(st.st_mode & 0777));
        lua_pushnil(L); lua_pushfstring(L, "%s: readable by others (mode %s); chmod 600 it", path, mode);
        return 2;
    }
    int rc = read_full(fd, hex, 2 * CRYPTO_AEAD_KEY_LEN);
    close(fd);
    for (size_t i = 0; rc == 0 && i < sizeof key; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) rc = -EINVAL;
        else key[i] = (uint8_t)(hi << 4 | lo);
    }
    if (rc != 0) { lua_pushnil(L); lua_pushfstring(L, "%s: not a key file (64 hex digits expected)", path); return 2; }
    lua_pushlstring(L, (const char *)key, sizeof key);
    return 1;
}

static int luaopen_nest_core_crypto(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"random", l_random},
        {"sha256", l_sha256},
        {"hmac_sha256", l_hmac_sha256},
        {"aead_encrypt", l_aead_encrypt},
        {"aead_decrypt", l_aead_decrypt},
        {"equal", l_equal},
        {"base64url_encode", l_base64url_encode},
        {"base64url_decode", l_base64url_decode},
        {"hex", l_hex},
        {"key_file", l_key_file},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_pushinteger(L, CRYPTO_AEAD_KEY_LEN);
    lua_setfield(L, -2, "KEY_LEN");
    lua_pushinteger(L, CRYPTO_AEAD_OVERHEAD);
    lua_setfield(L, -2, "AEAD_OVERHEAD");
    return 1;
}

MN_LUA_MODULE("nest.core.crypto", luaopen_nest_core_crypto)
