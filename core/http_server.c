/* http_server.c — HTTP/1.1 connections on libuv, parsed by llhttp.
 *
 * Each connection reads into its own input buffer (libuv's alloc callback
 * hands out the free tail of it, so bytes are never copied on the way in)
 * and parses from there; parsed bytes are skipped by an offset and slid
 * out only when the tail runs short, so a pipelined backlog is not moved
 * once per request. A complete request pauses the parser; it is handed to
 * the handler and the connection parses nothing more until it has been
 * answered, so pipelined requests are answered in order.
 *
 * Every byte a client can make us hold is bounded: the input buffer has a
 * hard cap and reading stops while unparsed requests fill it (with
 * hysteresis), parsing stops while answers queued for writing are above
 * the high-water mark (a client that pipelines and never reads), and one
 * that stays over either mark with nothing moving for send_timeout is
 * closed.
 * Bodies are refused before they are read unless the handler's body_limit
 * admits them, and all bodies in flight share one global budget. One timer
 * per connection enforces the header and idle timeouts, another the stall
 * (send) timeout; a per-address cap (http_peers) keeps one client from taking
 * every connection slot.
 */
#include "http_server.h"
#include "access_log.h"
#include "http_peers.h"
#include "http_static.h"
#include "json_out.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK 65536

typedef struct hdr { uint32_t no, nl, vo, vl; } hdr;
typedef struct http_conn http_conn;

struct http_request {
    http_conn *c;
    char *buf; size_t len, cap;          /* target, then header names and values */
    uint32_t target_len;
    hdr *hdrs; size_t nhdrs, hcap;
    char *body; size_t body_len, body_cap, body_limit;
    size_t body_reserved;                /* of the server's in-flight body budget */
    const char *method;
    int http_minor, keep_alive, head, responded, streaming, field_started;
    uint64_t start_ns;
    char id[65];
    char *route, *user;
    char *client_ip;                     /* set_meta: the client behind a trusted proxy */
    void *ud;
    int status;
    size_t bytes_out;
    void (*drain_cb)(http_request *r, int status, void *ud);
    void *drain_ud;
    int from_static;                     /* answered by http_static_serve in dispatch */
    int answering;                       /* its last bytes are being queued: no on_abort */
};

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_timer_t stall_timer;   /* runs while the connection is over a mark */
    http_server *s;
    llhttp_t parser;
    http_request *req;        /* being parsed or being handled */
    char *in; size_t in_off, in_len, in_cap;   /* unparsed: in[in_off..in_len) */
    int handling;             /* req is with the handler */
    int in_process;           /* inside conn_process: no re-entry */
    int closing, reading, close_after, err_status, stalled;
    size_t queued_mark, held_mark;   /* write queue and unparsed input when the stall timer was armed */
    const char *err_message;  /* for err_status, when the reason's phrase is not enough */
    http_peer_slot *peer;     /* this address's count (NULL: not counted) */
    /* strict parsing (llhttp 8 is lenient where nginx is not): the bytes
     * llhttp_execute is looking at, where the last header span ended in
     * them, a line break seen since, and the CRLF owed after chunk data */
    const char *exec_start, *exec_end, *span_end;
    int lf_pending, crlf_due;
    int handles_open;
    uv_shutdown_t shutdown;
    char ip[64];
    http_conn *prev, *next;
};

/* An upgraded connection keeps its place in max_connections and in its
 * address's count until the taker says the socket is closed: otherwise one
 * address could hold any number of WebSocket connections. */
struct http_held { http_server *s; http_peer_slot *peer; http_held *prev, *next; };

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int listening, closing;
    http_limits lim;
    http_handler h;
    llhttp_settings_t settings;
    char *extra_headers; size_t extra_len;
    http_static *statics;
    void (*log_write)(const char *line, size_t n, void *ud);
    void *log_ud;
    http_conn *conns;
    int nconns, inflight;
    size_t body_inflight;     /* bytes reserved by bodies being read or handled */
    http_peers *peers;
    int conns_closing;        /* closed connections whose handles are not yet */
    http_held *held;          /* upgraded connections still counted */
    int nheld;
    void (*close_cb)(void *ud);
    void *close_ud;
    char date[40]; time_t date_at;
    char id_prefix[17];
    uint64_t id_counter;
};

static void conn_close(http_conn *c);
static void conn_close_after_flush(http_conn *c);
static void server_maybe_done(http_server *s);
static void conn_process(http_conn *c);
static void conn_arm_timer(http_conn *c, unsigned ms);
static void request_free(http_request *r);

void http_limits_default(http_limits *l) {
    l->max_header_bytes = 16 * 1024;
    l->max_body_bytes = 10 * 1024 * 1024;
    l->header_timeout_ms = 10000;
    l->idle_timeout_ms = 60000;
    l->max_connections = 10000;
    l->max_connections_per_ip = 256;
    l->max_body_inflight = 256 * 1024 * 1024;
    l->send_timeout_ms = 60000;
    l->gzip_min_bytes = 1024;
    l->write_high_water = 1024 * 1024;
    l->slow_request_s = 1.0;
    l->access_log = 1;
}

/* ---- status reasons ---------------------------------------------------- */

const char *http_status_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void) { return uv_hrtime(); }

static const char *date_header(http_server *s) {
    time_t t = time(NULL);
    if (t != s->date_at) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_at = t;
    }
    return s->date;
}

static int id_is_sane(const char *v, size_t n) {
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

static void request_assign_id(http_request *r) {
    size_t n;
    const char *v = http_request_header(r, "x-request-id", &n);
    if (v && id_is_sane(v, n)) {
        memcpy(r->id, v, n);
        r->id[n] = 0;
        return;
    }
    http_server *s = r->c->s;
    snprintf(r->id, sizeof r->id, "%s%012llx", s->id_prefix,
             (unsigned long long)++s->id_counter);
}

/* Append to a growable buffer bounded by max; -1 when it would pass max. */
static int buf_append(char **b, size_t *len, size_t *cap, const char *p, size_t n, size_t max) {
    if (*len + n > max) return -1;
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        while (nc < *len + n) nc *= 2;
        if (nc > max) nc = max;
        char *nb = realloc(*b, nc);
        if (!nb) return -1;
        *b = nb;
        *cap = nc;
    }
    memcpy(*b + *len, p, n);
    *len += n;
    return 0;
}

/* ---- access log --------------------------------------------------------- */

static void access_log(http_request *r) {
    http_server *s = r->c->s;
    if (!s->lim.access_log || !s->log_write) return;
    uint64_t ns = now_ns() - r->start_ns;
    access_entry e = { r->method, r->route, 0, r->status, ns, r->bytes_out, r->id, r->user,
                       r->client_ip ? r->client_ip : r->c->ip,
                       (double)ns / 1e9 > s->lim.slow_request_s };
    if (r->route) e.route_len = strlen(r->route);
    else e.route = http_request_path(r, &e.route_len);
    char line[ACCESS_LOG_LINE_MAX];
    s->log_write(line, access_log_format(line, &e), s->log_ud);
}

static void log_to_stderr(const char *line, size_t n, void *ud) {
    (void)ud;
    fwrite(line, 1, n, stderr);
}

/* ---- writing ------------------------------------------------------------ */

typedef struct wreq { uv_write_t w; http_conn *c; char *data; } wreq;

static void maybe_resume_reading(http_conn *c);

static size_t write_queued(http_conn *c) { return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp); }
static int write_blocked(http_conn *c) { return write_queued(c) >= c->s->lim.write_high_water; }

static size_t unparsed(http_conn *c);
static size_t input_high_water(http_server *s);

/* Over a mark: answers queued over write_high_water (a client that does
 * not read), or unparsed requests held over the input mark. */
static int over_marks(http_conn *c) {
    return write_blocked(c) || unparsed(c) >= input_high_water(c->s);
}

static void arm_stall_timer(http_conn *c);

/* Over a mark for send_timeout with nothing moving: close, dropping what
 * is queued. A client that took part of a large write meanwhile (the queue
 * shrank), or whose held requests are being answered (the input shrank),
 * is slow, not stuck: it gets another send_timeout. */
static void on_stall_timeout(uv_timer_t *t) {
    http_conn *c = t->data;
    if (!over_marks(c)) { c->stalled = 0; return; }
    if (write_queued(c) < c->queued_mark || unparsed(c) < c->held_mark) { arm_stall_timer(c); return; }
    conn_close(c);
}

static void arm_stall_timer(http_conn *c) {
    c->queued_mark = write_queued(c);
    c->held_mark = unparsed(c);
    uv_timer_start(&c->stall_timer, on_stall_timeout, c->s->lim.send_timeout_ms, 0);
}

/* The stall timer runs while the connection is over a mark; progress (a
 * write completed) starts it over, as nginx's send_timeout does. */
static void watch_stall(http_conn *c, int progress) {
    if (c->closing) return;
    if (!over_marks(c)) {
        if (c->stalled) uv_timer_stop(&c->stall_timer);
        c->stalled = 0;
    } else if (!c->stalled || progress) {
        c->stalled = 1;
        arm_stall_timer(c);
    }
}

static void on_write(uv_write_t *w, int status) {
    wreq *wr = (wreq *)w;
    http_conn *c = wr->c;
    free(wr->data);
    free(wr);
    if (status < 0) { conn_close(c); return; }
    if (c->closing) return;
    watch_stall(c, 1);
    http_request *r = c->req;
    if (r && r->drain_cb && !write_blocked(c)) {
        void (*cb)(http_request *, int, void *) = r->drain_cb;
        r->drain_cb = NULL;
        cb(r, 0, r->drain_ud);
        if (c->closing) return;
    }
    maybe_resume_reading(c);
    /* requests held back while the client was not taking its answers */
    if (!c->handling && !c->in_process && !write_blocked(c)) {
        conn_process(c);
        maybe_resume_reading(c);
    }
}

/* Queue data (ownership passes here) on the connection. */
static int conn_write(http_conn *c, char *data, size_t n) {
    if (c->closing) { free(data); return UV_ECANCELED; }
    wreq *wr = malloc(sizeof *wr);
    if (!wr) { free(data); return UV_ENOMEM; }
    wr->c = c;
    wr->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)n);
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) { free(data); free(wr); conn_close(c); return rc; }
    watch_stall(c, 0);
    return rc;
}

static int compressible(const char *ct) {
    if (!ct) return 0;
    return !strncmp(ct, "text/", 5) || strstr(ct, "json") || strstr(ct, "javascript") ||
           strstr(ct, "xml") || strstr(ct, "svg");
}

static int accepts_gzip(http_request *r) {
    size_t n;
    const char *v = http_request_header(r, "accept-encoding", &n);
    if (!v) return 0;
    for (size_t i = 0; i + 4 <= n; i++)
        if (!strncasecmp(v + i, "gzip", 4)) {
            /* "gzip;q=0" refuses it */
            const char *q = v + i + 4;
            size_t rest = n - i - 4;
            while (rest && *q == ' ') { q++; rest--; }
            if (rest >= 4 && !strncmp(q, ";q=0", 4) && (rest == 4 || q[4] == ',' || q[4] == ' ' ||
                                                       (rest >= 6 && !strncmp(q + 4, ".0", 2) &&
                                                        (rest == 6 || q[6] != '.'))))
                return 0;
            return 1;
        }
    return 0;
}

/* gzip (level 6) into a new buffer; NULL when it does not pay off. */
static char *gzip_body(const char *body, size_t n, size_t *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, n);
    char *o = malloc(cap);
    if (!o) { deflateEnd(&z); return NULL; }
    z.next_in = (Bytef *)body;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)o;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END || *out >= n) { free(o); return NULL; }
    return o;
}

/* Keep the connection open after this response? Decides once per request. */
static int conn_keep(http_request *r) {
    http_conn *c = r->c;
    if (!(r->keep_alive && !c->close_after && !c->s->closing)) c->close_after = 1;
    return !c->close_after;
}

static int response_head(http_request *r, char *dst, size_t cap, int status,
                         const char *headers, size_t hlen, const char *ct,
                         const char *tail) {
    http_server *s = r->c->s;
    return snprintf(dst, cap,
                    "HTTP/1.1 %d %s\r\n"
                    "Date: %s\r\n"
                    "X-Request-Id: %s\r\n"
                    "%s%s%s"
                    "%.*s%.*s%s%s"
                    "\r\n",
                    status, http_status_reason(status), date_header(s), r->id,
                    ct ? "Content-Type: " : "", ct ? ct : "", ct ? "\r\n" : "",
                    (int)s->extra_len, s->extra_headers ? s->extra_headers : "",
                    (int)hlen, headers ? headers : "", tail,
                    r->c->close_after ? "Connection: close\r\n" : "");
}

static void request_finished(http_request *r);

int http_response_send(http_request *r, int status, const char *headers, size_t hlen,
                       const char *ct, const char *body, size_t blen, int flags) {
    http_conn *c = r->c;
    http_server *s = c->s;
    char *gz = NULL;
    size_t gzlen = 0;
    int bodyless = status == 204 || status == 304 || (status >= 100 && status < 200);
    int vary = 0;
    if (!bodyless && !(flags & HTTP_RESP_NO_GZIP) && compressible(ct)) {
        vary = 1;
        if (blen >= s->lim.gzip_min_bytes && accepts_gzip(r)) gz = gzip_body(body, blen, &gzlen);
    }
    const char *out = gz ? gz : body;
    size_t outlen = gz ? gzlen : blen;
    char tail[160];
    int tl = 0;
    if (!bodyless) tl = snprintf(tail, sizeof tail, "Content-Length: %zu\r\n", outlen);
    if (gz) tl += snprintf(tail + tl, sizeof tail - (size_t)tl, "Content-Encoding: gzip\r\n");
    if (vary) tl += snprintf(tail + tl, sizeof tail - (size_t)tl, "Vary: Accept-Encoding\r\n");
    tail[tl] = 0;
    size_t headcap = 512 + s->extra_len + hlen + (ct ? strlen(ct) : 0) + sizeof tail;
    int send_body = !bodyless && !(flags & HTTP_RESP_NO_BODY) && !r->head;
    char *data = malloc(headcap + (send_body ? outlen : 0));
    if (!data) { free(gz); conn_close(c); return UV_ENOMEM; }
    conn_keep(r);
    int n = response_head(r, data, headcap, status, headers, hlen, ct, tail);
    if (n < 0 || (size_t)n >= headcap) { free(gz); free(data); conn_close(c); return UV_EINVAL; }
    if (send_body) memcpy(data + n, out, outlen);
    size_t total = (size_t)n + (send_body ? outlen : 0);
    free(gz);
    r->status = status;
    r->bytes_out = send_body ? outlen : 0;
    r->responded = 1;
    r->answering = 1;
    int rc = conn_write(c, data, total);
    if (rc < 0 && c->closing) return rc;   /* the write failed: conn_close freed r */
    request_finished(r);
    return rc;
}

int http_response_begin(http_request *r, int status, const char *headers, size_t hlen,
                        const char *ct) {
    http_conn *c = r->c;
    size_t headcap = 512 + c->s->extra_len + hlen + (ct ? strlen(ct) : 0);
    char *data = malloc(headcap);
    if (!data) return UV_ENOMEM;
    /* without keep-alive (or HTTP/1.0) the body simply ends at close */
    int keep = conn_keep(r) && r->http_minor >= 1;
    if (!keep) c->close_after = 1;
    int n = response_head(r, data, headcap, status, headers, hlen, ct,
                          keep ? "Transfer-Encoding: chunked\r\n" : "");
    r->status = status;
    r->streaming = r->head ? 3 : c->close_after ? 2 : 1;   /* 2: raw body until close; 3: HEAD, none */
    r->responded = 1;
    return conn_write(c, data, (size_t)n);
}

long http_response_write(http_request *r, const char *p, size_t n) {
    http_conn *c = r->c;
    if (c->closing) return UV_ECANCELED;
    if (n == 0 || r->streaming == 3) return (long)uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    char *data = malloc(n + 32);
    if (!data) return UV_ENOMEM;
    size_t off = 0;
    if (r->streaming == 1) off = (size_t)sprintf(data, "%zx\r\n", n);
    memcpy(data + off, p, n);
    off += n;
    if (r->streaming == 1) { memcpy(data + off, "\r\n", 2); off += 2; }
    r->bytes_out += n;
    int rc = conn_write(c, data, off);
    if (rc < 0) return rc;
    return (long)uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

int http_response_end(http_request *r) {
    int rc = 0;
    if (r->streaming == 1) {
        char *data = malloc(8);
        http_conn *c = r->c;
        r->answering = 1;
        if (data) { memcpy(data, "0\r\n\r\n", 5); rc = conn_write(c, data, 5); }
        if (rc < 0 && c->closing) return rc;   /* conn_close freed r */
    }
    request_finished(r);
    return rc;
}

void http_response_on_drain(http_request *r, void (*cb)(http_request *, int, void *), void *ud) {
    if (uv_stream_get_write_queue_size((uv_stream_t *)&r->c->tcp) < r->c->s->lim.write_high_water) {
        cb(r, 0, ud);
        return;
    }
    r->drain_cb = cb;
    r->drain_ud = ud;
}

size_t http_server_high_water(http_request *r) { return r->c->s->lim.write_high_water; }

/* An error answer the server makes itself; the connection closes after it. */
static void conn_error(http_conn *c, int status) {
    if (!c->req) {
        c->req = calloc(1, sizeof *c->req);
        if (!c->req) { conn_close(c); return; }
        c->req->c = c;
        c->req->start_ns = now_ns();
        request_assign_id(c->req);
    }
    http_request *r = c->req;
    if (r->responded || c->handling) { conn_close(c); return; }
    if (!r->id[0]) request_assign_id(r);
    c->handling = 1;
    c->s->inflight++;
    c->close_after = 1;
    char body[512];
    const char *code = status == 431 ? "HEADERS_TOO_LARGE" : status == 413 ? "BODY_TOO_LARGE"
                     : status == 408 ? "REQUEST_TIMEOUT" : status == 503 ? "OVERLOADED"
                     : status == 429 ? "TOO_MANY_CONNECTIONS" : "BAD_REQUEST";
    const char *msg = c->err_message ? c->err_message : http_status_reason(status);
    size_t n = json_out_error(body, sizeof body, code, msg, r->id);
    r->keep_alive = 0;
    http_response_send(r, status, NULL, 0, "application/json", body, n, HTTP_RESP_NO_GZIP);
}

/* ---- request lifecycle -------------------------------------------------- */

static void request_free(http_request *r) {
    if (r->body_reserved) r->c->s->body_inflight -= r->body_reserved;
    free(r->buf);
    free(r->hdrs);
    free(r->body);
    free(r->route);
    free(r->user);
    free(r->client_ip);
    free(r);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
    (void)status;
    conn_close(req->data);
}

/* Close once what is queued has been written: uv_close alone would drop it. */
static void conn_close_after_flush(http_conn *c) {
    if (c->closing) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_timer_stop(&c->timer);
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_close(c);
}

static void request_finished(http_request *r) {
    http_conn *c = r->c;
    access_log(r);
    if (c->s->h.on_finished)
        c->s->h.on_finished(r, r->status, (double)(now_ns() - r->start_ns) / 1e9, c->s->h.ud);
    if (c->handling) c->s->inflight--;
    c->handling = 0;
    c->req = NULL;
    request_free(r);
    if (c->close_after) { conn_close_after_flush(c); return; }
    conn_arm_timer(c, c->s->lim.idle_timeout_ms);
    maybe_resume_reading(c);
    if (!c->in_process) {
        conn_process(c);
        maybe_resume_reading(c);
    }
}

static void dispatch(http_conn *c) {
    http_request *r = c->req;
    http_server *s = c->s;
    if (!r) { conn_close(c); return; }   /* a pause without a request: never expected */
    c->handling = 1;
    s->inflight++;
    uv_timer_stop(&c->timer);
    size_t pl;
    const char *path = http_request_path(r, &pl);
    int getlike = !strcmp(r->method, "GET") || r->head;
    if (s->statics && getlike && (!s->h.static_first || s->h.static_first(r, s->h.ud))) {
        r->from_static = 1;
        if (http_static_serve(s->statics, r, path, pl, 0)) return;
        r->from_static = 0;
    }
    s->h.on_request(r, s->h.ud);
}

/* ---- llhttp callbacks --------------------------------------------------- */

static http_request *cur(llhttp_t *p) { return ((http_conn *)p->data)->req; }

static int on_message_begin(llhttp_t *p) {
    http_conn *c = p->data;
    http_request *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->c = c;
    r->start_ns = now_ns();
    c->req = r;
    conn_arm_timer(c, c->s->lim.header_timeout_ms);
    return 0;
}

static int head_append(llhttp_t *p, const char *at, size_t n) {
    http_request *r = cur(p);
    http_conn *c = p->data;
    if (buf_append(&r->buf, &r->len, &r->cap, at, n, c->s->lim.max_header_bytes) < 0) {
        c->err_status = 431;
        return -1;
    }
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
    if (head_append(p, at, n)) return -1;
    cur(p)->target_len = (uint32_t)cur(p)->len;
    return 0;
}

/* llhttp 8 lets through what nginx refuses (obs-fold, whitespace in or
 * after a header name): those are how requests are smuggled past a proxy
 * that reads them differently. A rejection answers 400 and closes. */
static int strict_reject(llhttp_t *p, const char *why) {
    http_conn *c = p->data;
    c->err_status = 400;
    c->err_message = why;
    return -1;
}

/* A header name is a token (RFC 9110 5.6.2): no whitespace, no separators. */
static int token_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 32 || ch >= 127 || strchr("()<>@,;:\\\"/[]?={}", ch)) return 0;
    }
    return 1;
}

/* A header value span must follow its name (or its own earlier part, cut
 * by a read) with no line break in between: one there is an obs-fold,
 * which llhttp 8 joins silently. Looks at the bytes since the last span
 * in this buffer, and at lf_pending for those of earlier buffers. */
static int value_folded(http_conn *c, const char *at) {
    const char *from = c->span_end ? c->span_end : c->exec_start;
    if (c->lf_pending && !c->span_end) return 1;
    return from && at > from && memchr(from, '\n', (size_t)(at - from)) != NULL;
}

/* After llhttp_execute: was there a line break after the last span? */
static void note_line_break(http_conn *c) {
    const char *from = c->span_end ? c->span_end : c->exec_start;
    if (c->span_end) c->lf_pending = 0;
    if (from && c->exec_end > from && memchr(from, '\n', (size_t)(c->exec_end - from))) c->lf_pending = 1;
}

/* After a chunk's data comes CRLF; llhttp 8 skips anything up to the LF. */
static int chunk_crlf_check(http_conn *c, const char *p, const char *end) {
    while (c->crlf_due && p < end) {
        if (*p++ != (c->crlf_due == 2 ? '\r' : '\n')) {
            c->crlf_due = 0;
            c->err_status = 400;
            c->err_message = "Malformed chunk";
            return -1;
        }
        c->crlf_due--;
    }
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
    http_request *r = cur(p);
    http_conn *c = p->data;
    c->lf_pending = 0;        /* a line break before a name is how lines end */
    c->span_end = at + n;
    if (!r->field_started) {
        if (r->nhdrs == r->hcap) {
            size_t nc = r->hcap ? r->hcap * 2 : 16;
            if (nc > 256) { ((http_conn *)p->data)->err_status = 431; return -1; }
            hdr *nh = realloc(r->hdrs, nc * sizeof *nh);
            if (!nh) return -1;
            r->hdrs = nh;
            r->hcap = nc;
        }
        memset(&r->hdrs[r->nhdrs], 0, sizeof(hdr));
        r->hdrs[r->nhdrs].no = (uint32_t)r->len;
        r->hdrs[r->nhdrs].vo = (uint32_t)r->len;
        r->field_started = 1;
    }
    if (!token_ok(at, n)) return strict_reject(p, "Malformed header name");
    if (head_append(p, at, n)) return -1;
    r->hdrs[r->nhdrs].nl += (uint32_t)n;
    return 0;
}

static int on_header_field_complete(llhttp_t *p) {
    http_request *r = cur(p);
    r->hdrs[r->nhdrs].vo = (uint32_t)r->len;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
    http_request *r = cur(p);
    http_conn *c = p->data;
    if (n == 0) return 0;     /* an empty value: llhttp hands it over at the next line */
    if (value_folded(c, at) || memchr(at, '\r', n) || memchr(at, '\n', n) || memchr(at, 0, n))
        return strict_reject(p, "Folded or malformed header value");
    c->span_end = at + n;
    if (head_append(p, at, n)) return -1;
    r->hdrs[r->nhdrs].vl += (uint32_t)n;
    return 0;
}

static int on_header_value_complete(llhttp_t *p) {
    http_request *r = cur(p);
    hdr *h = &r->hdrs[r->nhdrs];
    /* trim trailing whitespace llhttp leaves in */
    while (h->vl && (r->buf[h->vo + h->vl - 1] == ' ' || r->buf[h->vo + h->vl - 1] == '\t')) h->vl--;
    r->nhdrs++;
    r->field_started = 0;
    return 0;
}

/* HTTP/1.1 requires exactly one Host (RFC 9112 3.2); nginx answers 400
 * without one, and so do we. */
static int check_host(http_conn *c, http_request *r) {
    size_t hosts = 0;
    for (size_t i = 0; i < r->nhdrs; i++)
        if (r->hdrs[i].nl == 4 && !strncasecmp(r->buf + r->hdrs[i].no, "host", 4)) hosts++;
    if (hosts > 1 || (hosts == 0 && c->parser.http_major == 1 && c->parser.http_minor >= 1)) {
        c->err_status = 400;
        c->err_message = hosts ? "More than one Host header" : "HTTP/1.1 requires a Host header";
        return -1;
    }
    return 0;
}

/* Take n more bytes of the in-flight body budget for r; -1 when the
 * server has none left. */
static int body_reserve(http_conn *c, http_request *r, size_t n) {
    http_server *s = c->s;
    if (n > s->lim.max_body_inflight - s->body_inflight) {
        c->err_status = 503;
        c->err_message = "Too many request bodies in flight; try again shortly";
        return -1;
    }
    s->body_inflight += n;
    r->body_reserved += n;
    return 0;
}

/* Decide on r's body before a byte of it is read: the handler's limit
 * (0 refuses any body), then the global in-flight budget, which a
 * Content-Length reserves whole and a chunked body chunk by chunk. */
static int admit_body(http_conn *c, http_request *r) {
    llhttp_t *p = &c->parser;
    http_server *s = c->s;
    int chunked = (p->flags & F_CHUNKED) != 0;
    int has_body = chunked || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
    if (!has_body) return 0;
    size_t limit = s->h.body_limit ? s->h.body_limit(r, s->h.ud) : s->lim.max_body_bytes;
    if (limit > s->lim.max_body_bytes) limit = s->lim.max_body_bytes;
    r->body_limit = limit;
    if (limit == 0) {
        c->err_status = 413;
        c->err_message = "This URL takes no request body";
        return -1;
    }
    if (!chunked && p->content_length > limit) { c->err_status = 413; return -1; }
    if (chunked) return 0;
    if (body_reserve(c, r, (size_t)p->content_length) < 0) return -1;
    /* the size is known: one buffer, no doubling past it (pages are only
     * made resident as the body arrives) */
    r->body = malloc((size_t)p->content_length);
    r->body_cap = r->body ? (size_t)p->content_length : 0;
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    http_conn *c = p->data;
    http_request *r = c->req;
    r->method = llhttp_method_name((llhttp_method_t)p->method);
    r->head = p->method == HTTP_HEAD;
    r->http_minor = p->http_minor;
    r->keep_alive = llhttp_should_keep_alive(p);
    request_assign_id(r);
    if (check_host(c, r) < 0) return -1;
    if (admit_body(c, r) < 0) return -1;
    size_t n;
    const char *expect = http_request_header(r, "expect", &n);
    if (expect && n == 12 && !strncasecmp(expect, "100-continue", 12)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        char *d = malloc(sizeof cont);
        if (d) { memcpy(d, cont, sizeof cont - 1); conn_write(c, d, sizeof cont - 1); }
    }
    conn_arm_timer(c, c->s->lim.idle_timeout_ms);  /* the body gets the idle timeout */
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
    http_conn *c = p->data;
    http_request *r = c->req;
    if (r->body_len + n > r->body_limit) { c->err_status = 413; return -1; }
    if ((p->flags & F_CHUNKED) && p->content_length == 0) {   /* this chunk's data is all in */
        c->crlf_due = 2;
        if (chunk_crlf_check(c, at + n, c->exec_end) < 0) return -1;
    }
    if (r->body_len + n > r->body_reserved && body_reserve(c, r, r->body_len + n - r->body_reserved) < 0)
        return -1;
    if (buf_append(&r->body, &r->body_len, &r->body_cap, at, n, r->body_limit) < 0) {
        c->err_status = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p) {
    (void)p;
    return HPE_PAUSED;
}

/* ---- reading and parsing ------------------------------------------------ */

/* Parse what is buffered, one request at a time, while nobody is busy with
 * one. Pipelined requests that completed synchronously loop here instead of
 * recursing. */
static void conn_process(http_conn *c) {
    c->in_process = 1;
    int upgrade_resumed = 0;
    /* answers the client does not take hold further requests back */
    while (!c->handling && !c->closing && c->in_off < c->in_len && !write_blocked(c)) {
        const char *start = c->in + c->in_off;
        c->exec_start = start;
        c->exec_end = c->in + c->in_len;
        c->span_end = NULL;
        if (chunk_crlf_check(c, start, c->exec_end) < 0) {
            c->in_off = c->in_len = 0;
            conn_error(c, 400);
            break;
        }
        llhttp_errno_t err = llhttp_execute(&c->parser, start, c->in_len - c->in_off);
        note_line_break(c);
        if (err == HPE_OK) { c->in_off = c->in_len = 0; break; }
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            c->in_off += pos ? (size_t)(pos - start) : 0;
            if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
            if (err == HPE_PAUSED_UPGRADE && !c->req) {
                /* the request before asked for an upgrade and was answered
                 * as plain HTTP (a taker closes this connection): what
                 * follows is HTTP again. Once, or the parser is stuck. */
                if (upgrade_resumed++) break;
                llhttp_resume_after_upgrade(&c->parser);
                continue;
            }
            llhttp_resume(&c->parser);
            upgrade_resumed = 0;
            dispatch(c);
            continue;
        }
        c->in_off = c->in_len = 0;
        conn_error(c, c->err_status ? c->err_status : 400);
        break;
    }
    c->in_process = 0;
}

/* Unparsed input (pipelined requests held back) at which reading stops,
 * and at which it starts again: the gap makes each slide of the buffer
 * (on_alloc) follow at least as many consumed bytes as it moves. */
static size_t input_high_water(http_server *s) { return s->lim.max_header_bytes + 4 * READ_CHUNK; }
static size_t input_low_water(http_server *s) { return input_high_water(s) / 2; }
/* The input buffer never grows past this. */
static size_t input_cap(http_server *s) { return input_high_water(s) + READ_CHUNK; }
static size_t unparsed(http_conn *c) { return c->in_len - c->in_off; }

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)hint;
    http_conn *c = h->data;
    if (c->in_cap - c->in_len < READ_CHUNK && c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, unparsed(c));
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    size_t max = input_cap(c->s);
    if (c->in_cap - c->in_len < READ_CHUNK / 4 && c->in_cap < max) {
        size_t nc = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
        if (nc < c->in_len + READ_CHUNK) nc = c->in_len + READ_CHUNK;
        if (nc > max) nc = max;
        char *nb = realloc(c->in, nc);
        if (!nb) { *b = uv_buf_init(NULL, 0); return; }
        c->in = nb;
        c->in_cap = nc;
    }
    /* a full buffer gives nothing: libuv reports UV_ENOBUFS, reading stops */
    *b = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
    (void)b;
    http_conn *c = st->data;
    if (nread == 0) return;
    if (nread == UV_ENOBUFS) {   /* never expected: the marks stop reading first */
        uv_read_stop(st);
        c->reading = 0;
        return;
    }
    if (nread < 0) {
        /* EOF with nothing pending is a normal close; mid-request, the
         * client is gone and its request is aborted */
        if (nread == UV_EOF && !c->req && unparsed(c) == 0) { conn_close(c); return; }
        if (nread == UV_EOF && c->req && !c->handling && unparsed(c) > 0) {
            /* let llhttp see the end (e.g. a body delimited by close) */
            llhttp_finish(&c->parser);
        }
        conn_close(c);
        return;
    }
    c->in_len += (size_t)nread;
    if (!c->req) conn_arm_timer(c, c->s->lim.header_timeout_ms);
    conn_process(c);
    maybe_resume_reading(c);
}

/* Read while the client takes its answers and unparsed input is under
 * its mark (with hysteresis: once stopped, under the low mark). */
static void maybe_resume_reading(http_conn *c) {
    if (c->closing) return;
    size_t held = unparsed(c);
    int want = !write_blocked(c) &&
               held < (c->reading ? input_high_water(c->s) : input_low_water(c->s) + 1);
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    watch_stall(c, 0);
}

/* ---- connection lifecycle ----------------------------------------------- */

static void on_timer(uv_timer_t *t) {
    http_conn *c = t->data;
    if (c->handling) return;            /* the handler's own deadlines apply */
    if (c->req && !c->req->responded) conn_error(c, 408);   /* mid-request */
    else conn_close(c);                                     /* idle keep-alive */
}

static void conn_arm_timer(http_conn *c, unsigned ms) {
    if (!c->closing) uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_conn_closed(uv_handle_t *h) {
    http_conn *c = h->data;
    if (--c->handles_open > 0) return;
    http_server *s = c->s;
    free(c->in);
    free(c);
    s->conns_closing--;
    server_maybe_done(s);
}

static void conn_close(http_conn *c) {
    if (c->closing) return;
    c->closing = 1;
    http_server *s = c->s;
    http_request *r = c->req;
    if (r) {
        c->req = NULL;
        if (c->handling) {
            s->inflight--;
            /* a handler that is answering r is done with it already */
            if (s->h.on_abort && !r->answering) s->h.on_abort(r, s->h.ud);
        }
        request_free(r);
    }
    if (c->prev) c->prev->next = c->next; else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    http_peers_give(s->peers, c->peer);
    c->peer = NULL;
    s->conns_closing++;      /* the server outlives these close callbacks */
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->stall_timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_connection(uv_stream_t *ls, int status) {
    http_server *s = ls->data;
    if (status < 0) return;
    http_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->s = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    uv_timer_init(s->loop, &c->stall_timer);
    c->tcp.data = c->timer.data = c->stall_timer.data = c;
    c->handles_open = 3;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) { conn_close(c); return; }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    int over_peer = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)&ss, c->ip, sizeof c->ip);
        else uv_ip4_name((struct sockaddr_in *)&ss, c->ip, sizeof c->ip);
        over_peer = http_peers_take(s->peers, (struct sockaddr *)&ss, &c->peer) < 0;
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
    c->parser.data = c;
    if ((unsigned)(s->nconns + s->nheld) > s->lim.max_connections) { conn_error(c, 503); return; }
    if (over_peer) {
        c->err_message = "Too many connections from your address";
        conn_error(c, 429);
        return;
    }
    conn_arm_timer(c, s->lim.header_timeout_ms);
    maybe_resume_reading(c);
}

/* ---- server ------------------------------------------------------------- */

http_server *http_server_create(uv_loop_t *loop, const http_limits *lim, const http_handler *h) {
    http_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->loop = loop;
    if (lim) s->lim = *lim; else http_limits_default(&s->lim);
    s->h = *h;
    s->peers = http_peers_create(s->lim.max_connections_per_ip);
    if (!s->peers) { free(s); return NULL; }
    s->log_write = log_to_stderr;
    llhttp_settings_init(&s->settings);
    s->settings.on_message_begin = on_message_begin;
    s->settings.on_url = on_url;
    s->settings.on_header_field = on_header_field;
    s->settings.on_header_field_complete = on_header_field_complete;
    s->settings.on_header_value = on_header_value;
    s->settings.on_header_value_complete = on_header_value_complete;
    s->settings.on_headers_complete = on_headers_complete;
    s->settings.on_body = on_body;
    s->settings.on_message_complete = on_message_complete;
    unsigned char rnd[4];
    uv_random(NULL, NULL, rnd, sizeof rnd, 0, NULL);
    snprintf(s->id_prefix, sizeof s->id_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    return s;
}

int http_server_listen(http_server *s, const char *host, int port) {
    struct sockaddr_storage addr;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                               : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc) return rc;
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    s->listening = 1;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) != 0) return rc;
    return uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
}

int http_server_port(http_server *s) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) != 0) return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

void http_server_set_headers(http_server *s, const char *block) {
    free(s->extra_headers);
    s->extra_headers = block ? strdup(block) : NULL;
    s->extra_len = s->extra_headers ? strlen(s->extra_headers) : 0;
}

void http_server_set_static(http_server *s, http_static *st) { s->statics = st; }

void http_server_set_log(http_server *s, void (*w)(const char *, size_t, void *), void *ud) {
    s->log_write = w ? w : log_to_stderr;
    s->log_ud = ud;
}

/* The server is freed once its listener and every connection are closed. */
static void server_maybe_done(http_server *s) {
    if (!s->closing || s->nconns > 0 || s->conns_closing > 0 || s->listening || !s->close_cb) return;
    void (*cb)(void *) = s->close_cb;
    void *ud = s->close_ud;
    s->close_cb = NULL;
    for (http_held *h = s->held; h; h = h->next) h->s = NULL;   /* released later */
    free(s->extra_headers);
    http_peers_free(s->peers);
    free(s);
    cb(ud);
}

static void on_listener_closed(uv_handle_t *h) {
    http_server *s = h->data;
    s->listening = 0;
    server_maybe_done(s);
}

void http_server_stop_accepting(http_server *s) {
    if (s->listening && !uv_is_closing((uv_handle_t *)&s->listener))
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}

int http_server_inflight(http_server *s) { return s->inflight; }
size_t http_server_body_inflight(http_server *s) { return s->body_inflight; }

int http_server_set_uncapped_peers(http_server *s, const char *const *nets, size_t n) {
    return http_peers_set_uncapped(s->peers, nets, n);
}
int http_server_connections(http_server *s) { return s->nconns + s->nheld; }

void http_server_close(http_server *s, void (*cb)(void *), void *ud) {
    s->closing = 1;
    s->close_cb = cb;
    s->close_ud = ud;
    while (s->conns) conn_close(s->conns);
    if (s->listening && !uv_is_closing((uv_handle_t *)&s->listener))
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    server_maybe_done(s);
}

/* ---- request accessors -------------------------------------------------- */

const char *http_request_method(http_request *r) { return r->method ? r->method : ""; }

const char *http_request_target(http_request *r, size_t *n) { *n = r->target_len; return r->buf; }

const char *http_request_path(http_request *r, size_t *n) {
    const char *q = r->buf ? memchr(r->buf, '?', r->target_len) : NULL;
    *n = q ? (size_t)(q - r->buf) : r->target_len;
    return r->buf ? r->buf : "";
}

const char *http_request_query(http_request *r, size_t *n) {
    const char *q = r->buf ? memchr(r->buf, '?', r->target_len) : NULL;
    if (!q) { *n = 0; return NULL; }
    *n = r->target_len - (size_t)(q + 1 - r->buf);
    return q + 1;
}

size_t http_request_header_count(http_request *r) { return r->nhdrs; }

void http_request_header_at(http_request *r, size_t i, const char **name, size_t *nl,
                            const char **value, size_t *vl) {
    hdr *h = &r->hdrs[i];
    *name = r->buf + h->no; *nl = h->nl;
    *value = r->buf + h->vo; *vl = h->vl;
}

const char *http_request_header(http_request *r, const char *name, size_t *vl) {
    size_t want = strlen(name);
    for (size_t i = 0; i < r->nhdrs; i++) {
        hdr *h = &r->hdrs[i];
        if (h->nl == want && !strncasecmp(r->buf + h->no, name, want)) {
            *vl = h->vl;
            return r->buf + h->vo;
        }
    }
    return NULL;
}

const char *http_request_body(http_request *r, size_t *n) { *n = r->body_len; return r->body; }
const char *http_request_id(http_request *r) { return r->id; }
const char *http_request_ip(http_request *r) { return r->c->ip; }
int http_request_http_minor(http_request *r) { return r->http_minor; }
int http_request_is_head(http_request *r) { return r->head; }
uint64_t http_request_start_ns(http_request *r) { return r->start_ns; }
void *http_request_userdata(http_request *r) { return r->ud; }
void http_request_set_userdata(http_request *r, void *p) { r->ud = p; }

void http_request_set_meta(http_request *r, const char *route, const char *user, const char *client_ip) {
    if (route) { free(r->route); r->route = strdup(route); }
    if (user) { free(r->user); r->user = strdup(user); }
    if (client_ip) { free(r->client_ip); r->client_ip = strdup(client_ip); }
}

const char *http_request_route(http_request *r) {
    return r->route ? r->route : r->from_static ? "static" : NULL;
}

/* ---- protocol upgrade (WebSocket) --------------------------------------- */

typedef struct upgrade_write { uv_write_t w; char *data; } upgrade_write;

static void on_upgrade_written(uv_write_t *w, int status) {
    (void)status;   /* a failure shows up on the taker's next read or write */
    upgrade_write *u = (upgrade_write *)w;
    free(u->data);
    free(u);
}

static void on_taken_closed(uv_handle_t *h) { free(h); }

static http_held *held_new(http_conn *c) {
    http_held *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    http_server *s = c->s;
    h->s = s;
    h->peer = c->peer;
    c->peer = NULL;
    h->next = s->held;
    if (s->held) s->held->prev = h;
    s->held = h;
    s->nheld++;
    return h;
}

void http_held_release(http_held *h) {
    if (!h) return;
    http_server *s = h->s;
    if (s) {   /* NULL: the server is gone, and its counts with it */
        if (h->prev) h->prev->next = h->next; else s->held = h->next;
        if (h->next) h->next->prev = h->prev;
        s->nheld--;
        http_peers_give(s->peers, h->peer);
    }
    free(h);
}

/* Answer r with 101 and hand the socket over: the descriptor is duplicated
 * into a new uv_tcp_t (owned by the taker from then on, to be freed in its
 * close callback), the 101 head is queued on it first, the bytes already
 * read past the request are passed to on_taken (valid during the call
 * only), and the HTTP connection is closed without touching the socket.
 * r is freed before this returns, whatever the outcome. */
int http_request_upgrade(http_request *r, const char *headers, size_t hlen,
                         void (*on_taken)(uv_tcp_t *tcp, http_held *held,
                                          const char *buffered, size_t n, void *ud),
                         void *ud) {
    http_conn *c = r->c;
    http_server *s = c->s;
    int rc = 0;
    uv_os_fd_t fd, nfd = -1;
    uv_tcp_t *t = NULL;
    char *head = NULL;
    if (c->closing || c->req != r || !c->handling) rc = UV_ENOTCONN;
    else if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0) rc = UV_EBUSY;
    else if ((rc = uv_fileno((uv_handle_t *)&c->tcp, &fd)) == 0 && (nfd = dup(fd)) < 0) rc = UV_EMFILE;
    if (rc == 0) {
        size_t cap = 512 + s->extra_len + hlen;
        head = malloc(cap);
        t = malloc(sizeof *t);
        int n = head ? snprintf(head, cap, "HTTP/1.1 101 %s\r\nDate: %s\r\nX-Request-Id: %s\r\n"
                                           "%.*s%.*s\r\n", http_status_reason(101), date_header(s),
                                r->id, (int)s->extra_len, s->extra_headers ? s->extra_headers : "",
                                (int)hlen, headers ? headers : "")
                              : -1;
        if (!t || n < 0 || (size_t)n >= cap) rc = UV_ENOMEM;
        else if ((rc = uv_tcp_init(s->loop, t)) == 0) {
            if ((rc = uv_tcp_open(t, nfd)) != 0) {
                uv_close((uv_handle_t *)t, on_taken_closed);
                t = NULL;
            } else {
                nfd = -1;
                upgrade_write *u = malloc(sizeof *u);
                uv_buf_t b = uv_buf_init(head, (unsigned)n);
                if (u) u->data = head;
                if (!u || uv_write(&u->w, (uv_stream_t *)t, &b, 1, on_upgrade_written) != 0) {
                    free(u);
                    free(head);
                    uv_close((uv_handle_t *)t, on_taken_closed);
                    t = NULL;
                    rc = UV_EPIPE;
                }
                head = NULL;
            }
        } else { free(t); t = NULL; }
    }
    if (rc != 0) { free(head); free(t); if (nfd >= 0) close(nfd); t = NULL; }
    http_held *held = t ? held_new(c) : NULL;
    if (t && !held) {   /* cannot keep it counted: do not hand it over */
        uv_close((uv_handle_t *)t, on_taken_closed);
        t = NULL;
        rc = UV_ENOMEM;
    }
    r->status = rc == 0 ? 101 : 500;
    access_log(r);
    c->handling = 0;
    s->inflight--;
    c->req = NULL;
    request_free(r);
    if (t) on_taken(t, held, c->in + c->in_off, unparsed(c), ud);
    c->in_off = c->in_len = 0;
    conn_close(c);
    return rc;
}
