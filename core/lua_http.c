/* lua_http.c — HTTP requests as Lua tasks, and nest.core.http.
 *
 * Each request becomes a task running hooks.dispatch(req) in the app's
 * current generation. req is a plain table (method, path, query, headers
 * with lower-case names, body, ip, id, handle); dispatch returns
 *   status, headers, body, route, user, file
 * and the response is written from those. A request whose client went away
 * has its task cancelled. The handle (a userdata) lets Lua stream a
 * response; it is emptied when the request ends, so a stale one is harmless.
 */
#include "lua_http.h"
#include "http_server.h"
#include "http_static.h"
#include "logbuf.h"
#include "lua_modules.h"
#include "metrics.h"
#include "scheduler.h"

#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDLE_MT "nest.http.handle"

typedef struct lh_server {
    http_server *srv;
    http_static *st;
    mn_app *app;
    logbuf *log;                /* the access log's buffer (a file or stderr) */
    metrics_registry *mreg;     /* the app's; NULL once either side is gone */
    metric *m_duration;         /* http_request_duration_seconds{method,route,status_code} */
    metric *m_inflight;         /* http_requests_in_flight, refreshed by a collector */
} lh_server;

/* The Lua side of one request; lives in Lua memory while its task runs. */
typedef struct req_box {
    http_request *r;        /* NULL once the request ended */
    sched_task *task;
    lh_server *h;
    int streaming;
} req_box;

/* ---- request -> Lua ------------------------------------------------------ */

static void push_lower(lua_State *L, const char *s, size_t n) {
    char buf[256];
    if (n > sizeof buf) n = sizeof buf;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        buf[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    lua_pushlstring(L, buf, n);
}

static void push_headers(lua_State *L, http_request *r) {
    size_t n = http_request_header_count(r);
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nl, vl;
        http_request_header_at(r, i, &name, &nl, &value, &vl);
        push_lower(L, name, nl);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) {   /* repeated: join with ", " */
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, value, vl);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, value, vl);
        }
        lua_rawset(L, -3);
    }
}

static req_box *push_request(lua_State *L, http_request *r, lh_server *h) {
    size_t n;
    const char *s;
    lua_createtable(L, 0, 10);
    lua_pushstring(L, http_request_method(r));
    lua_setfield(L, -2, "method");
    s = http_request_path(r, &n);
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, "path");
    s = http_request_query(r, &n);
    if (s) { lua_pushlstring(L, s, n); lua_setfield(L, -2, "raw_query"); }
    push_headers(L, r);
    lua_setfield(L, -2, "headers");
    s = http_request_body(r, &n);
    if (s) { lua_pushlstring(L, s, n); lua_setfield(L, -2, "body"); }
    lua_pushstring(L, http_request_ip(r));
    lua_setfield(L, -2, "ip");
    lua_pushstring(L, http_request_id(r));
    lua_setfield(L, -2, "id");
    lua_pushinteger(L, http_request_http_minor(r));
    lua_setfield(L, -2, "http_minor");
    req_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->r = r;
    b->h = h;
    b->task = NULL;
    b->streaming = 0;
    /* the metatable may not exist yet if nest.core.http was never required */
    luaL_newmetatable(L, HANDLE_MT);
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "handle");
    return b;
}

/* ---- Lua -> response ---------------------------------------------------- */

typedef struct hbuf { char *p; size_t len, cap; char stack[2048]; } hbuf;

static void hbuf_add(hbuf *b, const char *s, size_t n) {
    if (b->len + n > b->cap) {
        size_t nc = b->cap * 2 + n;
        char *np = b->p == b->stack ? malloc(nc) : realloc(b->p, nc);
        if (!np) return;
        if (b->p == b->stack) memcpy(np, b->stack, b->len);
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static int header_name_ok(const char *s, size_t n) {
    if (!n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 32 || ch >= 127 || strchr("()<>@,;:\\\"/[]?={}", ch)) return 0;
    }
    return 1;
}

static int header_value_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == 0) return 0;
    return 1;
}

/* Headers the server writes itself; a handler cannot override them. */
static int header_reserved(const char *s, size_t n) {
    static const char *names[] = {"content-length", "connection", "transfer-encoding",
                                  "date", "x-request-id", "content-type", NULL};
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && !strncasecmp(names[i], s, n)) return 1;
    return 0;
}

static void add_header(hbuf *b, const char *name, size_t nl, const char *v, size_t vl) {
    if (!header_value_ok(v, vl)) return;
    char canon[128];
    if (nl >= sizeof canon) return;
    int up = 1;
    for (size_t i = 0; i < nl; i++) {
        char ch = name[i];
        if (up && ch >= 'a' && ch <= 'z') ch = (char)(ch - 32);
        else if (!up && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
        canon[i] = ch;
        up = ch == '-';
    }
    hbuf_add(b, canon, nl);
    hbuf_add(b, ": ", 2);
    hbuf_add(b, v, vl);
    hbuf_add(b, "\r\n", 2);
}

/* Serialize the headers table at idx; returns the content type (or NULL). */
static const char *build_headers(lua_State *L, int idx, hbuf *b) {
    const char *ct = NULL;
    if (!lua_istable(L, idx)) return NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t nl, vl;
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nl) : NULL;
        if (name && header_name_ok(name, nl)) {
            if (nl == 12 && !strncasecmp(name, "content-type", 12) && lua_type(L, -1) == LUA_TSTRING) {
                ct = lua_tolstring(L, -1, &vl);
                if (!header_value_ok(ct, vl)) ct = NULL;
            } else if (header_reserved(name, nl)) {
                /* ignored */
            } else if (lua_istable(L, -1)) {
                lua_Integer n = luaL_len(L, -1);
                for (lua_Integer i = 1; i <= n; i++) {
                    lua_rawgeti(L, -1, i);
                    const char *v = lua_tolstring(L, -1, &vl);
                    if (v) add_header(b, name, nl, v, vl);
                    lua_pop(L, 1);
                }
            } else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
                const char *v = lua_tolstring(L, -1, &vl);
                add_header(b, name, nl, v, vl);
            }
        }
        lua_pop(L, 1);
    }
    return ct;
}

static void send_error(http_request *r, int status, const char *code, const char *msg) {
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"%s\",\"message\":\"%s\",\"requestId\":\"%s\"}}",
                     code, msg, http_request_id(r));
    http_response_send(r, status, NULL, 0, "application/json", body, (size_t)n, 0);
}

static void on_done(sched_task *t, sched_status st, lua_State *co, int nres, void *ud) {
    (void)t;
    req_box *b = ud;
    http_request *r = b->r;
    b->r = NULL;
    if (st == SCHED_CANCELLED && r) {
        /* Cancelled while the client is still there: a hot reload's drain
         * deadline (app.c). b dies with its generation, so the request must
         * forget it (on_abort would write to freed memory), and the client
         * gets an answer rather than a hanging connection. */
        http_request_set_userdata(r, NULL);
        send_error(r, 503, "UNAVAILABLE", "The request was cut off by a reload's drain deadline");
        return;
    }
    if (st == SCHED_CANCELLED || !r) return;
    if (st == SCHED_ERROR) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"unhandled error in request\","
                        "\"requestId\":\"%s\",\"error\":\"%s\"}\n",
                http_request_id(r), lua_tostring(co, -1) ? "see traceback" : "?");
        fprintf(stderr, "%s\n", lua_tostring(co, -1));
        send_error(r, 500, "INTERNAL", "Internal server error");
        return;
    }
    int base = lua_gettop(co) - nres + 1;
    const char *route = nres >= 4 ? lua_tostring(co, base + 3) : NULL;
    const char *user = nres >= 5 ? lua_tostring(co, base + 4) : NULL;
    http_request_set_meta(r, route, user);
    if (b->streaming) { http_response_end(r); return; }
    int status = nres >= 1 && lua_isinteger(co, base) ? (int)lua_tointeger(co, base) : 500;
    if (status < 100 || status > 599) status = 500;
    const char *file = nres >= 6 ? lua_tostring(co, base + 5) : NULL;
    if (file && b->h->st && http_static_serve(b->h->st, r, file, strlen(file), HTTP_STATIC_MUST)) return;
    if (file) { send_error(r, 404, "NOT_FOUND", "Not found"); return; }
    hbuf hb = {.p = hb.stack, .len = 0, .cap = sizeof hb.stack};
    const char *ct = nres >= 2 ? build_headers(co, base + 1, &hb) : NULL;
    size_t blen = 0;
    const char *body = nres >= 3 ? lua_tolstring(co, base + 2, &blen) : NULL;
    http_response_send(r, status, hb.p, hb.len, ct, body ? body : "", body ? blen : 0, 0);
    if (hb.p != hb.stack) free(hb.p);
}

/* ---- server callbacks --------------------------------------------------- */

static void on_request(http_request *r, void *ud) {
    lh_server *h = ud;
    mn_gen *g = app_current_gen(h->app);
    if (!g || g->hooks_ref == LUA_NOREF || g->retired) {
        send_error(r, 503, "UNAVAILABLE", "Shutting down");
        return;
    }
    lua_State *L = g->L;
    if (gen_push_hook(g, "dispatch") != LUA_TFUNCTION) {
        lua_pop(L, 1);
        send_error(r, 500, "INTERNAL", "No dispatch hook");
        return;
    }
    req_box *b = push_request(L, r, h);
    sched_task *t = sched_spawn(g, NULL, 1, on_done, b);
    if (!t) { b->r = NULL; send_error(r, 503, "OVERLOADED", "Out of memory"); return; }
    b->task = t;
    http_request_set_userdata(r, b);
}

static void on_abort(http_request *r, void *ud) {
    (void)ud;
    req_box *b = http_request_userdata(r);
    if (!b) return;
    b->r = NULL;
    sched_cancel(b->task);
}

static size_t body_limit(http_request *r, void *ud) {
    lh_server *h = ud;
    mn_gen *g = app_current_gen(h->app);
    if (!g) return 0;
    lua_State *L = g->L;
    if (gen_push_hook(g, "body_limit") != LUA_TFUNCTION) { lua_pop(L, 1); return 0; }
    size_t n;
    const char *path = http_request_path(r, &n);
    lua_pushstring(L, http_request_method(r));
    lua_pushlstring(L, path, n);
    size_t limit = 0;
    if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0)
        limit = (size_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return limit;
}


/* ---- request metrics ------------------------------------------------------ */

/* Every answered request: one histogram observation. route is the pattern
 * the dispatcher returned, "static" for files, "unmatched" otherwise (never
 * the raw path: it would make a series per URL). The registry's hash lookup
 * finds the series; no allocation once it exists. */
static void on_finished(http_request *r, int status, double seconds, void *ud) {
    lh_server *h = ud;
    if (!h->m_duration) return;
    const char *route = http_request_route(r);
    const char *method = http_request_method(r);
    char code[4] = "000";
    if (status >= 100 && status <= 999) {
        code[0] = (char)('0' + status / 100);
        code[1] = (char)('0' + status / 10 % 10);
        code[2] = (char)('0' + status % 10);
    }
    const char *v[3] = {method[0] ? method : "OTHER", route ? route : "unmatched", code};
    metric_series *sr = metrics_series(h->m_duration, v, NULL, 3);
    if (sr) metrics_series_observe(sr, seconds);
}

static void collect_inflight(metrics_registry *reg, void *ud) {
    (void)reg;
    lh_server *h = ud;
    metrics_set(h->m_inflight, http_server_inflight(h->srv), NULL);
}

static void metrics_attach(lh_server *h) {
    metrics_registry *reg = app_metrics(h->app);
    if (!reg) return;
    static const char *const labels[] = {"method", "route", "status_code"};
    h->m_duration = metrics_histogram(reg, "http_request_duration_seconds",
                                      "HTTP request duration in seconds, by route pattern.",
                                      labels, 3, NULL, 0);
    h->m_inflight = metrics_gauge(reg, "http_requests_in_flight",
                                  "HTTP requests being handled right now.", NULL, 0);
    if (h->m_inflight && metrics_add_collector(reg, collect_inflight, h) == 0) h->mreg = reg;
    else h->m_inflight = NULL;
}

/* The registry may already be gone (app_finish_stop frees slots last to
 * first): only touch it while it is still the app's. */
static void metrics_detach(lh_server *h) {
    if (h->mreg && app_slot_get(h->app, APP_SLOT_METRICS) == h->mreg)
        metrics_remove_collector(h->mreg, collect_inflight, h);
    h->mreg = NULL;
    h->m_duration = h->m_inflight = NULL;
}

static void on_server_closed(void *ud) {
    lh_server *h = ud;
    if (h->st) http_static_close(h->st);
    logbuf_close(h->log);       /* flushes the last lines */
    free(h);
}

static void server_destroy(void *p) {
    lh_server *h = p;
    metrics_detach(h);
    http_server_close(h->srv, on_server_closed, h);
}

/* ---- configuration from hooks.server ------------------------------------ */

static double opt_num(lua_State *L, int idx, const char *k, double def) {
    lua_getfield(L, idx, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

static const char *opt_str(lua_State *L, int idx, const char *k) {
    lua_getfield(L, idx, k);
    const char *v = lua_tostring(L, -1);   /* kept alive by the hooks table */
    lua_pop(L, 1);
    return v;
}

/* hooks.server.uncapped_peers: a list of addresses / CIDR blocks (the
 * trusted proxies) that the per-address connection cap does not apply to. */
static void set_uncapped_peers(lua_State *L, int idx, http_server *srv) {
    lua_getfield(L, idx, "uncapped_peers");
    if (lua_istable(L, -1)) {
        const char *nets[64];     /* the strings live in the table, on the stack */
        size_t n = 0;
        int t = lua_gettop(L);
        lua_Integer len = luaL_len(L, t);
        for (lua_Integer i = 1; i <= len && n < sizeof nets / sizeof *nets; i++) {
            if (lua_rawgeti(L, t, i) == LUA_TSTRING) nets[n++] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        http_server_set_uncapped_peers(srv, nets, n);
    }
    lua_pop(L, 1);
}

int lua_http_start(mn_app *a, mn_gen *g, const char **err) {
    lua_State *L = g->L;
    if (gen_push_hook(g, "server") != LUA_TTABLE) {
        lua_pop(L, 1);
        *err = "hooks.server is missing";
        return -1;
    }
    int idx = lua_gettop(L);
    http_limits lim;
    http_limits_default(&lim);
    lim.max_header_bytes = (size_t)opt_num(L, idx, "max_header_bytes", (double)lim.max_header_bytes);
    lim.max_body_bytes = (size_t)opt_num(L, idx, "max_body_bytes", (double)lim.max_body_bytes);
    lim.header_timeout_ms = (unsigned)(opt_num(L, idx, "header_timeout", 10) * 1000);
    lim.idle_timeout_ms = (unsigned)(opt_num(L, idx, "idle_timeout", 60) * 1000);
    lim.max_connections = (unsigned)opt_num(L, idx, "max_connections", lim.max_connections);
    lim.max_connections_per_ip = (unsigned)opt_num(L, idx, "max_connections_per_ip",
                                                   lim.max_connections_per_ip);
    lim.max_body_inflight = (size_t)opt_num(L, idx, "max_body_inflight", (double)lim.max_body_inflight);
    lim.send_timeout_ms = (unsigned)(opt_num(L, idx, "send_timeout", lim.send_timeout_ms / 1000.0) * 1000);
    lim.gzip_min_bytes = (size_t)opt_num(L, idx, "gzip_min_bytes", (double)lim.gzip_min_bytes);
    lim.write_high_water = (size_t)opt_num(L, idx, "write_high_water", (double)lim.write_high_water);
    lim.slow_request_s = opt_num(L, idx, "slow_request", 1.0);
    lua_getfield(L, idx, "access_log");
    lim.access_log = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);

    lh_server *h = calloc(1, sizeof *h);
    if (!h) { lua_pop(L, 1); *err = "out of memory"; return -1; }
    h->app = a;
    http_handler hd = {on_request, on_abort, body_limit, h, on_finished};
    metrics_attach(h);
    h->srv = http_server_create(app_loop(a), &lim, &hd);
    if (!h->srv) { metrics_detach(h); free(h); lua_pop(L, 1); *err = "out of memory"; return -1; }
    set_uncapped_peers(L, idx, h->srv);
    const char *headers = opt_str(L, idx, "headers");
    if (headers) http_server_set_headers(h->srv, headers);
    const char *dir = opt_str(L, idx, "static_dir");
    if (dir && (h->st = http_static_open(dir))) http_server_set_static(h->srv, h->st);
    const char *logf = opt_str(L, idx, "log_file");
    int fd = logf ? open(logf, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (lim.access_log && (h->log = logbuf_open(app_loop(a), fd >= 0 ? fd : 2, fd >= 0)))
        http_server_set_log(h->srv, logbuf_write, h->log);
    else if (fd >= 0) close(fd);
    const char *host = opt_str(L, idx, "host");
    int port = (int)opt_num(L, idx, "port", 8080);
    app_slot_set(a, APP_SLOT_HTTP, h, server_destroy);
    int rc = http_server_listen(h->srv, host ? host : "127.0.0.1", port);
    lua_pop(L, 1);
    if (rc != 0) {
        static char msg[256];
        snprintf(msg, sizeof msg, "cannot listen on %s:%d: %s", host ? host : "127.0.0.1",
                 port, uv_strerror(rc));
        *err = msg;
        return rc;
    }
    return 0;
}

void lua_http_stop_accepting(mn_app *a) {
    lh_server *h = app_slot_get(a, APP_SLOT_HTTP);
    if (h) http_server_stop_accepting(h->srv);
}

int lua_http_inflight(mn_app *a) {
    lh_server *h = app_slot_get(a, APP_SLOT_HTTP);
    return h ? http_server_inflight(h->srv) : 0;
}

int lua_http_port(mn_app *a) {
    lh_server *h = app_slot_get(a, APP_SLOT_HTTP);
    return h ? http_server_port(h->srv) : -1;
}

http_request *lua_http_take_request(lua_State *L, int idx) {
    req_box *b = luaL_checkudata(L, idx, HANDLE_MT);
    http_request *r = b->r;
    b->r = NULL;
    return r;
}

/* ---- nest.core.http: streaming from Lua ---------------------------------- */

static req_box *check_live(lua_State *L) {
    req_box *b = luaL_checkudata(L, 1, HANDLE_MT);
    if (!b->r) luaL_error(L, "the request has ended (client gone or already answered)");
    return b;
}

/* begin(handle, status, headers, content_type) */
static int l_begin(lua_State *L) {
    req_box *b = check_live(L);
    int status = (int)luaL_checkinteger(L, 2);
    luaL_argcheck(L, status >= 200 && status <= 599, 2, "status must be 200..599");
    hbuf hb = {.p = hb.stack, .len = 0, .cap = sizeof hb.stack};
    const char *ct = build_headers(L, 3, &hb);
    if (!ct) ct = luaL_optstring(L, 4, NULL);
    int rc = http_response_begin(b->r, status, hb.p, hb.len, ct);
    if (hb.p != hb.stack) free(hb.p);
    b->streaming = 1;
    lua_pushboolean(L, rc == 0);
    return 1;
}

typedef struct drain_op { sched_op op; int status; } drain_op;

static int drain_push(sched_op *op, lua_State *L) {
    drain_op *d = (drain_op *)op;
    if (d->status < 0) { lua_pushnil(L); lua_pushliteral(L, "closed"); return 2; }
    lua_pushboolean(L, 1);
    return 1;
}
static void drain_release(sched_op *op) { free(op); }
/* only cancelled when the request is gone, so on_drain can no longer fire */
static void drain_cancel(sched_op *op) { free(op); }
static void on_drain(http_request *r, int status, void *ud) {
    (void)r;
    drain_op *d = ud;
    d->status = status;
    sched_op_wake(&d->op);
}

/* write(handle, data) -> true | nil, "closed"; waits while the client is slow */
static int l_write(lua_State *L) {
    req_box *b = luaL_checkudata(L, 1, HANDLE_MT);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    if (!b->r || !b->streaming) { lua_pushnil(L); lua_pushliteral(L, "closed"); return 2; }
    long q = http_response_write(b->r, s, n);
    if (q < 0) { lua_pushnil(L); lua_pushliteral(L, "closed"); return 2; }
    if ((size_t)q < http_server_high_water(b->r)) { lua_pushboolean(L, 1); return 1; }
    drain_op *d = calloc(1, sizeof *d);
    d->op.push = drain_push;
    d->op.release = drain_release;
    d->op.cancel = drain_cancel;
    if (sched_op_begin(L, &d->op, "nest.http.write") != 0) { free(d); return lua_error(L); }
    http_response_on_drain(b->r, on_drain, d);
    return sched_wait(L);
}

static int l_alive(lua_State *L) {
    req_box *b = luaL_checkudata(L, 1, HANDLE_MT);
    lua_pushboolean(L, b->r != NULL);
    return 1;
}

static int l_port(lua_State *L) {
    lua_pushinteger(L, lua_http_port(app_from_lua(L)));
    return 1;
}

static int luaopen_nest_core_http(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"begin", l_begin}, {"write", l_write}, {"alive", l_alive}, {"port", l_port}, {NULL, NULL}};
    luaL_newmetatable(L, HANDLE_MT);
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.http", luaopen_nest_core_http)
