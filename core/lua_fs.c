/* lua_fs.c — module "nest.core.fs", the Lua binding of fs.c: the few
 * file-system calls the framework makes at start-up or from the command line
 * (the data directory). They block, so they are not for request paths:
 * request-time file I/O goes through the static file server or a child
 * process.
 *
 *   mkdir_p(path[, mode = 0700]) -> true | nil, err   (each missing component)
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "fs.h"
#include "lua_modules.h"

#define FS_PATH_MAX 4096

static int l_mkdir_p(lua_State *L) {
    size_t n;
    const char *path = luaL_checklstring(L, 1, &n);
    lua_Integer mode = luaL_optinteger(L, 2, 0700);
    luaL_argcheck(L, n > 0 && n < FS_PATH_MAX, 1, "path must be 1..4095 bytes");
    luaL_argcheck(L, mode >= 0 && mode <= 07777, 2, "mode must be 0..07777");
    int rc = fs_mkdir_p(path, (mode_t)mode);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "mkdir %s: %s", path, strerror(-rc));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int luaopen_nest_core_fs(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"mkdir_p", l_mkdir_p},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.fs", luaopen_nest_core_fs)
