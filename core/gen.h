/* gen.h — a generation: one lua_State with the framework and every plugin
 * loaded, serving one app.
 *
 * gen_create() makes a fresh state with the C bindings preloaded and
 * package.path pointing at lua/ and the plugin directories; the app then
 * runs the Lua boot (lua/nest/boot.lua) in it as a task, which returns the
 * hooks table (dispatch, body_limit, ws, ...) that C calls into. Tasks keep
 * their generation alive: gen_retire() marks it draining, and it is closed
 * (lua_close) once its last task has ended. A hot reload (app_reload) builds
 * a new generation next to the current one and retires the old one only once
 * the new one booted; a generation that failed to boot is retired at once.
 */
#ifndef MN_GEN_H
#define MN_GEN_H

#include <lua.h>
#include <stdint.h>
#include "app.h"

struct mn_gen {
    lua_State *L;           /* main state; tasks are threads of it */
    mn_app *app;
    int id;                 /* 1, 2, ... within its app */
    int hooks_ref;          /* registry ref of the hooks table, or LUA_NOREF */
    int tasks;              /* live tasks, kept by scheduler.c */
    int retired;            /* draining: no new work, closed when tasks == 0 */
    void (*on_drained)(mn_gen *g);  /* app.c's: the last task of a retired gen ended */
    mn_gen *next;           /* the app's list of generations */
    struct sched_task *task_list;   /* scheduler.c: every live task of this gen */
    struct gen_hook *retire_hooks;
    /* hot reload (app.c) */
    uint64_t retired_at;    /* uv_now() when retired, in ms */
    int holds;              /* nest.reload.hold(): streams that outlive the drain deadline */
    int deadline_hit;       /* the drain deadline passed (logged once) */
    int failed;             /* a reload that did not make it: never current */
};

/* A callback run when g is retired (reload or stop): timers fire their
 * premature callbacks, subscriptions end. The node is owned by the caller
 * and must stay valid until removed or run; it is unlinked before fn runs. */
typedef struct gen_hook {
    void (*fn)(mn_gen *g, struct gen_hook *h);
    struct gen_hook *prev, *next;
} gen_hook;
void gen_hook_add(mn_gen *g, gen_hook *h);
void gen_hook_remove(mn_gen *g, gen_hook *h);

mn_gen *gen_create(mn_app *app, int id);
/* The generation that owns L (any thread of it). */
mn_gen *gen_from_lua(lua_State *L);
/* Push hooks[name] on g->L; returns its Lua type (LUA_TNIL when absent). */
int gen_push_hook(mn_gen *g, const char *name);
/* Mark draining; g is closed when its last task ends (maybe right away). */
void gen_retire(mn_gen *g);
/* Close the Lua state and free g. Only with no live task. */
void gen_close(mn_gen *g);

#endif
