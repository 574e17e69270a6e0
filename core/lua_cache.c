/* lua_cache.c — "nest.core.cache": the Lua binding of the L1 cache (cache.c).
 *
 * Every function works on the app's cache (app_cache(), APP_SLOT_CACHE),
 * created when a generation first requires the module; the pointer is kept
 * as an upvalue, valid for the generation's life since the app destroys its
 * slots only after its last generation is closed. Everything is synchronous.
 *
 *   get(key)                        -> value, ttl | nil
 *   set(key, value, ttl[, tags])    -> true | nil, err
 *   add(key, value, ttl[, tags])    -> true | false, "exists" | nil, err
 *   incr(key, delta[, init[, ttl]]) -> new value | nil, err
 *   delete(key)                     -> true (it existed) | false
 *   delete_tag(tag)                 -> number removed
 *   delete_pattern(glob)            -> number removed (full scan: prefer tags)
 *   ttl(key)                        -> seconds | -1 (never expires) | nil (missing)
 *   flush()                         -> number removed
 *   stats()                         -> {entries, bytes, max_bytes, hits, misses, evictions, expired}
 *   configure{l1_bytes = n}         -> sets the byte budget (evicts when over it)
 *
 * Values are strings or numbers (integers come back as integers). TTLs are
 * seconds (fractions allowed), 0 or nil = never expires; a remaining TTL is
 * seconds as a float, -1 when the entry never expires. tags is an array of
 * at most 8 strings. incr's ttl applies only when it creates the entry.
 */
#include "app.h"
#include "cache.h"
#include "lua_modules.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>

static inline cache *self(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

/* Seconds (nil/0 = never) -> ms, rounded up so a tiny TTL does not become
 * "never". */
static int64_t check_ttl(lua_State *L, int arg) {
    if (lua_isnoneornil(L, arg)) return 0;
    lua_Number s = luaL_checknumber(L, arg);
    if (!(s >= 0)) luaL_argerror(L, arg, "ttl must be a number of seconds >= 0");
    if (s > 1e12) s = 1e12;                 /* ~31,000 years: never, in practice */
    return (int64_t)ceil(s * 1000.0);
}

/* 1 and *v filled when the value at arg is a string or number, else 0. */
static int to_value(lua_State *L, int arg, cache_value *v) {
    switch (lua_type(L, arg)) {
    case LUA_TSTRING:
        v->type = CACHE_STR;
        v->u.s.p = lua_tolstring(L, arg, &v->u.s.len);
        return 1;
    case LUA_TNUMBER:
        if (lua_isinteger(L, arg)) {
            v->type = CACHE_INT;
            v->u.i = lua_tointeger(L, arg);
        } else {
            v->type = CACHE_NUM;
            v->u.n = lua_tonumber(L, arg);
        }
        return 1;
    default:
        return 0;
    }
}

static void push_value(lua_State *L, const cache_value *v) {
    switch (v->type) {
    case CACHE_STR: lua_pushlstring(L, v->u.s.p, v->u.s.len); break;
    case CACHE_INT: lua_pushinteger(L, v->u.i); break;
    case CACHE_NUM: lua_pushnumber(L, v->u.n); break;
    default: lua_pushnil(L); break;
    }
}

static void push_ttl(lua_State *L, int64_t ms) {
    if (ms < 0) lua_pushinteger(L, -1);
    else lua_pushnumber(L, (lua_Number)ms / 1000.0);
}

/* Tags array at arg (or none): strings pushed on the stack so their bytes
 * stay alive, pointers in tags[]. Returns the count. */
static int check_tags(lua_State *L, int arg, cache_str *tags) {
    if (lua_isnoneornil(L, arg)) return 0;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Unsigned n = lua_rawlen(L, arg);
    if (n > CACHE_MAX_TAGS) luaL_argerror(L, arg, "at most 8 tags");
    luaL_checkstack(L, (int)n, "tags");
    for (int i = 0; i < (int)n; i++) {
        if (lua_rawgeti(L, arg, i + 1) != LUA_TSTRING) luaL_argerror(L, arg, "tags must be strings");
        tags[i].p = lua_tolstring(L, -1, &tags[i].len);
    }
    return (int)n;
}

static int push_error(lua_State *L, int rc) {
    lua_pushnil(L);
    switch (rc) {
    case -E2BIG: lua_pushliteral(L, "value too large for the cache"); break;
    case -ENOMEM: lua_pushliteral(L, "out of memory"); break;
    case -ERANGE: lua_pushliteral(L, "integer overflow"); break;
    case -EINVAL: lua_pushliteral(L, "not a number"); break;
    default: lua_pushfstring(L, "cache error %d", rc); break;
    }
    return 2;
}

static int l_get(lua_State *L) {
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    cache_value v;
    int64_t ttl;
    if (cache_get(self(L), key, klen, &v, &ttl) != 0) {
        lua_pushnil(L);
        return 1;
    }
    push_value(L, &v);
    push_ttl(L, ttl);
    return 2;
}

static int store(lua_State *L, int flags) {
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    cache_value v;
    if (!to_value(L, 2, &v)) {
        lua_pushnil(L);
        lua_pushfstring(L, "value must be a string or a number, got %s", luaL_typename(L, 2));
        return 2;
    }
    int64_t ttl = check_ttl(L, 3);
    cache_str tags[CACHE_MAX_TAGS];
    int ntags = check_tags(L, 4, tags);
    int rc = cache_set(self(L), key, klen, &v, ttl, tags, ntags, flags);
    if (rc == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (rc == -EEXIST) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "exists");
        return 2;
    }
    return push_error(L, rc);
}

static int l_set(lua_State *L) { return store(L, 0); }
static int l_add(lua_State *L) { return store(L, CACHE_NX); }

static int l_incr(lua_State *L) {
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    cache_value delta, init = {.type = CACHE_INT, .u.i = 0}, out;
    if (lua_type(L, 2) != LUA_TNUMBER || !to_value(L, 2, &delta))
        return luaL_typeerror(L, 2, "number");
    if (!lua_isnoneornil(L, 3) && (lua_type(L, 3) != LUA_TNUMBER || !to_value(L, 3, &init)))
        return luaL_typeerror(L, 3, "number or nil");
    int64_t ttl = check_ttl(L, 4);
    int rc = cache_incr(self(L), key, klen, &delta, &init, ttl, &out);
    if (rc != 0) return push_error(L, rc);
    push_value(L, &out);
    return 1;
}

static int l_delete(lua_State *L) {
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    lua_pushboolean(L, cache_delete(self(L), key, klen) == 0);
    return 1;
}

static int l_delete_tag(lua_State *L) {
    size_t len;
    const char *tag = luaL_checklstring(L, 1, &len);
    lua_pushinteger(L, (lua_Integer)cache_delete_tag(self(L), tag, len));
    return 1;
}

static int l_delete_pattern(lua_State *L) {
    size_t len;
    const char *glob = luaL_checklstring(L, 1, &len);
    lua_pushinteger(L, (lua_Integer)cache_delete_pattern(self(L), glob, len));
    return 1;
}

static int l_ttl(lua_State *L) {
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    int64_t ttl;
    if (cache_ttl(self(L), key, klen, &ttl) != 0) lua_pushnil(L);
    else push_ttl(L, ttl);
    return 1;
}

static int l_flush(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)cache_flush(self(L)));
    return 1;
}

static void set_int(lua_State *L, const char *k, uint64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static int l_stats(lua_State *L) {
    cache_stats s;
    cache_get_stats(self(L), &s);
    lua_createtable(L, 0, 7);
    set_int(L, "entries", s.entries);
    set_int(L, "bytes", s.bytes);
    set_int(L, "max_bytes", s.max_bytes);
    set_int(L, "hits", s.hits);
    set_int(L, "misses", s.misses);
    set_int(L, "evictions", s.evictions);
    set_int(L, "expired", s.expired);
    return 1;
}

static int l_configure(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getfield(L, 1, "l1_bytes") != LUA_TNIL) {
        int ok;
        lua_Integer n = lua_tointegerx(L, -1, &ok);
        if (!ok || n <= 0) luaL_argerror(L, 1, "l1_bytes must be a positive integer");
        cache_set_budget(self(L), (size_t)n);
    }
    return 0;
}

static const luaL_Reg funcs[] = {
    {"get", l_get},
    {"set", l_set},
    {"add", l_add},
    {"incr", l_incr},
    {"delete", l_delete},
    {"delete_tag", l_delete_tag},
    {"delete_pattern", l_delete_pattern},
    {"ttl", l_ttl},
    {"flush", l_flush},
    {"stats", l_stats},
    {"configure", l_configure},
    {NULL, NULL},
};

/* The app's cache lives in its slot, created on first use with the default
 * budget and the loop's clock, destroyed with the app's slots: one cache for
 * every generation, so it survives reloads. */
static uint64_t loop_ms(void *loop) { return uv_now(loop); }
static void cache_slot_destroy(void *p) { cache_destroy(p); }

static cache *app_cache(mn_app *a) {
    cache *c = app_slot_get(a, APP_SLOT_CACHE);
    if (c) return c;
    c = cache_create(CACHE_DEFAULT_BYTES, loop_ms, app_loop(a));
    if (c) app_slot_set(a, APP_SLOT_CACHE, c, cache_slot_destroy);
    return c;
}

static int luaopen_nest_core_cache(lua_State *L) {
    cache *c = app_cache(app_from_lua(L));
    if (!c) return luaL_error(L, "nest.core.cache: out of memory");
    luaL_newlibtable(L, funcs);
    lua_pushlightuserdata(L, c);
    luaL_setfuncs(L, funcs, 1);
    return 1;
}

MN_LUA_MODULE("nest.core.cache", luaopen_nest_core_cache)
