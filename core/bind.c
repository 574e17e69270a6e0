/* bind.c — metatables and optional arguments for the C bindings (bind.h). */
#include "bind.h"

void bind_createmeta(lua_State *L, const char *tname, const luaL_Reg *methods,
                     const luaL_Reg *meta) {
    if (luaL_newmetatable(L, tname)) {
        if (methods) {
            lua_newtable(L);
            luaL_setfuncs(L, methods, 0);
            lua_setfield(L, -2, "__index");
        }
        if (meta) luaL_setfuncs(L, meta, 0);
    }
    lua_pop(L, 1);
}

/* Push t[k]; 0 (nothing pushed) when idx is not a table or t[k] is nil. */
static int get_opt(lua_State *L, int idx, const char *k) {
    if (lua_type(L, idx) != LUA_TTABLE) return 0;
    if (lua_getfield(L, idx, k) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    return 0;
}

double bind_opt_number(lua_State *L, int idx, const char *k, double def) {
    if (!get_opt(L, idx, k)) return def;
    int ok;
    double v = lua_tonumberx(L, -1, &ok);
    if (!ok) luaL_error(L, "bad option '%s' (number expected, got %s)", k, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

lua_Integer bind_opt_integer(lua_State *L, int idx, const char *k, lua_Integer def,
                             lua_Integer min, lua_Integer max) {
    if (!get_opt(L, idx, k)) return def;
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (!ok || v < min || v > max)
        luaL_error(L, "bad option '%s' (an integer in [%I, %I] expected)", k, min, max);
    lua_pop(L, 1);
    return v;
}

unsigned long bind_opt_ms(lua_State *L, int idx, const char *k, unsigned long def, double max_s) {
    if (!get_opt(L, idx, k)) return def;
    int ok;
    double s = lua_tonumberx(L, -1, &ok);
    if (!ok || !(s > 0 && s <= max_s))
        luaL_error(L, "bad option '%s' (seconds in (0, %g] expected)", k, max_s);
    lua_pop(L, 1);
    unsigned long ms = (unsigned long)(s * 1000 + 0.5);
    return ms ? ms : 1;
}

int bind_opt_bool(lua_State *L, int idx, const char *k) {
    if (!get_opt(L, idx, k)) return 0;
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

const char *bind_opt_string(lua_State *L, int idx, const char *k, size_t *len) {
    if (!get_opt(L, idx, k)) return NULL;
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "bad option '%s' (string expected, got %s)", k, luaL_typename(L, -1));
    const char *s = lua_tolstring(L, -1, len);
    lua_pop(L, 1);   /* the table keeps the string alive */
    return s;
}

double bind_get_number(lua_State *L, int idx, const char *k, double def) {
    lua_getfield(L, idx, k);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

const char *bind_get_string(lua_State *L, int idx, const char *k) {
    lua_getfield(L, idx, k);
    const char *v = lua_tostring(L, -1);   /* kept alive by the table */
    lua_pop(L, 1);
    return v;
}
