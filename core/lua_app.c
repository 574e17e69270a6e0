/* lua_app.c — nest.core.app: runtime facts for Lua, and starting further
 * app instances in this process (specs use it to run servers, and two of
 * them to act as two instances).
 *
 *   start{root=, config_path=, overrides_json=, demo=, demo_public=} -> handle | nil, err
 *   handle:port(), handle:id(), handle:stop()   (stop waits for the drain)
 *   handle:reload{force=} -> result             hot-reload that app (waits)
 *   handle:runtime() -> table                   see runtime()
 *   reload{force=, trigger=} -> result          hot-reload this app (waits for
 *       the new generation to boot): {ok, noop, busy, seq, generation,
 *       previous, seconds, hash, error, plugin, message}
 *   runtime() -> {current, reloading, generations = {{id, state, tasks,
 *       holds, lua_memory, draining_for}}, last_reload, hash, ...}
 *   hold() -> token with :release() (also __gc/__close): while held, this
 *       generation is not cancelled at the drain deadline (nest.reload.hold)
 *   pid() -> our pid; kill(pid, signo) -> true | nil, err
 *   info() -> {app_id, generation, lua_memory, tasks, root}
 *   hrtime() -> seconds (monotonic, float); now() -> epoch seconds (float)
 */
#include "app.h"
#include "app_http.h"
#include "bind.h"
#include "gen.h"
#include "lua_modules.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define APP_MT "nest.app"

typedef struct app_box { mn_app *a; int port; } app_box;

typedef struct app_op {
    sched_op op;
    mn_app *a;
    int status;
    char *err;
    int cancelled;        /* the waiting task died; the callback cleans up */
} app_op;

static int start_push(sched_op *op, lua_State *L) {
    app_op *o = (app_op *)op;
    if (o->status != 0) {
        lua_pushnil(L);
        lua_pushstring(L, o->err ? o->err : "the app failed to start");
        return 2;
    }
    app_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->a = o->a;
    b->port = app_http_port(o->a);
    luaL_setmetatable(L, APP_MT);
    return 1;
}

static void op_free(sched_op *op) {
    app_op *o = (app_op *)op;
    free(o->err);
    free(o);
}

static void start_cancel(sched_op *op) { ((app_op *)op)->cancelled = 1; }

static void on_failed_stop(mn_app *a, void *ud) { (void)a; (void)ud; }

static void on_ready(mn_app *a, int status, const char *err, void *ud) {
    app_op *o = ud;
    o->status = status;
    if (err) o->err = strdup(err);
    if (status != 0) app_stop(a, on_failed_stop, NULL);
    if (o->cancelled) {
        if (status == 0) app_stop(a, on_failed_stop, NULL);
        op_free(&o->op);
        return;
    }
    sched_op_wake(&o->op);
}

static const char *field(lua_State *L, const char *k) {
    lua_getfield(L, 1, k);
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);
    return v;
}

static int l_start(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    mn_app *self = app_from_lua(L);
    app_options o;
    memset(&o, 0, sizeof o);
    o.root = field(L, "root");
    if (!o.root) o.root = app_root(self);
    o.config_path = field(L, "config_path");
    o.overrides_json = field(L, "overrides_json");
    o.mode = "serve";
    lua_getfield(L, 1, "demo");
    o.demo = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "demo_public");
    if (o.demo && lua_toboolean(L, -1)) o.demo = 2;
    lua_pop(L, 1);
    app_op *op = calloc(1, sizeof *op);
    op->op.push = start_push;
    op->op.release = op_free;
    op->op.cancel = start_cancel;
    if (sched_op_begin(L, &op->op, "nest.app.start") != 0) { free(op); return lua_error(L); }
    op->a = app_create(app_loop(self), &o);
    if (!op->a || app_start(op->a, on_ready, op) != 0) {
        op->status = -1;
        op->err = strdup("cannot create the app");
        sched_op_wake(&op->op);
    }
    return sched_wait(L);
}

typedef struct stop_op { sched_op op; int cancelled; } stop_op;

static int stop_push(sched_op *op, lua_State *L) { (void)op; lua_pushboolean(L, 1); return 1; }
static void stop_release(sched_op *op) { free(op); }
static void stop_cancel(sched_op *op) { ((stop_op *)op)->cancelled = 1; }

static void on_stopped(mn_app *a, void *ud) {
    (void)a;
    stop_op *o = ud;
    if (o->cancelled) free(o); else sched_op_wake(&o->op);
}

static int l_stop(lua_State *L) {
    app_box *b = luaL_checkudata(L, 1, APP_MT);
    if (!b->a) { lua_pushboolean(L, 1); return 1; }
    luaL_argcheck(L, b->a != app_from_lua(L), 1, "an app cannot stop itself from its own code");
    stop_op *o = calloc(1, sizeof *o);
    o->op.push = stop_push;
    o->op.release = stop_release;
    o->op.cancel = stop_cancel;
    if (sched_op_begin(L, &o->op, "nest.app.stop") != 0) { free(o); return lua_error(L); }
    mn_app *a = b->a;
    b->a = NULL;
    app_stop(a, on_stopped, o);
    return sched_wait(L);
}

static int l_port(lua_State *L) {
    app_box *b = luaL_checkudata(L, 1, APP_MT);
    lua_pushinteger(L, b->port);
    return 1;
}

static int l_id(lua_State *L) {
    app_box *b = luaL_checkudata(L, 1, APP_MT);
    if (!b->a) return 0;
    lua_pushinteger(L, app_id(b->a));
    return 1;
}

static int l_info(lua_State *L) {
    mn_gen *g = gen_from_lua(L);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, app_id(g->app));
    lua_setfield(L, -2, "app_id");
    lua_pushinteger(L, g->id);
    lua_setfield(L, -2, "generation");
    lua_pushinteger(L, (lua_Integer)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + lua_gc(L, LUA_GCCOUNTB, 0));
    lua_setfield(L, -2, "lua_memory");
    lua_pushinteger(L, g->tasks);
    lua_setfield(L, -2, "tasks");
    lua_pushstring(L, app_root(g->app));
    lua_setfield(L, -2, "root");
    return 1;
}

/* ---- reload ---------------------------------------------------------------- */

typedef struct reload_op {
    sched_op op;
    reload_result r;
    int cancelled;        /* the waiting task died; the callback frees */
    int done;
} reload_op;

static int reload_push(sched_op *op, lua_State *L) {
    app_push_result(L, &((reload_op *)op)->r);
    return 1;
}
static void reload_release(sched_op *op) { free(op); }
static void reload_cancel(sched_op *op) {
    reload_op *o = (reload_op *)op;
    if (o->done) free(o); else o->cancelled = 1;
}

static void on_reloaded(mn_app *a, const reload_result *r, void *ud) {
    (void)a;
    reload_op *o = ud;
    o->r = *r;
    o->done = 1;
    if (o->cancelled) { free(o); return; }
    sched_op_wake(&o->op);
}

static int do_reload(lua_State *L, mn_app *a, int opts) {
    int force = 0;
    const char *trigger = "api";
    if (lua_istable(L, opts)) {
        lua_getfield(L, opts, "force");
        force = lua_toboolean(L, -1);
        lua_getfield(L, opts, "trigger");
        const char *t = lua_tostring(L, -1);
        if (t && !strcmp(t, "admin")) trigger = "admin";
        else if (t && !strcmp(t, "signal")) trigger = "signal";
        else if (t && !strcmp(t, "watch")) trigger = "watch";
        lua_pop(L, 2);
    }
    reload_op *o = calloc(1, sizeof *o);
    if (!o) return luaL_error(L, "out of memory");
    o->op.push = reload_push;
    o->op.release = reload_release;
    o->op.cancel = reload_cancel;
    if (sched_op_begin(L, &o->op, "nest.app.reload") != 0) { free(o); return lua_error(L); }
    app_reload(a, trigger, force, on_reloaded, o);
    return sched_wait(L);
}

static int l_reload(lua_State *L) { return do_reload(L, app_from_lua(L), 1); }

static int l_handle_reload(lua_State *L) {
    app_box *b = luaL_checkudata(L, 1, APP_MT);
    luaL_argcheck(L, b->a != NULL, 1, "the app is stopped");
    return do_reload(L, b->a, 2);
}

static int l_runtime(lua_State *L) {
    app_push_runtime(app_from_lua(L), L);
    return 1;
}

static int l_handle_runtime(lua_State *L) {
    app_box *b = luaL_checkudata(L, 1, APP_MT);
    luaL_argcheck(L, b->a != NULL, 1, "the app is stopped");
    app_push_runtime(b->a, L);
    return 1;
}

#define HOLD_MT "nest.app.hold"
typedef struct hold_box { mn_gen *g; } hold_box;

static int l_hold(lua_State *L) {
    hold_box *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->g = gen_from_lua(L);
    h->g->holds++;
    luaL_setmetatable(L, HOLD_MT);
    return 1;
}

/* The box lives in g's own state, so g is alive whenever it is touched. */
static int l_hold_release(lua_State *L) {
    hold_box *h = luaL_checkudata(L, 1, HOLD_MT);
    if (h->g) { h->g->holds--; h->g = NULL; }
    return 0;
}

static int l_pid(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

static int l_kill(lua_State *L) {
    lua_Integer pid = luaL_checkinteger(L, 1);
    lua_Integer sig = luaL_checkinteger(L, 2);
    luaL_argcheck(L, pid > 0, 1, "pid must be positive");
    luaL_argcheck(L, sig >= 0 && sig < 65, 2, "not a signal number");
    int rc = uv_kill((int)pid, (int)sig);
    if (rc != 0) { lua_pushnil(L); lua_pushstring(L, uv_err_name(rc)); return 2; }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_hrtime(lua_State *L) {
    lua_pushnumber(L, (double)uv_hrtime() / 1e9);
    return 1;
}

static int l_now(lua_State *L) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    lua_pushnumber(L, (double)tv.tv_sec + (double)tv.tv_usec / 1e6);
    return 1;
}

static int l_sentinel(lua_State *L) {
    lua_pushlightuserdata(L, sched_sentinel());
    return 1;
}

static int luaopen_nest_core_app(lua_State *L) {
    static const luaL_Reg methods[] = {{"port", l_port}, {"id", l_id}, {"stop", l_stop},
                                       {"reload", l_handle_reload}, {"runtime", l_handle_runtime},
                                       {NULL, NULL}};
    static const luaL_Reg fns[] = {{"start", l_start}, {"info", l_info}, {"hrtime", l_hrtime},
                                   {"now", l_now}, {"sentinel", l_sentinel}, {"reload", l_reload},
                                   {"runtime", l_runtime}, {"hold", l_hold}, {"pid", l_pid},
                                   {"kill", l_kill}, {NULL, NULL}};
    static const luaL_Reg hold_methods[] = {{"release", l_hold_release}, {NULL, NULL}};
    static const luaL_Reg hold_meta[] = {
        {"__gc", l_hold_release}, {"__close", l_hold_release}, {NULL, NULL}};
    bind_createmeta(L, APP_MT, methods, NULL);
    bind_createmeta(L, HOLD_MT, hold_methods, hold_meta);
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.app", luaopen_nest_core_app)
