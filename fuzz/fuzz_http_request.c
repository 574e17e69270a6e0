/* fuzz_http_request.c — libFuzzer target for the request path.
 *
 * Each input is written, as one client, over a real loopback TCP connection
 * to a real http_server (llhttp parsing, limits, pipelining, 100-continue,
 * static files from spec/fixtures/static, gzip, chunked streaming), then the
 * client half-closes and reads until the server closes. The handler answers
 * by path so that every response kind is exercised: "/stream" streams
 * chunks, "/big" sends a gzip-able body, others echo the body back. Body
 * limits are small for "/small" to reach the 413 path, and 0 for "/nobody"
 * (a body refused before it is read). One loop and one
 * server live for the whole run; nothing leaks between inputs but the
 * server's request-id counter.
 */
#include "http_server.h"
#include "http_static.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uv_loop_t loop;
static http_server *srv;
static int port;
static http_request *aborted;   /* the last request the server aborted */

static void on_request(http_request *r, void *ud) {
    (void)ud;
    size_t pl, bl;
    const char *path = http_request_path(r, &pl);
    const char *body = http_request_body(r, &bl);
    static char big[4096];
    if (!big[0]) memset(big, 'a', sizeof big);
    if (pl >= 7 && !memcmp(path, "/stream", 7)) {
        /* as the API says: once on_abort ran for r, r is gone */
        aborted = NULL;
        int rc = http_response_begin(r, 200, "X-A: b\r\n", 8, "text/plain");
        if (rc == 0 && aborted != r) rc = (int)http_response_write(r, "hello", 5) < 0 ? -1 : 0;
        if (rc == 0 && aborted != r) http_response_write(r, body ? body : "", bl);
        if (aborted != r) http_response_end(r);
    } else if (pl >= 4 && !memcmp(path, "/big", 4)) {
        http_response_send(r, 200, NULL, 0, "text/plain", big, sizeof big, 0);
    } else {
        http_response_send(r, 200, NULL, 0, "application/octet-stream", body ? body : "", body ? bl : 0,
                           0);
    }
}

static void on_abort(http_request *r, void *ud) { (void)ud; aborted = r; }

static size_t body_limit(http_request *r, void *ud) {
    (void)ud;
    size_t pl;
    const char *path = http_request_path(r, &pl);
    if (pl >= 7 && !memcmp(path, "/nobody", 7)) return 0;   /* refused before it is read */
    return pl >= 6 && !memcmp(path, "/small", 6) ? 16 : 65536;
}

static void drop_log(const char *line, size_t n, void *ud) { (void)line; (void)n; (void)ud; }

/* ---- one client per input ------------------------------------------------ */

typedef struct client {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t w;
    uv_shutdown_t sh;
    uv_buf_t data;
    int done;
} client;

static char rbuf[65536];

static void on_client_closed(uv_handle_t *h) { ((client *)h->data)->done = 1; }

static void c_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)h; (void)hint;
    *b = uv_buf_init(rbuf, sizeof rbuf);
}

static void c_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    (void)b;
    if (n < 0 && !uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_client_closed);
}

static void c_shutdown(uv_shutdown_t *r, int status) { (void)r; (void)status; }

static void c_written(uv_write_t *w, int status) {
    client *c = w->data;
    if (status == 0) uv_shutdown(&c->sh, (uv_stream_t *)&c->tcp, c_shutdown);
}

static void c_connected(uv_connect_t *r, int status) {
    client *c = r->data;
    if (status < 0) { uv_close((uv_handle_t *)&c->tcp, on_client_closed); return; }
    uv_read_start((uv_stream_t *)&c->tcp, c_alloc, c_read);
    c->w.data = c;
    if (uv_write(&c->w, (uv_stream_t *)&c->tcp, &c->data, 1, c_written) != 0)
        uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void setup(void) {
    uv_loop_init(&loop);
    http_limits lim;
    http_limits_default(&lim);
    lim.max_header_bytes = 2048;      /* reach 431 with small inputs */
    lim.max_body_bytes = 4096;
    lim.header_timeout_ms = 2000;
    lim.idle_timeout_ms = 2000;
    http_handler hd = {0};
    hd.on_request = on_request;
    hd.on_abort = on_abort;
    hd.body_limit = body_limit;
    srv = http_server_create(&loop, &lim, &hd);
    http_server_set_log(srv, drop_log, NULL);
    http_server_set_headers(srv, "X-Content-Type-Options: nosniff\r\n");
    http_static *st = http_static_open(MN_SOURCE_ROOT "/spec/fixtures/static");
    if (st) http_server_set_static(srv, st);   /* lives as long as the process */
    if (http_server_listen(srv, "127.0.0.1", 0) != 0) abort();
    port = http_server_port(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!srv) setup();
    client c;
    memset(&c, 0, sizeof c);
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    c.data = uv_buf_init(copy, (unsigned)size);
    uv_tcp_init(&loop, &c.tcp);
    c.tcp.data = &c;
    c.conn.data = &c;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    if (uv_tcp_connect(&c.conn, &c.tcp, (struct sockaddr *)&addr, c_connected) != 0) abort();
    while (!c.done) uv_run(&loop, UV_RUN_ONCE);
    /* let the server finish closing its side before the next input */
    while (http_server_connections(srv) > 0) uv_run(&loop, UV_RUN_ONCE);
    free(copy);
    return 0;
}
