/* lua_modules.h — how C bindings make themselves available to Lua.
 *
 * A binding file declares its module once at file scope:
 *
 *     MN_LUA_MODULE("nest.core.timer", luaopen_nest_core_timer)
 *
 * and every generation gets it in package.preload, so Lua code says
 * require "nest.core.timer". The public API is the Lua module nest.<name>
 * (lua/nest/<name>.lua), which may be a thin wrapper. The registry is
 * filled by constructors before main() runs and is read-only afterwards.
 */
#ifndef MN_LUA_MODULES_H
#define MN_LUA_MODULES_H

#include <lua.h>

typedef struct mn_lua_module {
    const char *name;
    lua_CFunction open;
    struct mn_lua_module *next;
} mn_lua_module;

void mn_modules_register(mn_lua_module *m);
/* Put every registered module into L's package.preload. */
void mn_modules_preload(lua_State *L);

#define MN_LUA_MODULE(NAME, FN)                                               \
    static mn_lua_module mn_module_##FN = {NAME, FN, 0};                      \
    __attribute__((constructor)) static void mn_module_register_##FN(void) { \
        mn_modules_register(&mn_module_##FN);                                \
    }

#endif
