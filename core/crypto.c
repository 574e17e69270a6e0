/* crypto.c — random bytes, SHA-256, HMAC, AES-256-GCM, constant-time compare,
 * base64url and hex over OpenSSL's libcrypto.
 *
 * Stateless: every call makes and frees its own EVP context, so nothing here
 * is shared between app instances or threads. Buffers belong to the caller
 * (sizes in crypto.h). Key material on the stack is not our concern: keys are
 * passed in and never copied here.
 */
#include "crypto.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int crypto_random(void *buf, size_t n) {
    if (n > INT_MAX) return -EINVAL;
    if (n == 0) return 0;
    return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

int crypto_sha256(const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN]) {
    unsigned int len = 0;
    if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1) return -EIO;
    return len == CRYPTO_SHA256_LEN ? 0 : -EIO;
}

int crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                       uint8_t out[CRYPTO_SHA256_LEN]) {
    static const uint8_t nokey;  /* HMAC() wants a non-NULL key, even empty */
    unsigned int len = 0;
    if (keylen > INT_MAX) return -EINVAL;
    if (!HMAC(EVP_sha256(), keylen ? key : &nokey, (int)keylen, msg, msglen, out, &len))
        return -EIO;
    return len == CRYPTO_SHA256_LEN ? 0 : -EIO;
}

int crypto_aead_encrypt(const uint8_t key[CRYPTO_AEAD_KEY_LEN], const void *pt, size_t ptlen,
                        const void *aad, size_t aadlen, uint8_t *out) {
    if (ptlen > CRYPTO_MAX_LEN || aadlen > INT_MAX) return -EINVAL;
    uint8_t *nonce = out, *ct = out + CRYPTO_AEAD_NONCE_LEN, *tag = ct + ptlen;
    if (crypto_random(nonce, CRYPTO_AEAD_NONCE_LEN) != 0) return -EIO;

    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return -EIO;
    int n = 0, fin = 0, ok =
        EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
        (aadlen == 0 || EVP_EncryptUpdate(c, NULL, &n, aad, (int)aadlen) == 1) &&
        (ptlen == 0 || EVP_EncryptUpdate(c, ct, &n, pt, (int)ptlen) == 1) &&
        EVP_EncryptFinal_ex(c, ct + (ptlen ? n : 0), &fin) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRYPTO_AEAD_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -EIO;
}

int crypto_aead_decrypt(const uint8_t key[CRYPTO_AEAD_KEY_LEN], const void *in, size_t inlen,
                        const void *aad, size_t aadlen, uint8_t *out, size_t *outlen) {
    *outlen = 0;
    if (inlen < CRYPTO_AEAD_OVERHEAD) return -EBADMSG;
    if (inlen - CRYPTO_AEAD_OVERHEAD > CRYPTO_MAX_LEN || aadlen > INT_MAX) return -EINVAL;
    const uint8_t *nonce = in, *ct = nonce + CRYPTO_AEAD_NONCE_LEN;
    size_t ctlen = inlen - CRYPTO_AEAD_OVERHEAD;
    /* EVP_CIPHER_CTX_ctrl takes a non-const tag pointer; copy it. */
    uint8_t tag[CRYPTO_AEAD_TAG_LEN];
    memcpy(tag, ct + ctlen, sizeof tag);

    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return -EIO;
    int n = 0, fin = 0, ok =
        EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
        (aadlen == 0 || EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) == 1) &&
        (ctlen == 0 || EVP_DecryptUpdate(c, out, &n, ct, (int)ctlen) == 1) &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRYPTO_AEAD_TAG_LEN, tag) == 1;
    /* Final is where the tag is checked: a failure there is a forgery. */
    uint8_t none[1];  /* GCM final writes nothing, but wants somewhere to */
    int auth = ok && EVP_DecryptFinal_ex(c, ctlen ? out + n : none, &fin) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!auth) {
        if (ctlen) OPENSSL_cleanse(out, ctlen);
        return ok ? -EBADMSG : -EIO;
    }
    *outlen = ctlen;
    return 0;
}

int crypto_equal(const void *a, size_t alen, const void *b, size_t blen) {
    if (alen != blen) return 0;
    if (alen == 0) return 1;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t crypto_base64url_encode(const void *in, size_t n, char *out) {
    const uint8_t *p = in;
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = b64url_alphabet[v >> 18];
        *o++ = b64url_alphabet[(v >> 12) & 63];
        *o++ = b64url_alphabet[(v >> 6) & 63];
        *o++ = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = b64url_alphabet[v >> 18];
        *o++ = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = b64url_alphabet[v >> 18];
        *o++ = b64url_alphabet[(v >> 12) & 63];
        *o++ = b64url_alphabet[(v >> 6) & 63];
    }
    *o = '\0';
    return (size_t)(o - out);
}

/* 0..63, or -1 for anything outside the url-safe alphabet. */
static int b64url_value(unsigned char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '-') return 62;
    if (ch == '_') return 63;
    return -1;
}

int crypto_base64url_decode(const char *in, size_t n, uint8_t *out, size_t *outlen) {
    *outlen = 0;
    if (n % 4 == 1) return -EINVAL;
    uint8_t *o = out;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0) return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) return -EINVAL;  /* non-zero leftover bits: not canonical */
    *outlen = (size_t)(o - out);
    return 0;
}

void crypto_hex(const void *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}
