/* http_server.h — the HTTP/1.1 server: listener, connections, parsing with
 * llhttp, limits, timeouts, keep-alive, pipelining, response writing, gzip,
 * the security headers and the access log.
 *
 * Ownership: the server owns its connections and their requests. A request
 * handed to handler.on_request() stays valid until the handler answers it
 * (http_response_send / http_response_end) or until handler.on_abort() for it
 * returns — after either, the pointer must not be used. Requests on one
 * connection are handed over one at a time, in order (pipelining).
 */
#ifndef MN_HTTP_SERVER_H
#define MN_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_server http_server;
typedef struct http_request http_request;
typedef struct http_static http_static;

typedef struct http_limits {
    size_t max_header_bytes;     /* request line + headers: 16 KiB -> 431 */
    size_t max_body_bytes;       /* ceiling of any body limit: 10 MiB -> 413 */
    size_t max_body_inflight;    /* all bodies being read or handled: 256 MiB -> 503 */
    unsigned header_timeout_ms;  /* first byte to end of headers: 10 s -> 408 */
    unsigned idle_timeout_ms;    /* keep-alive idle: 60 s -> close */
    unsigned max_connections;    /* over it: 503 and close */
    unsigned max_connections_per_ip; /* one address (IPv6: /64) over it: 429 and close; 0 = no cap */
    unsigned send_timeout_ms;    /* over a mark (answers queued over write_high_water,
                                    or unparsed requests over the input mark) with
                                    nothing moving for this long: close (60 s) */
    size_t gzip_min_bytes;       /* compress dynamic bodies from this size */
    size_t write_high_water;     /* stop reading and parsing while more is queued to write */
    double slow_request_s;       /* access log: warn as slow_request above it */
    int access_log;              /* write one JSON line per request */
} http_limits;

void http_limits_default(http_limits *l);

typedef struct http_handler {
    void (*on_request)(http_request *r, void *ud);
    void (*on_abort)(http_request *r, void *ud);
    /* The most body bytes r may carry, asked once its headers are in and
     * only when a body follows them: 0 refuses any body (413 before a byte
     * of it is read). Capped by max_body_bytes. NULL: max_body_bytes for
     * every request. */
    size_t (*body_limit)(http_request *r, void *ud);
    void *ud;
    /* Optional: r was answered (after the access log line, before r is
     * freed); status as sent, seconds since its first byte. Not called for
     * requests aborted by a closing connection. The metrics use it. */
    void (*on_finished)(http_request *r, int status, double seconds, void *ud);
    /* Optional: whether a GET/HEAD r tries the static files (if any) before
     * on_request. NULL: every GET/HEAD does. */
    int (*static_first)(http_request *r, void *ud);
} http_handler;

http_server *http_server_create(uv_loop_t *loop, const http_limits *lim,
                                const http_handler *h);
/* Listen on host:port (port 0 picks a free one). 0 or a UV_E* code. */
int http_server_listen(http_server *s, const char *host, int port);
int http_server_port(http_server *s);
/* Extra headers sent on every response ("Name: value\r\n" lines): the
 * security headers. Copied. */
void http_server_set_headers(http_server *s, const char *block);
/* Peers never held to max_connections_per_ip: trusted reverse proxies,
 * which carry many clients on one address (exact addresses or CIDR blocks).
 * Copied. Returns how many entries did not parse. */
int http_server_set_uncapped_peers(http_server *s, const char *const *nets, size_t n);
/* Static files tried for GET/HEAD before on_request (see static_first). Not owned. */
void http_server_set_static(http_server *s, http_static *st);
/* Where access log lines go (default stderr). Not owned. */
void http_server_set_log(http_server *s, void (*write)(const char *line, size_t n, void *ud), void *ud);
void http_server_stop_accepting(http_server *s);
/* Requests being handled right now. */
int http_server_inflight(http_server *s);
/* Connections open right now, upgraded (WebSocket) ones included. */
int http_server_connections(http_server *s);
/* Body bytes reserved right now (in-flight budget, max_body_inflight). */
size_t http_server_body_inflight(http_server *s);
/* Close the listener and every connection (in-flight requests are aborted),
 * then call cb; the server is freed after it. */
void http_server_close(http_server *s, void (*cb)(void *ud), void *ud);

/* Request accessors. Strings are not NUL-terminated unless said. */
const char *http_request_method(http_request *r);          /* NUL-terminated */
const char *http_request_target(http_request *r, size_t *n); /* path?query as sent */
const char *http_request_path(http_request *r, size_t *n);   /* before '?' */
const char *http_request_query(http_request *r, size_t *n);  /* after '?', or NULL */
size_t http_request_header_count(http_request *r);
void http_request_header_at(http_request *r, size_t i, const char **name, size_t *nl,
                            const char **value, size_t *vl);
/* Case-insensitive lookup; NULL when absent. */
const char *http_request_header(http_request *r, const char *name, size_t *vl);
const char *http_request_body(http_request *r, size_t *n);
const char *http_request_id(http_request *r);              /* NUL-terminated */
const char *http_request_ip(http_request *r);              /* NUL-terminated */
int http_request_http_minor(http_request *r);
int http_request_is_head(http_request *r);
uint64_t http_request_start_ns(http_request *r);
/* For the access log and metrics: the route pattern, the user id and the
 * client's address when it is not the TCP peer's (X-Forwarded-For from a
 * trusted proxy, resolved in Lua); NULL leaves a field as it is. Copied. */
void http_request_set_meta(http_request *r, const char *route, const char *user, const char *client_ip);
/* The route set above; "static" for a file the server answered itself
 * before on_request; NULL when neither (no route matched). */
const char *http_request_route(http_request *r);
void *http_request_userdata(http_request *r);
void http_request_set_userdata(http_request *r, void *p);

/* Answer r in one go. `headers` is a block of "Name: value\r\n" lines
 * (validated by the caller); content_type may be NULL. Content-Length,
 * Date, X-Request-Id, the security headers, Connection and gzip are added
 * here. flags: HTTP_RESP_NO_GZIP. Returns 0, or a negative code if the
 * connection is gone (r is then freed all the same). */
#define HTTP_RESP_NO_GZIP 1
#define HTTP_RESP_NO_BODY 2     /* HEAD-like: Content-Length of body, no body */
int http_response_send(http_request *r, int status, const char *headers, size_t hlen,
                       const char *content_type, const char *body, size_t blen,
                       int flags);

/* Streaming: begin a chunked response, write chunks, end it. write returns
 * the bytes queued on the connection (callers yield while it is above the
 * high-water mark, see http_response_on_drain) or a negative code. */
int http_response_begin(http_request *r, int status, const char *headers, size_t hlen,
                        const char *content_type);
long http_response_write(http_request *r, const char *data, size_t n);
int http_response_end(http_request *r);
/* Call cb once the connection's write queue fell under the high-water mark
 * (or the connection is gone, status < 0). One waiter per request. */
void http_response_on_drain(http_request *r, void (*cb)(http_request *r, int status, void *ud), void *ud);
size_t http_server_high_water(http_request *r);

/* Protocol upgrade (WebSocket): answer r with "101 Switching Protocols"
 * plus `headers` ("Name: value\r\n" lines) and hand the socket over. The
 * taker gets a new uv_tcp_t (its own from then on: it must uv_close it and
 * free() it in the close callback) with the 101 already queued on it, the
 * bytes read past the request (valid during the call only), and `held`: the
 * connection still counts against max_connections and its address's cap
 * until the taker calls http_held_release(held) once, when the socket is
 * closed (safe after the server is gone). The HTTP connection is closed
 * without closing the socket, and r is freed, whatever the outcome. 0, or a
 * UV_E* code (on_taken is then not called; UV_EBUSY when earlier responses
 * are still being written). */
typedef struct http_held http_held;
int http_request_upgrade(http_request *r, const char *headers, size_t hlen,
                         void (*on_taken)(uv_tcp_t *tcp, http_held *held,
                                          const char *buffered, size_t n, void *ud),
                         void *ud);
void http_held_release(http_held *held);

const char *http_status_reason(int status);

#endif
