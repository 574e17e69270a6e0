/* test_http_static.c — unit tests of core/http_static.c through a real
 * http_server on a loop: a client thread sends one request per connection
 * and checks status and headers. Covers the index (count, dotfiles), path
 * decoding edge cases (encoded traversal, NUL, backslash, broken escapes,
 * "//"), hashed-name detection, conditionals, ranges and encodings. Prints
 * one line per check and exits non-zero when any fails.
 */
#include "http_server.h"
#include "http_static.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static int port;
static uv_async_t done_async;

static void on_request(http_request *r, void *ud) {
    (void)ud;
    http_response_send(r, 299, NULL, 0, "text/plain", "lua", 3, 0);   /* "not static" */
}
static void on_abort(http_request *r, void *ud) { (void)r; (void)ud; }
static void no_log(const char *l, size_t n, void *ud) { (void)l; (void)n; (void)ud; }

/* Send raw, read the whole answer (Connection: close) into out. */
static int roundtrip(const char *req, char *out, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    if (write(fd, req, strlen(req)) < 0) { close(fd); return -1; }
    size_t got = 0;
    ssize_t k;
    while (got + 1 < cap && (k = read(fd, out + got, cap - 1 - got)) > 0) got += (size_t)k;
    out[got] = 0;
    close(fd);
    return (int)got;
}

static int status_of(const char *path, const char *extra, char *out, size_t cap) {
    char req[1024];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n", path,
             extra ? extra : "");
    if (roundtrip(req, out, cap) < 12) return -1;
    return atoi(out + 9);
}

static void *client(void *arg) {
    (void)arg;
    char buf[16384];
    static const struct { const char *path; int want; } cases[] = {
        {"/index.html", 200}, {"/", 200}, {"/docs/", 200}, {"/docs/range.txt", 200},
        {"/docs", 299},                              /* a directory: not a file */
        {"/nope.txt", 299},                          /* a miss goes on to Lua */
        {"/..", 404}, {"/../x", 404}, {"/docs/../index.html", 404}, {"/%2e%2e/x", 404},
        {"/%2E%2e/x", 404}, {"/docs/%2e%2e/index.html", 404}, {"/./index.html", 404},
        {"/docs/.", 404}, {"/index.html%00", 404}, {"/a%5cb", 404}, {"/%", 404},
        {"/%4", 404}, {"/%zz", 404}, {"/docs%2frange.txt", 200}, /* an encoded slash is checked after decoding */
        {"//index.html", 299}, {"/.hidden", 299}, {"/docs/range%2etxt", 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = status_of(cases[i].path, NULL, buf, sizeof buf);
        CHECK(st == cases[i].want, "GET %s -> %d (got %d)", cases[i].path, cases[i].want, st);
    }
    status_of("/assets/app.3f9a2c1b.js", NULL, buf, sizeof buf);
    CHECK(strstr(buf, "Cache-Control: public, max-age=31536000, immutable\r\n") != NULL, "hex hash is immutable");
    status_of("/assets/chunk-BxK3_9aZ.css", NULL, buf, sizeof buf);
    CHECK(strstr(buf, "immutable") != NULL, "base64url hash is immutable");
    status_of("/sw.js", NULL, buf, sizeof buf);
    CHECK(strstr(buf, "Cache-Control: no-cache\r\n") != NULL, "sw.js is no-cache");

    status_of("/docs/range.txt", NULL, buf, sizeof buf);
    char etag[80] = "";
    const char *e = strstr(buf, "ETag: ");
    if (e) sscanf(e + 6, "%79[^\r]", etag);
    char hdr[160];
    snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
    CHECK(status_of("/docs/range.txt", hdr, buf, sizeof buf) == 304, "If-None-Match -> 304");
    CHECK(status_of("/docs/range.txt", "If-None-Match: *\r\n", buf, sizeof buf) == 304, "If-None-Match: * -> 304");
    CHECK(status_of("/docs/range.txt", "If-Modified-Since: garbage\r\n", buf, sizeof buf) == 200,
          "a bad If-Modified-Since is ignored");
    CHECK(status_of("/docs/range.txt", "Range: bytes=0-0\r\n", buf, sizeof buf) == 206 &&
              strstr(buf, "Content-Range: bytes 0-0/36\r\n") && !strcmp(strstr(buf, "\r\n\r\n") + 4, "0"),
          "bytes=0-0 -> the first byte");
    CHECK(status_of("/docs/range.txt", "Range: bytes=99999999999999999999999-\r\n", buf, sizeof buf) == 200,
          "an overflowing range is ignored");
    CHECK(status_of("/docs/range.txt", "Range: bytes=-\r\n", buf, sizeof buf) == 200, "bytes=- is ignored");
    CHECK(status_of("/assets/app.3f9a2c1b.js", "Accept-Encoding: *\r\n", buf, sizeof buf) == 200 &&
              strstr(buf, "Content-Encoding: gzip\r\n"), "Accept-Encoding: * takes the .gz");
    CHECK(status_of("/assets/app.3f9a2c1b.js", "Accept-Encoding: gzip;q=0.000\r\n", buf, sizeof buf) == 200 &&
              !strstr(buf, "Content-Encoding"), "gzip;q=0.000 refuses it");
    CHECK(status_of("/docs/range.txt", "Accept-Encoding: gzip\r\n", buf, sizeof buf) == 200 &&
              !strstr(buf, "Vary:"), "no Vary for a file without siblings");
    uv_async_send(&done_async);
    return NULL;
}

static void on_closed(void *ud) { (void)ud; }
static http_server *srv;
static void on_done(uv_async_t *a) {
    http_server_close(srv, on_closed, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

int main(void) {
    http_static *st = http_static_open(MN_SOURCE_ROOT "/spec/fixtures/static");
    CHECK(st != NULL, "the fixture directory opens");
    CHECK(http_static_count(st) == 7, "7 files indexed (got %zu)", http_static_count(st));
    CHECK(http_static_open("/nonexistent/dir") == NULL, "a missing directory gives NULL");
    if (!st) return 1;
    uv_loop_t *loop = uv_default_loop();
    http_handler hd = {0};
    hd.on_request = on_request;
    hd.on_abort = on_abort;
    srv = http_server_create(loop, NULL, &hd);
    http_server_set_log(srv, no_log, NULL);
    http_server_set_static(srv, st);
    if (http_server_listen(srv, "127.0.0.1", 0) != 0) return 1;
    port = http_server_port(srv);
    uv_async_init(loop, &done_async, on_done);
    pthread_t t;
    pthread_create(&t, NULL, client, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    http_static_close(st);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
