/* lua_fs.c — module "nest.core.fs": the few file-system calls the framework
 * makes at start-up or from the command line (the data directory, pid and key
 * files). They block, so they are not for request paths: request-time file
 * I/O goes through the static file server or a child process.
 *
 *   mkdir_p(path[, mode = 0700]) -> true | nil, err   (each missing component)
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua_modules.h"

#define FS_PATH_MAX 4096

static int make_dir(const char *path, mode_t mode) {
    if (mkdir(path, mode) == 0) return 0;
    if (errno != EEXIST) return -errno;
    struct stat st;
    if (stat(path, &st) != 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int l_mkdir_p(lua_State *L) {
    size_t n;
    const char *path = luaL_checklstring(L, 1, &n);
    lua_Integer mode = luaL_optinteger(L, 2, 0700);
    luaL_argcheck(L, n > 0 && n < FS_PATH_MAX, 1, "path must be 1..4095 bytes");
    luaL_argcheck(L, mode >= 0 && mode <= 07777, 2, "mode must be 0..07777");
    char buf[FS_PATH_MAX];
    memcpy(buf, path, n + 1);
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        rc = make_dir(buf, (mode_t)mode);
        buf[i] = c;
    }
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
