/* lua_redis.c — "nest.core.redis": the Lua binding of redis_client.c.
 * lua/nest/redis.lua is the public API (URL parsing, config, logging, eval).
 *
 *   configure{host, port, password, db, connect_timeout, reconnect_max}
 *   configured() / available() -> boolean
 *   event() -> "down" | "back" | nil       outage transitions, each once
 *   call(timeout, cmd, ...) -> reply | nil, err
 *   pipeline(timeout, {{cmd, ...}, ...}) -> {reply, ...} | nil, err
 *   subscribe(channel, fn) -> handle with :unsubscribe()
 *   sha1(s) -> hex
 *
 * Replies: status and bulk strings -> string, integer -> integer, array ->
 * table, nil -> nil (inside an array: the JSON null sentinel, a NULL light
 * userdata), error -> for call: nil, message; inside an array or a pipeline:
 * {err = message}. Transport errors: "unavailable", "timeout", "not configured".
 *
 * A subscription calls fn(channel, message) in a new task per message, and
 * ends with :unsubscribe() or when its generation retires.
 */
#include "app.h"
#include "bind.h"
#include "gen.h"
#include "lua_modules.h"
#include "redis_client.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SUB_MT "nest.redis.sub"
#define MAX_ARGS 1024

/* The app's client, in its slot: one for every generation, so connections
 * and subscriptions' transport survive reloads. */
static redis_client *app_redis(mn_app *a) {
    redis_client *c = app_slot_get(a, APP_SLOT_REDIS);
    if (c) return c;
    if (!(c = redis_client_create(app_loop(a)))) return NULL;
    app_slot_set(a, APP_SLOT_REDIS, c, redis_client_destroy);
    return c;
}

static redis_client *client(lua_State *L) {
    redis_client *c = app_redis(app_from_lua(L));
    if (!c) luaL_error(L, "nest.redis: out of memory");
    return c;
}

static int push_transport_error(lua_State *L, int rc) {
    lua_pushnil(L);
    if (rc == REDIS_CLIENT_NOT_CONFIGURED) lua_pushliteral(L, "not configured");
    else if (rc == REDIS_CLIENT_NOMEM) lua_pushliteral(L, "out of memory");
    else lua_pushliteral(L, "unavailable");
    return 2;
}

/* ---- configure / state ----------------------------------------------------- */

static int l_configure(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    redis_options o = {0};
    lua_getfield(L, 1, "host");
    o.host = luaL_optstring(L, -1, "127.0.0.1");
    lua_getfield(L, 1, "port");
    o.port = (int)luaL_optinteger(L, -1, 6379);
    lua_getfield(L, 1, "password");
    o.password = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 1, "db");
    o.db = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 1, "connect_timeout");
    o.connect_timeout = luaL_optnumber(L, -1, 1);
    lua_getfield(L, 1, "reconnect_max");
    o.reconnect_max = luaL_optnumber(L, -1, 5);
    luaL_argcheck(L, o.port > 0 && o.port < 65536, 1, "port must be 1..65535");
    if (redis_client_configure(client(L), &o) != 0) return luaL_error(L, "nest.redis: out of memory");
    lua_pushboolean(L, 1);
    return 1;
}

static int l_configured(lua_State *L) {
    redis_client *c = app_redis(app_from_lua(L));
    lua_pushboolean(L, c && redis_client_configured(c));
    return 1;
}

static int l_available(lua_State *L) {
    redis_client *c = app_redis(app_from_lua(L));
    lua_pushboolean(L, c && redis_client_configured(c) && redis_client_available(c));
    return 1;
}

static int l_event(lua_State *L) {
    int e = redis_client_take_event(client(L));
    if (e == 1) lua_pushliteral(L, "down");
    else if (e == 2) lua_pushliteral(L, "back");
    else lua_pushnil(L);
    return 1;
}

/* ---- commands -------------------------------------------------------------- */

typedef struct cmd_op cmd_op;
typedef struct cmd_slot { cmd_op *op; redis_req *req; redisReply *reply; int done; } cmd_slot;

struct cmd_op {
    sched_op op;
    int n, remaining;
    int single;               /* call(): unwrap the one reply */
    const char *err;          /* transport error, or NULL */
    cmd_slot slots[];
};

static void push_reply(lua_State *L, const redisReply *r, int nested) {
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: lua_pushlstring(L, r->str, r->len); break;
    case REDIS_REPLY_INTEGER: lua_pushinteger(L, (lua_Integer)r->integer); break;
    case REDIS_REPLY_NIL:
        if (nested) lua_pushlightuserdata(L, NULL); else lua_pushnil(L);
        break;
    case REDIS_REPLY_ERROR:
        lua_createtable(L, 0, 1);
        lua_pushlstring(L, r->str, r->len);
        lua_setfield(L, -2, "err");
        break;
    case REDIS_REPLY_ARRAY:
        luaL_checkstack(L, 4, "redis reply");
        lua_createtable(L, (int)r->elements, 0);
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i]) push_reply(L, r->element[i], 1);
            else lua_pushlightuserdata(L, NULL);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    default: lua_pushnil(L); break;
    }
}

static int cmd_push(sched_op *op, lua_State *L) {
    cmd_op *o = (cmd_op *)op;
    if (o->err) {
        lua_pushnil(L);
        lua_pushstring(L, o->err);
        return 2;
    }
    if (o->single) {
        redisReply *r = o->slots[0].reply;
        if (r->type == REDIS_REPLY_ERROR) {
            lua_pushnil(L);
            lua_pushlstring(L, r->str, r->len);
            return 2;
        }
        push_reply(L, r, 0);
        return 1;
    }
    lua_createtable(L, o->n, 0);
    for (int i = 0; i < o->n; i++) {
        push_reply(L, o->slots[i].reply, 1);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static void cmd_free(cmd_op *o) {
    for (int i = 0; i < o->n; i++) {
        if (!o->slots[i].done && o->slots[i].req) redis_req_cancel(o->slots[i].req);
        redis_reply_free(o->slots[i].reply);
    }
    free(o);
}

static void cmd_release(sched_op *op) { cmd_free((cmd_op *)op); }

/* Finish the op once: stop waiting for outstanding replies. */
static void cmd_finish(cmd_op *o, const char *err) {
    if (o->op.woken) return;
    if (err && !o->err) o->err = err;
    for (int i = 0; i < o->n; i++)
        if (!o->slots[i].done && o->slots[i].req) {
            redis_req_cancel(o->slots[i].req);
            o->slots[i].done = 1;
        }
    sched_op_wake(&o->op);
}

static void on_cmd_reply(void *ud, redisReply *r) {
    cmd_slot *s = ud;
    cmd_op *o = s->op;
    s->done = 1;
    s->reply = r;
    if (!r) { cmd_finish(o, "unavailable"); return; }
    if (--o->remaining == 0) cmd_finish(o, NULL);
}

static void on_cmd_expired(sched_op *op) { cmd_finish((cmd_op *)op, "timeout"); }

/* Send the command whose arguments are the values of table idx (or the
 * stack values first..top when idx == 0). */
static int send_one(lua_State *L, redis_client *c, cmd_slot *s, int idx, int first) {
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    int top = lua_gettop(L);
    int argc;
    if (idx) {
        argc = (int)lua_rawlen(L, idx);
        if (argc < 1 || argc > MAX_ARGS) luaL_error(L, "nest.redis.pipeline: each command must have 1..%d arguments", MAX_ARGS);
        luaL_checkstack(L, argc, "redis arguments");
        for (int i = 0; i < argc; i++) {
            lua_rawgeti(L, idx, i + 1);
            int t = lua_type(L, -1);
            if (t != LUA_TSTRING && t != LUA_TNUMBER)
                luaL_error(L, "nest.redis.pipeline: argument %d must be a string or a number, got %s", i + 1, lua_typename(L, t));
            argv[i] = lua_tolstring(L, -1, &lens[i]);
        }
    } else {
        argc = top - first + 1;
        if (argc < 1 || argc > MAX_ARGS) luaL_error(L, "nest.redis.call: 1..%d arguments expected", MAX_ARGS);
        for (int i = 0; i < argc; i++) {
            int t = lua_type(L, first + i);
            if (t != LUA_TSTRING && t != LUA_TNUMBER)
                luaL_typeerror(L, first + i, "string or number");
            argv[i] = lua_tolstring(L, first + i, &lens[i]);
        }
    }
    int rc = redis_client_command(c, argc, argv, lens, on_cmd_reply, s, &s->req);
    lua_settop(L, top);
    return rc;
}

/* Raise on a bad command table before any op is bound to the task. */
static void check_cmd(lua_State *L, int idx, int i) {
    int argc = (int)lua_rawlen(L, idx);
    if (argc < 1 || argc > MAX_ARGS)
        luaL_error(L, "nest.redis.pipeline: command %d must have 1..%d arguments", i, MAX_ARGS);
    for (int k = 1; k <= argc; k++) {
        int t = lua_rawgeti(L, idx, k);
        lua_pop(L, 1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            luaL_error(L, "nest.redis.pipeline: command %d argument %d must be a string or a number, got %s",
                       i, k, lua_typename(L, t));
    }
}

static cmd_op *cmd_new(lua_State *L, int n, double timeout, const char *what) {
    cmd_op *o = calloc(1, sizeof *o + (size_t)n * sizeof(cmd_slot));
    if (!o) luaL_error(L, "out of memory");
    o->n = o->remaining = n;
    o->op.push = cmd_push;
    o->op.release = cmd_release;
    o->op.cancel = cmd_release;
    for (int i = 0; i < n; i++) o->slots[i].op = o;
    if (sched_op_begin(L, &o->op, what) != 0) { free(o); lua_error(L); }
    sched_op_deadline(&o->op, app_loop(app_from_lua(L)), timeout, on_cmd_expired);
    return o;
}

static int precheck(lua_State *L, redis_client *c) {
    if (!redis_client_configured(c)) return push_transport_error(L, REDIS_CLIENT_NOT_CONFIGURED);
    if (!redis_client_accepting(c)) return push_transport_error(L, REDIS_CLIENT_UNAVAILABLE);
    return 0;
}

/* call(timeout, cmd, ...) */
static int l_call(lua_State *L) {
    double timeout = luaL_optnumber(L, 1, 2);
    luaL_checkany(L, 2);
    if (lua_gettop(L) - 1 > MAX_ARGS) return luaL_error(L, "nest.redis.call: too many arguments");
    for (int i = 2; i <= lua_gettop(L); i++) {
        int t = lua_type(L, i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) return luaL_typeerror(L, i, "string or number");
    }
    redis_client *c = client(L);
    int n = precheck(L, c);
    if (n) return n;
    cmd_op *o = cmd_new(L, 1, timeout, "nest.redis.call");
    o->single = 1;
    int rc = send_one(L, c, &o->slots[0], 0, 2);
    if (rc != 0) { o->slots[0].done = 1; cmd_finish(o, "unavailable"); }
    return sched_wait(L);
}

/* pipeline(timeout, cmds) */
static int l_pipeline(lua_State *L) {
    double timeout = luaL_optnumber(L, 1, 2);
    luaL_checktype(L, 2, LUA_TTABLE);
    int n = (int)lua_rawlen(L, 2);
    for (int i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 2, i) != LUA_TTABLE) return luaL_argerror(L, 2, "each command must be a table");
        check_cmd(L, lua_gettop(L), i);
        lua_pop(L, 1);
    }
    if (n == 0) { lua_newtable(L); return 1; }
    redis_client *c = client(L);
    int r = precheck(L, c);
    if (r) return r;
    cmd_op *o = cmd_new(L, n, timeout, "nest.redis.pipeline");
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        int rc = send_one(L, c, &o->slots[i], lua_gettop(L), 0);
        lua_pop(L, 1);
        if (rc != 0) { o->slots[i].done = 1; cmd_finish(o, "unavailable"); break; }
    }
    return sched_wait(L);
}

/* ---- subscribe ------------------------------------------------------------- */

typedef struct lsub {
    redis_sub *s;
    mn_gen *g;
    gen_hook hook;
    int ref;                  /* registry: fn */
    struct sub_box *box;
} lsub;

typedef struct sub_box { lsub *ls; } sub_box;

static void lsub_end(lsub *ls) {
    redis_sub_cancel(ls->s);
    luaL_unref(ls->g->L, LUA_REGISTRYINDEX, ls->ref);
    if (ls->box) ls->box->ls = NULL;
    free(ls);
}

static void on_message(void *ud, const char *ch, size_t clen, const char *msg, size_t mlen) {
    lsub *ls = ud;
    if (ls->g->retired) return;
    lua_State *L = ls->g->L;
    if (!lua_checkstack(L, 3)) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ls->ref);
    lua_pushlstring(L, ch, clen);
    lua_pushlstring(L, msg, mlen);
    sched_spawn(ls->g, NULL, 2, NULL, NULL);
}

static void on_sub_retire(mn_gen *g, gen_hook *h) {
    (void)g;
    lsub_end((lsub *)((char *)h - offsetof(lsub, hook)));   /* hook already unlinked */
}

static int l_subscribe(lua_State *L) {
    size_t clen;
    const char *ch = luaL_checklstring(L, 1, &clen);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    mn_gen *g = gen_from_lua(L);
    if (g->retired) { lua_pushnil(L); lua_pushliteral(L, "generation is retiring"); return 2; }
    redis_client *c = client(L);
    lsub *ls = calloc(1, sizeof *ls);
    if (!ls) return luaL_error(L, "out of memory");
    ls->s = redis_client_subscribe(c, ch, clen, on_message, ls);
    if (!ls->s) { free(ls); return luaL_error(L, "out of memory"); }
    ls->g = g;
    lua_pushvalue(L, 2);
    ls->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ls->hook.fn = on_sub_retire;
    gen_hook_add(g, &ls->hook);
    sub_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->ls = ls;
    ls->box = b;
    luaL_setmetatable(L, SUB_MT);
    return 1;
}

static int l_unsubscribe(lua_State *L) {
    sub_box *b = luaL_checkudata(L, 1, SUB_MT);
    lsub *ls = b->ls;
    if (!ls) { lua_pushboolean(L, 0); return 1; }
    gen_hook_remove(ls->g, &ls->hook);
    lsub_end(ls);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_sub_gc(lua_State *L) {
    sub_box *b = luaL_checkudata(L, 1, SUB_MT);
    if (b->ls) b->ls->box = NULL;   /* the subscription lives on until retire */
    return 0;
}

/* ---- misc ------------------------------------------------------------------ */

static int l_sha1(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, len, md);
    char hex[2 * SHA_DIGEST_LENGTH];
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    lua_pushlstring(L, hex, sizeof hex);
    return 1;
}

static int luaopen_nest_core_redis(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"configure", l_configure}, {"configured", l_configured}, {"available", l_available},
        {"event", l_event}, {"call", l_call}, {"pipeline", l_pipeline},
        {"subscribe", l_subscribe}, {"sha1", l_sha1}, {NULL, NULL}};
    static const luaL_Reg sub_methods[] = {{"unsubscribe", l_unsubscribe}, {NULL, NULL}};
    static const luaL_Reg sub_meta[] = {{"__gc", l_sub_gc}, {NULL, NULL}};
    bind_createmeta(L, SUB_MT, sub_methods, sub_meta);
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.redis", luaopen_nest_core_redis)
