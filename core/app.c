/* app.c — an instance's lifecycle: boot its first generation, serve, hot
 * reload, stop.
 *
 * Boot runs require("nest.boot").start(opts) as a task in a fresh generation;
 * it loads the config and the plugins and returns the hooks table (mode
 * serve) or an exit code (modes run and check). A reload (app_reload, see
 * app.h) boots another generation the same way, swaps app->current to it and
 * retires the old one; a reap timer enforces reload.drain_timeout on draining
 * generations. Stopping drains: no new connections, in-flight requests get
 * up to http.drain_timeout to finish, then every remaining task is cancelled,
 * the generations are closed and the slots destroyed.
 */
#include "app.h"
#include "app_http.h"
#include "fs.h"
#include "gen.h"
#include "json_out.h"
#include "metrics.h"
#include "reload.h"
#include "scheduler.h"
#include "watch.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    int stopping;
    double drain_timeout;
    uint64_t drain_started;
    uv_timer_t drain_timer;
    void (*stopped)(mn_app *, void *);
    void *stopped_ud;
    int closing_handles;        /* timers whose close callback has not run */
    /* hot reload */
    mn_gen *building;           /* the generation being booted by a reload */
    app_reload_fn reload_cb;
    void *reload_ud;
    const char *reload_trigger;
    uint64_t reload_started;    /* uv_hrtime() */
    char hash[65];              /* content hash of what the current generation loaded */
    char hash_before[65];       /* computed when the building reload began */
    char **inputs;              /* the current generation's reload_inputs */
    int ninputs;
    long seq;
    reload_result last;
    double reload_drain_timeout;
    uv_timer_t reap_timer;      /* drain deadlines of retired generations */
    int reap_running;
    watch *watch;               /* dev.watch */
    int quiet;                  /* log.level above info: successful reloads are not logged */
    char *data_dir;
    metrics_registry *mreg;
    metric *m_reloads, *m_duration, *m_gens, *m_luamem;
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
    a->drain_timeout = 10;
    a->argc = o->argc;
    a->argv = calloc((size_t)o->argc + 1, sizeof(char *));
    for (int i = 0; i < o->argc; i++) a->argv[i] = strdup(o->argv[i]);
    a->reload_drain_timeout = 30;
    uv_timer_init(loop, &a->drain_timer);
    a->drain_timer.data = a;
    uv_timer_init(loop, &a->reap_timer);
    a->reap_timer.data = a;
    uv_unref((uv_handle_t *)&a->reap_timer);
    return a;
}

uv_loop_t *app_loop(mn_app *a) { return a->loop; }
mn_gen *app_current_gen(mn_app *a) { return a->current; }
const char *app_root(mn_app *a) { return a->root; }
int app_id(mn_app *a) { return a->id; }

void *app_slot_get(mn_app *a, app_slot s) { return a->slots[s]; }

void app_slot_set(mn_app *a, app_slot s, void *p, void (*destroy)(void *)) {
    a->slots[s] = p;
    a->slot_destroy[s] = destroy;
}

mn_app *app_from_lua(lua_State *L) { return gen_from_lua(L)->app; }

/* The boot options, as a table for nest.boot.start(). */
static void push_boot_options(lua_State *L, mn_app *a, mn_gen *g) {
    lua_createtable(L, 0, 10);
    lua_pushstring(L, a->root);
    lua_setfield(L, -2, "root");
    if (a->config_path) { lua_pushstring(L, a->config_path); lua_setfield(L, -2, "config_path"); }
    lua_pushstring(L, a->mode);
    lua_setfield(L, -2, "mode");
    lua_pushboolean(L, a->demo);
    lua_setfield(L, -2, "demo");
    lua_pushboolean(L, a->demo > 1);
    lua_setfield(L, -2, "demo_public");
    if (a->script) { lua_pushstring(L, a->script); lua_setfield(L, -2, "script"); }
    if (a->overrides_json) { lua_pushstring(L, a->overrides_json); lua_setfield(L, -2, "overrides_json"); }
    lua_createtable(L, a->argc, 0);
    for (int i = 0; i < a->argc; i++) { lua_pushstring(L, a->argv[i]); lua_rawseti(L, -2, i + 1); }
    lua_setfield(L, -2, "args");
    lua_pushinteger(L, a->id);
    lua_setfield(L, -2, "app_id");
    lua_pushinteger(L, g->id);
    lua_setfield(L, -2, "generation");
    lua_pushboolean(L, g != a->current);
    lua_setfield(L, -2, "reload");
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
static void adopt_generation(mn_app *a, mn_gen *g, const char *hash);

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
    if (app_http_start(a, g, &err) != 0) {
        if (a->ready) a->ready(a, -1, err, a->ready_ud);
        return;
    }
    adopt_generation(a, g, NULL);
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
    push_boot_options(g->L, a, g);
    return sched_spawn(g, NULL, 1, boot_done, a) ? 0 : UV_ENOMEM;
}

/* ---- hot reload ------------------------------------------------------------ */

/* extra: more JSON members, without the leading comma (or NULL). */
static void app_log(const char *level, const char *msg, const char *extra) {
    char f[2304];
    snprintf(f, sizeof f, "%s%s", extra && *extra ? "," : "", extra ? extra : "");
    json_out_log(level, msg, f);
}

static void free_inputs(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* hooks.reload_inputs of g (an array of paths), copied. */
static char **read_inputs(mn_gen *g, int *n) {
    lua_State *L = g->L;
    *n = 0;
    if (gen_push_hook(g, "reload_inputs") != LUA_TTABLE) { lua_pop(L, 1); return NULL; }
    int len = (int)lua_rawlen(L, -1);
    char **v = calloc((size_t)len + 1, sizeof *v);
    for (int i = 0; v && i < len; i++) {
        lua_rawgeti(L, -1, i + 1);
        const char *s = lua_tostring(L, -1);
        if (s) v[(*n)++] = strdup(s);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return v;
}

static int same_inputs(char **a, int na, char **b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (!a[i] || !b[i] || strcmp(a[i], b[i]) != 0) return 0;
    return 1;
}

static double hook_number(mn_gen *g, const char *name, double def) {
    double v = def;
    if (gen_push_hook(g, name) == LUA_TNUMBER) v = lua_tonumber(g->L, -1);
    lua_pop(g->L, 1);
    return v;
}

static void collect_runtime(metrics_registry *reg, void *ud) {
    (void)reg;
    mn_app *a = ud;
    int n = 0;
    double mem = 0;
    for (mn_gen *g = a->gens; g; g = g->next) {
        n++;
        mem += (double)lua_gc(g->L, LUA_GCCOUNT, 0) * 1024 + lua_gc(g->L, LUA_GCCOUNTB, 0);
    }
    if (a->m_gens) metrics_set(a->m_gens, n, NULL);
    if (a->m_luamem) metrics_set(a->m_luamem, mem, NULL);
}

static void metrics_slot_destroy(void *p) { metrics_destroy(p); }

metrics_registry *app_metrics(mn_app *a) {
    metrics_registry *r = app_slot_get(a, APP_SLOT_METRICS);
    if (r) return r;
    if (!(r = metrics_create())) return NULL;
    metrics_add_process_collector(r);   /* best effort */
    app_slot_set(a, APP_SLOT_METRICS, r, metrics_slot_destroy);
    return r;
}

static void metrics_attach(mn_app *a) {
    if (a->mreg) return;
    metrics_registry *reg = app_metrics(a);
    if (!reg) return;
    static const char *const result[] = {"result"};
    a->m_reloads = metrics_counter(reg, "reloads_total",
                                   "Hot reloads by result (ok, noop, error, busy).", result, 1);
    a->m_duration = metrics_histogram(reg, "reload_duration_seconds",
                                      "Time to build a new generation (ok and failed reloads).",
                                      NULL, 0, NULL, 0);
    a->m_gens = metrics_gauge(reg, "runtime_generations",
                              "Lua generations alive: the current one and those draining.", NULL, 0);
    a->m_luamem = metrics_gauge(reg, "lua_memory_bytes",
                                "Memory used by every Lua generation of the app.", NULL, 0);
    if (metrics_add_collector(reg, collect_runtime, a) == 0) a->mreg = reg;
}

static void metrics_detach(mn_app *a) {
    if (a->mreg && app_slot_get(a, APP_SLOT_METRICS) == a->mreg)
        metrics_remove_collector(a->mreg, collect_runtime, a);
    a->mreg = NULL;
    a->m_reloads = a->m_duration = a->m_gens = a->m_luamem = NULL;
}

static void count_result(mn_app *a, const char *result) {
    if (!a->m_reloads) return;
    const char *v[1] = {result};
    metrics_inc(a->m_reloads, 1, v);
}

static void on_watch(void *ud);

/* Take over what the (new) current generation says about reloading:
 * inputs, data dir, drain timeout, the watcher. */
static void adopt_generation(mn_app *a, mn_gen *g, const char *hash) {
    int n;
    char **in = read_inputs(g, &n);
    if (hash && same_inputs(in, n, a->inputs, a->ninputs)) {
        memcpy(a->hash, hash, sizeof a->hash);
    } else if (reload_hash((const char *const *)in, n, a->hash) != 0) {
        a->hash[0] = 0;
    }
    free_inputs(a->inputs, a->ninputs);
    a->inputs = in;
    a->ninputs = n;
    a->reload_drain_timeout = hook_number(g, "reload_drain_timeout", 30);
    if (gen_push_hook(g, "data_dir") == LUA_TSTRING) {
        free(a->data_dir);
        a->data_dir = strdup(lua_tostring(g->L, -1));
        fs_mkdir_p(a->data_dir, 0755);   /* best effort: whoever writes there reports */
    }
    lua_pop(g->L, 1);
    if (gen_push_hook(g, "log_level") == LUA_TSTRING) {
        const char *lv = lua_tostring(g->L, -1);
        a->quiet = !strcmp(lv, "warn") || !strcmp(lv, "error");
    }
    lua_pop(g->L, 1);
    int want_watch = 0;
    if (gen_push_hook(g, "watch") == LUA_TBOOLEAN) want_watch = lua_toboolean(g->L, -1);
    lua_pop(g->L, 1);
    double debounce = hook_number(g, "reload_debounce", 0.25);
    if (want_watch) {
        if (!a->watch) a->watch = watch_create(a->loop, debounce, on_watch, a);
        if (a->watch) {
            watch_set_debounce(a->watch, debounce);
            watch_set(a->watch, (const char *const *)a->inputs, a->ninputs);
        }
    } else if (a->watch) {
        watch_close(a->watch);
        a->watch = NULL;
    }
    metrics_attach(a);
}

static void on_reap_tick(uv_timer_t *t);

static void reap_start(mn_app *a) {
    if (a->reap_running || a->stopping) return;
    a->reap_running = 1;
    uv_timer_start(&a->reap_timer, on_reap_tick, 250, 250);
}

/* Past the drain deadline a retired generation's remaining tasks are
 * cancelled — unless something holds it (a child process stream, see
 * nest.reload.hold), which is logged once and waited for. */
static void on_reap_tick(uv_timer_t *t) {
    mn_app *a = t->data;
    uint64_t now = uv_now(a->loop);
    int draining = 0;
    for (mn_gen *g = a->gens; g;) {
        mn_gen *next = g->next;
        if (g->retired && g != a->building) {
            draining++;
            uint64_t waited = now - g->retired_at;
            if (waited >= (uint64_t)(a->reload_drain_timeout * 1000)) {
                char extra[160];
                snprintf(extra, sizeof extra, "\"generation\":%d,\"tasks\":%d,\"holds\":%d,\"waited\":%.1f",
                         g->id, g->tasks, g->holds, (double)waited / 1000);
                if (g->holds > 0) {
                    if (!g->deadline_hit)
                        app_log("warn", "drain deadline passed; the generation is held by running streams", extra);
                    g->deadline_hit = 1;
                } else {
                    app_log("warn", "drain deadline passed; cancelling the generation's remaining tasks", extra);
                    g->deadline_hit = 1;
                    sched_cancel_gen(g);    /* may close g */
                }
            }
        }
        g = next;
    }
    if (!draining) {
        uv_timer_stop(&a->reap_timer);
        a->reap_running = 0;
    }
}

static void finish_reload(mn_app *a, reload_result *r, app_reload_fn cb, void *ud) {
    r->seq = ++a->seq;
    if (!r->generation) r->generation = a->current ? a->current->id : 0;
    a->last = *r;
    count_result(a, r->busy ? "busy" : r->noop ? "noop" : r->ok ? "ok" : "error");
    char json[2048];
    reload_result_json(r, 0, json, sizeof json);
    /* the log line carries the result object as its fields */
    char extra[2100];
    snprintf(extra, sizeof extra, "\"reload\":%s", json);
    if (!(r->ok && a->quiet))
        app_log(r->ok ? "info" : "error", r->busy ? "reload refused" : r->noop ? "reload: no change"
            : r->ok ? "reloaded" : "reload failed", extra);
    if (a->data_dir) reload_write_file(a->data_dir, r, (int)getpid());
    if (cb) cb(a, r, ud);
}

static void on_reload_watch_done(mn_app *a, const reload_result *r, void *ud) {
    (void)ud;
    if (r->busy && a->watch) watch_poke(a->watch);
}

static void on_watch(void *ud) {
    mn_app *a = ud;
    app_reload(a, "watch", 0, on_reload_watch_done, NULL);
}

/* The message without its traceback (the log line has the whole of it). */
static void copy_error(reload_result *r, const char *msg) {
    snprintf(r->error, sizeof r->error, "%s", msg ? msg : "reload failed");
    char *tb = strstr(r->error, "\nstack traceback:");
    if (tb) *tb = 0;
}

static void reload_boot_done(sched_task *t, sched_status st, lua_State *co, int nres, void *ud) {
    (void)t;
    mn_app *a = ud;
    mn_gen *g = a->building, *old = a->current;
    app_reload_fn cb = a->reload_cb;
    void *cbud = a->reload_ud;
    a->building = NULL;
    a->reload_cb = NULL;
    a->reload_ud = NULL;
    reload_result r;
    memset(&r, 0, sizeof r);
    r.trigger = a->reload_trigger;
    r.previous = old ? old->id : 0;
    r.seconds = (double)(uv_hrtime() - a->reload_started) / 1e9;
    if (a->m_duration) metrics_observe(a->m_duration, r.seconds, NULL);
    int ok = 0;
    if (st == SCHED_CANCELLED || a->stopping) {
        copy_error(&r, "the app is stopping");
    } else if (st == SCHED_ERROR) {
        const char *msg = lua_tostring(co, -1);
        if (msg) fprintf(stderr, "%s\n", msg);
        copy_error(&r, msg);
    } else if (nres < 1 || !lua_istable(co, -nres)) {
        /* boot answers nil, err[, plugin] for an expected failure */
        copy_error(&r, nres >= 2 ? lua_tostring(co, -nres + 1) : "nest.boot.start did not return the hooks table");
        if (nres >= 3 && lua_isstring(co, -nres + 2))
            snprintf(r.plugin, sizeof r.plugin, "%s", lua_tostring(co, -nres + 2));
    } else {
        ok = 1;
    }
    if (!ok) {
        /* thrown away: what its plugins started (timers, subscriptions) ends;
         * it is closed once its last task ended (the boot task, right after) */
        g->failed = 1;
        gen_retire(g);
        reap_start(a);
        r.generation = old ? old->id : 0;
        memcpy(r.hash, a->hash, sizeof r.hash);
        finish_reload(a, &r, cb, cbud);
        return;
    }
    lua_pushvalue(co, -nres);
    g->hooks_ref = luaL_ref(co, LUA_REGISTRYINDEX);
    /* the swap: from here on every new request, message and tick runs on g */
    a->current = g;
    adopt_generation(a, g, a->hash_before[0] ? a->hash_before : NULL);
    if (old) {
        /* the old generation's plugins' destroy(), in a task of its own */
        if (gen_push_hook(old, "retire") == LUA_TFUNCTION) sched_spawn(old, NULL, 0, NULL, NULL);
        else lua_pop(old->L, 1);
        gen_retire(old);
        reap_start(a);
    }
    r.ok = 1;
    r.generation = g->id;
    memcpy(r.hash, a->hash, sizeof r.hash);
    finish_reload(a, &r, cb, cbud);
}

int app_reload(mn_app *a, const char *trigger, int force, app_reload_fn cb, void *ud) {
    reload_result r;
    memset(&r, 0, sizeof r);
    r.trigger = trigger;
    r.previous = r.generation = a->current ? a->current->id : 0;
    if (a->stopping || !a->current || a->current->hooks_ref == LUA_NOREF ||
        strcmp(a->mode, "serve") != 0) {
        copy_error(&r, a->stopping ? "the app is stopping" : "the app is not serving");
        finish_reload(a, &r, cb, ud);
        return 0;
    }
    if (a->building) {
        r.busy = 1;
        copy_error(&r, "a reload is already in progress");
        finish_reload(a, &r, cb, ud);
        return 0;
    }
    a->reload_started = uv_hrtime();
    a->hash_before[0] = 0;
    if (reload_hash((const char *const *)a->inputs, a->ninputs, a->hash_before) != 0)
        a->hash_before[0] = 0;
    if (!force && a->hash_before[0] && !strcmp(a->hash_before, a->hash)) {
        r.ok = r.noop = 1;
        memcpy(r.hash, a->hash, sizeof r.hash);
        finish_reload(a, &r, cb, ud);
        return 0;
    }
    mn_gen *g = gen_create(a, ++a->next_gen);
    if (!g) {
        copy_error(&r, "out of memory");
        finish_reload(a, &r, cb, ud);
        return 0;
    }
    g->on_drained = on_gen_drained;
    g->next = a->gens;
    a->gens = g;
    a->building = g;
    a->reload_cb = cb;
    a->reload_ud = ud;
    a->reload_trigger = trigger;
    lua_pushcfunction(g->L, l_boot);
    push_boot_options(g->L, a, g);
    if (!sched_spawn(g, NULL, 1, reload_boot_done, a)) {
        a->building = NULL;
        a->reload_cb = NULL;
        g->failed = 1;
        gen_retire(g);      /* no task: closed right away */
        copy_error(&r, "out of memory");
        finish_reload(a, &r, cb, ud);
    }
    return 0;
}

const reload_result *app_last_reload(mn_app *a) { return &a->last; }
const char *app_data_dir(mn_app *a) { return a->data_dir; }

static void push_result(lua_State *L, const reload_result *r) {
    lua_createtable(L, 0, 12);
    lua_pushboolean(L, r->ok); lua_setfield(L, -2, "ok");
    if (r->noop) { lua_pushboolean(L, 1); lua_setfield(L, -2, "noop"); }
    if (r->busy) { lua_pushboolean(L, 1); lua_setfield(L, -2, "busy"); }
    lua_pushinteger(L, r->seq); lua_setfield(L, -2, "seq");
    lua_pushstring(L, r->trigger ? r->trigger : "api"); lua_setfield(L, -2, "trigger");
    lua_pushinteger(L, r->generation); lua_setfield(L, -2, "generation");
    lua_pushinteger(L, r->previous); lua_setfield(L, -2, "previous");
    lua_pushnumber(L, r->seconds); lua_setfield(L, -2, "seconds");
    if (r->hash[0]) { lua_pushstring(L, r->hash); lua_setfield(L, -2, "hash"); }
    if (!r->ok) {
        lua_pushstring(L, r->error); lua_setfield(L, -2, "error");
        if (r->plugin[0]) { lua_pushstring(L, r->plugin); lua_setfield(L, -2, "plugin"); }
    }
    char msg[2048];
    reload_result_json(r, 0, msg, sizeof msg);
    const char *m = strstr(msg, "\"message\":\"");
    if (m) {
        /* the human message is the last field: reuse its text (unescaped
         * enough for a log line; the JSON is authoritative) */
        m += 11;
        size_t n = strlen(m);
        if (n >= 2) n -= 2;     /* drop "} */
        lua_pushlstring(L, m, n);
        lua_setfield(L, -2, "message");
    }
}

void app_push_result(lua_State *L, const reload_result *r) { push_result(L, r); }

void app_push_runtime(mn_app *a, lua_State *L) {
    lua_createtable(L, 0, 10);
    lua_pushinteger(L, a->id); lua_setfield(L, -2, "app_id");
    lua_pushinteger(L, a->current ? a->current->id : 0); lua_setfield(L, -2, "current");
    lua_pushboolean(L, a->building != NULL); lua_setfield(L, -2, "reloading");
    lua_pushstring(L, a->hash); lua_setfield(L, -2, "hash");
    lua_pushinteger(L, a->seq); lua_setfield(L, -2, "reloads");
    lua_pushnumber(L, a->reload_drain_timeout); lua_setfield(L, -2, "drain_timeout");
    lua_pushboolean(L, a->watch != NULL); lua_setfield(L, -2, "watching");
    if (a->watch) { lua_pushinteger(L, watch_count(a->watch)); lua_setfield(L, -2, "watched_dirs"); }
    uint64_t now = uv_now(a->loop);
    lua_newtable(L);
    int i = 0;
    for (mn_gen *g = a->gens; g; g = g->next) {
        lua_createtable(L, 0, 6);
        lua_pushinteger(L, g->id); lua_setfield(L, -2, "id");
        lua_pushstring(L, g == a->current ? "current" : g == a->building ? "building"
                          : g->failed ? "failed" : "draining");
        lua_setfield(L, -2, "state");
        lua_pushinteger(L, g->tasks); lua_setfield(L, -2, "tasks");
        lua_pushinteger(L, g->holds); lua_setfield(L, -2, "holds");
        lua_pushinteger(L, (lua_Integer)lua_gc(g->L, LUA_GCCOUNT, 0) * 1024 + lua_gc(g->L, LUA_GCCOUNTB, 0));
        lua_setfield(L, -2, "lua_memory");
        if (g->retired) {
            lua_pushnumber(L, (double)(now - g->retired_at) / 1000);
            lua_setfield(L, -2, "draining_for");
        }
        lua_rawseti(L, -2, ++i);
    }
    lua_setfield(L, -2, "generations");
    if (a->last.seq) { push_result(L, &a->last); lua_setfield(L, -2, "last_reload"); }
}

/* ---- stopping ----------------------------------------------------------- */

static void app_finish_stop(mn_app *a);

static void on_drain_timer_closed(uv_handle_t *h) {
    mn_app *a = h->data;
    if (--a->closing_handles > 0) return;
    void (*cb)(mn_app *, void *) = a->stopped;
    void *ud = a->stopped_ud;
    for (int i = 0; i < a->argc; i++) free(a->argv[i]);
    free(a->argv);
    free(a->root); free(a->config_path); free(a->mode); free(a->script); free(a->overrides_json);
    free_inputs(a->inputs, a->ninputs);
    free(a->data_dir);
    free(a);
    if (cb) cb(NULL, ud);
}

static void on_gen_drained(mn_gen *g) {
    mn_app *a = g->app;
    mn_gen **pp = &a->gens;
    while (*pp && *pp != g) pp = &(*pp)->next;
    if (*pp) *pp = g->next;
    if (a->current == g) a->current = NULL;
    if (a->building == g) a->building = NULL;
    gen_close(g);
    if (a->stopping && !a->gens) app_finish_stop(a);
}

static void app_finish_stop(mn_app *a) {
    metrics_detach(a);
    if (a->watch) { watch_close(a->watch); a->watch = NULL; }
    for (int i = APP_SLOT_COUNT - 1; i >= 0; i--)
        if (a->slots[i] && a->slot_destroy[i]) {
            void *p = a->slots[i];
            a->slots[i] = NULL;
            a->slot_destroy[i](p);
        }
    a->closing_handles = 2;
    uv_close((uv_handle_t *)&a->drain_timer, on_drain_timer_closed);
    uv_close((uv_handle_t *)&a->reap_timer, on_drain_timer_closed);
}

/* Drained (or out of patience): end every task and close the generations. */
static void app_stop_now(mn_app *a) {
    uv_timer_stop(&a->drain_timer);
    uv_timer_stop(&a->reap_timer);
    a->reap_running = 0;
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
    if (app_http_inflight(a) == 0 || waited >= (uint64_t)(a->drain_timeout * 1000))
        app_stop_now(a);
}

void app_stop(mn_app *a, void (*stopped)(mn_app *, void *), void *ud) {
    if (a->stopping) return;
    a->stopping = 1;
    if (a->watch) { watch_close(a->watch); a->watch = NULL; }
    a->stopped = stopped;
    a->stopped_ud = ud;
    if (a->current && a->current->hooks_ref != LUA_NOREF) {
        lua_State *L = a->current->L;
        if (gen_push_hook(a->current, "drain_timeout") == LUA_TNUMBER)
            a->drain_timeout = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    app_http_stop_accepting(a);
    if (app_http_inflight(a) == 0) { app_stop_now(a); return; }
    /* poll for the in-flight count to reach zero; 20 ms is plenty fine */
    a->drain_started = uv_now(a->loop);
    uv_timer_start(&a->drain_timer, on_drain_tick, 20, 20);
}
