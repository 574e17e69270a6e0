/* pg_pool.h — a pool of non-blocking PostgreSQL connections on the event loop.
 *
 * One pool per app (lua_db.c keeps it in APP_SLOT_PG). Everything runs on the
 * loop thread: libpq is used only through its asynchronous calls
 * (PQconnectStartParams/PQconnectPoll, PQsendQueryParams/PQsendQuery,
 * PQconsumeInput/PQisBusy/PQgetResult), driven by a uv_poll on the socket.
 * Cancel requests (PQcancel, which blocks) run on libuv's thread pool.
 *
 * Borrowing:
 *   pg_pool_acquire()   an idle connection at once (returns 0, *out set), or a
 *                       queued waiter (returns 1, *w set) whose callback fires
 *                       later with a connection or an error, or an immediate
 *                       failure (PG_EEXHAUSTED: the waiter queue is full).
 *   pg_conn_send()      one query on a borrowed connection; its callback fires
 *                       once with the result (the callee owns the PGresult) or
 *                       a connection error.
 *   pg_pool_release()   give it back. A connection that is broken, inside a
 *                       transaction, or from before a reconfigure is closed
 *                       instead of being handed out again.
 *   pg_conn_abandon()   the owner of a running query went away (its task was
 *                       cancelled): the pool sends a cancel request, drains
 *                       the results and then releases the connection itself.
 *                       The caller must not touch the connection afterwards.
 *   pg_waiter_cancel()  withdraw a queued waiter (its callback never fires).
 *
 * Callbacks never fire from inside the call that registered them. A callback
 * may call back into the pool (release, acquire, send).
 *
 * Failure modes: a connect that fails (server down, refused, timed out)
 * while no other connection is open fails every queued waiter with
 * PG_EUNAVAILABLE, so callers fail fast while the server is down (with
 * connections still open, waiters wait for one to be released, up to their
 * queue timeout); each later acquire tries a fresh connect, so the pool
 * recovers on its own when the server is back. Idle connections whose server
 * went away are noticed (the socket turns readable) and closed.
 */
#ifndef MN_PG_POOL_H
#define MN_PG_POOL_H

#include <libpq-fe.h>
#include <uv.h>

typedef struct pg_pool pg_pool;
typedef struct pg_conn pg_conn;
typedef struct pg_waiter pg_waiter;
typedef struct metrics_registry metrics_registry;

/* Error kinds passed to acquire callbacks and returned by acquire. */
enum {
    PG_EUNAVAILABLE = -1,   /* cannot connect (message says why) */
    PG_EEXHAUSTED = -2,     /* every connection busy and the queue full / timed out */
    PG_ECLOSED = -3,        /* the pool is being destroyed */
};

typedef struct pg_pool_options {
    const char *url;            /* libpq URL or conninfo; copied */
    int max;                    /* connections, default 20 */
    int queue_max;              /* waiters, default 1000 */
    double idle_timeout;        /* s, idle connections closed after, default 30 */
    double connect_timeout;     /* s, default 2 */
    double statement_timeout;   /* s, set on each connection; 0 = none; default 30 */
    double queue_timeout;       /* s, a waiter's default patience, default 5 */
    double slow_query;          /* s, queries at least this long are logged; <= 0 = never */
} pg_pool_options;

typedef struct pg_pool_counts {
    int in_use;       /* borrowed (with or without a running query) */
    int idle;
    int connecting;
    int draining;     /* abandoned queries being cancelled */
    int waiting;      /* queued waiters */
    int total;        /* every open connection */
} pg_pool_counts;

/* status 0 with a connection, or PG_E* with c NULL and a message. */
typedef void (*pg_acquire_cb)(pg_conn *c, int status, const char *msg, void *ud);
/* res (owned by the callee, PQclear it) when the server answered — an error
 * result is still a result; res NULL and msg set when the connection broke.
 * timed_out: the per-query timeout fired and the query was cancelled. */
typedef void (*pg_query_cb)(pg_conn *c, PGresult *res, const char *msg, int timed_out, void *ud);

/* metrics may be NULL; otherwise db_query_duration_seconds and
 * db_pool_connections{state} are registered in it. NULL on failure. */
pg_pool *pg_pool_create(uv_loop_t *loop, const pg_pool_options *o, metrics_registry *metrics);
/* New options. A changed URL or statement timeout makes every current
 * connection stale: each is closed when next released. 0 or -ENOMEM. */
int pg_pool_configure(pg_pool *p, const pg_pool_options *o);
/* Fail waiters (PG_ECLOSED), drop callbacks, close every connection; the
 * memory is freed once the handles are closed. */
void pg_pool_destroy(pg_pool *p);

/* queue_timeout < 0: the pool's default. See the top of the file. */
int pg_pool_acquire(pg_pool *p, double queue_timeout, pg_acquire_cb cb, void *ud,
                    pg_conn **out, pg_waiter **w);
void pg_waiter_cancel(pg_waiter *w);
void pg_pool_release(pg_conn *c);

/* flags for pg_conn_send */
enum {
    PG_SEND_SIMPLE = 1,   /* PQsendQuery: several statements allowed, no
                           * parameters; the last result, or the first error */
    PG_SEND_PREPARE = 2,  /* prepare the statement on this connection once
                           * (keyed by its text, at most PG_MAX_STMTS per
                           * connection) and execute it by name after */
};
#define PG_MAX_STMTS 128

/* Send a query (flags: PG_SEND_*). timeout
 * <= 0: none beyond statement_timeout. sql and params must stay valid until
 * the callback. 0, or -1 when the connection is unusable (msg in *err). */
int pg_conn_send(pg_conn *c, const char *sql, int nparams, const char *const *values,
                 const int *lengths, const int *formats, int flags, double timeout,
                 pg_query_cb cb, void *ud, const char **err);
void pg_conn_abandon(pg_conn *c);
/* Non-zero when a query is running on c. */
int pg_conn_busy(const pg_conn *c);

void pg_pool_counts_get(const pg_pool *p, pg_pool_counts *out);

/* Human text for a PG_E* status. */
const char *pg_pool_strerror(int status);

#endif
