/* test_fetch_client.c — fetch.c without Lua: a loopback libuv server, the
 * fetch_client on the same loop. Checks a plain GET, 200 requests whose
 * server closes every connection (curl opens a socket per request, so fd
 * numbers are reused under the uv_poll handles), cancellation of a pending
 * request, destroying the client with requests in flight, and the address
 * classes outbound requests are judged by. The loop
 * must end with no handle left open (everything closed, nothing leaked). */
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond, name)                                                   \
    do {                                                                    \
        if (cond) printf("ok   %s\n", name);                                \
        else { printf("FAIL %s (%s:%d)\n", name, __FILE__, __LINE__); failures++; } \
    } while (0)

/* ---- a tiny server: answers each request, or hangs ------------------------ */

typedef struct srv_conn {
    uv_tcp_t h;
    char buf[8192];
    size_t len;
    struct srv_conn *next;
    int closed;
} srv_conn;

static uv_loop_t *loop;
static uv_tcp_t server;
static int port;
static int hang;                 /* 1: read requests but never answer */
static int served, accepted;
static srv_conn *conns;

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\nX-Test: yes\r\n\r\nhello";

static void conn_closed(uv_handle_t *h) { ((srv_conn *)h->data)->closed = 2; }
static void conn_close(srv_conn *c) {
    if (c->closed) return;
    c->closed = 1;
    uv_close((uv_handle_t *)&c->h, conn_closed);
}
static void on_written(uv_write_t *w, int status) {
    (void)status;
    conn_close(w->data);
    free(w);
}
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)hint;
    srv_conn *c = h->data;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len - 1));
}
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    (void)b;
    srv_conn *c = s->data;
    if (n < 0) { conn_close(c); return; }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    if (!strstr(c->buf, "\r\n\r\n") || hang) return;
    uv_read_stop(s);
    served++;
    uv_write_t *w = malloc(sizeof *w);
    w->data = c;
    uv_buf_t out = uv_buf_init((char *)RESPONSE, sizeof RESPONSE - 1);
    uv_write(w, s, &out, 1, on_written);
}
static void on_connection(uv_stream_t *s, int status) {
    if (status < 0) return;
    srv_conn *c = calloc(1, sizeof *c);
    uv_tcp_init(loop, &c->h);
    c->h.data = c;
    c->next = conns;
    conns = c;
    if (uv_accept(s, (uv_stream_t *)&c->h) == 0) {
        accepted++;
        uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read);
    } else conn_close(c);
}
static void server_start(void) {
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &server);
    uv_tcp_bind(&server, (const struct sockaddr *)&a, 0);
    uv_listen((uv_stream_t *)&server, 128, on_connection);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&server, (struct sockaddr *)&got, &len);
    port = ntohs(got.sin_port);
}
static void server_stop(void) {
    for (srv_conn *c = conns; c; c = c->next) conn_close(c);
    uv_close((uv_handle_t *)&server, NULL);
}
static void conns_free(void) {
    while (conns) { srv_conn *n = conns->next; free(conns); conns = n; }
}

/* ---- the client side ------------------------------------------------------ */

static fetch_client *client;
static char url[128];
static int done_count, ok_count, remaining, stray_done;
static long last_status;
static char last_body[64], last_headers[512];

static void start_one(void);

static void on_done(fetch_req *r, void *ud) {
    (void)ud;
    done_count++;
    if (fetch_req_result(r) == FETCH_OK) ok_count++;
    last_status = fetch_req_status(r);
    size_t n;
    const char *p = fetch_req_body(r, &n);
    snprintf(last_body, sizeof last_body, "%.*s", (int)n, p);
    p = fetch_req_headers(r, &n);
    snprintf(last_headers, sizeof last_headers, "%.*s", (int)n, p);
    fetch_req_free(r);
    if (--remaining > 0) start_one();
    else { server_stop(); fetch_client_destroy(client); }
}

static void on_stray_done(fetch_req *r, void *ud) { (void)ud; stray_done++; fetch_req_free(r); }

static void start_one(void) {
    fetch_options o = {0};
    o.url = url;
    fetch_req *r;
    if (fetch_start(client, &o, on_done, NULL, &r, NULL) != 0) { printf("FAIL fetch_start\n"); exit(1); }
}

static int run_sequential(int n) {
    done_count = ok_count = 0;
    remaining = n;
    start_one();
    return uv_run(loop, UV_RUN_DEFAULT);
}

/* cancel (or destroy) after the server has seen the request */
static fetch_req *pending[4];
static int use_destroy;
static void on_later(uv_timer_t *t) {
    if (accepted < 4) return;       /* not yet: poll again */
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    if (use_destroy) fetch_client_destroy(client);
    else {
        for (int i = 0; i < 4; i++) fetch_cancel(pending[i]);
        fetch_client_destroy(client);
    }
    server_stop();
}

static int run_abandon(int destroy) {
    uv_timer_t t;
    stray_done = 0;
    accepted = 0;
    use_destroy = destroy;
    for (int i = 0; i < 4; i++) {
        fetch_options o = {0};
        o.url = url;
        o.total_timeout_ms = 5000;
        if (fetch_start(client, &o, on_stray_done, NULL, &pending[i], NULL) != 0) return -1;
    }
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_later, 5, 5);
    return uv_run(loop, UV_RUN_DEFAULT);
}

/* The address classes every outbound request is judged by. */
static void test_addr_class(void) {
    static const struct { const char *ip; fetch_addr_class_t want; } cases[] = {
        {"169.254.169.254", FETCH_ADDR_FORBIDDEN}, {"169.254.0.1", FETCH_ADDR_FORBIDDEN},
        {"100.100.100.200", FETCH_ADDR_FORBIDDEN}, {"192.0.0.192", FETCH_ADDR_FORBIDDEN},
        {"224.0.0.1", FETCH_ADDR_FORBIDDEN}, {"255.255.255.255", FETCH_ADDR_FORBIDDEN},
        {"fd00:ec2::254", FETCH_ADDR_FORBIDDEN}, {"fe80::1", FETCH_ADDR_FORBIDDEN},
        {"ff02::1", FETCH_ADDR_FORBIDDEN}, {"::ffff:169.254.169.254", FETCH_ADDR_FORBIDDEN},
        {"64:ff9b::a9fe:a9fe", FETCH_ADDR_FORBIDDEN}, {"::169.254.169.254", FETCH_ADDR_FORBIDDEN},
        {"127.0.0.1", FETCH_ADDR_PRIVATE}, {"127.8.9.10", FETCH_ADDR_PRIVATE},
        {"0.0.0.0", FETCH_ADDR_PRIVATE}, {"10.0.0.1", FETCH_ADDR_PRIVATE},
        {"172.16.0.1", FETCH_ADDR_PRIVATE}, {"172.31.255.255", FETCH_ADDR_PRIVATE},
        {"192.168.1.1", FETCH_ADDR_PRIVATE}, {"100.64.0.1", FETCH_ADDR_PRIVATE},
        {"::1", FETCH_ADDR_PRIVATE}, {"::", FETCH_ADDR_PRIVATE}, {"fd12:3456::1", FETCH_ADDR_PRIVATE},
        {"::ffff:10.1.2.3", FETCH_ADDR_PRIVATE}, {"fd00:ec2::253", FETCH_ADDR_PRIVATE},
        {"8.8.8.8", FETCH_ADDR_PUBLIC}, {"172.32.0.1", FETCH_ADDR_PUBLIC},
        {"100.128.0.1", FETCH_ADDR_PUBLIC}, {"169.253.1.1", FETCH_ADDR_PUBLIC},
        {"2606:4700::1111", FETCH_ADDR_PUBLIC}, {"not an address", FETCH_ADDR_PUBLIC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "address class of %s", cases[i].ip);
        CHECK(fetch_addr_class_str(cases[i].ip) == cases[i].want, name);
    }
}

int main(void) {
    loop = uv_default_loop();
    test_addr_class();

    server_start();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    client = fetch_client_create(loop, 10);
    int alive = run_sequential(1);
    CHECK(alive == 0, "loop ends with every handle closed after a GET");
    CHECK(ok_count == 1 && last_status == 200, "GET completes with status 200");
    CHECK(strcmp(last_body, "hello") == 0, "body is delivered");
    CHECK(strstr(last_headers, "X-Test: yes") != NULL, "response headers are collected");
    CHECK(strstr(last_headers, "HTTP/") == NULL, "no status line among the headers");
    conns_free();

    server_start();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    client = fetch_client_create(loop, 10);
    served = 0;
    alive = run_sequential(200);
    CHECK(alive == 0 && ok_count == 200, "200 requests on closed-and-reopened sockets all complete");
    CHECK(served == 200, "the server answered 200 requests");
    conns_free();

    hang = 1;
    server_start();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    client = fetch_client_create(loop, 10);
    alive = run_abandon(0);
    CHECK(alive == 0 && stray_done == 0, "cancelled requests never call done, nothing stays open");
    conns_free();

    server_start();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    client = fetch_client_create(loop, 10);
    alive = run_abandon(1);
    CHECK(alive == 0 && stray_done == 0, "destroying the client cancels requests in flight");
    conns_free();

    fetch_options bad = {0};
    fetch_req *r;
    const char *why = NULL;
    client = fetch_client_create(loop, 10);
    bad.url = "file:///etc/passwd";
    CHECK(fetch_start(client, &bad, on_stray_done, NULL, &r, &why) < 0, "file:// is refused");
    bad.url = "http://127.0.0.1:1/";
    bad.method = "GET /x HTTP/1.1\r\n";
    CHECK(fetch_start(client, &bad, on_stray_done, NULL, &r, &why) < 0, "a method with spaces is refused");
    bad.method = NULL;
    const char *hs[] = {"X-A: a\r\nX-B: b"};
    bad.headers = hs;
    bad.nheaders = 1;
    CHECK(fetch_start(client, &bad, on_stray_done, NULL, &r, &why) < 0, "a header with CRLF is refused");
    fetch_client_destroy(client);
    CHECK(uv_run(loop, UV_RUN_DEFAULT) == 0, "an unused client closes cleanly");

    uv_loop_close(loop);
    return failures ? 1 : 0;
}
