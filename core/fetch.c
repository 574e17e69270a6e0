/* fetch.c — outbound HTTP on libcurl's multi-socket API and the libuv loop.
 *
 * The known-good pattern (curl's multi-uv example, hardened): curl tells us
 * which sockets to watch (on_socket) and when to wake it (on_timer_set); we
 * watch them with uv_poll / a uv_timer and hand readiness back through
 * curl_multi_socket_action(), then collect finished transfers with
 * curl_multi_info_read(). A poll handle is closed (and freed in its close
 * callback) the moment curl says CURL_POLL_REMOVE; curl says so before it
 * closes the socket, so an fd number curl reuses next is free in libuv.
 * See fetch.h for ownership. Nothing here knows about Lua.
 */
#include "fetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef MN_VERSION
#define MN_VERSION "0"
#endif
#define FETCH_MAX_HEADER_BYTES (256u << 10)

typedef struct membuf { char *p; size_t len, cap; } membuf;

typedef struct fetch_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    fetch_client *c;
    struct fetch_sock *prev, *next;   /* live (not closing) sockets */
} fetch_sock;

struct fetch_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    long max_host;
    fetch_sock *socks;
    fetch_req *reqs;                  /* requests in flight */
    int closing;                      /* inside curl_multi_cleanup */
};

struct fetch_req {
    fetch_client *c;
    CURL *easy;                       /* NULL once finished */
    struct curl_slist *hdrs;
    char *url, *method, *body;
    size_t body_len, max_size;
    membuf resp, heads;
    int too_large, heads_too_large;
    fetch_result result;
    char errbuf[CURL_ERROR_SIZE];
    long status, new_conns, redirects, os_errno;
    char *effective_url;
    int public_only;
    char blocked[INET6_ADDRSTRLEN];   /* the address refused, "" if none */
    uint64_t started;
    double duration;
    fetch_done_fn done;
    void *ud;
    fetch_req *prev, *next;
};

/* ---- small helpers ------------------------------------------------------- */

static int buf_append(membuf *b, const char *p, size_t n) {
    if (b->cap - b->len < n + 1) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc - b->len < n + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) return -ENOMEM;
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---- sockets and timer: curl <-> libuv ----------------------------------- */

static void check_done(fetch_client *c);

static void sock_closed(uv_handle_t *h) { free(h->data); }

static void sock_close(fetch_sock *k) {
    fetch_client *c = k->c;
    if (k->prev) k->prev->next = k->next; else c->socks = k->next;
    if (k->next) k->next->prev = k->prev;
    k->prev = k->next = NULL;
    uv_close((uv_handle_t *)&k->poll, sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events) {
    fetch_sock *k = h->data;
    fetch_client *c = k->c;
    int flags = 0, running = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    else {
        if (events & (UV_READABLE | UV_DISCONNECT)) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(c->multi, k->fd, flags, &running);
    check_done(c);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)e;
    fetch_client *c = userp;
    fetch_sock *k = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (k) {
            if (!c->closing) curl_multi_assign(c->multi, s, NULL);
            sock_close(k);
        }
        return 0;
    }
    if (!k) {
        if (c->closing) return 0;
        /* a watcher left on this fd number (curl closed the socket without
         * a REMOVE, then reused the number) must go before a new one */
        for (fetch_sock *x = c->socks; x; x = x->next)
            if (x->fd == s) { sock_close(x); break; }
        k = calloc(1, sizeof *k);
        if (!k) return -1;
        if (uv_poll_init_socket(c->loop, &k->poll, s) != 0) { free(k); return -1; }
        k->fd = s;
        k->c = c;
        k->poll.data = k;
        k->next = c->socks;
        if (c->socks) c->socks->prev = k;
        c->socks = k;
        curl_multi_assign(c->multi, s, k);
    }
    int ev = 0;
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    uv_poll_start(&k->poll, ev, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t) {
    fetch_client *c = t->data;
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

/* curl asks to be woken in timeout_ms (-1: never). It must not be called
 * back from in here, so even 0 goes through the timer (next loop turn). */
static int on_timer_set(CURLM *m, long timeout_ms, void *userp) {
    (void)m;
    fetch_client *c = userp;
    if (timeout_ms < 0) uv_timer_stop(&c->timer);
    else uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- client -------------------------------------------------------------- */

fetch_client *fetch_client_create(uv_loop_t *loop, long max_host_connections) {
    static int global_done;   /* process-wide library init, not per-app state */
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
        global_done = 1;
    }
    fetch_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->multi = curl_multi_init();
    if (!c->multi) { free(c); return NULL; }
    c->loop = loop;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    fetch_client_set_max_host_connections(
        c, max_host_connections > 0 ? max_host_connections : FETCH_DEFAULT_MAX_HOST_CONNECTIONS);
    return c;
}

void fetch_client_set_max_host_connections(fetch_client *c, long n) {
    if (n <= 0 || n == c->max_host) return;
    c->max_host = n;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
    /* keep at least a full set per host or two in the idle cache */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, n * 4 > 40 ? n * 4 : 40L);
}

long fetch_client_max_host_connections(const fetch_client *c) { return c->max_host; }

static void client_closed(uv_handle_t *h) { free(h->data); }

static void req_detach(fetch_req *r) {
    fetch_client *c = r->c;
    if (r->prev) r->prev->next = r->next; else c->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
    curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
}

void fetch_client_destroy(fetch_client *c) {
    while (c->reqs) {
        fetch_req *r = c->reqs;
        req_detach(r);
        fetch_req_free(r);
    }
    c->closing = 1;
    curl_multi_cleanup(c->multi);   /* may still report sockets to remove */
    c->multi = NULL;
    while (c->socks) sock_close(c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, client_closed);
}

/* ---- requests ------------------------------------------------------------ */

static size_t on_write(char *p, size_t sz, size_t n, void *ud) {
    fetch_req *r = ud;
    size_t len = sz * n;
    if (len > r->max_size - r->resp.len) { r->too_large = 1; return 0; }
    if (buf_append(&r->resp, p, len) != 0) return 0;
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    fetch_req *r = ud;
    size_t len = sz * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { r->heads.len = 0; return len; }  /* a new response */
    if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) return len;
    if (r->heads.len + len > FETCH_MAX_HEADER_BYTES) { r->heads_too_large = 1; return 0; }
    if (buf_append(&r->heads, p, len) != 0) return 0;
    return len;
}

static int is_token(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!strchr("!#$%&'*+-.^_`|~", *s) && !(*s >= '0' && *s <= '9') &&
            !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
            return 0;
    return 1;
}

static int header_is(const char *line, const char *name) {
    size_t n = strlen(name);
    return strncasecmp(line, name, n) == 0 && (line[n] == ':' || line[n] == ';');
}

static int build_headers(fetch_req *r, const fetch_options *o, const char **why) {
    int has_ctype = 0, has_expect = 0;
    for (int i = 0; i < o->nheaders; i++) {
        const char *h = o->headers[i];
        const char *colon = strchr(h, ':');
        if (!colon || colon == h || strpbrk(h, "\r\n")) { *why = "bad header line"; return -EINVAL; }
        if (header_is(h, "content-type")) has_ctype = 1;
        if (header_is(h, "expect")) has_expect = 1;
        struct curl_slist *n = curl_slist_append(r->hdrs, h);
        if (!n) return -ENOMEM;
        r->hdrs = n;
    }
    /* no 100-continue round trip; no made-up form content type */
    const char *extra[2] = {has_expect ? NULL : "Expect:",
                            (r->body && !has_ctype) ? "Content-Type:" : NULL};
    for (int i = 0; i < 2; i++) {
        if (!extra[i]) continue;
        struct curl_slist *n = curl_slist_append(r->hdrs, extra[i]);
        if (!n) return -ENOMEM;
        r->hdrs = n;
    }
    return 0;
}

/* ---- which addresses a request may reach --------------------------------- */

static fetch_addr_class_t class_v4(uint32_t a) {
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    if (b0 == 169 && b1 == 254) return FETCH_ADDR_FORBIDDEN;           /* link-local: metadata */
    if (a == 0x646464C8u) return FETCH_ADDR_FORBIDDEN;                 /* 100.100.100.200 (Alibaba metadata) */
    if ((a >> 8) == 0xC00000u) return FETCH_ADDR_FORBIDDEN;            /* 192.0.0.0/24 protocol assignments */
    if (b0 >= 224) return FETCH_ADDR_FORBIDDEN;                        /* multicast, reserved, broadcast */
    if (b0 == 0 || b0 == 127 || b0 == 10) return FETCH_ADDR_PRIVATE;   /* this host, loopback, RFC 1918 */
    if (b0 == 172 && (b1 & 0xF0) == 16) return FETCH_ADDR_PRIVATE;
    if (b0 == 192 && b1 == 168) return FETCH_ADDR_PRIVATE;
    if (b0 == 100 && (b1 & 0xC0) == 64) return FETCH_ADDR_PRIVATE;     /* CGNAT 100.64/10 */
    if (b0 == 198 && (b1 & 0xFE) == 18) return FETCH_ADDR_PRIVATE;     /* benchmarking 198.18/15 */
    return FETCH_ADDR_PUBLIC;
}

static uint32_t v4_at(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static fetch_addr_class_t class_v6(const uint8_t *p) {
    static const uint8_t zero[12] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t ec2[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
    if (!memcmp(p, mapped, 12) || !memcmp(p, nat64, 12)) return class_v4(v4_at(p + 12));
    if (!memcmp(p, zero, 12)) {
        uint32_t tail = v4_at(p + 12);
        if (tail <= 1) return FETCH_ADDR_PRIVATE;                      /* :: and ::1 */
        return class_v4(tail);                                         /* IPv4-compatible */
    }
    if (!memcmp(p, ec2, 16)) return FETCH_ADDR_FORBIDDEN;              /* AWS metadata fd00:ec2::254 */
    if (p[0] == 0xfe && (p[1] & 0xC0) == 0x80) return FETCH_ADDR_FORBIDDEN;  /* fe80::/10 link-local */
    if (p[0] == 0xff) return FETCH_ADDR_FORBIDDEN;                     /* multicast */
    if ((p[0] & 0xFE) == 0xfc) return FETCH_ADDR_PRIVATE;              /* fc00::/7 unique local */
    return FETCH_ADDR_PUBLIC;
}

fetch_addr_class_t fetch_addr_class(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return class_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family == AF_INET6)
        return class_v6(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return FETCH_ADDR_FORBIDDEN;   /* unix sockets and the like: never */
}

fetch_addr_class_t fetch_addr_class_str(const char *ip) {
    uint8_t buf[16];
    if (inet_pton(AF_INET, ip, buf) == 1) return class_v4(v4_at(buf));
    if (inet_pton(AF_INET6, ip, buf) == 1) return class_v6(buf);
    return FETCH_ADDR_PUBLIC;
}

static int refused(const fetch_req *r, fetch_addr_class_t k) {
    return k == FETCH_ADDR_FORBIDDEN || (k == FETCH_ADDR_PRIVATE && r->public_only);
}

/* Before every connect: the address DNS gave (or the literal). Refusing it
 * here means not even a SYN reaches a metadata service. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
    fetch_req *r = ud;
    if (purpose == CURLSOCKTYPE_IPCXN && refused(r, fetch_addr_class(&a->addr))) {
        const void *in = a->family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&a->addr)->sin6_addr
                                               : (const void *)&((struct sockaddr_in *)&a->addr)->sin_addr;
        if (!inet_ntop(a->family, in, r->blocked, sizeof r->blocked)) strcpy(r->blocked, "?");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Before every request, on a new or a kept-alive connection: a connection
 * another request opened under a wider policy is checked again. */
static int on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port) {
    (void)local_ip; (void)primary_port; (void)local_port;
    fetch_req *r = ud;
    if (!refused(r, fetch_addr_class_str(primary_ip))) return CURL_PREREQFUNC_OK;
    snprintf(r->blocked, sizeof r->blocked, "%s", primary_ip);
    return CURL_PREREQFUNC_ABORT;
}

static int setup_easy(fetch_req *r, const fetch_options *o) {
    CURL *e = r->easy;
    long connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : FETCH_DEFAULT_CONNECT_TIMEOUT_MS;
    long total_ms = o->total_timeout_ms > 0 ? o->total_timeout_ms : FETCH_DEFAULT_TOTAL_TIMEOUT_MS;
    int rc = 0;
#define SET(opt, val) rc |= (int)curl_easy_setopt(e, opt, val)
    SET(CURLOPT_URL, r->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PRIVATE, r);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, r);
    SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    SET(CURLOPT_TIMEOUT_MS, total_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_size);
    SET(CURLOPT_FOLLOWLOCATION, o->follow ? 1L : 0L);
    SET(CURLOPT_MAXREDIRS, (long)(o->max_redirects > 0 ? o->max_redirects : FETCH_DEFAULT_MAX_REDIRECTS));
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_USERAGENT, "MediaNest/" MN_VERSION);
    SET(CURLOPT_HTTPHEADER, r->hdrs);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SET(CURLOPT_OPENSOCKETDATA, r);
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_PREREQDATA, r);
    const char *m = r->method;
    if (r->body) {
        SET(CURLOPT_POSTFIELDS, r->body);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        if (strcmp(m, "POST") != 0) SET(CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, m);
    }
#undef SET
    return rc == 0 ? 0 : -EINVAL;
}

int fetch_start(fetch_client *c, const fetch_options *o, fetch_done_fn done, void *ud,
                fetch_req **out, const char **why) {
    static const char *none = "";
    if (!why) why = &none;
    const char *method = o->method ? o->method : "GET";
    if (!o->url || (strncasecmp(o->url, "http://", 7) != 0 && strncasecmp(o->url, "https://", 8) != 0)) {
        *why = "url must be http:// or https://";
        return -EINVAL;
    }
    if (!is_token(method)) { *why = "bad method"; return -EINVAL; }
    fetch_req *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    r->c = c;
    r->done = done;
    r->ud = ud;
    r->max_size = o->max_size > 0 ? o->max_size : FETCH_DEFAULT_MAX_SIZE;
    r->public_only = o->public_only;
    r->url = dup_str(o->url);
    r->method = dup_str(method);
    /* POST/PUT/PATCH without a body still send Content-Length: 0 */
    int wants_body = !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
    if (o->body || wants_body) {
        r->body = malloc((o->body ? o->body_len : 0) + 1);
        if (r->body) {
            r->body_len = o->body ? o->body_len : 0;
            if (r->body_len) memcpy(r->body, o->body, r->body_len);
            r->body[r->body_len] = '\0';
        }
    }
    r->easy = curl_easy_init();
    int rc = (!r->url || !r->method || ((o->body || wants_body) && !r->body) || !r->easy) ? -ENOMEM : 0;
    if (rc == 0) rc = build_headers(r, o, why);
    if (rc == 0 && setup_easy(r, o) != 0) { *why = "curl rejected an option"; rc = -EINVAL; }
    if (rc == 0) {
        r->started = uv_hrtime();
        if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) rc = -ENOMEM;
    }
    if (rc != 0) {
        if (r->easy) curl_easy_cleanup(r->easy);
        r->easy = NULL;
        fetch_req_free(r);
        return rc;
    }
    r->next = c->reqs;
    if (c->reqs) c->reqs->prev = r;
    c->reqs = r;
    *out = r;
    return 0;
}

static fetch_result map_result(fetch_req *r, CURLcode rc) {
    if (rc != CURLE_OK && r->blocked[0]) return FETCH_EBLOCKED;
    switch (rc) {
    case CURLE_OK: return FETCH_OK;
    case CURLE_OPERATION_TIMEDOUT: return FETCH_ETIMEOUT;
    case CURLE_COULDNT_CONNECT: return FETCH_ECONNECT;
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: return FETCH_ERESOLVE;
    case CURLE_FILESIZE_EXCEEDED: return FETCH_ETOOLARGE;
    case CURLE_WRITE_ERROR: return r->too_large ? FETCH_ETOOLARGE : FETCH_EOTHER;
    case CURLE_TOO_MANY_REDIRECTS: return FETCH_EREDIRECTS;
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CRL_BADFILE:
        return FETCH_ETLS;
    default: return FETCH_EOTHER;
    }
}

/* A transfer ended: take its results, give the easy handle back, tell the
 * owner. Runs from on_poll/on_timeout only, after curl returned. */
static void req_complete(fetch_req *r, CURLcode rc) {
    CURL *e = r->easy;
    char *eff = NULL;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &r->new_conns);
    curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &r->redirects);
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &r->os_errno);
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff);
    if (eff) r->effective_url = dup_str(eff);
    r->result = map_result(r, rc);
    if (rc != CURLE_OK && !r->errbuf[0])
        strncpy(r->errbuf, curl_easy_strerror(rc), sizeof r->errbuf - 1);
    r->duration = (double)(uv_hrtime() - r->started) / 1e9;
    req_detach(r);
    r->done(r, r->ud);
}

static void check_done(fetch_client *c) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        fetch_req *r = NULL;
        CURLcode rc = m->data.result;    /* m is invalid once the handle is removed */
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r) req_complete(r, rc);
    }
}

void fetch_cancel(fetch_req *r) {
    if (r->easy) req_detach(r);
    fetch_req_free(r);
}

void fetch_req_free(fetch_req *r) {
    if (!r) return;
    curl_slist_free_all(r->hdrs);
    free(r->url);
    free(r->method);
    free(r->body);
    free(r->resp.p);
    free(r->heads.p);
    free(r->effective_url);
    free(r);
}

fetch_result fetch_req_result(const fetch_req *r) { return r->result; }
const char *fetch_req_error(const fetch_req *r) { return r->errbuf; }
long fetch_req_status(const fetch_req *r) { return r->status; }
long fetch_req_os_errno(const fetch_req *r) { return r->os_errno; }
const char *fetch_req_body(const fetch_req *r, size_t *len) {
    *len = r->resp.len;
    return r->resp.p ? r->resp.p : "";
}
const char *fetch_req_headers(const fetch_req *r, size_t *len) {
    *len = r->heads.len;
    return r->heads.p ? r->heads.p : "";
}
long fetch_req_new_connections(const fetch_req *r) { return r->new_conns; }
long fetch_req_redirects(const fetch_req *r) { return r->redirects; }
const char *fetch_req_effective_url(const fetch_req *r) { return r->effective_url ? r->effective_url : r->url; }
double fetch_req_duration(const fetch_req *r) { return r->duration; }
const char *fetch_req_blocked_addr(const fetch_req *r) { return r->blocked; }
