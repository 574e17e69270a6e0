/* lua_proc.c — "nest.core.proc": the Lua binding of proc.c (child processes).
 *
 *   spawn(argv, opts) -> handle | nil, err
 *       argv: array of strings (argv[1] is looked up in PATH; no shell)
 *       opts: cwd, env (array of "K=V"; nil inherits), stdin (string),
 *             max_line, max_buffer, err_max (bytes), grace (seconds)
 *   h:next_line() -> line | nil at the end     (yields while none is ready)
 *   h:wait()      -> exit status, signal number (0 = none); yields until exit
 *   h:kill(signo) -> true | nil, err
 *   h:pid(), h:stderr(), h:truncated(), h:exited()
 *   h:close()     release now (what __gc and __close do): SIGTERM, SIGKILL
 *                 after the grace period, reaped by C
 *
 * The handle holds a pointer to a proc owned by the app's registry (C); see
 * proc.h. A task cancelled while waiting on its process releases it: the
 * owner is gone, so the child is killed and reaped.
 */
#include "app.h"
#include "bind.h"
#include "lua_modules.h"
#include "proc.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define PROC_MT "nest.proc"

typedef struct proc_box { proc *p; } proc_box;

static proc_box *check_box(lua_State *L) { return luaL_checkudata(L, 1, PROC_MT); }

static proc *check_live(lua_State *L) {
    proc_box *b = check_box(L);
    if (!b->p) luaL_error(L, "nest.proc: the process handle is closed");
    return b->p;
}

/* ---- the waiting op (lines or exit) -------------------------------------- */

typedef struct wait_op {
    sched_op op;
    proc_box *box;    /* lives on the waiting task's stack while pending */
    int exit;         /* 1: waiting for the exit, 0: for a line */
} wait_op;

static void wake(proc *p, void *ud) { (void)p; sched_op_wake(&((wait_op *)ud)->op); }

static int push_status(lua_State *L, proc *p) {
    int64_t code;
    int signo;
    proc_status(p, &code, &signo);
    lua_pushinteger(L, (lua_Integer)code);
    lua_pushinteger(L, signo);
    return 2;
}

static int push_line(lua_State *L, proc *p) {
    const char *line;
    size_t len;
    if (proc_next_line(p, &line, &len) == 1) lua_pushlstring(L, line, len);
    else lua_pushnil(L);
    return 1;
}

static int wait_push(sched_op *op, lua_State *L) {
    wait_op *w = (wait_op *)op;
    proc *p = w->box->p;
    if (!p) { lua_pushnil(L); return 1; }
    return w->exit ? push_status(L, p) : push_line(L, p);
}

static void wait_release(sched_op *op) { free(op); }

/* The waiting task died: its process has no owner any more. */
static void wait_cancel(sched_op *op) {
    wait_op *w = (wait_op *)op;
    if (w->box->p) {
        if (w->exit) proc_on_exit(w->box->p, NULL, NULL);
        else proc_on_lines(w->box->p, NULL, NULL);
        proc_release(w->box->p);
        w->box->p = NULL;
    }
    free(w);
}

static int begin_wait(lua_State *L, proc_box *b, int exit) {
    wait_op *w = calloc(1, sizeof *w);
    if (!w) return luaL_error(L, "out of memory");
    w->box = b;
    w->exit = exit;
    w->op.push = wait_push;
    w->op.release = wait_release;
    w->op.cancel = wait_cancel;
    int busy = exit ? proc_on_exit(b->p, wake, w) : proc_on_lines(b->p, wake, w);
    if (busy) {
        free(w);
        return luaL_error(L, "nest.proc: another task is already waiting on this process");
    }
    if (sched_op_begin(L, &w->op, exit ? "nest.proc.wait" : "nest.proc.lines") != 0) {
        if (exit) proc_on_exit(b->p, NULL, NULL); else proc_on_lines(b->p, NULL, NULL);
        free(w);
        return lua_error(L);
    }
    return sched_wait(L);
}

/* ---- methods ------------------------------------------------------------- */

static int l_next_line(lua_State *L) {
    proc_box *b = check_box(L);
    if (!b->p) { lua_pushnil(L); return 1; }
    if (proc_lines_ready(b->p)) return push_line(L, b->p);
    return begin_wait(L, b, 0);
}

static int l_wait(lua_State *L) {
    proc_box *b = check_box(L);
    check_live(L);
    if (proc_exited(b->p)) return push_status(L, b->p);
    return begin_wait(L, b, 1);
}

static int l_kill(lua_State *L) {
    proc *p = check_live(L);
    int signo = (int)luaL_checkinteger(L, 2);
    luaL_argcheck(L, signo > 0 && signo < 65, 2, "signal must be a signal number");
    int rc = proc_kill(p, signo);
    if (rc != 0) { lua_pushnil(L); lua_pushstring(L, uv_strerror(rc)); return 2; }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_pid(lua_State *L) { lua_pushinteger(L, proc_pid(check_live(L))); return 1; }
static int l_exited(lua_State *L) { lua_pushboolean(L, proc_exited(check_live(L))); return 1; }
static int l_truncated(lua_State *L) { lua_pushinteger(L, (lua_Integer)proc_truncated(check_live(L))); return 1; }

static int l_stderr(lua_State *L) {
    size_t n;
    const char *s = proc_stderr(check_live(L), &n);
    lua_pushlstring(L, s, n);
    return 1;
}

static int l_close(lua_State *L) {
    proc_box *b = check_box(L);
    if (b->p) { proc_release(b->p); b->p = NULL; }
    return 0;
}

/* ---- spawn --------------------------------------------------------------- */

/* A NULL-terminated array of the strings of table t (kept alive by t). */
static const char **string_array(lua_State *L, int t, const char *what) {
    lua_Integer n = luaL_len(L, t);
    const char **a = lua_newuserdatauv(L, sizeof *a * (size_t)(n + 1), 0);  /* on the stack */
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, t, i) != LUA_TSTRING)
            luaL_error(L, "spawn: %s[%d] must be a string", what, (int)i);
        a[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    a[n] = NULL;
    return a;
}

/* The app's children, in its slot: the registry outlives generations (a
 * task reading a child keeps running on the generation that started it). */
static proc_registry *app_procs(mn_app *a) {
    proc_registry *r = app_slot_get(a, APP_SLOT_PROC);
    if (r) return r;
    if (!(r = proc_registry_new())) return NULL;
    app_slot_set(a, APP_SLOT_PROC, r, proc_registry_destroy);
    return r;
}

static int l_spawn(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argcheck(L, luaL_len(L, 1) >= 1, 1, "argv must have at least the program");
    if (lua_isnoneornil(L, 2)) { lua_settop(L, 1); lua_newtable(L); }
    luaL_checktype(L, 2, LUA_TTABLE);

    proc_options o;
    memset(&o, 0, sizeof o);
    o.argv = string_array(L, 1, "argv");
    lua_getfield(L, 2, "cwd");
    o.cwd = luaL_optstring(L, -1, NULL);      /* stays on the stack */
    lua_getfield(L, 2, "env");
    if (!lua_isnil(L, -1)) {
        luaL_argcheck(L, lua_istable(L, -1), 2, "opts.env must be an array of K=V strings");
        o.env = string_array(L, lua_gettop(L), "env");
    }
    lua_getfield(L, 2, "stdin");
    if (!lua_isnil(L, -1)) {
        luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 2, "opts.stdin must be a string");
        o.stdin_data = lua_tolstring(L, -1, &o.stdin_len);
    }
    o.max_line = (size_t)bind_opt_integer(L, 2, "max_line", 0, 0, (lua_Integer)1 << 30);
    o.max_buffer = (size_t)bind_opt_integer(L, 2, "max_buffer", 0, 0, (lua_Integer)1 << 30);
    o.err_max = (size_t)bind_opt_integer(L, 2, "err_max", 0, 0, (lua_Integer)1 << 30);
    lua_getfield(L, 2, "grace");
    o.grace = luaL_optnumber(L, -1, 0);
    lua_pop(L, 1);

    mn_app *a = app_from_lua(L);
    proc_registry *r = app_procs(a);
    if (!r) return luaL_error(L, "out of memory");
    proc_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->p = NULL;
    luaL_setmetatable(L, PROC_MT);
    int rc = proc_spawn(r, app_loop(a), &o, &b->p);
    if (rc != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "spawn %s: %s", o.argv[0], uv_strerror(rc));
        return 2;
    }
    return 1;
}

static int luaopen_nest_core_proc(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"next_line", l_next_line}, {"wait", l_wait}, {"kill", l_kill}, {"pid", l_pid},
        {"stderr", l_stderr}, {"truncated", l_truncated}, {"exited", l_exited},
        {"close", l_close}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"spawn", l_spawn}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", l_close}, {"__close", l_close}, {NULL, NULL}};
    bind_createmeta(L, PROC_MT, methods, meta);
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.proc", luaopen_nest_core_proc)
