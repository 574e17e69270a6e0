/* test_crypto.c — known-answer and property tests for core/crypto.c.
 * Prints one line per check; exits 1 if any check failed. */
#include "crypto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

static int hex_is(const void *bytes, size_t n, const char *want) {
    char got[2 * 64 + 1];
    if (n > 64) return 0;
    crypto_hex(bytes, n, got);
    if (strcmp(got, want) != 0) {
        printf("     got  %s\n     want %s\n", got, want);
        return 0;
    }
    return 1;
}

static void test_sha256(void) {
    uint8_t d[CRYPTO_SHA256_LEN];
    check(crypto_sha256("abc", 3, d) == 0 &&
              hex_is(d, sizeof d,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "sha256(\"abc\") matches FIPS 180-2");
    check(crypto_sha256("", 0, d) == 0 &&
              hex_is(d, sizeof d,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
          "sha256(\"\") matches the known digest");
}

static void test_hmac(void) {
    uint8_t m[CRYPTO_SHA256_LEN];
    const char *msg = "what do ya want for nothing?";
    check(crypto_hmac_sha256("Jefe", 4, msg, strlen(msg), m) == 0 &&
              hex_is(m, sizeof m,
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
          "hmac_sha256 matches RFC 4231 test case 2");
    /* RFC 4231 test case 6: a 131-byte key, longer than the block size. */
    uint8_t key[131];
    memset(key, 0xaa, sizeof key);
    const char *msg6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    check(crypto_hmac_sha256(key, sizeof key, msg6, strlen(msg6), m) == 0 &&
              hex_is(m, sizeof m,
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
          "hmac_sha256 matches RFC 4231 test case 6 (long key)");
    check(crypto_hmac_sha256("", 0, "", 0, m) == 0 &&
              hex_is(m, sizeof m,
                     "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"),
          "hmac_sha256 accepts an empty key and message");
}

static void test_aead(void) {
    uint8_t key[CRYPTO_AEAD_KEY_LEN], other[CRYPTO_AEAD_KEY_LEN];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)i, other[i] = (uint8_t)(i + 1);
    const char *pt = "session: user 42, role admin";
    size_t ptlen = strlen(pt);
    uint8_t blob[64 + CRYPTO_AEAD_OVERHEAD], blob2[64 + CRYPTO_AEAD_OVERHEAD], out[64];
    size_t outlen = 99;

    check(crypto_aead_encrypt(key, pt, ptlen, "aad", 3, blob) == 0, "aead_encrypt succeeds");
    check(crypto_aead_decrypt(key, blob, ptlen + CRYPTO_AEAD_OVERHEAD, "aad", 3, out, &outlen) == 0 &&
              outlen == ptlen && memcmp(out, pt, ptlen) == 0,
          "aead round trip returns the plaintext");
    check(memcmp(blob + CRYPTO_AEAD_NONCE_LEN, pt, ptlen) != 0, "aead ciphertext is not the plaintext");

    check(crypto_aead_encrypt(key, pt, ptlen, "aad", 3, blob2) == 0 &&
              memcmp(blob, blob2, CRYPTO_AEAD_NONCE_LEN) != 0,
          "aead uses a fresh nonce per call");

    size_t bloblen = ptlen + CRYPTO_AEAD_OVERHEAD;
    int all_detected = 1;
    for (size_t i = 0; i < bloblen; i++) {  /* every byte: nonce, ciphertext, tag */
        blob[i] ^= 0x01;
        int rc = crypto_aead_decrypt(key, blob, bloblen, "aad", 3, out, &outlen);
        blob[i] ^= 0x01;
        if (rc != -EBADMSG || outlen != 0) all_detected = 0;
    }
    check(all_detected, "aead detects a flipped bit anywhere in the blob");

    check(crypto_aead_decrypt(key, blob, bloblen, "aae", 3, out, &outlen) == -EBADMSG,
          "aead rejects different associated data");
    check(crypto_aead_decrypt(key, blob, bloblen, NULL, 0, out, &outlen) == -EBADMSG,
          "aead rejects missing associated data");
    check(crypto_aead_decrypt(other, blob, bloblen, "aad", 3, out, &outlen) == -EBADMSG,
          "aead rejects the wrong key");
    check(crypto_aead_decrypt(key, blob, bloblen - 1, "aad", 3, out, &outlen) == -EBADMSG,
          "aead rejects a truncated blob");
    check(crypto_aead_decrypt(key, blob, CRYPTO_AEAD_OVERHEAD - 1, NULL, 0, out, &outlen) == -EBADMSG &&
              crypto_aead_decrypt(key, blob, 0, NULL, 0, NULL, &outlen) == -EBADMSG,
          "aead rejects a blob shorter than nonce + tag");

    memset(out, 0x5a, sizeof out);
    blob[CRYPTO_AEAD_NONCE_LEN] ^= 0x80;
    crypto_aead_decrypt(key, blob, bloblen, "aad", 3, out, &outlen);
    int zeroed = 1;
    for (size_t i = 0; i < ptlen; i++) zeroed &= out[i] == 0;
    check(zeroed, "aead leaves no unauthenticated plaintext behind");

    check(crypto_aead_encrypt(key, "", 0, NULL, 0, blob) == 0 &&
              crypto_aead_decrypt(key, blob, CRYPTO_AEAD_OVERHEAD, NULL, 0, NULL, &outlen) == 0 &&
              outlen == 0,
          "aead round trips an empty plaintext");
}

static void test_base64url(void) {
    /* RFC 4648 §10 vectors, without padding. */
    static const struct { const char *in, *out; } v[] = {
        {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char enc[16];
        uint8_t dec[16];
        size_t n = strlen(v[i].in), dn = 99;
        size_t en = crypto_base64url_encode(v[i].in, n, enc);
        ok &= en == CRYPTO_B64URL_ENCODED_LEN(n) && strcmp(enc, v[i].out) == 0;
        ok &= crypto_base64url_decode(enc, en, dec, &dn) == 0 && dn == n && memcmp(dec, v[i].in, n) == 0;
        ok &= CRYPTO_B64URL_DECODED_MAX(en) == n;
    }
    check(ok, "base64url matches the RFC 4648 vectors both ways");

    uint8_t all[256], dec[256];
    char enc[CRYPTO_B64URL_ENCODED_LEN(256) + 1];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    size_t en = crypto_base64url_encode(all, sizeof all, enc), dn = 0;
    check(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == en &&
              crypto_base64url_decode(enc, en, dec, &dn) == 0 && dn == 256 &&
              memcmp(dec, all, 256) == 0,
          "base64url round trips every byte value using only - and _");

    check(crypto_base64url_decode("Zm9v+A", 6, dec, &dn) == -EINVAL, "base64url rejects '+'");
    check(crypto_base64url_decode("Zm9v/A", 6, dec, &dn) == -EINVAL, "base64url rejects '/'");
    check(crypto_base64url_decode("Zg==", 4, dec, &dn) == -EINVAL, "base64url rejects padding");
    check(crypto_base64url_decode("Zm 9v", 5, dec, &dn) == -EINVAL, "base64url rejects whitespace");
    check(crypto_base64url_decode("Zm9vY", 5, dec, &dn) == -EINVAL, "base64url rejects length % 4 == 1");
    check(crypto_base64url_decode("Zh", 2, dec, &dn) == -EINVAL, "base64url rejects non-zero trailing bits");
    check(crypto_base64url_decode("Zm\0v", 4, dec, &dn) == -EINVAL, "base64url rejects an embedded NUL");
}

static void test_equal(void) {
    check(crypto_equal("secret", 6, "secret", 6) == 1, "equal: same bytes are equal");
    check(crypto_equal("secret", 6, "secreT", 6) == 0, "equal: one differing byte is unequal");
    check(crypto_equal("secret", 6, "secret!", 7) == 0, "equal: a prefix is unequal");
    check(crypto_equal("", 0, "", 0) == 1, "equal: two empty buffers are equal");
}

static void test_random_hex(void) {
    uint8_t a[32] = {0}, b[32] = {0};
    check(crypto_random(a, sizeof a) == 0 && crypto_random(b, sizeof b) == 0 &&
              memcmp(a, b, sizeof a) != 0,
          "random gives different bytes each call");
    check(crypto_random(a, 0) == 0, "random accepts n == 0");
    check(hex_is("\x00\x01\xab\xff", 4, "0001abff"), "hex encodes lower-case");
}

int main(void) {
    test_sha256();
    test_hmac();
    test_aead();
    test_base64url();
    test_equal();
    test_random_hex();
    if (failures) printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
