/* lua_http.c — nest.core.http: the request handle Lua streams a response
 * through, and the pieces the app's HTTP side (app_http.c) uses to hand a
 * request to Lua and turn what Lua returns into response headers.
 *
 * A request reaches Lua as a plain table (method, path, raw_query, headers
 * with lower-case names, body, ip, id, http_minor, handle). The handle (a
 * userdata) lets Lua stream a response; it is emptied when the request
 * ends, so a stale one is harmless.
 */
#include "lua_http.h"
#include "app_http.h"
#include "bind.h"
#include "lua_modules.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HANDLE_MT "nest.http.handle"

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

mn_http_handle *mn_http_push_request(lua_State *L, http_request *r, void *owner) {
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
    mn_http_handle *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->r = r;
    b->owner = owner;
    b->task = NULL;
    b->streaming = 0;
    /* the metatable may not exist yet if nest.core.http was never required */
    bind_createmeta(L, HANDLE_MT, NULL, NULL);
    luaL_setmetatable(L, HANDLE_MT);
    lua_setfield(L, -2, "handle");
    return b;
}

/* ---- Lua -> response ---------------------------------------------------- */

static void hbuf_add(mn_hbuf *b, const char *s, size_t n) {
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

static void add_header(mn_hbuf *b, const char *name, size_t nl, const char *v, size_t vl) {
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

const char *mn_http_build_headers(lua_State *L, int idx, mn_hbuf *b) {
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

void mn_hbuf_init(mn_hbuf *b) { b->p = b->stack; b->len = 0; b->cap = sizeof b->stack; }
void mn_hbuf_free(mn_hbuf *b) { if (b->p != b->stack) free(b->p); }

http_request *mn_http_take_request(lua_State *L, int idx) {
    mn_http_handle *b = luaL_checkudata(L, idx, HANDLE_MT);
    http_request *r = b->r;
    b->r = NULL;
    return r;
}

/* ---- nest.core.http: streaming from Lua ---------------------------------- */

static mn_http_handle *check_live(lua_State *L) {
    mn_http_handle *b = luaL_checkudata(L, 1, HANDLE_MT);
    if (!b->r) luaL_error(L, "the request has ended (client gone or already answered)");
    return b;
}

/* begin(handle, status, headers, content_type) */
static int l_begin(lua_State *L) {
    mn_http_handle *b = check_live(L);
    int status = (int)luaL_checkinteger(L, 2);
    luaL_argcheck(L, status >= 200 && status <= 599, 2, "status must be 200..599");
    mn_hbuf hb;
    mn_hbuf_init(&hb);
    const char *ct = mn_http_build_headers(L, 3, &hb);
    if (!ct) ct = luaL_optstring(L, 4, NULL);
    int rc = http_response_begin(b->r, status, hb.p, hb.len, ct);
    mn_hbuf_free(&hb);
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
    mn_http_handle *b = luaL_checkudata(L, 1, HANDLE_MT);
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
    mn_http_handle *b = luaL_checkudata(L, 1, HANDLE_MT);
    lua_pushboolean(L, b->r != NULL);
    return 1;
}

static int l_port(lua_State *L) {
    lua_pushinteger(L, app_http_port(app_from_lua(L)));
    return 1;
}

static int luaopen_nest_core_http(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"begin", l_begin}, {"write", l_write}, {"alive", l_alive}, {"port", l_port}, {NULL, NULL}};
    bind_createmeta(L, HANDLE_MT, NULL, NULL);
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.http", luaopen_nest_core_http)
