/* crypto.h — the cryptographic primitives MediaNest needs, over OpenSSL's
 * libcrypto (EVP APIs): random bytes, SHA-256, HMAC-SHA-256, AES-256-GCM
 * authenticated encryption, constant-time comparison, base64url and hex.
 *
 * Nothing here knows about Lua (lua_crypto.c is the binding) and nothing here
 * keeps state: every function is safe to call from any thread, including
 * libuv's thread pool. All buffers are caller-owned; each function states how
 * large its output buffer must be. Functions return 0 or a negative errno:
 *   -EINVAL   bad argument (a length too large for libcrypto, bad encoding)
 *   -EBADMSG  authentication failed (tampered or truncated ciphertext)
 *   -EIO      libcrypto itself failed (out of memory, no entropy)
 */
#ifndef MN_CRYPTO_H
#define MN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_AEAD_KEY_LEN 32
#define CRYPTO_AEAD_NONCE_LEN 12
#define CRYPTO_AEAD_TAG_LEN 16
/* A sealed blob is nonce || ciphertext || tag: plaintext + this many bytes. */
#define CRYPTO_AEAD_OVERHEAD (CRYPTO_AEAD_NONCE_LEN + CRYPTO_AEAD_TAG_LEN)
/* Largest plaintext/ciphertext accepted (libcrypto takes int lengths). */
#define CRYPTO_MAX_LEN ((size_t)0x7fffffff - CRYPTO_AEAD_OVERHEAD)

/* Fill buf with n bytes from the CSPRNG (RAND_bytes). */
int crypto_random(void *buf, size_t n);

/* out: CRYPTO_SHA256_LEN bytes. */
int crypto_sha256(const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN]);

/* out: CRYPTO_SHA256_LEN bytes. Any key length (long keys are hashed, per RFC 2104). */
int crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                       uint8_t out[CRYPTO_SHA256_LEN]);

/* AES-256-GCM with a fresh random 12-byte nonce. Writes nonce || ciphertext
 * || tag to out, which must hold ptlen + CRYPTO_AEAD_OVERHEAD bytes. aad
 * (associated data: authenticated, not encrypted) may be NULL when aadlen is 0.
 * plaintext and out must not overlap. */
int crypto_aead_encrypt(const uint8_t key[CRYPTO_AEAD_KEY_LEN], const void *pt, size_t ptlen,
                        const void *aad, size_t aadlen, uint8_t *out);

/* Opens a blob made by crypto_aead_encrypt with the same key and aad. out
 * must hold inlen - CRYPTO_AEAD_OVERHEAD bytes (may be NULL when that is 0);
 * *outlen receives the plaintext length. A blob shorter than the overhead or
 * one that fails authentication returns -EBADMSG, and out is then zeroed: no
 * unauthenticated plaintext is ever left behind. */
int crypto_aead_decrypt(const uint8_t key[CRYPTO_AEAD_KEY_LEN], const void *in, size_t inlen,
                        const void *aad, size_t aadlen, uint8_t *out, size_t *outlen);

/* 1 when the two buffers are equal, else 0. The time taken depends on the
 * lengths only, never on the contents (CRYPTO_memcmp); lengths are not secret. */
int crypto_equal(const void *a, size_t alen, const void *b, size_t blen);

/* base64url (RFC 4648 §5) without padding. */
#define CRYPTO_B64URL_ENCODED_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
#define CRYPTO_B64URL_DECODED_MAX(n) (((n) / 4) * 3 + ((n) % 4 ? (n) % 4 - 1 : 0))

/* out: CRYPTO_B64URL_ENCODED_LEN(n) + 1 bytes (NUL-terminated). Returns the
 * encoded length (without the NUL). */
size_t crypto_base64url_encode(const void *in, size_t n, char *out);

/* out: CRYPTO_B64URL_DECODED_MAX(n) bytes (may be NULL when that is 0).
 * Rejects (-EINVAL) any character outside A-Z a-z 0-9 - _ (padding '='
 * included), an impossible length (n % 4 == 1) and non-zero trailing bits,
 * so every byte string has exactly one accepted encoding. */
int crypto_base64url_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);

/* Lower-case hex. out: 2n + 1 bytes (NUL-terminated). */
void crypto_hex(const void *in, size_t n, char *out);

#endif
