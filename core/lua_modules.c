/* lua_modules.c — the registry of C bindings, preloaded into every Lua state. */
#include "lua_modules.h"
#include <lauxlib.h>

static mn_lua_module *modules;

void mn_modules_register(mn_lua_module *m) {
    m->next = modules;
    modules = m;
}

void mn_modules_preload(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (mn_lua_module *m = modules; m; m = m->next) {
        lua_pushcfunction(L, m->open);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
}
