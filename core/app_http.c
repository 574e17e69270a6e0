/* app_http.c — the app's HTTP side: the server built from hooks.server,
 * requests as Lua tasks, and the app's policy for what comes first.
 *
 * Each request becomes a task running hooks.dispatch(req) in the app's
 * current generation (req as lua_http.c pushes it); dispatch returns
 *   status, headers, body, route, user, file
 * and the response is written from those. A request whose client went away
 * has its task cancelled. GET/HEAD outside /api try the static files first
 * (static_first): the UI's assets never wake Lua, and nothing under /api
 * can be shadowed by a file.
 */
#include "app_http.h"
#include "bind.h"
#include "http_server.h"
#include "http_static.h"
#include "json_out.h"
#include "logbuf.h"
#include "lua_http.h"
#include "metrics.h"
#include "scheduler.h"

#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct lh_server {
    http_server *srv;
    http_static *st;
    mn_app *app;
    logbuf *log;                /* the access log's buffer (a file or stderr) */
    metrics_registry *mreg;     /* the app's; NULL once either side is gone */
    metric *m_duration;         /* http_request_duration_seconds{method,route,status_code} */
    metric *m_inflight;         /* http_requests_in_flight, refreshed by a collector */
} lh_server;

static void send_error(http_request *r, int status, const char *code, const char *msg) {
    char body[512];
    size_t n = json_out_error(body, sizeof body, code, msg, http_request_id(r));
    http_response_send(r, status, NULL, 0, "application/json", body, n, 0);
}

static void on_done(sched_task *t, sched_status st, lua_State *co, int nres, void *ud) {
    (void)t;
    mn_http_handle *b = ud;
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
        const char *e = lua_tostring(co, -1);
        char f[8192];
        size_t n = (size_t)snprintf(f, sizeof f, ",\"requestId\":\"%s\",\"error\":", http_request_id(r));
        json_out_str(f + n, sizeof f - n, e ? e : "?", e ? strlen(e) : 1);
        json_out_log("error", "unhandled error in request", f);
        send_error(r, 500, "INTERNAL", "Internal server error");
        return;
    }
    int base = lua_gettop(co) - nres + 1;
    const char *route = nres >= 4 ? lua_tostring(co, base + 3) : NULL;
    const char *user = nres >= 5 ? lua_tostring(co, base + 4) : NULL;
    const char *client_ip = nres >= 7 ? lua_tostring(co, base + 6) : NULL;
    http_request_set_meta(r, route, user, client_ip);
    if (b->streaming) { http_response_end(r); return; }
    int status = nres >= 1 && lua_isinteger(co, base) ? (int)lua_tointeger(co, base) : 500;
    if (status < 100 || status > 599) status = 500;
    const char *file = nres >= 6 ? lua_tostring(co, base + 5) : NULL;
    if (file && ((lh_server *)b->owner)->st && http_static_serve(((lh_server *)b->owner)->st, r, file, strlen(file), HTTP_STATIC_MUST)) return;
    if (file) { send_error(r, 404, "NOT_FOUND", "Not found"); return; }
    mn_hbuf hb;
    mn_hbuf_init(&hb);
    const char *ct = nres >= 2 ? mn_http_build_headers(co, base + 1, &hb) : NULL;
    size_t blen = 0;
    const char *body = nres >= 3 ? lua_tolstring(co, base + 2, &blen) : NULL;
    http_response_send(r, status, hb.p, hb.len, ct, body ? body : "", body ? blen : 0, 0);
    mn_hbuf_free(&hb);
}

/* ---- server callbacks --------------------------------------------------- */

/* The static files are tried first for everything but the API. */
static int static_first(http_request *r, void *ud) {
    (void)ud;
    size_t pl;
    const char *path = http_request_path(r, &pl);
    return !(pl >= 4 && !memcmp(path, "/api", 4) && (pl == 4 || path[4] == '/'));
}

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
    mn_http_handle *b = mn_http_push_request(L, r, h);
    sched_task *t = sched_spawn(g, NULL, 1, on_done, b);
    if (!t) { b->r = NULL; send_error(r, 503, "OVERLOADED", "Out of memory"); return; }
    b->task = t;
    http_request_set_userdata(r, b);
}

static void on_abort(http_request *r, void *ud) {
    (void)ud;
    mn_http_handle *b = http_request_userdata(r);
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

int app_http_start(mn_app *a, mn_gen *g, const char **err) {
    lua_State *L = g->L;
    if (gen_push_hook(g, "server") != LUA_TTABLE) {
        lua_pop(L, 1);
        *err = "hooks.server is missing";
        return -1;
    }
    int idx = lua_gettop(L);
    http_limits lim;
    http_limits_default(&lim);
    lim.max_header_bytes = (size_t)bind_get_number(L, idx, "max_header_bytes", (double)lim.max_header_bytes);
    lim.max_body_bytes = (size_t)bind_get_number(L, idx, "max_body_bytes", (double)lim.max_body_bytes);
    lim.header_timeout_ms = (unsigned)(bind_get_number(L, idx, "header_timeout", 10) * 1000);
    lim.idle_timeout_ms = (unsigned)(bind_get_number(L, idx, "idle_timeout", 60) * 1000);
    lim.max_connections = (unsigned)bind_get_number(L, idx, "max_connections", lim.max_connections);
    lim.max_connections_per_ip = (unsigned)bind_get_number(L, idx, "max_connections_per_ip",
                                                   lim.max_connections_per_ip);
    lim.max_body_inflight = (size_t)bind_get_number(L, idx, "max_body_inflight", (double)lim.max_body_inflight);
    lim.send_timeout_ms = (unsigned)(bind_get_number(L, idx, "send_timeout", lim.send_timeout_ms / 1000.0) * 1000);
    lim.gzip_min_bytes = (size_t)bind_get_number(L, idx, "gzip_min_bytes", (double)lim.gzip_min_bytes);
    lim.write_high_water = (size_t)bind_get_number(L, idx, "write_high_water", (double)lim.write_high_water);
    lim.slow_request_s = bind_get_number(L, idx, "slow_request", 1.0);
    lua_getfield(L, idx, "access_log");
    lim.access_log = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);

    lh_server *h = calloc(1, sizeof *h);
    if (!h) { lua_pop(L, 1); *err = "out of memory"; return -1; }
    h->app = a;
    http_handler hd = {on_request, on_abort, body_limit, h, on_finished, static_first};
    metrics_attach(h);
    h->srv = http_server_create(app_loop(a), &lim, &hd);
    if (!h->srv) { metrics_detach(h); free(h); lua_pop(L, 1); *err = "out of memory"; return -1; }
    set_uncapped_peers(L, idx, h->srv);
    const char *headers = bind_get_string(L, idx, "headers");
    if (headers) http_server_set_headers(h->srv, headers);
    const char *dir = bind_get_string(L, idx, "static_dir");
    if (dir && (h->st = http_static_open(dir))) http_server_set_static(h->srv, h->st);
    const char *logf = bind_get_string(L, idx, "log_file");
    int fd = logf ? open(logf, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (lim.access_log && (h->log = logbuf_open(app_loop(a), fd >= 0 ? fd : 2, fd >= 0)))
        http_server_set_log(h->srv, logbuf_write, h->log);
    else if (fd >= 0) close(fd);
    const char *host = bind_get_string(L, idx, "host");
    int port = (int)bind_get_number(L, idx, "port", 8080);
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

void app_http_stop_accepting(mn_app *a) {
    lh_server *h = app_slot_get(a, APP_SLOT_HTTP);
    if (h) http_server_stop_accepting(h->srv);
}

int app_http_inflight(mn_app *a) {
    lh_server *h = app_slot_get(a, APP_SLOT_HTTP);
    return h ? http_server_inflight(h->srv) : 0;
}

int app_http_port(mn_app *a) {
    lh_server *h = app_slot_get(a, APP_SLOT_HTTP);
    return h ? http_server_port(h->srv) : -1;
}
