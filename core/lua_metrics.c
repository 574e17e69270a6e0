/* lua_metrics.c — "nest.core.metrics": the Lua binding of the metrics
 * registry (metrics.c).
 *
 * Works on the app's registry (app_metrics(), APP_SLOT_METRICS), kept as
 * an upvalue: the app frees its slots only after its last generation closed.
 *
 *   counter(name, help, labelnames[, max_series])            -> handle
 *   gauge(name, help, labelnames[, max_series])              -> handle
 *   histogram(name, help, labelnames, buckets[, max_series]) -> handle
 *   expose()                                                 -> Prometheus text
 *   CONTENT_TYPE                                             the exposition's media type
 *
 * labelnames is an array of strings (or nil); buckets an increasing array of
 * numbers (or nil for the defaults). Registering a name again returns a
 * handle on the same metric when type, labels and buckets match, and raises
 * otherwise; so do invalid names.
 *
 * Handles (userdata; the metric itself lives in C and outlives the
 * generation):
 *   counter:inc([n], ...)       n >= 0, default 1
 *   gauge:set(v, ...)  gauge:inc([n], ...)  gauge:dec([n], ...)
 *   histogram:observe(v, ...)
 * where ... are the label values, positionally, in the order of labelnames
 * (strings, or numbers which are converted: 200 -> "200"). Exactly as many
 * as there are label names, else an error. The positional form costs no
 * table per observation.
 */
#include "app.h"
#include "bind.h"
#include "lua_modules.h"
#include "metrics.h"

#include <lauxlib.h>
#include <string.h>

#define COUNTER_MT "nest.metrics.counter"
#define GAUGE_MT "nest.metrics.gauge"
#define HISTOGRAM_MT "nest.metrics.histogram"

static const char *const type_mt[] = {COUNTER_MT, GAUGE_MT, HISTOGRAM_MT};

static inline metric *check_handle(lua_State *L, const char *mt) {
    return *(metric **)luaL_checkudata(L, 1, mt);
}

/* The series for the label values at stack positions first..top. */
static metric_series *series_from_args(lua_State *L, metric *m, int first) {
    int n = lua_gettop(L) - first + 1;
    if (n < 0) n = 0;
    int want = metrics_label_count(m);
    if (n != want)
        luaL_error(L, "%s: expected %d label value%s, got %d", metrics_name(m), want, want == 1 ? "" : "s", n);
    const char *v[METRICS_MAX_LABELS];
    size_t len[METRICS_MAX_LABELS];
    for (int i = 0; i < n; i++) v[i] = luaL_checklstring(L, first + i, &len[i]);
    metric_series *s = metrics_series(m, v, len, n);
    if (!s) luaL_error(L, "%s: out of memory", metrics_name(m));
    return s;
}

static int l_counter_inc(lua_State *L) {
    metric *m = check_handle(L, COUNTER_MT);
    lua_Number n = luaL_optnumber(L, 2, 1);
    if (!(n >= 0)) luaL_argerror(L, 2, "a counter only goes up (n >= 0)");
    metrics_series_inc(series_from_args(L, m, 3), n);
    return 0;
}

static int l_gauge_set(lua_State *L) {
    metric *m = check_handle(L, GAUGE_MT);
    lua_Number v = luaL_checknumber(L, 2);
    metrics_series_set(series_from_args(L, m, 3), v);
    return 0;
}

static int l_gauge_inc(lua_State *L) {
    metric *m = check_handle(L, GAUGE_MT);
    lua_Number n = luaL_optnumber(L, 2, 1);
    metrics_series_inc(series_from_args(L, m, 3), n);
    return 0;
}

static int l_gauge_dec(lua_State *L) {
    metric *m = check_handle(L, GAUGE_MT);
    lua_Number n = luaL_optnumber(L, 2, 1);
    metrics_series_inc(series_from_args(L, m, 3), -n);
    return 0;
}

static int l_histogram_observe(lua_State *L) {
    metric *m = check_handle(L, HISTOGRAM_MT);
    lua_Number v = luaL_checknumber(L, 2);
    metrics_series_observe(series_from_args(L, m, 3), v);
    return 0;
}

/* A handle of any type at 1. */
static metric *any_handle(lua_State *L) {
    for (int t = 0; t < 3; t++) {
        metric **h = luaL_testudata(L, 1, type_mt[t]);
        if (h) return *h;
    }
    luaL_typeerror(L, 1, "metric handle");
    return NULL;
}

static int l_handle_tostring(lua_State *L) {
    metric *m = any_handle(L);
    lua_pushfstring(L, "%s: %s", type_mt[metrics_type(m)] + strlen("nest.metrics."), metrics_name(m));
    return 1;
}

static int l_handle_name(lua_State *L) {
    lua_pushstring(L, metrics_name(any_handle(L)));
    return 1;
}

static inline metrics_registry *self(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

/* Label names at arg (array of strings, or nil) on the stack; pointers out. */
static int check_labels(lua_State *L, int arg, const char **names) {
    if (lua_isnoneornil(L, arg)) return 0;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Unsigned n = lua_rawlen(L, arg);
    if (n > METRICS_MAX_LABELS) luaL_argerror(L, arg, "at most 16 label names");
    luaL_checkstack(L, (int)n, "label names");
    for (int i = 0; i < (int)n; i++) {
        if (lua_rawgeti(L, arg, i + 1) != LUA_TSTRING) luaL_argerror(L, arg, "label names must be strings");
        names[i] = lua_tostring(L, -1);
    }
    return (int)n;
}

static int check_buckets(lua_State *L, int arg, double *b) {
    if (lua_isnoneornil(L, arg)) return 0;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Unsigned n = lua_rawlen(L, arg);
    if (n == 0 || n > METRICS_MAX_BUCKETS) luaL_argerror(L, arg, "1 to 64 buckets");
    for (int i = 0; i < (int)n; i++) {
        lua_rawgeti(L, arg, i + 1);
        int ok;
        b[i] = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_argerror(L, arg, "buckets must be numbers");
        lua_pop(L, 1);
    }
    return (int)n;
}

static int new_metric(lua_State *L, metric_type type) {
    const char *name = luaL_checkstring(L, 1);
    const char *help = luaL_optstring(L, 2, "");
    int cap_arg = type == METRIC_HISTOGRAM ? 5 : 4;
    lua_Integer cap = luaL_optinteger(L, cap_arg, -1);
    if (cap != -1 && cap < 0) luaL_argerror(L, cap_arg, "max_series must be >= 0");
    double buckets[METRICS_MAX_BUCKETS];
    int nb = type == METRIC_HISTOGRAM ? check_buckets(L, 4, buckets) : 0;
    const char *labels[METRICS_MAX_LABELS];
    int nl = check_labels(L, 3, labels);
    metric *m;
    const char *why;
    if (metrics_register(self(L), type, name, help, labels, nl, nb ? buckets : NULL, nb, &m, &why) != 0) {
        lua_pushfstring(L, "nest.metrics: %s: %s", name, why);  /* nest.metrics adds the caller's position */
        return lua_error(L);
    }
    if (cap >= 0) metrics_set_max_series(m, (size_t)cap);
    metric **h = lua_newuserdatauv(L, sizeof *h, 0);
    *h = m;
    luaL_setmetatable(L, type_mt[type]);
    return 1;
}

static int l_counter(lua_State *L) { return new_metric(L, METRIC_COUNTER); }
static int l_gauge(lua_State *L) { return new_metric(L, METRIC_GAUGE); }
static int l_histogram(lua_State *L) { return new_metric(L, METRIC_HISTOGRAM); }

static void buffer_write(void *ud, const char *p, size_t n) { luaL_addlstring(ud, p, n); }

static int l_expose(lua_State *L) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    metrics_expose(self(L), buffer_write, &b);
    luaL_pushresult(&b);
    return 1;
}

static void new_type(lua_State *L, const char *mt, const luaL_Reg *methods) {
    static const luaL_Reg meta[] = {{"__tostring", l_handle_tostring}, {NULL, NULL}};
    bind_createmeta(L, mt, methods, meta);
}

static int luaopen_nest_core_metrics(lua_State *L) {
    static const luaL_Reg counter_methods[] = {{"inc", l_counter_inc}, {"name", l_handle_name}, {NULL, NULL}};
    static const luaL_Reg gauge_methods[] = {
        {"set", l_gauge_set}, {"inc", l_gauge_inc}, {"dec", l_gauge_dec}, {"name", l_handle_name}, {NULL, NULL}};
    static const luaL_Reg histogram_methods[] = {
        {"observe", l_histogram_observe}, {"name", l_handle_name}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {
        {"counter", l_counter}, {"gauge", l_gauge}, {"histogram", l_histogram}, {"expose", l_expose}, {NULL, NULL}};

    metrics_registry *r = app_metrics(app_from_lua(L));
    if (!r) return luaL_error(L, "nest.core.metrics: out of memory");
    new_type(L, COUNTER_MT, counter_methods);
    new_type(L, GAUGE_MT, gauge_methods);
    new_type(L, HISTOGRAM_MT, histogram_methods);
    luaL_newlibtable(L, funcs);
    lua_pushlightuserdata(L, r);
    luaL_setfuncs(L, funcs, 1);
    lua_pushliteral(L, METRICS_CONTENT_TYPE);
    lua_setfield(L, -2, "CONTENT_TYPE");
    return 1;
}

MN_LUA_MODULE("nest.core.metrics", luaopen_nest_core_metrics)
