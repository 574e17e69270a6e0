/* app.c — an instance's lifecycle: boot its first generation, serve, stop.
 *
 * Boot runs require("nest.boot").start(opts) as a task in a fresh generation;
 * it loads the config and the plugins and returns the hooks table (mode
 * serve) or an exit code (modes run and check). Stopping drains: no new
 * connections, in-flight requests get up to http.drain_timeout to finish,
 * then every remaining task is cancelled, the generations are closed and the
 * slots destroyed.
 */
#include "app.h"
#include "gen.h"
#include "lua_http.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

struct mn_app {
    uv_loop_t *loop;
    int id;
    char *root, *config_path, *mode, *script, *overrides_json;
    int demo, argc;
    char **argv;
    mn_gen *current, *gens;
    int next_gen;
    void *slots[APP_SLOT_COUNT];
    void (*slot_destroy[APP_SLOT_COUNT])(void *);
    app_ready_fn ready;
    void *ready_ud;
    int stopping, port;
    double drain_timeout;
    uint64_t drain_started;
    uv_timer_t drain_timer;
    void (*stopped)(mn_app *, void *);
    void *stopped_ud;
};

static int app_count;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

mn_app *app_create(uv_loop_t *loop, const app_options *o) {
    mn_app *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->loop = loop;
    a->id = ++app_count;
    a->root = strdup(o->root);
    a->config_path = dup_or_null(o->config_path);
    a->mode = strdup(o->mode ? o->mode : "serve");
    a->script = dup_or_null(o->script);
    a->overrides_json = dup_or_null(o->overrides_json);
    a->demo = o->demo;
    a->port = -1;
    a->drain_timeout = 10;
    a->argc = o->argc;
    a->argv = calloc((size_t)o->argc + 1, sizeof(char *));
    for (int i = 0; i < o->argc; i++) a->argv[i] = strdup(o->argv[i]);
    uv_timer_init(loop, &a->drain_timer);
    a->drain_timer.data = a;
    return a;
}

uv_loop_t *app_loop(mn_app *a) { return a->loop; }
mn_gen *app_current_gen(mn_app *a) { return a->current; }
const char *app_root(mn_app *a) { return a->root; }
int app_id(mn_app *a) { return a->id; }
int app_port(mn_app *a) { return a->port; }

void *app_slot_get(mn_app *a, app_slot s) { return a->slots[s]; }

void app_slot_set(mn_app *a, app_slot s, void *p, void (*destroy)(void *)) {
    a->slots[s] = p;
    a->slot_destroy[s] = destroy;
}

mn_app *app_from_lua(lua_State *L) { return gen_from_lua(L)->app; }

/* The boot options, as a table for nest.boot.start(). */
static void push_boot_options(lua_State *L, mn_app *a) {
    lua_createtable(L, 0, 10);
    lua_pushstring(L, a->root);
    lua_setfield(L, -2, "root");
    if (a->config_path) { lua_pushstring(L, a->config_path); lua_setfield(L, -2, "config_path"); }
    lua_pushstring(L, a->mode);
    lua_setfield(L, -2, "mode");
    lua_pushboolean(L, a->demo);
    lua_setfield(L, -2, "demo");
    if (a->script) { lua_pushstring(L, a->script); lua_setfield(L, -2, "script"); }
    if (a->overrides_json) { lua_pushstring(L, a->overrides_json); lua_setfield(L, -2, "overrides_json"); }
    lua_createtable(L, a->argc, 0);
    for (int i = 0; i < a->argc; i++) { lua_pushstring(L, a->argv[i]); lua_rawseti(L, -2, i + 1); }
    lua_setfield(L, -2, "args");
    lua_pushinteger(L, a->id);
    lua_setfield(L, -2, "app_id");
    lua_pushinteger(L, a->current ? a->current->id : 0);
    lua_setfield(L, -2, "generation");
}

static int boot_k(lua_State *L, int status, lua_KContext ctx) {
    (void)status; (void)ctx;
    return lua_gettop(L);
}

/* Runs nest.boot.start(opts); a continuation so the boot (and a script run
 * by it) may wait on I/O. */
static int l_boot(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushliteral(L, "nest.boot");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "start");
    lua_insert(L, 1);
    lua_pop(L, 1);
    lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, boot_k);
    return boot_k(L, LUA_OK, 0);
}

static void on_gen_drained(mn_gen *g);

static void boot_done(sched_task *t, sched_status st, lua_State *co, int nres, void *ud) {
    (void)t;
    mn_app *a = ud;
    mn_gen *g = a->current;
    if (st != SCHED_OK) {
        const char *msg = st == SCHED_ERROR ? lua_tostring(co, -1) : "boot cancelled";
        if (a->ready) a->ready(a, -1, msg ? msg : "boot failed", a->ready_ud);
        return;
    }
    if (strcmp(a->mode, "serve") != 0) {
        int code = nres > 0 && lua_isinteger(co, -nres) ? (int)lua_tointeger(co, -nres) : 0;
        if (a->ready) a->ready(a, code, NULL, a->ready_ud);
        return;
    }
    if (nres < 1 || !lua_istable(co, -nres)) {
        /* boot answers nil, err for an expected failure (bad config, plugin) */
        const char *msg = nres >= 2 ? lua_tostring(co, -nres + 1) : NULL;
        if (a->ready) a->ready(a, -1, msg ? msg : "nest.boot.start did not return the hooks table",
                               a->ready_ud);
        return;
    }
    lua_pushvalue(co, -nres);
    g->hooks_ref = luaL_ref(co, LUA_REGISTRYINDEX);
    const char *err = NULL;
    if (lua_http_start(a, g, &err) != 0) {
        if (a->ready) a->ready(a, -1, err, a->ready_ud);
        return;
    }
    if (a->ready) a->ready(a, 0, NULL, a->ready_ud);
}

int app_start(mn_app *a, app_ready_fn ready, void *ud) {
    a->ready = ready;
    a->ready_ud = ud;
    mn_gen *g = gen_create(a, ++a->next_gen);
    if (!g) return UV_ENOMEM;
    g->on_drained = on_gen_drained;
    g->next = a->gens;
    a->gens = g;
    a->current = g;
    lua_pushcfunction(g->L, l_boot);
    push_boot_options(g->L, a);
    return sched_spawn(g, NULL, 1, boot_done, a) ? 0 : UV_ENOMEM;
}

/* ---- stopping ----------------------------------------------------------- */

static void app_finish_stop(mn_app *a);

static void on_drain_timer_closed(uv_handle_t *h) {
    mn_app *a = h->data;
    void (*cb)(mn_app *, void *) = a->stopped;
    void *ud = a->stopped_ud;
    for (int i = 0; i < a->argc; i++) free(a->argv[i]);
    free(a->argv);
    free(a->root); free(a->config_path); free(a->mode); free(a->script); free(a->overrides_json);
    free(a);
    if (cb) cb(NULL, ud);
}

static void on_gen_drained(mn_gen *g) {
    mn_app *a = g->app;
    mn_gen **pp = &a->gens;
    while (*pp && *pp != g) pp = &(*pp)->next;
    if (*pp) *pp = g->next;
    if (a->current == g) a->current = NULL;
    gen_close(g);
    if (a->stopping && !a->gens) app_finish_stop(a);
}

static void app_finish_stop(mn_app *a) {
    for (int i = APP_SLOT_COUNT - 1; i >= 0; i--)
        if (a->slots[i] && a->slot_destroy[i]) {
            void *p = a->slots[i];
            a->slots[i] = NULL;
            a->slot_destroy[i](p);
        }
    uv_close((uv_handle_t *)&a->drain_timer, on_drain_timer_closed);
}

/* Drained (or out of patience): end every task and close the generations. */
static void app_stop_now(mn_app *a) {
    uv_timer_stop(&a->drain_timer);
    /* the server goes first so no new task can start */
    if (a->slots[APP_SLOT_HTTP] && a->slot_destroy[APP_SLOT_HTTP]) {
        void *p = a->slots[APP_SLOT_HTTP];
        a->slots[APP_SLOT_HTTP] = NULL;
        a->slot_destroy[APP_SLOT_HTTP](p);
    }
    mn_gen *g = a->gens;
    if (!g) { app_finish_stop(a); return; }
    for (; g; g = g->next) {
        g->on_drained = NULL;       /* closed below, not from inside gen_retire */
        gen_retire(g);
        g->on_drained = on_gen_drained;
    }
    for (g = a->gens; g;) {
        mn_gen *next = g->next;
        if (g->tasks == 0) on_gen_drained(g);
        else sched_cancel_gen(g);
        g = next;
    }
}

static void on_drain_tick(uv_timer_t *t) {
    mn_app *a = t->data;
    uint64_t waited = uv_now(a->loop) - a->drain_started;
    if (lua_http_inflight(a) == 0 || waited >= (uint64_t)(a->drain_timeout * 1000))
        app_stop_now(a);
}

void app_stop(mn_app *a, void (*stopped)(mn_app *, void *), void *ud) {
    if (a->stopping) return;
    a->stopping = 1;
    a->stopped = stopped;
    a->stopped_ud = ud;
    if (a->current && a->current->hooks_ref != LUA_NOREF) {
        lua_State *L = a->current->L;
        if (gen_push_hook(a->current, "drain_timeout") == LUA_TNUMBER)
            a->drain_timeout = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_http_stop_accepting(a);
    if (lua_http_inflight(a) == 0) { app_stop_now(a); return; }
    /* poll for the in-flight count to reach zero; 20 ms is plenty fine */
    a->drain_started = uv_now(a->loop);
    uv_timer_start(&a->drain_timer, on_drain_tick, 20, 20);
}
