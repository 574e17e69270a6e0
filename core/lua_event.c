/* lua_event.c — "nest.core.event": a one-shot condition for tasks.
 *
 *   local ev = event.new()
 *   ev:wait([timeout]) -> the values given to signal | nil, "timeout"
 *   ev:signal(...)     -> number of tasks woken; every waiter gets the values
 *   ev:waiting()       -> number of tasks waiting now
 *
 * A signal wakes the tasks waiting at that moment (later waits block until
 * the next signal). Values are kept in a registry table shared by the woken
 * waiters and released with the last of them. Used by nest.cache for
 * single-flight: one task runs the loader, the others wait on its event.
 * No polling and no process-wide state: an event is a plain userdata of the
 * generation that made it.
 */
#include "app.h"
#include "bind.h"
#include "gen.h"
#include "lua_modules.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <stdlib.h>

#define EVENT_MT "nest.event"

typedef struct ev_waiter ev_waiter;
typedef struct event { ev_waiter *head; } event;

/* Signalled values shared by the waiters one signal woke. */
typedef struct ev_values { lua_State *L; int ref; int users; } ev_values;

struct ev_waiter {
    sched_op op;
    event *ev;                /* NULL once woken or the event is gone */
    ev_waiter *prev, *next;
    ev_values *vals;          /* NULL: timed out */
};

static void unlink_waiter(ev_waiter *w) {
    if (!w->ev) return;
    if (w->prev) w->prev->next = w->next;
    else w->ev->head = w->next;
    if (w->next) w->next->prev = w->prev;
    w->ev = NULL;
    w->prev = w->next = NULL;
}

static void vals_drop(ev_values *v) {
    if (v && --v->users == 0) {
        luaL_unref(v->L, LUA_REGISTRYINDEX, v->ref);
        free(v);
    }
}

static void waiter_free(sched_op *op) {
    ev_waiter *w = (ev_waiter *)op;
    unlink_waiter(w);
    vals_drop(w->vals);
    w->vals = NULL;
    free(w);
}

static int waiter_push(sched_op *op, lua_State *L) {
    ev_waiter *w = (ev_waiter *)op;
    if (!w->vals) {
        lua_pushnil(L);
        lua_pushliteral(L, "timeout");
        return 2;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, w->vals->ref);
    int t = lua_gettop(L);
    lua_getfield(L, t, "n");
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, n, "event values");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, t, i);
    lua_remove(L, t);
    return n;
}

static void on_expired(sched_op *op) {
    ev_waiter *w = (ev_waiter *)op;
    unlink_waiter(w);
    sched_op_wake(&w->op);
}

static event *check_event(lua_State *L) { return luaL_checkudata(L, 1, EVENT_MT); }

static int l_new(lua_State *L) {
    event *ev = lua_newuserdatauv(L, sizeof *ev, 0);
    ev->head = NULL;
    luaL_setmetatable(L, EVENT_MT);
    return 1;
}

static int l_wait(lua_State *L) {
    event *ev = check_event(L);
    double timeout = luaL_optnumber(L, 2, -1);
    ev_waiter *w = calloc(1, sizeof *w);
    if (!w) return luaL_error(L, "out of memory");
    w->op.push = waiter_push;
    w->op.release = waiter_free;
    w->op.cancel = waiter_free;
    if (sched_op_begin(L, &w->op, "nest.event.wait") != 0) { free(w); return lua_error(L); }
    w->ev = ev;
    w->next = ev->head;
    if (ev->head) ev->head->prev = w;
    ev->head = w;
    /* timeout 0: give up on the next loop turn unless signalled first */
    if (timeout >= 0)
        sched_op_deadline(&w->op, app_loop(app_from_lua(L)), timeout > 0 ? timeout : 1e-9, on_expired);
    return sched_wait(L);
}

static int l_signal(lua_State *L) {
    event *ev = check_event(L);
    int n = lua_gettop(L) - 1;
    int woken = 0;
    if (!ev->head) { lua_pushinteger(L, 0); return 1; }
    ev_values *v = malloc(sizeof *v);
    if (!v) return luaL_error(L, "out of memory");
    lua_createtable(L, n, 1);
    for (int i = 1; i <= n; i++) { lua_pushvalue(L, i + 1); lua_rawseti(L, -2, i); }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    v->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    v->L = gen_from_lua(L)->L;
    v->users = 0;
    while (ev->head) {
        ev_waiter *w = ev->head;
        unlink_waiter(w);
        w->vals = v;
        v->users++;
        sched_op_wake(&w->op);
        woken++;
    }
    lua_pushinteger(L, woken);
    return 1;
}

static int l_waiting(lua_State *L) {
    event *ev = check_event(L);
    int n = 0;
    for (ev_waiter *w = ev->head; w; w = w->next) n++;
    lua_pushinteger(L, n);
    return 1;
}

static int l_gc(lua_State *L) {
    event *ev = check_event(L);
    while (ev->head) unlink_waiter(ev->head);   /* waiters then only time out */
    return 0;
}

static int luaopen_nest_core_event(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"wait", l_wait}, {"signal", l_signal}, {"waiting", l_waiting}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", l_gc}, {NULL, NULL}};
    bind_createmeta(L, EVENT_MT, methods, meta);
    lua_newtable(L);
    lua_pushcfunction(L, l_new);
    lua_setfield(L, -2, "new");
    return 1;
}

MN_LUA_MODULE("nest.core.event", luaopen_nest_core_event)
