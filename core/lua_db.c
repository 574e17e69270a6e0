/* lua_db.c — nest.core.db: the Lua binding of pg_pool.c.
 *
 *   setup(null, json_decode, json_encode, array_mt)   once per generation (nest/db.lua)
 *   configure{url, pool_max, idle_timeout, connect_timeout, statement_timeout,
 *             queue_max, queue_timeout, slow_query}   create / update the app's pool
 *   query(conn|nil, sql, params, n, opts)  -> result | nil, msg, code, detail, hint
 *       conn nil: borrow a connection for this one query (one yield);
 *       opts: timeout, queue_timeout, simple (multi-statement, no params), raw_json,
 *       prepare (a named prepared statement on each connection, made on first use)
 *       result: rows (array of {column = value}) or {affected = n}
 *       code: SQLSTATE, or "UNAVAILABLE" (cannot connect, pool exhausted or
 *       closed, connection lost), or "TIMEOUT" (opts.timeout passed)
 *   acquire(queue_timeout) -> conn | nil, msg, code      pin a connection (db.tx)
 *   conn:release(), conn:alive()
 *   counts() -> {in_use, idle, connecting, draining, waiting, total}
 *   task() -> light userdata naming the running task (db.tx's pin key)
 *
 * Ownership: a db_op belongs to the scheduler from sched_op_begin until one of
 * push+release / release / cancel frees it. A conn box (userdata) holds a
 * borrowed pg_conn until release() or __gc; if the task is cancelled while a
 * query runs on it, the pool takes the connection back (abandon) and the box
 * goes dead. The app's pg_pool lives in APP_SLOT_PG until the app stops (app_stop).
 */
#include "app.h"
#include "bind.h"
#include "lua_modules.h"
#include "metrics.h"
#include "pg_pool.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONN_MT "nest.db.conn"
#define ENV_KEY "nest.db.env"   /* registry: {null, json_decode, json_encode, array_mt} */

typedef struct conn_box { pg_conn *c; } conn_box;

typedef struct db_op {
    sched_op op;
    pg_pool *pool;
    conn_box *box;          /* the pinned connection used, or NULL */
    pg_conn *conn;          /* the connection in use */
    pg_waiter *w;           /* queued for a connection */
    int acquire_only;
    int simple, raw_json, prepare;
    double timeout;
    char *sql;
    int nparams;
    char **values;
    int *lengths, *formats;
    PGresult *res;
    char *err;              /* malloc'd message when failed without a result */
    const char *code;       /* static code with err */
    int timed_out;
} db_op;

/* ---- helpers ------------------------------------------------------------ */

static pg_pool *pool_of(lua_State *L) { return app_slot_get(app_from_lua(L), APP_SLOT_PG); }

static void op_free(db_op *o) {
    if (o->res) PQclear(o->res);
    for (int i = 0; i < o->nparams; i++) free(o->values[i]);
    free(o->values);
    free(o->lengths);
    free(o->formats);
    free(o->sql);
    free(o->err);
    free(o);
}

static void op_fail(db_op *o, const char *code, const char *msg) {
    free(o->err);
    o->err = strdup(msg ? msg : "error");
    o->code = code;
    sched_op_wake(&o->op);
}

static void push_env(lua_State *L, int i) {
    lua_getfield(L, LUA_REGISTRYINDEX, ENV_KEY);
    if (lua_istable(L, -1)) lua_rawgeti(L, -1, i); else lua_pushnil(L);
    lua_remove(L, -2);
}

static void push_null(lua_State *L) { lua_pushlightuserdata(L, NULL); }

static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        if (c < 0x80) k = 0;
        else if ((c & 0xE0) == 0xC0 && c >= 0xC2) k = 1;
        else if ((c & 0xF0) == 0xE0) k = 2;
        else if ((c & 0xF8) == 0xF0 && c <= 0xF4) k = 3;
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

/* ---- results -> Lua ----------------------------------------------------- */

static void push_value(lua_State *L, Oid t, const char *s, size_t n, int raw_json);

static Oid elem_type(Oid t) {
    switch (t) {
    case 1005: return 21;    case 1007: return 23;    case 1016: return 20;
    case 1000: return 16;    case 1021: return 700;   case 1022: return 701;
    case 1231: return 1700;  case 199: return 114;    case 3807: return 3802;
    case 1185: return 1184;  case 1115: return 1114;  case 1182: return 1082;
    case 1001: return 17;    case 1009: case 1015: case 2951: case 1014: return 25;
    default: return 0;
    }
}

static void set_array_mt(lua_State *L) {
    push_env(L, 4);
    if (lua_istable(L, -1)) lua_setmetatable(L, -2); else lua_pop(L, 1);
}

/* Parse PostgreSQL's array text ({a,"b c",NULL,{..}}) starting at *p. */
static void push_array(lua_State *L, Oid et, const char **p, const char *end, int raw_json) {
    const char *s = *p;
    lua_newtable(L);
    set_array_mt(L);
    if (s < end && *s == '{') s++;
    int i = 0;
    luaL_Buffer b;
    while (s < end && *s != '}') {
        if (*s == ',') { s++; continue; }
        if (*s == '{') {
            push_array(L, et, &s, end, raw_json);
        } else if (*s == '"') {
            s++;
            luaL_buffinit(L, &b);
            while (s < end && *s != '"') {
                if (*s == '\\' && s + 1 < end) s++;
                luaL_addchar(&b, *s);
                s++;
            }
            s++;
            luaL_pushresult(&b);
            size_t l;
            const char *v = lua_tolstring(L, -1, &l);
            push_value(L, et, v, l, raw_json);
            lua_remove(L, -2);
        } else {
            const char *st = s;
            while (s < end && *s != ',' && *s != '}') s++;
            if (s - st == 4 && !strncmp(st, "NULL", 4)) push_null(L);
            else push_value(L, et, st, (size_t)(s - st), raw_json);
        }
        lua_rawseti(L, -2, ++i);
    }
    if (s < end) s++;   /* '}' */
    *p = s;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void push_bytea(lua_State *L, const char *s, size_t n) {
    if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (size_t i = 2; i + 1 < n; i += 2) {
            int hi = hexval(s[i]), lo = hexval(s[i + 1]);
            if (hi < 0 || lo < 0) break;
            luaL_addchar(&b, (char)(hi * 16 + lo));
        }
        luaL_pushresult(&b);
        return;
    }
    size_t l = 0;
    unsigned char *u = PQunescapeBytea((const unsigned char *)s, &l);
    if (u) { lua_pushlstring(L, (const char *)u, l); PQfreemem(u); }
    else lua_pushlstring(L, s, n);
}

/* "2024-01-02 03:04:05.5+00" -> "2024-01-02T03:04:05.5Z"; "+05:30" kept,
 * "+05" -> "+05:00"; a timestamp without zone gets none. */
static void push_timestamp(lua_State *L, const char *s, size_t n, int tz) {
    char buf[64];
    if (n >= sizeof buf - 4 || n < 19 || s[10] != ' ') { lua_pushlstring(L, s, n); return; }
    memcpy(buf, s, n);
    buf[n] = 0;
    buf[10] = 'T';
    if (tz) {
        char *z = NULL;
        for (char *q = buf + 19; *q; q++) if (*q == '+' || *q == '-') { z = q; break; }
        if (z && !strcmp(z, "+00")) strcpy(z, "Z");
        else if (z && strlen(z) == 3) strcat(z, ":00");
    }
    lua_pushstring(L, buf);
}

static void push_numeric(lua_State *L, const char *s, size_t n) {
    char buf[128];
    if (n >= sizeof buf) { lua_pushlstring(L, s, n); return; }
    memcpy(buf, s, n);
    buf[n] = 0;
    if (!strchr(buf, '.') && !strchr(buf, 'e') && !strchr(buf, 'N')) {
        if (lua_stringtonumber(L, buf)) {
            if (lua_isinteger(L, -1)) return;
            lua_pop(L, 1);
        }
        lua_pushstring(L, buf);   /* beyond int64: exact text */
        return;
    }
    int digits = 0, seen = 0;
    for (const char *q = buf; *q; q++) {
        if (*q >= '1' && *q <= '9') seen = 1;
        if (*q >= '0' && *q <= '9' && seen) digits++;
    }
    /* trailing zeros after the point do not count */
    const char *dot = strchr(buf, '.');
    if (dot) for (const char *q = buf + n - 1; q > dot && *q == '0'; q--) digits--;
    if (digits <= 15) lua_pushnumber(L, strtod(buf, NULL));
    else lua_pushstring(L, buf);
}

static void push_value(lua_State *L, Oid t, const char *s, size_t n, int raw_json) {
    switch (t) {
    case 20: case 21: case 23: case 26: {
        char buf[32];
        if (n < sizeof buf) {
            memcpy(buf, s, n);
            buf[n] = 0;
            lua_pushinteger(L, (lua_Integer)strtoll(buf, NULL, 10));
        } else lua_pushlstring(L, s, n);
        return;
    }
    case 700: case 701: {
        char buf[64];
        if (n >= sizeof buf) { lua_pushlstring(L, s, n); return; }
        memcpy(buf, s, n);
        buf[n] = 0;
        if (!strcmp(buf, "NaN")) lua_pushnumber(L, NAN);
        else if (!strcmp(buf, "Infinity")) lua_pushnumber(L, HUGE_VAL);
        else if (!strcmp(buf, "-Infinity")) lua_pushnumber(L, -HUGE_VAL);
        else lua_pushnumber(L, strtod(buf, NULL));
        return;
    }
    case 1700: push_numeric(L, s, n); return;
    case 16: lua_pushboolean(L, n > 0 && s[0] == 't'); return;
    case 114: case 3802:
        if (raw_json) { lua_pushlstring(L, s, n); return; }
        push_env(L, 2);
        lua_pushlstring(L, s, n);
        lua_call(L, 1, 1);   /* nest.json.decode never raises */
        return;
    case 1184: push_timestamp(L, s, n, 1); return;
    case 1114: push_timestamp(L, s, n, 0); return;
    case 17: push_bytea(L, s, n); return;
    default: {
        Oid et = elem_type(t);
        if (et) {
            const char *p = s, *end = s + n;
            if (p < end && *p == '[') { while (p < end && *p != '=') p++; if (p < end) p++; }
            push_array(L, et, &p, end, raw_json);
            return;
        }
        lua_pushlstring(L, s, n);
        return;
    }
    }
}

static int push_result(lua_State *L, PGresult *r, int raw_json) {
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_SINGLE_TUPLE) {
        int nrows = PQntuples(r), ncols = PQnfields(r);
        luaL_checkstack(L, 8, "nest.db");
        lua_createtable(L, nrows, 0);
        set_array_mt(L);
        for (int i = 0; i < nrows; i++) {
            lua_createtable(L, 0, ncols);
            for (int j = 0; j < ncols; j++) {
                if (PQgetisnull(r, i, j)) push_null(L);
                else push_value(L, PQftype(r, j), PQgetvalue(r, i, j),
                                (size_t)PQgetlength(r, i, j), raw_json);
                lua_setfield(L, -2, PQfname(r, j));
            }
            lua_rawseti(L, -2, i + 1);
        }
        return 1;
    }
    lua_createtable(L, 0, 1);
    const char *a = PQcmdTuples(r);
    lua_pushinteger(L, a && *a ? (lua_Integer)strtoll(a, NULL, 10) : 0);
    lua_setfield(L, -2, "affected");
    return 1;
}

static void push_field(lua_State *L, const PGresult *r, int f) {
    const char *v = PQresultErrorField(r, f);
    if (v) lua_pushstring(L, v); else lua_pushnil(L);
}

/* ---- the op ------------------------------------------------------------- */

static int op_push(sched_op *op, lua_State *L) {
    db_op *o = (db_op *)op;
    if (o->err) {
        lua_pushnil(L);
        lua_pushstring(L, o->err);
        lua_pushstring(L, o->code ? o->code : "UNAVAILABLE");
        return 3;
    }
    if (o->acquire_only) {
        conn_box *b = lua_newuserdatauv(L, sizeof *b, 0);
        b->c = o->conn;
        o->conn = NULL;
        luaL_setmetatable(L, CONN_MT);
        return 1;
    }
    PGresult *r = o->res;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE) {
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        lua_pushnil(L);
        if (o->timed_out && code && !strcmp(code, "57014")) {
            lua_pushfstring(L, "query timed out after %fs", o->timeout);
            lua_pushliteral(L, "TIMEOUT");
        } else {
            push_field(L, r, PG_DIAG_MESSAGE_PRIMARY);
            if (lua_isnil(L, -1)) { lua_pop(L, 1); lua_pushstring(L, PQresultErrorMessage(r)); }
            lua_pushstring(L, code ? code : "XX000");
        }
        push_field(L, r, PG_DIAG_MESSAGE_DETAIL);
        push_field(L, r, PG_DIAG_MESSAGE_HINT);
        return 5;
    }
    return push_result(L, r, o->raw_json);
}

static void op_release(sched_op *op) {
    db_op *o = (db_op *)op;
    if (o->conn && o->acquire_only) pg_pool_release(o->conn);   /* woke, never pushed */
    op_free(o);
}

static void op_cancel(sched_op *op) {
    db_op *o = (db_op *)op;
    if (o->w) pg_waiter_cancel(o->w);
    else if (o->conn) {
        if (o->box) o->box->c = NULL;   /* the pool takes it back */
        if (pg_conn_busy(o->conn)) pg_conn_abandon(o->conn);
        else pg_pool_release(o->conn);
    }
    op_free(o);
}

static void on_query(pg_conn *c, PGresult *res, const char *msg, int timed_out, void *ud) {
    db_op *o = ud;
    o->timed_out = timed_out;
    if (!o->box) { pg_pool_release(c); }
    o->conn = NULL;
    if (!res) { op_fail(o, "UNAVAILABLE", msg); return; }
    o->res = res;
    sched_op_wake(&o->op);
}

static void op_send(db_op *o, pg_conn *c) {
    const char *err = NULL;
    o->conn = c;
    if (pg_conn_send(c, o->sql, o->nparams, (const char *const *)o->values, o->lengths,
                     o->formats, (o->simple ? PG_SEND_SIMPLE : 0) | (o->prepare ? PG_SEND_PREPARE : 0),
                     o->timeout, on_query, o, &err) != 0) {
        o->conn = NULL;
        if (!o->box) pg_pool_release(c);
        op_fail(o, "UNAVAILABLE", err);
    }
}

static void on_acquired(pg_conn *c, int status, const char *msg, void *ud) {
    db_op *o = ud;
    o->w = NULL;
    if (!c) { op_fail(o, "UNAVAILABLE", msg ? msg : pg_pool_strerror(status)); return; }
    if (o->acquire_only) { o->conn = c; sched_op_wake(&o->op); return; }
    op_send(o, c);
}

static void op_start_acquire(db_op *o, double queue_timeout) {
    pg_conn *c = NULL;
    int rc = pg_pool_acquire(o->pool, queue_timeout, on_acquired, o, &c, &o->w);
    if (rc == 0) on_acquired(c, 0, NULL, o);
    else if (rc < 0) {
        op_fail(o, "UNAVAILABLE", rc == PG_EEXHAUSTED
                ? "pool exhausted: every connection is busy and the wait queue is full"
                : pg_pool_strerror(rc));
    }
}

/* ---- bindings ----------------------------------------------------------- */

static char *dup_len(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

/* Convert params[1..n] into the op (text format; binary for strings that
 * are not UTF-8 text, so bytea takes raw bytes). */
static void fill_params(lua_State *L, db_op *o, int pt, int n) {
    o->nparams = 0;
    o->values = calloc((size_t)n + 1, sizeof *o->values);
    o->lengths = calloc((size_t)n + 1, sizeof *o->lengths);
    o->formats = calloc((size_t)n + 1, sizeof *o->formats);
    if (!o->values || !o->lengths || !o->formats) { op_free(o); luaL_error(L, "out of memory"); }
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, pt, i);
        char buf[64];
        const char *s = NULL;
        size_t len = 0;
        int bin = 0;
        switch (lua_type(L, -1)) {
        case LUA_TNIL: break;
        case LUA_TLIGHTUSERDATA:
            if (lua_touserdata(L, -1) != NULL) goto bad;
            break;
        case LUA_TBOOLEAN: s = lua_toboolean(L, -1) ? "true" : "false"; len = strlen(s); break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1)) snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, -1));
            else {
                double d = lua_tonumber(L, -1);
                if (isnan(d)) strcpy(buf, "NaN");
                else if (isinf(d)) strcpy(buf, d > 0 ? "Infinity" : "-Infinity");
                else snprintf(buf, sizeof buf, "%.17g", d);
            }
            s = buf; len = strlen(buf);
            break;
        case LUA_TSTRING:
            s = lua_tolstring(L, -1, &len);
            bin = memchr(s, 0, len) != NULL || !valid_utf8((const unsigned char *)s, len);
            break;
        case LUA_TTABLE:
            push_env(L, 3);
            lua_pushvalue(L, -2);
            lua_call(L, 1, 1);   /* nest.json.encode: raises on what JSON cannot hold */
            lua_replace(L, -2);
            s = lua_tolstring(L, -1, &len);
            break;
        default:
        bad:
            op_free(o);
            luaL_error(L, "nest.db.query: parameter $%d: cannot send a %s", i, luaL_typename(L, -1));
        }
        if (s) {
            o->values[i - 1] = dup_len(s, len);
            if (!o->values[i - 1]) { op_free(o); luaL_error(L, "out of memory"); }
            o->lengths[i - 1] = (int)len;
            o->formats[i - 1] = bin;
        }
        o->nparams = i;
        lua_pop(L, 1);
    }
}

/* nil, message, "UNAVAILABLE": what nest.db turns into its error table (503). */
static int push_unavailable(lua_State *L, const char *msg) {
    lua_pushnil(L);
    lua_pushstring(L, msg);
    lua_pushliteral(L, "UNAVAILABLE");
    return 3;
}

static int l_query(lua_State *L) {
    conn_box *box = NULL;
    if (!lua_isnil(L, 1)) box = luaL_checkudata(L, 1, CONN_MT);
    size_t sqllen;
    const char *sql = luaL_checklstring(L, 2, &sqllen);
    int n = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        n = (int)luaL_optinteger(L, 4, (lua_Integer)lua_rawlen(L, 3));
        luaL_argcheck(L, n >= 0 && n <= 65535, 4, "too many parameters");
    }
    if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TTABLE);
    pg_pool *p = pool_of(L);
    if (!p) {
        return push_unavailable(L, "database not configured (database.url)");
    }
    if (box && !box->c) {
        return push_unavailable(L, "transaction connection already released");
    }
    db_op *o = calloc(1, sizeof *o);
    if (!o) return luaL_error(L, "out of memory");
    o->pool = p;
    o->box = box;
    o->simple = bind_opt_bool(L, 5, "simple");
    o->raw_json = bind_opt_bool(L, 5, "raw_json");
    o->prepare = bind_opt_bool(L, 5, "prepare");
    o->timeout = bind_opt_number(L, 5, "timeout", 0);
    double qt = bind_opt_number(L, 5, "queue_timeout", -1);
    if (o->simple && n > 0) { op_free(o); return luaL_argerror(L, 3, "a simple query takes no parameters"); }
    fill_params(L, o, 3, n);
    o->sql = dup_len(sql, sqllen);
    if (!o->sql) { op_free(o); return luaL_error(L, "out of memory"); }
    o->op.push = op_push;
    o->op.release = op_release;
    o->op.cancel = op_cancel;
    if (sched_op_begin(L, &o->op, "nest.db.query") != 0) { op_free(o); return lua_error(L); }
    if (box) op_send(o, box->c);
    else op_start_acquire(o, qt);
    return sched_wait(L);
}

static int l_acquire(lua_State *L) {
    double qt = luaL_optnumber(L, 1, -1);
    pg_pool *p = pool_of(L);
    if (!p) {
        return push_unavailable(L, "database not configured (database.url)");
    }
    db_op *o = calloc(1, sizeof *o);
    if (!o) return luaL_error(L, "out of memory");
    o->pool = p;
    o->acquire_only = 1;
    o->op.push = op_push;
    o->op.release = op_release;
    o->op.cancel = op_cancel;
    if (sched_op_begin(L, &o->op, "nest.db.acquire") != 0) { op_free(o); return lua_error(L); }
    op_start_acquire(o, qt);
    return sched_wait(L);
}

static int l_conn_release(lua_State *L) {
    conn_box *b = luaL_checkudata(L, 1, CONN_MT);
    if (b->c) {
        pg_conn *c = b->c;
        b->c = NULL;
        pg_pool_release(c);   /* busy: abandoned; in a transaction: closed */
    }
    return 0;
}

static int l_conn_alive(lua_State *L) {
    conn_box *b = luaL_checkudata(L, 1, CONN_MT);
    lua_pushboolean(L, b->c != NULL);
    return 1;
}

static void pool_destroy(void *p) { pg_pool_destroy(p); }

static int l_configure(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    pg_pool_options o;
    memset(&o, 0, sizeof o);
    lua_getfield(L, 1, "url");
    o.url = luaL_checkstring(L, -1);
    o.max = (int)bind_opt_number(L, 1, "pool_max", 20);
    o.queue_max = (int)bind_opt_number(L, 1, "queue_max", 1000);
    o.idle_timeout = bind_opt_number(L, 1, "idle_timeout", 30);
    o.connect_timeout = bind_opt_number(L, 1, "connect_timeout", 2);
    o.statement_timeout = bind_opt_number(L, 1, "statement_timeout", 30);
    o.queue_timeout = bind_opt_number(L, 1, "queue_timeout", 5);
    o.slow_query = bind_opt_number(L, 1, "slow_query", 0.1);
    luaL_argcheck(L, o.max > 0 && o.max <= 10000, 1, "pool_max must be between 1 and 10000");
    mn_app *a = app_from_lua(L);
    pg_pool *p = app_slot_get(a, APP_SLOT_PG);
    if (p) {
        if (pg_pool_configure(p, &o) != 0) return luaL_error(L, "out of memory");
        return 0;
    }
    p = pg_pool_create(app_loop(a), &o, app_metrics(a));
    if (!p) return luaL_error(L, "nest.db.configure: cannot create the pool");
    app_slot_set(a, APP_SLOT_PG, p, pool_destroy);
    return 0;
}

static int l_counts(lua_State *L) {
    pg_pool *p = pool_of(L);
    pg_pool_counts n;
    memset(&n, 0, sizeof n);
    if (p) pg_pool_counts_get(p, &n);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, n.in_use); lua_setfield(L, -2, "in_use");
    lua_pushinteger(L, n.idle); lua_setfield(L, -2, "idle");
    lua_pushinteger(L, n.connecting); lua_setfield(L, -2, "connecting");
    lua_pushinteger(L, n.draining); lua_setfield(L, -2, "draining");
    lua_pushinteger(L, n.waiting); lua_setfield(L, -2, "waiting");
    lua_pushinteger(L, n.total); lua_setfield(L, -2, "total");
    lua_pushboolean(L, p != NULL); lua_setfield(L, -2, "configured");
    return 1;
}

static int l_task(lua_State *L) {
    sched_task *t = sched_current(L);
    if (t) lua_pushlightuserdata(L, t); else lua_pushnil(L);
    return 1;
}

static int l_setup(lua_State *L) {
    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    luaL_checktype(L, 4, LUA_TTABLE);
    luaL_argcheck(L, lua_type(L, 1) == LUA_TLIGHTUSERDATA && !lua_touserdata(L, 1), 1,
                  "null must be nest.json.null");
    lua_createtable(L, 4, 0);
    for (int i = 1; i <= 4; i++) { lua_pushvalue(L, i); lua_rawseti(L, -2, i); }
    lua_setfield(L, LUA_REGISTRYINDEX, ENV_KEY);
    return 0;
}

static int luaopen_nest_core_db(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"setup", l_setup}, {"configure", l_configure}, {"query", l_query},
        {"acquire", l_acquire}, {"counts", l_counts}, {"task", l_task}, {NULL, NULL}};
    static const luaL_Reg conn_methods[] = {
        {"release", l_conn_release}, {"alive", l_conn_alive}, {NULL, NULL}};
    static const luaL_Reg conn_meta[] = {{"__gc", l_conn_release}, {NULL, NULL}};
    bind_createmeta(L, CONN_MT, conn_methods, conn_meta);
    luaL_newlib(L, fns);
    push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}

MN_LUA_MODULE("nest.core.db", luaopen_nest_core_db)
