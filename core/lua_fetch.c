/* lua_fetch.c — "nest.core.fetch": the Lua binding of fetch.c.
 *
 *   request(url[, opts]) -> res | nil, err, detail
 *     opts: method ("GET"), headers (array of "Name: value" strings),
 *           body (string), connect_timeout / timeout (seconds; defaults 2 / 10),
 *           max_size (bytes; default 10 MiB), follow (boolean),
 *           max_redirects (default 5), service (metrics label),
 *           max_host_connections (the app's per-host cap; default 10),
 *           addresses ("lan", the default: anything but link-local,
 *           metadata and reserved addresses; "public": loopback and
 *           private networks refused too — see fetch_addr_class)
 *     res:  {status, headers (lower-case names, repeats joined by ", "),
 *            body, new_connections (0 = a kept-alive connection was reused),
 *            redirects, url (the final one), duration (seconds)}
 *     err:  "timeout", "connect refused: ...", "connect failed: ...",
 *           "resolve failed: ...", "too large", "too many redirects",
 *           "tls: ...", "bad url: ...", "address not allowed: <ip> (...)"
 *           or curl's message; detail is curl's
 *           own message.
 *   resolve(host) -> {{address, class = "public"|"private"|"forbidden"}, ...}
 *                  | nil, "resolve failed: ..."   (getaddrinfo on libuv's pool,
 *                  at most 3 s)
 * The task yields until the response is complete. A cancelled task (its
 * client went away, the app stops) cancels the transfer; it is never resumed.
 * Bad arguments (method, header lines) raise.
 *
 * The app's fetch_client lives in APP_SLOT_FETCH, created on first use.
 * With opts.service, the duration of every completed request (failed ones
 * too) is observed in upstream_request_duration_seconds{service} of the
 * app's metrics registry.
 */
#include "app.h"
#include "bind.h"
#include "fetch.h"
#include "lua_modules.h"
#include "metrics.h"
#include "scheduler.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

typedef struct fetch_op {
    sched_op op;
    fetch_req *r;
    mn_app *app;
    char *service;
} fetch_op;

static void destroy_client(void *p) { fetch_client_destroy(p); }

static fetch_client *client_for(lua_State *L, mn_app *a, long max_host) {
    fetch_client *c = app_slot_get(a, APP_SLOT_FETCH);
    if (!c) {
        c = fetch_client_create(app_loop(a), max_host);
        if (!c) luaL_error(L, "nest.fetch: cannot create the curl multi handle");
        app_slot_set(a, APP_SLOT_FETCH, c, destroy_client);
    } else if (max_host > 0) {
        fetch_client_set_max_host_connections(c, max_host);
    }
    return c;
}

static void observe(fetch_op *o) {
    metrics_registry *reg = app_metrics(o->app);
    if (!reg) return;
    static const char *const labels[] = {"service"};
    metric *m = metrics_histogram(reg, "upstream_request_duration_seconds",
                                  "Duration of outbound HTTP requests, by upstream service",
                                  labels, 1, NULL, 0);
    const char *values[] = {o->service};
    if (m) metrics_observe(m, fetch_req_duration(o->r), values);
}

static void on_done(fetch_req *r, void *ud) {
    fetch_op *o = ud;
    (void)r;
    if (o->service) observe(o);
    sched_op_wake(&o->op);
}

static void op_free(fetch_op *o) {
    free(o->service);
    free(o);
}

static void op_release(sched_op *op) {
    fetch_op *o = (fetch_op *)op;
    fetch_req_free(o->r);
    op_free(o);
}

static void op_cancel(sched_op *op) {
    fetch_op *o = (fetch_op *)op;
    fetch_cancel(o->r);
    op_free(o);
}

static void push_headers(lua_State *L, const char *p, size_t n) {
    lua_newtable(L);
    const char *end = p + n;
    luaL_Buffer b;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && colon > p) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            luaL_buffinit(L, &b);
            for (const char *q = p; q < colon; q++) luaL_addchar(&b, (char)tolower((unsigned char)*q));
            luaL_pushresult(&b);                          /* name */
            lua_pushvalue(L, -1);
            if (lua_rawget(L, -3) == LUA_TSTRING) {       /* a repeat: join */
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, -3);
        }
        p = eol ? eol + 1 : end;
    }
}

static int push_error(lua_State *L, fetch_req *r) {
    const char *detail = fetch_req_error(r);
    lua_pushnil(L);
    switch (fetch_req_result(r)) {
    case FETCH_ETIMEOUT: lua_pushliteral(L, "timeout"); break;
    case FETCH_ECONNECT:
        lua_pushfstring(L, "%s: %s", 
                        fetch_req_os_errno(r) == ECONNREFUSED ? "connect refused" : "connect failed", detail);
        break;
    case FETCH_ERESOLVE: lua_pushfstring(L, "resolve failed: %s", detail); break;
    case FETCH_ETOOLARGE: lua_pushliteral(L, "too large"); break;
    case FETCH_EREDIRECTS: lua_pushliteral(L, "too many redirects"); break;
    case FETCH_ETLS: lua_pushfstring(L, "tls: %s", detail); break;
    case FETCH_EBLOCKED:
        lua_pushfstring(L, "address not allowed: %s (%s)", fetch_req_blocked_addr(r),
                        fetch_addr_class_str(fetch_req_blocked_addr(r)) == FETCH_ADDR_FORBIDDEN
                            ? "link-local, metadata or reserved" : "loopback or private network");
        break;
    default: lua_pushstring(L, detail[0] ? detail : "fetch failed"); break;
    }
    lua_pushstring(L, detail);
    return 3;
}

static int op_push(sched_op *op, lua_State *L) {
    fetch_req *r = ((fetch_op *)op)->r;
    if (fetch_req_result(r) != FETCH_OK) return push_error(L, r);
    size_t n;
    const char *p;
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, fetch_req_status(r));
    lua_setfield(L, -2, "status");
    p = fetch_req_headers(r, &n);
    push_headers(L, p, n);
    lua_setfield(L, -2, "headers");
    p = fetch_req_body(r, &n);
    lua_pushlstring(L, p, n);
    lua_setfield(L, -2, "body");
    lua_pushinteger(L, fetch_req_new_connections(r));
    lua_setfield(L, -2, "new_connections");
    lua_pushinteger(L, fetch_req_redirects(r));
    lua_setfield(L, -2, "redirects");
    lua_pushstring(L, fetch_req_effective_url(r));
    lua_setfield(L, -2, "url");
    lua_pushnumber(L, fetch_req_duration(r));
    lua_setfield(L, -2, "duration");
    return 1;
}

static int l_request(lua_State *L) {
    const char *url = luaL_checkstring(L, 1);
    if (lua_isnoneornil(L, 2)) { lua_settop(L, 1); lua_newtable(L); }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    fetch_options o = {0};
    o.url = url;
    o.method = bind_opt_string(L, 2, "method", NULL);
    o.body = bind_opt_string(L, 2, "body", &o.body_len);
    o.connect_timeout_ms = (long)bind_opt_ms(L, 2, "connect_timeout", 0, 86400);
    o.total_timeout_ms = (long)bind_opt_ms(L, 2, "timeout", 0, 86400);
    o.max_size = (size_t)bind_opt_integer(L, 2, "max_size", 0, 1, (lua_Integer)1 << 40);
    o.max_redirects = (int)bind_opt_integer(L, 2, "max_redirects", 0, 1, 50);
    long max_host = (long)bind_opt_integer(L, 2, "max_host_connections", 0, 1, 1000);
    lua_getfield(L, 2, "follow");
    o.follow = lua_toboolean(L, -1);
    lua_pop(L, 1);
    const char *addresses = bind_opt_string(L, 2, "addresses", NULL);
    if (addresses && strcmp(addresses, "public") != 0 && strcmp(addresses, "lan") != 0)
        luaL_error(L, "bad argument #2 to 'request' (opts.addresses must be \"public\" or \"lan\")");
    o.public_only = addresses && !strcmp(addresses, "public");
    const char *service = bind_opt_string(L, 2, "service", NULL);

    /* headers: an array of "Name: value" strings, kept alive by opts */
    if (lua_getfield(L, 2, "headers") != LUA_TNIL) {
        if (!lua_istable(L, -1)) luaL_error(L, "bad argument #2 to 'request' (opts.headers must be a table)");
        int n = (int)luaL_len(L, -1);
        const char **hs = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);  /* slot 4 */
        for (int i = 1; i <= n; i++) {
            if (lua_rawgeti(L, 3, i) != LUA_TSTRING)
                luaL_error(L, "bad argument #2 to 'request' (opts.headers[%d] must be a string)", i);
            hs[i - 1] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        o.headers = hs;
        o.nheaders = n;
    }

    mn_app *a = app_from_lua(L);
    fetch_client *c = client_for(L, a, max_host);
    fetch_op *op = calloc(1, sizeof *op);
    if (!op) return luaL_error(L, "out of memory");
    if (service && !(op->service = strdup(service))) { free(op); return luaL_error(L, "out of memory"); }
    op->app = a;
    op->op.push = op_push;
    op->op.release = op_release;
    op->op.cancel = op_cancel;
    const char *why = "";
    int rc = fetch_start(c, &o, on_done, op, &op->r, &why);
    if (rc != 0) {
        op_free(op);
        if (rc == -ENOMEM) return luaL_error(L, "out of memory");
        if (strncmp(why, "url", 3) == 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "bad url: %s", why);
            return 2;
        }
        return luaL_error(L, "bad argument to 'request' (%s)", why);
    }
    /* fetch_start never calls done() itself, so binding now is in time */
    if (sched_op_begin(L, &op->op, "nest.fetch") != 0) {
        fetch_cancel(op->r);
        op_free(op);
        return lua_error(L);
    }
    return sched_wait(L);
}

/* ---- resolve(host) -------------------------------------------------------- */

/* The lookup runs on libuv's thread pool and cannot be stopped once
 * running: it has a struct of its own (resolve_req) that its callback
 * frees, and the op only points at it while it waits. A cancelled or
 * expired op detaches itself; the callback then drops the answer. */
#define RESOLVE_TIMEOUT 3.0

typedef struct resolve_op resolve_op;
typedef struct resolve_req { uv_getaddrinfo_t req; resolve_op *op; } resolve_req;
struct resolve_op {
    sched_op op;
    resolve_req *rq;           /* NULL once answered or detached */
    struct addrinfo *res;
    int status;
};

static void resolve_detach(resolve_op *o) {
    if (!o->rq) return;
    o->rq->op = NULL;
    uv_cancel((uv_req_t *)&o->rq->req);   /* its callback still comes, and frees rq */
    o->rq = NULL;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    resolve_req *rq = req->data;
    resolve_op *o = rq->op;
    free(rq);
    if (!o) { uv_freeaddrinfo(res); return; }
    o->rq = NULL;
    o->status = status;
    o->res = res;
    sched_op_wake(&o->op);
}

static void resolve_expired(sched_op *op) {
    resolve_op *o = (resolve_op *)op;
    resolve_detach(o);
    o->status = UV_ETIMEDOUT;
    sched_op_wake(&o->op);
}

/* -> {{address = "192.0.2.1", class = "public"|"private"|"forbidden"}, ...} | nil, err */
static int resolve_push(sched_op *op, lua_State *L) {
    resolve_op *o = (resolve_op *)op;
    if (o->status < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "resolve failed: %s", uv_strerror(o->status));
        return 2;
    }
    static const char *const names[] = {"public", "private", "forbidden"};
    lua_newtable(L);
    int n = 0;
    for (struct addrinfo *ai = o->res; ai; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN];
        const void *in = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                                   : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            !inet_ntop(ai->ai_family, in, text, sizeof text))
            continue;
        lua_createtable(L, 0, 2);
        lua_pushstring(L, text);
        lua_setfield(L, -2, "address");
        lua_pushstring(L, names[fetch_addr_class(ai->ai_addr)]);
        lua_setfield(L, -2, "class");
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static void resolve_release(sched_op *op) {
    resolve_op *o = (resolve_op *)op;
    resolve_detach(o);
    uv_freeaddrinfo(o->res);
    free(o);
}

static void resolve_cancel(sched_op *op) {
    resolve_op *o = (resolve_op *)op;
    resolve_detach(o);
    free(o);
}

static int l_resolve(lua_State *L) {
    const char *host = luaL_checkstring(L, 1);
    luaL_argcheck(L, *host && strlen(host) <= 253, 1, "host name expected");
    resolve_op *o = calloc(1, sizeof *o);
    resolve_req *rq = calloc(1, sizeof *rq);
    if (!o || !rq) { free(o); free(rq); return luaL_error(L, "out of memory"); }
    o->op.push = resolve_push;
    o->op.release = resolve_release;
    o->op.cancel = resolve_cancel;
    if (sched_op_begin(L, &o->op, "nest.fetch.resolve") != 0) { free(o); free(rq); return lua_error(L); }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    uv_loop_t *loop = app_loop(app_from_lua(L));
    rq->req.data = rq;
    rq->op = o;
    int rc = uv_getaddrinfo(loop, &rq->req, on_resolved, host, NULL, &hints);
    if (rc != 0) {
        free(rq);
        o->status = rc;
        sched_op_wake(&o->op);
    } else {
        o->rq = rq;
        sched_op_deadline(&o->op, loop, RESOLVE_TIMEOUT, resolve_expired);
    }
    return sched_wait(L);
}

/* stats() -> {max_host_connections} (no client yet: the default) */
static int l_stats(lua_State *L) {
    fetch_client *c = app_slot_get(app_from_lua(L), APP_SLOT_FETCH);
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, c ? fetch_client_max_host_connections(c) : FETCH_DEFAULT_MAX_HOST_CONNECTIONS);
    lua_setfield(L, -2, "max_host_connections");
    return 1;
}

static int luaopen_nest_core_fetch(lua_State *L) {
    static const luaL_Reg fns[] = {{"request", l_request}, {"resolve", l_resolve}, {"stats", l_stats}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.fetch", luaopen_nest_core_fetch)
