/* lua_ws.c — nest.core.ws: the Lua binding of ws.c, and the bridge that
 * turns incoming WebSocket messages into tasks.
 *
 *   accept(handle, key, opts) -> id | nil, err   upgrade the request (101)
 *       opts: user (string), max_message, queue_max, queue_bytes,
 *             ping_interval, pong_timeout, close_timeout, stall_timeout
 *             (seconds)
 *   accept_key(key) -> string | nil              Sec-WebSocket-Accept
 *   send(id, text) -> true | nil, "closed"|"overflow"
 *   broadcast(room, text) -> n                   members that got it
 *   join(id, room) / leave(id, room) -> true | nil, "closed"
 *   close(id[, code[, reason]]) -> true | nil, "closed"
 *   count() / room_size(room) / is_member(id, room) / user(id) / queued(id)
 *   next_seq() -> n                              1, 2, ... per app (the
 *       cross-instance relay numbers its messages with it; survives reloads)
 *
 * Per-app state lives in APP_SLOT_WS (created on first use, destroyed with
 * the app: every connection gets 1001). Each complete text message runs
 * require("nest.ws")._dispatch(id, text) in its own task of the app's
 * CURRENT generation (looked up at message time, so a reload takes over);
 * a closed connection runs _closed(id, code) the same way when defined.
 * The number of messages in flight per connection is bounded (reading
 * stops above ws_opts.max_pending).
 */
#include "app.h"
#include "bind.h"
#include "gen.h"
#include "http_server.h"
#include "json_out.h"
#include "lua_http.h"
#include "lua_modules.h"
#include "metrics.h"
#include "scheduler.h"
#include "ws.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lws {
    ws_app *w;
    mn_app *a;
    metric *gauge;
    lua_Integer seq;   /* next_seq() */
} lws;

typedef struct msg_task { mn_app *a; uint64_t id; } msg_task;

static void task_done(sched_task *t, sched_status st, lua_State *co, int nres, void *ud) {
    (void)t; (void)nres;
    msg_task *m = ud;
    if (st == SCHED_ERROR) {
        const char *e = lua_tostring(co, -1);
        char f[8192];
        size_t n = (size_t)snprintf(f, sizeof f, ",\"conn\":%llu,\"error\":", (unsigned long long)m->id);
        json_out_str(f + n, sizeof f - n, e ? e : "?", e ? strlen(e) : 1);
        json_out_log("error", "unhandled error in websocket handler", f);
    }
    lws *s = app_slot_get(m->a, APP_SLOT_WS);
    if (s && m->id) ws_message_done(s->w, m->id);
    free(m);
}

/* Push require("nest.ws")[fname] of the current generation; NULL if none. */
static mn_gen *push_entry(mn_app *a, const char *fname) {
    mn_gen *g = app_current_gen(a);
    if (!g || g->retired) return NULL;
    lua_State *L = g->L;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "nest.ws") != LUA_TTABLE) { lua_pop(L, 2); return NULL; }
    if (lua_getfield(L, -1, fname) != LUA_TFUNCTION) { lua_pop(L, 3); return NULL; }
    lua_replace(L, -3);
    lua_pop(L, 1);
    return g;
}

static void ev_message(ws_app *w, uint64_t id, const char *text, size_t n, void *ud) {
    lws *s = ud;
    mn_gen *g = push_entry(s->a, "_dispatch");
    msg_task *m = g ? malloc(sizeof *m) : NULL;
    if (!m) {
        if (g) lua_pop(g->L, 1);
        ws_message_done(w, id);
        return;
    }
    m->a = s->a;
    m->id = id;
    lua_pushinteger(g->L, (lua_Integer)id);
    lua_pushlstring(g->L, text, n);
    if (!sched_spawn(g, NULL, 2, task_done, m)) { free(m); ws_message_done(w, id); }
}

static void ev_close(ws_app *w, uint64_t id, int code, void *ud) {
    (void)w;
    lws *s = ud;
    mn_gen *g = push_entry(s->a, "_closed");
    msg_task *m = g ? malloc(sizeof *m) : NULL;
    if (!m) { if (g) lua_pop(g->L, 1); return; }
    m->a = s->a;
    m->id = 0;   /* nothing to mark done */
    lua_pushinteger(g->L, (lua_Integer)id);
    lua_pushinteger(g->L, code);
    if (!sched_spawn(g, NULL, 2, task_done, m)) free(m);
}

static void ev_count(ws_app *w, size_t n, void *ud) {
    (void)w;
    lws *s = ud;
    if (s->gauge) metrics_set(s->gauge, (double)n, NULL);
}

static void lws_destroy(void *p) {
    lws *s = p;
    ws_app_close(s->w);
    free(s);
}

static lws *get_state(lua_State *L) {
    mn_app *a = app_from_lua(L);
    lws *s = app_slot_get(a, APP_SLOT_WS);
    if (s) return s;
    s = calloc(1, sizeof *s);
    if (!s) luaL_error(L, "nest.ws: out of memory");
    s->a = a;
    ws_events ev = {ev_message, ev_close, ev_count, s};
    s->w = ws_app_create(app_loop(a), &ev);
    if (!s->w) { free(s); luaL_error(L, "nest.ws: out of memory"); }
    metrics_registry *reg = app_metrics(a);
    if (reg) {
        s->gauge = metrics_gauge(reg, "websocket_active_connections",
                                 "Open WebSocket connections", NULL, 0);
        if (s->gauge) metrics_set(s->gauge, 0, NULL);
    }
    app_slot_set(a, APP_SLOT_WS, s, lws_destroy);
    return s;
}

static uint64_t check_id(lua_State *L, int idx) {
    lua_Integer v = luaL_checkinteger(L, idx);
    luaL_argcheck(L, v > 0, idx, "connection id must be positive");
    return (uint64_t)v;
}

typedef struct adopt_ctx { lws *s; const ws_opts *o; const char *user; uint64_t id; } adopt_ctx;

static void release_held(void *held) { http_held_release(held); }

static void on_taken(uv_tcp_t *tcp, http_held *held, const char *buffered, size_t n, void *ud) {
    adopt_ctx *c = ud;
    c->id = ws_conn_adopt(c->s->w, tcp, buffered, n, c->o, c->user, release_held, held);
}

/* accept(handle, key, opts) */
static int l_accept(lua_State *L) {
    size_t kl;
    const char *key = luaL_checklstring(L, 2, &kl);
    if (lua_isnoneornil(L, 3)) { lua_settop(L, 2); lua_newtable(L); }
    luaL_checktype(L, 3, LUA_TTABLE);
    ws_opts o;
    ws_opts_default(&o);
    o.max_message = (size_t)bind_opt_integer(L, 3, "max_message", (lua_Integer)o.max_message,
                                             1, LUA_MAXINTEGER);
    o.queue_max = (size_t)bind_opt_integer(L, 3, "queue_max", (lua_Integer)o.queue_max,
                                           1, LUA_MAXINTEGER);
    o.queue_bytes = (size_t)bind_opt_integer(L, 3, "queue_bytes", (lua_Integer)o.queue_bytes,
                                             1, LUA_MAXINTEGER);
    o.max_pending = (unsigned)bind_opt_integer(L, 3, "max_pending", o.max_pending, 1, UINT_MAX);
    o.ping_interval_ms = (unsigned)bind_opt_ms(L, 3, "ping_interval", o.ping_interval_ms, 4e6);
    o.pong_timeout_ms = (unsigned)bind_opt_ms(L, 3, "pong_timeout", o.pong_timeout_ms, 4e6);
    o.close_timeout_ms = (unsigned)bind_opt_ms(L, 3, "close_timeout", o.close_timeout_ms, 4e6);
    o.stall_timeout_ms = (unsigned)bind_opt_ms(L, 3, "stall_timeout", o.stall_timeout_ms, 4e6);
    lua_getfield(L, 3, "user");
    const char *user = lua_tostring(L, -1);   /* kept on the stack */
    char accept[29];
    if (ws_accept_key(key, kl, accept) != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid Sec-WebSocket-Key");
        return 2;
    }
    lws *s = get_state(L);   /* may raise: before taking the request */
    http_request *r = mn_http_take_request(L, 1);   /* ours now, whatever happens */
    if (!r) { lua_pushnil(L); lua_pushliteral(L, "the request has ended"); return 2; }
    char headers[160];
    int hl = snprintf(headers, sizeof headers,
                      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
                      accept);
    adopt_ctx ctx = {s, &o, user, 0};
    int rc = http_request_upgrade(r, headers, (size_t)hl, on_taken, &ctx);
    if (rc != 0 || !ctx.id) {
        lua_pushnil(L);
        lua_pushstring(L, rc ? uv_strerror(rc) : "cannot adopt the connection");
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)ctx.id);
    return 1;
}

static int l_accept_key(lua_State *L) {
    size_t kl;
    const char *key = luaL_checklstring(L, 1, &kl);
    char out[29];
    if (ws_accept_key(key, kl, out) != 0) { lua_pushnil(L); return 1; }
    lua_pushstring(L, out);
    return 1;
}

static int push_rc(lua_State *L, int rc) {
    if (rc == 0) { lua_pushboolean(L, 1); return 1; }
    lua_pushnil(L);
    lua_pushstring(L, rc == -ENOENT ? "closed" : rc == -ENOBUFS ? "overflow"
                      : rc == -ENOMEM ? "out of memory" : "error");
    return 2;
}

static int l_send(lua_State *L) {
    uint64_t id = check_id(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    return push_rc(L, ws_send_text(get_state(L)->w, id, s, n));
}

static int l_broadcast(lua_State *L) {
    const char *room = luaL_checkstring(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    long k = ws_broadcast_text(get_state(L)->w, room, s, n);
    if (k < 0) return push_rc(L, (int)k);
    lua_pushinteger(L, k);
    return 1;
}

static int l_join(lua_State *L) {
    uint64_t id = check_id(L, 1);
    return push_rc(L, ws_join(get_state(L)->w, id, luaL_checkstring(L, 2)));
}

static int l_leave(lua_State *L) {
    uint64_t id = check_id(L, 1);
    return push_rc(L, ws_leave(get_state(L)->w, id, luaL_checkstring(L, 2)));
}

static int l_close(lua_State *L) {
    uint64_t id = check_id(L, 1);
    lua_Integer code = luaL_optinteger(L, 2, 1000);
    luaL_argcheck(L, code >= 1000 && code <= 4999 && code != 1004 && code != 1005 && code != 1006 &&
                         code != 1015, 2, "not a close code that may be sent");
    const char *reason = luaL_optstring(L, 3, NULL);
    luaL_argcheck(L, !reason || strlen(reason) <= 123, 3, "close reason over 123 bytes");
    return push_rc(L, ws_close(get_state(L)->w, id, (int)code, reason));
}

static int l_count(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)ws_count(get_state(L)->w));
    return 1;
}

static int l_room_size(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)ws_room_size(get_state(L)->w, luaL_checkstring(L, 1)));
    return 1;
}

static int l_is_member(lua_State *L) {
    uint64_t id = check_id(L, 1);
    lua_pushboolean(L, ws_is_member(get_state(L)->w, id, luaL_checkstring(L, 2)));
    return 1;
}

static int l_user(lua_State *L) {
    const char *u = ws_user(get_state(L)->w, check_id(L, 1));
    if (u) lua_pushstring(L, u); else lua_pushnil(L);
    return 1;
}

static int l_queued(lua_State *L) {
    long q = ws_queued_bytes(get_state(L)->w, check_id(L, 1));
    if (q < 0) lua_pushnil(L); else lua_pushinteger(L, q);
    return 1;
}

static int l_next_seq(lua_State *L) {
    lua_pushinteger(L, ++get_state(L)->seq);
    return 1;
}

static int luaopen_nest_core_ws(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"accept", l_accept}, {"accept_key", l_accept_key}, {"send", l_send},
        {"broadcast", l_broadcast}, {"join", l_join}, {"leave", l_leave}, {"close", l_close},
        {"count", l_count}, {"room_size", l_room_size}, {"is_member", l_is_member},
        {"user", l_user}, {"queued", l_queued}, {"next_seq", l_next_seq}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.ws", luaopen_nest_core_ws)
