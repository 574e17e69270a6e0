/* gen.c — creating, addressing and closing a generation's lua_State. */
#include "gen.h"
#include "lua_modules.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>

int luaopen_cjson(lua_State *L);        /* lua-cjson, linked statically */
int luaopen_cjson_safe(lua_State *L);

static void set_paths(lua_State *L, const char *root) {
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;%s/?/init.lua;"
                       "/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua",
                    root, root, root, root);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
}

mn_gen *gen_create(mn_app *app, int id) {
    mn_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->L = luaL_newstate();
    if (!g->L) { free(g); return NULL; }
    g->app = app;
    g->id = id;
    g->hooks_ref = LUA_NOREF;
    *(mn_gen **)lua_getextraspace(g->L) = g;
    /* Generational GC: the heap is mostly long-lived (modules, routes, the
     * demo library's catalogue) and each request makes short-lived garbage.
     * Incremental mode kept re-marking the old heap in steps inside
     * requests, which made p99 jump under --demo (issue 16); minor
     * collections only visit the young objects. */
    lua_gc(g->L, LUA_GCGEN, 0, 0);
    luaL_openlibs(g->L);
    mn_modules_preload(g->L);
    luaL_getsubtable(g->L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(g->L, luaopen_cjson);
    lua_setfield(g->L, -2, "cjson");
    lua_pushcfunction(g->L, luaopen_cjson_safe);
    lua_setfield(g->L, -2, "cjson.safe");
    lua_pop(g->L, 1);
    set_paths(g->L, app_root(app));
    return g;
}

mn_gen *gen_from_lua(lua_State *L) {
    return *(mn_gen **)lua_getextraspace(L);
}

int gen_push_hook(mn_gen *g, const char *name) {
    if (g->hooks_ref == LUA_NOREF) { lua_pushnil(g->L); return LUA_TNIL; }
    lua_rawgeti(g->L, LUA_REGISTRYINDEX, g->hooks_ref);
    int t = lua_getfield(g->L, -1, name);
    lua_remove(g->L, -2);
    return t;
}

void gen_hook_add(mn_gen *g, gen_hook *h) {
    h->prev = NULL;
    h->next = g->retire_hooks;
    if (g->retire_hooks) g->retire_hooks->prev = h;
    g->retire_hooks = h;
}

void gen_hook_remove(mn_gen *g, gen_hook *h) {
    if (h->prev) h->prev->next = h->next; else if (g->retire_hooks == h) g->retire_hooks = h->next;
    if (h->next) h->next->prev = h->prev;
    h->prev = h->next = NULL;
}

void gen_retire(mn_gen *g) {
    if (g->retired) return;
    g->retired = 1;
    g->retired_at = uv_now(app_loop(g->app));
    while (g->retire_hooks) {
        gen_hook *h = g->retire_hooks;
        gen_hook_remove(g, h);
        h->fn(g, h);
    }
    if (g->tasks == 0 && g->on_drained) g->on_drained(g);
}

void gen_close(mn_gen *g) {
    lua_close(g->L);
    free(g);
}
