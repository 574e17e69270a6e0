/* lua_tcp.c — nest.core.tcp: a plain TCP client for Lua (specs speak raw
 * HTTP and WebSocket with it; integrations may use it for simple protocols).
 *
 *   connect(host, port[, timeout]) -> conn | nil, err
 *   conn:write(data) -> true | nil, err         waits until written
 *   conn:read([timeout]) -> data | nil, "closed"|"timeout"|err
 *                             whatever arrived (at least one byte)
 *   conn:pause() / conn:resume()                stop/start reading from the
 *                             socket (a client that stops reading)
 *   conn:shutdown()                             half-close (send FIN)
 *   conn:close()
 * Received bytes are buffered up to 8 MiB, then reading pauses by itself.
 * Every handle is freed in its close callback; a conn dropped by Lua
 * without close() is closed by its __gc.
 */
#include "app.h"
#include "bind.h"
#include "lua_modules.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define TCP_MT "nest.tcp"
#define TCP_BUFFER_MAX (8u << 20)

typedef struct tcp_conn tcp_conn;

typedef struct tcp_op {
    sched_op op;
    tcp_conn *c;
    int status;
    int ref;          /* connect: the Lua handle to return */
    struct write_req *wr;   /* write: the request libuv still owns */
} tcp_op;

struct tcp_conn {
    uv_tcp_t h;
    uv_connect_t creq;
    char *in; size_t len, cap;
    int eof, err, closing, paused, reading, connected;
    tcp_op *waiter;           /* the read or connect op waiting */
    int handles;
};

typedef struct tcp_box { tcp_conn *c; } tcp_box;

static void conn_free(uv_handle_t *h) {
    tcp_conn *c = h->data;
    free(c->in);
    free(c);
}

/* ---- ops (connect, read, write) ----------------------------------------- */

static void op_free(sched_op *op) {
    tcp_op *o = (tcp_op *)op;
    if (o->c && o->c->waiter == o) o->c->waiter = NULL;
    free(o);
}

static void op_wake(tcp_op *o, int status) {
    if (o->c && o->c->waiter == o) o->c->waiter = NULL;
    o->status = status;
    sched_op_wake(&o->op);
}

static void on_op_expired(sched_op *op) { op_wake((tcp_op *)op, UV_ETIMEDOUT); }

static tcp_op *op_new(lua_State *L, tcp_conn *c, int (*push)(sched_op *, lua_State *),
                      double timeout, const char *what) {
    tcp_op *o = calloc(1, sizeof *o);
    if (!o) luaL_error(L, "out of memory");
    o->c = c;
    o->op.push = push;
    o->op.release = op_free;
    o->op.cancel = op_free;
    if (sched_op_begin(L, &o->op, what) != 0) { free(o); lua_error(L); }
    sched_op_deadline(&o->op, app_loop(app_from_lua(L)), timeout, on_op_expired);
    return o;
}

static int push_status(lua_State *L, int status) {
    if (status == 0) { lua_pushboolean(L, 1); return 1; }
    lua_pushnil(L);
    if (status == UV_ETIMEDOUT) lua_pushliteral(L, "timeout");
    else if (status == UV_EOF) lua_pushliteral(L, "closed");
    else lua_pushstring(L, uv_strerror(status));
    return 2;
}

/* ---- reading ------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)hint;
    tcp_conn *c = h->data;
    if (c->cap - c->len < 16384) {
        size_t nc = c->cap ? c->cap * 2 : 65536;
        char *n = realloc(c->in, nc);
        if (!n) { *b = uv_buf_init(NULL, 0); return; }
        c->in = n;
        c->cap = nc;
    }
    *b = uv_buf_init(c->in + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void set_reading(tcp_conn *c) {
    int want = !c->paused && !c->eof && !c->closing && c->connected && c->len < TCP_BUFFER_MAX;
    if (want && !c->reading) c->reading = uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) == 0;
    else if (!want && c->reading) { uv_read_stop((uv_stream_t *)&c->h); c->reading = 0; }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    (void)b;
    tcp_conn *c = s->data;
    if (n == 0) return;
    if (n < 0) {
        c->eof = 1;
        if (n != UV_EOF) c->err = (int)n;
        uv_read_stop(s);
        c->reading = 0;
    } else {
        c->len += (size_t)n;
    }
    if (c->waiter) op_wake(c->waiter, 0);
    set_reading(c);
}

static int read_push(sched_op *op, lua_State *L) {
    tcp_op *o = (tcp_op *)op;
    tcp_conn *c = o->c;
    if (o->status != 0) return push_status(L, o->status);
    if (c->len > 0) {
        lua_pushlstring(L, c->in, c->len);
        c->len = 0;
        set_reading(c);
        return 1;
    }
    return push_status(L, c->err ? c->err : UV_EOF);
}

/* ---- Lua API ------------------------------------------------------------- */

static tcp_conn *check_conn(lua_State *L) {
    tcp_box *b = luaL_checkudata(L, 1, TCP_MT);
    if (!b->c) luaL_error(L, "nest.tcp: the connection is closed");
    return b->c;
}

static void conn_close(tcp_conn *c);

static void on_connect(uv_connect_t *req, int status) {
    tcp_conn *c = req->data;
    if (status == 0) c->connected = 1;
    else c->err = status;
    set_reading(c);
    if (c->waiter) op_wake(c->waiter, status);
}

static int connect_push(sched_op *op, lua_State *L) {
    tcp_op *o = (tcp_op *)op;
    lua_rawgeti(L, LUA_REGISTRYINDEX, o->ref);
    luaL_unref(L, LUA_REGISTRYINDEX, o->ref);
    if (o->status == 0) return 1;
    tcp_box *b = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (b->c) { conn_close(b->c); b->c = NULL; }
    return push_status(L, o->status);
}

static void conn_close(tcp_conn *c) {
    if (c->closing) return;
    c->closing = 1;
    if (c->waiter) op_wake(c->waiter, UV_EOF);
    uv_close((uv_handle_t *)&c->h, conn_free);
}

/* connect(host, port[, timeout]) */
static int l_connect(lua_State *L) {
    const char *host = luaL_checkstring(L, 1);
    int port = (int)luaL_checkinteger(L, 2);
    double timeout = luaL_optnumber(L, 3, 5);
    struct sockaddr_storage addr;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
                               : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc) return luaL_argerror(L, 1, "expected a numeric IP address");
    tcp_conn *c = calloc(1, sizeof *c);
    if (!c) return luaL_error(L, "out of memory");
    uv_tcp_init(app_loop(app_from_lua(L)), &c->h);
    c->h.data = c;
    c->creq.data = c;
    tcp_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->c = c;
    luaL_setmetatable(L, TCP_MT);
    rc = uv_tcp_connect(&c->creq, &c->h, (struct sockaddr *)&addr, on_connect);
    if (rc) { b->c = NULL; conn_close(c); lua_pushnil(L); lua_pushstring(L, uv_strerror(rc)); return 2; }
    /* read callbacks must be set before data arrives: install on_read now */
    c->waiter = op_new(L, c, connect_push, timeout, "nest.tcp.connect");
    c->waiter->ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* pops the box */
    return sched_wait(L);
}

static int l_read(lua_State *L) {
    tcp_conn *c = check_conn(L);
    double timeout = luaL_optnumber(L, 2, 10);
    if (c->len > 0) {
        lua_pushlstring(L, c->in, c->len);
        c->len = 0;
        set_reading(c);
        return 1;
    }
    if (c->eof) return push_status(L, c->err ? c->err : UV_EOF);
    luaL_argcheck(L, !c->waiter, 1, "another task is already reading");
    c->waiter = op_new(L, c, read_push, timeout, "nest.tcp.read");
    return sched_wait(L);
}

typedef struct write_req { uv_write_t w; tcp_op *op; char *data; } write_req;  /* libuv owns it until on_write */

static void on_write(uv_write_t *w, int status) {
    write_req *wr = (write_req *)w;
    if (wr->op) { wr->op->wr = NULL; op_wake(wr->op, status); }
    free(wr->data);
    free(wr);
}

static int write_push(sched_op *op, lua_State *L) { return push_status(L, ((tcp_op *)op)->status); }

/* The op may be cancelled while libuv still owns the write: detach it. */
static void write_cancel(sched_op *op) {
    tcp_op *o = (tcp_op *)op;
    if (o->wr) o->wr->op = NULL;
    op_free(op);
}

static int l_write(lua_State *L) {
    tcp_conn *c = check_conn(L);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    if (c->closing || c->err) { lua_pushnil(L); lua_pushliteral(L, "closed"); return 2; }
    write_req *wr = calloc(1, sizeof *wr);
    wr->data = malloc(n ? n : 1);
    memcpy(wr->data, s, n);
    tcp_op *o = op_new(L, NULL, write_push, 0, "nest.tcp.write");
    o->op.cancel = write_cancel;
    o->wr = wr;
    wr->op = o;
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)n);
    int rc = uv_write(&wr->w, (uv_stream_t *)&c->h, &b, 1, on_write);
    if (rc) { o->wr = NULL; free(wr->data); free(wr); op_wake(o, rc); }
    return sched_wait(L);
}

static int l_pause(lua_State *L) {
    tcp_conn *c = check_conn(L);
    c->paused = 1;
    set_reading(c);
    return 0;
}

static int l_resume(lua_State *L) {
    tcp_conn *c = check_conn(L);
    c->paused = 0;
    set_reading(c);
    return 0;
}

static void on_shutdown(uv_shutdown_t *r, int status) { (void)status; free(r); }

static int l_shutdown(lua_State *L) {
    tcp_conn *c = check_conn(L);
    uv_shutdown_t *r = malloc(sizeof *r);
    if (uv_shutdown(r, (uv_stream_t *)&c->h, on_shutdown) != 0) free(r);
    return 0;
}

static int l_close(lua_State *L) {
    tcp_box *b = luaL_checkudata(L, 1, TCP_MT);
    if (b->c) { conn_close(b->c); b->c = NULL; }
    return 0;
}

static int luaopen_nest_core_tcp(lua_State *L) {
    static const luaL_Reg methods[] = {{"read", l_read}, {"write", l_write}, {"pause", l_pause},
                                       {"resume", l_resume}, {"shutdown", l_shutdown},
                                       {"close", l_close}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"connect", l_connect}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", l_close}, {NULL, NULL}};
    bind_createmeta(L, TCP_MT, methods, meta);
    luaL_newlib(L, fns);
    return 1;
}

MN_LUA_MODULE("nest.core.tcp", luaopen_nest_core_tcp)
