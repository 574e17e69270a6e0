/* app.h — one MediaNest instance.
 *
 * An app owns what must outlive a Lua generation: its listening socket and
 * connections (http_server), the L1 cache, the metrics registry, the DB and
 * Redis pools, WebSocket connections, child processes. It runs one current
 * generation (gen.h) and any number of draining ones. A process normally has
 * one app; specs start several in one process to act as several instances.
 *
 * The bindings attach the mechanisms' per-app state lazily to a slot (the
 * mechanisms themselves know nothing of the app): app_slot_get() returns
 * NULL the first time, the binding creates the state and app_slot_set()s it
 * with a destroy function that app_stop() calls (destroy may start async
 * closes; the memory of a uv handle is freed in its close callback).
 */
#ifndef MN_APP_H
#define MN_APP_H

#include <uv.h>
#include <lua.h>

#include "reload.h"

typedef struct mn_app mn_app;
typedef struct mn_gen mn_gen;

typedef enum {
    APP_SLOT_HTTP,     /* lua_http.c: the app's HTTP server (http_server.c) */
    APP_SLOT_CACHE,    /* lua_cache.c: the L1 cache (cache.c) */
    APP_SLOT_METRICS,  /* app.c, app_metrics(): the registry (metrics.c) */
    APP_SLOT_PG,       /* lua_db.c: the pool (pg_pool.c) */
    APP_SLOT_REDIS,    /* lua_redis.c: the client (redis_client.c) */
    APP_SLOT_WS,       /* lua_ws.c: connection registry and rooms (ws.c) */
    APP_SLOT_FETCH,    /* lua_fetch.c: the curl multi handle (fetch.c) */
    APP_SLOT_PROC,     /* lua_proc.c: child processes (proc.c) */
    APP_SLOT_COUNT
} app_slot;

typedef struct app_options {
    const char *root;         /* source root: lua/, plugins/, static/, migrations/ */
    const char *config_path;  /* config.lua, or NULL for defaults + environment */
    const char *mode;         /* "serve", "check", "run" */
    int demo;                 /* serve --demo: 1; with --demo-public: 2 */
    const char *overrides_json; /* optional: a JSON object merged over the config */
    const char *script;       /* mode "run": the script path */
    int argc;                 /* mode "run": script arguments */
    char **argv;
} app_options;

/* Called once the app's first generation booted (status 0) or failed
 * (status < 0, err says why). For mode "run" it is called when the script
 * task ended, status = the script's exit code. */
typedef void (*app_ready_fn)(mn_app *a, int status, const char *err, void *ud);

mn_app *app_create(uv_loop_t *loop, const app_options *o);
int app_start(mn_app *a, app_ready_fn ready, void *ud);

/* Graceful stop: stop accepting, let in-flight work finish (up to the drain
 * timeout), close generations and slots, then call stopped. The app is freed
 * after the callback. */
void app_stop(mn_app *a, void (*stopped)(mn_app *a, void *ud), void *ud);

uv_loop_t *app_loop(mn_app *a);
mn_gen *app_current_gen(mn_app *a);
const char *app_root(mn_app *a);
int app_id(mn_app *a);

void *app_slot_get(mn_app *a, app_slot s);
void app_slot_set(mn_app *a, app_slot s, void *p, void (*destroy)(void *p));

/* The app's metrics registry (APP_SLOT_METRICS), created on first use with
 * the process collector, destroyed with the app's slots when it stops. The
 * bindings and the app's own runtime gauges share it. NULL on ENOMEM. */
typedef struct metrics_registry metrics_registry;
metrics_registry *app_metrics(mn_app *a);

/* The app whose generation owns L. */
mn_app *app_from_lua(lua_State *L);


/* ---- hot reload (docs/architecture.md#generations-and-hot-reload) ----
 *
 * app_reload() builds a new generation next to the current one: a fresh
 * lua_State running nest.boot.start with the config and every enabled plugin.
 * If the boot fails the new generation is thrown away and the current one
 * keeps serving. Otherwise the swap is one pointer: the next request,
 * WebSocket message and timer tick run on the new generation, while the old
 * one is retired — its plugins' destroy() run, its timers fire premature,
 * its subscriptions end — and closed when its last task ended (or, past
 * reload.drain_timeout, its remaining tasks are cancelled unless held by
 * nest.reload.hold()). Unless force is set, a tree whose content hash (config
 * file + lua/ + the enabled plugins' directories) did not change is a no-op.
 * A reload while one is building is refused (busy).
 *
 * cb runs exactly once, possibly before app_reload returns (busy, no-op,
 * immediate failure). Every result is also logged, counted in
 * reloads_total{result}, kept as app_last_reload() and written to
 * <data_dir>/reload.json. trigger: a static string ("signal", "admin",
 * "watch", "api"). Returns 0, or a negative UV_E* when cb will not run. */
typedef void (*app_reload_fn)(mn_app *a, const reload_result *r, void *ud);
int app_reload(mn_app *a, const char *trigger, int force, app_reload_fn cb, void *ud);
/* The last reload's result (seq 0: none yet). */
const reload_result *app_last_reload(mn_app *a);
/* Push a table describing the app's runtime on L (generations, reload state). */
void app_push_runtime(mn_app *a, lua_State *L);
/* Push a reload result as a table (ok, noop, busy, seq, generation, error, plugin, message...). */
void app_push_result(lua_State *L, const reload_result *r);
/* The process pid file and the data directory (mode serve, from the config);
 * NULL before the first generation booted. */
const char *app_data_dir(mn_app *a);

#endif
