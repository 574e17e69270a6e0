/* test_ws.c — ws.c without sockets: the handshake accept value, UTF-8
 * validation, and the frame path (ws_feed_detached) with its close codes. */
#include "ws.h"

#include <stdio.h>
#include <string.h>

static int failures;
#define CHECK(cond, what) do { int ok_ = (cond); printf("%s %s\n", ok_ ? "ok  " : "FAIL", what); \
                               if (!ok_) failures++; } while (0)

static size_t frame(uint8_t *out, int fin, int op, const char *p, size_t n, int mask) {
    size_t o = 0;
    out[o++] = (uint8_t)((fin ? 0x80 : 0) | op);
    uint8_t m = mask ? 0x80 : 0;
    if (n < 126) out[o++] = (uint8_t)(m | n);
    else { out[o++] = m | 126; out[o++] = (uint8_t)(n >> 8); out[o++] = (uint8_t)n; }
    static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    if (mask) { memcpy(out + o, key, 4); o += 4; }
    for (size_t i = 0; i < n; i++) out[o + i] = (uint8_t)p[i] ^ (mask ? key[i % 4] : 0);
    return o + n;
}

static char got[8192];
static size_t got_n;
static int got_count;
static void on_text(const char *s, size_t n, void *ud) {
    (void)ud;
    memcpy(got, s, n < sizeof got ? n : sizeof got);
    got_n = n;
    got_count++;
}

int main(void) {
    char acc[29];
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, acc) == 0 &&
          !strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "accept value of RFC 6455's example");
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", 23, acc) != 0, "short key refused");
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25j!!==", 24, acc) != 0, "non-base64 key refused");

    CHECK(ws_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 16), "valid UTF-8");
    CHECK(!ws_utf8_valid((const uint8_t *)"\xc0\xaf", 2), "overlong refused");
    CHECK(!ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3), "surrogate refused");
    CHECK(!ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4), "above U+10FFFF refused");
    CHECK(!ws_utf8_valid((const uint8_t *)"\xe2\x82", 2), "truncated sequence refused");

    ws_opts o;
    ws_opts_default(&o);
    o.max_message = 100;
    uint8_t buf[4096];
    size_t n = frame(buf, 1, 1, "hello", 5, 1);
    got_count = 0;
    CHECK(ws_feed_detached(buf, n, &o, on_text, NULL) == 0 && got_count == 1 && got_n == 5 &&
          !memcmp(got, "hello", 5), "masked text frame delivered");
    n = frame(buf, 0, 1, "hel", 3, 1);
    n += frame(buf + n, 1, 9, "p", 1, 1);
    n += frame(buf + n, 1, 0, "lo", 2, 1);
    got_count = 0;
    CHECK(ws_feed_detached(buf, n, &o, on_text, NULL) == 0 && got_count == 1 && got_n == 5 &&
          !memcmp(got, "hello", 5), "fragments with a ping between reassembled");
    n = frame(buf, 1, 1, "hello", 5, 0);
    got_count = 0;
    CHECK(ws_feed_detached(buf, n, &o, on_text, NULL) == 1002 && got_count == 0, "unmasked frame: 1002");
    n = frame(buf, 1, 1, "\xff", 1, 1);
    CHECK(ws_feed_detached(buf, n, &o, on_text, NULL) == 1007, "invalid UTF-8: 1007");
    char big[200];
    memset(big, 'x', sizeof big);
    n = frame(buf, 1, 1, big, sizeof big, 1);
    got_count = 0;
    CHECK(ws_feed_detached(buf, n, &o, on_text, NULL) == 1009 && got_count == 0, "over max_message: 1009");
    n = frame(buf, 0, 1, big, 60, 1);
    n += frame(buf + n, 1, 0, big, 60, 1);
    CHECK(ws_feed_detached(buf, n, &o, on_text, NULL) == 1009, "fragmented over max_message: 1009");
    n = frame(buf, 1, 2, "\1\2", 2, 1);
    CHECK(ws_feed_detached(buf, n, &o, on_text, NULL) == 1003, "binary: 1003");
    n = frame(buf, 1, 8, "\x0f\xa0", 2, 1);
    CHECK(ws_feed_detached(buf, n, &o, on_text, NULL) == 4000, "peer close 4000 echoed");
    return failures ? 1 : 0;
}
