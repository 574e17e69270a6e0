/* fetch.h — outbound HTTP: libcurl's multi-socket API driven by the libuv loop.
 *
 * One fetch_client per app (lua_fetch.c keeps it in APP_SLOT_FETCH): a CURLM
 * whose sockets are watched by uv_poll handles (one per socket) and whose
 * timeouts run on one uv_timer. Connections are kept alive and reused per
 * host, at most max_host_connections at once to one host (further requests
 * wait in curl's queue). Nothing here knows about Lua.
 *
 * Ownership and lifetime:
 *   - fetch_start() copies everything in fetch_options (url, method, headers,
 *     body); the caller's memory may go away when it returns.
 *   - A started request is owned by the client until it completes. Then
 *     done() is called exactly once, from inside a libuv callback (never from
 *     inside fetch_start); from that moment the caller owns the fetch_req and
 *     frees it with fetch_req_free(). done() may free it right away, but must
 *     not call fetch_start/fetch_cancel/fetch_client_destroy itself.
 *   - fetch_cancel() stops a request that has not completed: done() is never
 *     called for it and its memory is freed. Not valid after done().
 *   - fetch_client_destroy() cancels every request still running (without
 *     calling their done()), then closes its handles; the memory goes in the
 *     close callbacks.
 *
 * Loop thread only. Safe against curl closing a socket and reusing its fd
 * number for a new one: a socket's poll handle is closed as soon as curl
 * says CURL_POLL_REMOVE (which it does before closing the socket), and a
 * stale watcher still registered for a reused fd is closed first.
 */
#ifndef MN_FETCH_H
#define MN_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct fetch_client fetch_client;
typedef struct fetch_req fetch_req;

#define FETCH_DEFAULT_MAX_HOST_CONNECTIONS 10
#define FETCH_DEFAULT_CONNECT_TIMEOUT_MS 2000
#define FETCH_DEFAULT_TOTAL_TIMEOUT_MS 10000
#define FETCH_DEFAULT_MAX_SIZE (10u << 20)
#define FETCH_DEFAULT_MAX_REDIRECTS 5

typedef struct fetch_options {
    const char *url;             /* http:// or https:// only */
    const char *method;          /* NULL = GET */
    const char *const *headers;  /* "Name: value" lines */
    int nheaders;
    const char *body;            /* may be NULL; binary safe */
    size_t body_len;
    long connect_timeout_ms;     /* 0 = default */
    long total_timeout_ms;       /* 0 = default */
    size_t max_size;             /* response body limit, 0 = default */
    int follow;                  /* follow redirects */
    int max_redirects;           /* when following; 0 = default */
    int public_only;             /* refuse loopback and private addresses too */
} fetch_options;

/* What an address is, for outbound requests (see fetch_addr_class). */
typedef enum {
    FETCH_ADDR_PUBLIC = 0,
    FETCH_ADDR_PRIVATE,     /* loopback, RFC 1918, CGNAT, ULA, unspecified */
    FETCH_ADDR_FORBIDDEN    /* link-local (cloud metadata), multicast, reserved */
} fetch_addr_class_t;

/* The class of sa (AF_INET or AF_INET6; IPv4-mapped and NAT64 addresses
 * are judged by the IPv4 address inside). Every request refuses
 * FORBIDDEN addresses; a public_only one refuses PRIVATE ones too. The
 * check runs on the address curl is about to connect to (after DNS, for
 * every address tried and every redirect), and again on a kept-alive
 * connection before it is reused, so a name that resolves to
 * 169.254.169.254 (DNS rebinding) is refused like the literal. With a proxy
 * (curl honours http_proxy/https_proxy) the proxy's address is what is
 * judged. */
fetch_addr_class_t fetch_addr_class(const struct sockaddr *sa);
/* The same for a textual address ("169.254.169.254", "::1"); PUBLIC when
 * the text is not an address. */
fetch_addr_class_t fetch_addr_class_str(const char *ip);

/* How a request ended. */
typedef enum {
    FETCH_OK = 0,           /* a response came (any status code) */
    FETCH_ETIMEOUT,         /* connect or total timeout */
    FETCH_ECONNECT,         /* could not connect (refused, unreachable) */
    FETCH_ERESOLVE,         /* host name did not resolve */
    FETCH_ETOOLARGE,        /* the body went over max_size */
    FETCH_EREDIRECTS,       /* more redirects than max_redirects */
    FETCH_ETLS,             /* TLS handshake or certificate verification */
    FETCH_EBLOCKED,         /* every address was refused (see fetch_addr_class) */
    FETCH_EOTHER            /* anything else: see fetch_req_error() */
} fetch_result;

typedef void (*fetch_done_fn)(fetch_req *r, void *ud);

/* NULL on allocation failure. */
fetch_client *fetch_client_create(uv_loop_t *loop, long max_host_connections);
void fetch_client_set_max_host_connections(fetch_client *c, long n);
long fetch_client_max_host_connections(const fetch_client *c);
void fetch_client_destroy(fetch_client *c);

/* Start a request. Returns 0 with *out set, or -EINVAL (bad option: *why
 * says which) or -ENOMEM. */
int fetch_start(fetch_client *c, const fetch_options *o, fetch_done_fn done, void *ud,
                fetch_req **out, const char **why);
void fetch_cancel(fetch_req *r);
void fetch_req_free(fetch_req *r);

/* Results, valid after done() until fetch_req_free(). */
fetch_result fetch_req_result(const fetch_req *r);
const char *fetch_req_error(const fetch_req *r);       /* curl's message, "" if none */
long fetch_req_status(const fetch_req *r);             /* HTTP status, 0 if none */
long fetch_req_os_errno(const fetch_req *r);           /* errno of a failed connect, else 0 */
const char *fetch_req_body(const fetch_req *r, size_t *len);
/* The last response's header lines ("Name: value\r\n"..., no status line). */
const char *fetch_req_headers(const fetch_req *r, size_t *len);
long fetch_req_new_connections(const fetch_req *r);    /* 0 = a kept-alive one was reused */
long fetch_req_redirects(const fetch_req *r);
const char *fetch_req_effective_url(const fetch_req *r);
/* The address refused (FETCH_EBLOCKED), "" if none. */
const char *fetch_req_blocked_addr(const fetch_req *r);
double fetch_req_duration(const fetch_req *r);         /* seconds, start to done */

#endif
