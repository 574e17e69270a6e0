/* lua_timer.c — nest.core.timer: sleep, at, every.
 *
 *   sleep(s)            wait s seconds (the task yields)
 *   at(s, fn, ...)      run fn(premature, ...) in a new task after s seconds
 *   every(s, fn, ...)   run fn(premature, ...) every s seconds
 * at/every return a handle with :cancel(). When the generation retires
 * (reload, stop) pending timers run once more with premature = true, then
 * stop — so a plugin can clean up, and an old generation's timers never
 * tick on after it. The smallest complete example of a sched op.
 */
#include "gen.h"
#include "bind.h"
#include "lua_modules.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdlib.h>

#define TIMER_MT "nest.timer"

/* ---- sleep -------------------------------------------------------------- */

/* libuv's timers run on the loop's clock: whole milliseconds, truncated,
 * read from CLOCK_MONOTONIC_COARSE where that is fine-grained enough. A
 * 200 ms sleep started 0.9 ms into a millisecond fires 199.1 ms later by
 * uv_hrtime(), the clock request durations are measured with. So a sleep
 * keeps its deadline in uv_hrtime() and sleeps again for what is left. */
typedef struct sleep_op { sched_op op; uv_timer_t t; uint64_t deadline_ns; } sleep_op;

static void sleep_closed(uv_handle_t *h) { free(h->data); }
static int sleep_push(sched_op *op, lua_State *L) { (void)op; lua_pushboolean(L, 1); return 1; }
static void sleep_free(sched_op *op) {
    sleep_op *s = (sleep_op *)op;
    uv_close((uv_handle_t *)&s->t, sleep_closed);
}
static void on_sleep(uv_timer_t *t) {
    sleep_op *s = t->data;
    uint64_t now = uv_hrtime();
    if (now < s->deadline_ns) {
        uv_timer_start(t, on_sleep, (s->deadline_ns - now + 999999) / 1000000, 0);
        return;
    }
    sched_op_wake(&s->op);
}

static uint64_t to_ms(lua_State *L, int idx) {
    lua_Number s = luaL_checknumber(L, idx);
    luaL_argcheck(L, s >= 0 && s < 1e9, idx, "seconds must be between 0 and 1e9");
    return (uint64_t)(s * 1000 + 0.5);
}

static int l_sleep(lua_State *L) {
    uint64_t ms = to_ms(L, 1);
    sleep_op *s = calloc(1, sizeof *s);
    if (!s) return luaL_error(L, "out of memory");
    s->op.push = sleep_push;
    s->op.release = sleep_free;
    s->op.cancel = sleep_free;
    if (sched_op_begin(L, &s->op, "nest.timer.sleep") != 0) { free(s); return lua_error(L); }
    uv_loop_t *loop = app_loop(app_from_lua(L));
    uv_update_time(loop);   /* the loop's cached time may be a whole turn old */
    uv_timer_init(loop, &s->t);
    s->t.data = s;
    s->deadline_ns = uv_hrtime() + ms * 1000000;
    uv_timer_start(&s->t, on_sleep, ms, 0);
    return sched_wait(L);
}

/* ---- at / every --------------------------------------------------------- */

typedef struct ltimer {
    uv_timer_t t;
    gen_hook hook;
    mn_gen *g;
    int ref;          /* registry: {fn, args...} */
    int nargs;
    int repeat;
    int stopped;
    struct timer_box *box;   /* the Lua handle, while both live */
} ltimer;

typedef struct timer_box { ltimer *t; } timer_box;

static void ltimer_closed(uv_handle_t *h) {
    ltimer *lt = h->data;
    if (lt->box) lt->box->t = NULL;
    free(lt);
}

static void ltimer_stop(ltimer *lt) {
    if (lt->stopped) return;
    lt->stopped = 1;
    gen_hook_remove(lt->g, &lt->hook);
    luaL_unref(lt->g->L, LUA_REGISTRYINDEX, lt->ref);
    uv_close((uv_handle_t *)&lt->t, ltimer_closed);
}

/* Start fn(premature, args...) as a task of the timer's generation. */
static void ltimer_spawn(ltimer *lt, int premature) {
    lua_State *L = lt->g->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, lt->ref);
    lua_rawgeti(L, -1, 1);
    lua_pushboolean(L, premature);
    for (int i = 0; i < lt->nargs; i++) lua_rawgeti(L, -3 - i, i + 2);
    lua_remove(L, -(lt->nargs + 3));
    sched_spawn(lt->g, NULL, lt->nargs + 1, NULL, NULL);
}

static void on_tick(uv_timer_t *t) {
    ltimer *lt = t->data;
    ltimer_spawn(lt, 0);
    if (!lt->repeat) ltimer_stop(lt);
}

static void on_retire(mn_gen *g, gen_hook *h) {
    (void)g;
    ltimer *lt = (ltimer *)((char *)h - offsetof(ltimer, hook));
    ltimer_spawn(lt, 1);
    lt->stopped = 1;          /* the hook is already unlinked */
    luaL_unref(lt->g->L, LUA_REGISTRYINDEX, lt->ref);
    uv_close((uv_handle_t *)&lt->t, ltimer_closed);
}

static int start_timer(lua_State *L, int repeat) {
    uint64_t ms = to_ms(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (repeat) luaL_argcheck(L, ms > 0, 1, "every: the interval must be positive");
    mn_gen *g = gen_from_lua(L);
    if (g->retired) { lua_pushnil(L); lua_pushliteral(L, "generation is retiring"); return 2; }
    int n = lua_gettop(L);
    lua_createtable(L, n - 1, 0);
    for (int i = 2; i <= n; i++) { lua_pushvalue(L, i); lua_rawseti(L, -2, i - 1); }
    ltimer *lt = calloc(1, sizeof *lt);
    if (!lt) return luaL_error(L, "out of memory");
    lt->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lt->g = g;
    lt->nargs = n - 2;
    lt->repeat = repeat;
    lt->hook.fn = on_retire;
    gen_hook_add(g, &lt->hook);
    uv_update_time(app_loop(g->app));
    uv_timer_init(app_loop(g->app), &lt->t);
    lt->t.data = lt;
    uv_timer_start(&lt->t, on_tick, ms, repeat ? ms : 0);
    timer_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->t = lt;
    lt->box = b;
    luaL_setmetatable(L, TIMER_MT);
    return 1;
}

static int l_gc(lua_State *L) {
    timer_box *b = luaL_checkudata(L, 1, TIMER_MT);
    if (b->t) b->t->box = NULL;
    return 0;
}

static int l_at(lua_State *L) { return start_timer(L, 0); }
static int l_every(lua_State *L) { return start_timer(L, 1); }

/* handle:cancel() -> true if it was still pending */
static int l_cancel(lua_State *L) {
    timer_box *b = luaL_checkudata(L, 1, TIMER_MT);
    ltimer *lt = b->t;
    if (!lt || lt->stopped) { lua_pushboolean(L, 0); return 1; }
    ltimer_stop(lt);
    lua_pushboolean(L, 1);
    return 1;
}

static int luaopen_nest_core_timer(lua_State *L) {
    static const luaL_Reg fns[] = {{"sleep", l_sleep}, {"at", l_at}, {"every", l_every}, {NULL, NULL}};
    static const luaL_Reg methods[] = {{"cancel", l_cancel}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", l_gc}, {NULL, NULL}};
    bind_createmeta(L, TIMER_MT, methods, meta);
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.timer", luaopen_nest_core_timer)
