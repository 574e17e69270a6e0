/* pg_pool.c — a pool of non-blocking PostgreSQL connections on the event loop.
 *
 * Owns the libpq connections, their uv_poll handles (malloc'd apart from the
 * connection because the socket — and so the poll — can change while
 * connecting) and one uv_timer per connection (connect, query and drain
 * timeouts). A connection's struct is freed in its timer's close callback;
 * its poll handle in the poll's close callback. The pool struct is freed
 * when its own two timers have closed after pg_pool_destroy().
 * Nothing here knows about Lua: lua_db.c is the binding.
 */
#include "pg_pool.h"
#include "json_out.h"
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { C_CONNECTING, C_IDLE, C_ACQUIRED, C_BUSY, C_DRAINING };

/* A statement prepared on one connection: its text and server-side name. */
typedef struct pg_stmt { char *sql; char name[24]; struct pg_stmt *next; } pg_stmt;

struct pg_conn {
    pg_pool *pool;
    PGconn *pg;
    uv_poll_t *poll;          /* NULL when none; ->data points back here */
    int fd;
    int events;               /* what the poll watches now */
    uv_timer_t timer;
    int state;
    int epoch;                /* pool epoch at connect; stale when different */
    int broken;
    int timed_out;
    int cancel_sent;
    uint64_t idle_since;      /* loop ms */
    uint64_t q_start;         /* hrtime ns */
    const char *sql;          /* the running query's text (caller-owned) */
    pg_query_cb qcb;
    void *qud;
    PGresult *res;            /* to deliver: the last result or the first error */
    pg_stmt *stmts;           /* prepared on this connection */
    int nstmts;
    unsigned stmt_seq;
    pg_stmt *q_stmt;          /* the running query's statement (prepared path) */
    int preparing;            /* the running command is q_stmt's PREPARE */
    int q_nparams;            /* kept for the EXECUTE that follows a PREPARE */
    const char *const *q_values;
    const int *q_lengths, *q_formats;
    pg_conn *prev, *next;     /* every connection */
    pg_conn *iprev, *inext;   /* idle stack */
};

struct pg_waiter {
    pg_pool *pool;
    pg_acquire_cb cb;
    void *ud;
    uint64_t deadline;        /* loop ms */
    pg_waiter *prev, *next;
};

struct pg_pool {
    uv_loop_t *loop;
    pg_pool_options o;
    char *url;
    int epoch;
    int closing;
    int open_handles;         /* the pool's own timers */
    uv_timer_t wtimer;        /* earliest waiter deadline */
    uv_timer_t htimer;        /* housekeeping: idle close */
    pg_conn *all;
    pg_conn *idle;            /* most recently used first */
    pg_waiter *whead, *wtail;
    pg_pool_counts n;
    metrics_registry *metrics;
    metric *m_duration;
    metric *m_conns;
};

static void on_poll(uv_poll_t *h, int status, int events);
static void conn_discard(pg_conn *c);
static void pool_fill(pg_pool *p);

const char *pg_pool_strerror(int status) {
    switch (status) {
    case PG_EUNAVAILABLE: return "database unavailable";
    case PG_EEXHAUSTED: return "pool exhausted";
    case PG_ECLOSED: return "pool closed";
    default: return "unknown error";
    }
}

/* ---- small helpers ------------------------------------------------------ */

static uint64_t secs_ms(double s) { return s <= 0 ? 0 : (uint64_t)(s * 1000.0 + 0.5); }

static void apply_defaults(pg_pool_options *o) {
    if (o->max <= 0) o->max = 20;
    if (o->queue_max < 0) o->queue_max = 0;
    if (o->idle_timeout <= 0) o->idle_timeout = 30;
    if (o->connect_timeout <= 0) o->connect_timeout = 2;
    if (o->statement_timeout < 0) o->statement_timeout = 0;
    if (o->queue_timeout < 0) o->queue_timeout = 5;
}

/* libpq messages end with a newline; callers get one line. */
static const char *trim_msg(char *buf, size_t n, const char *m) {
    snprintf(buf, n, "%s", m && *m ? m : "connection failed");
    size_t l = strlen(buf);
    while (l && (buf[l - 1] == '\n' || buf[l - 1] == ' ')) buf[--l] = 0;
    /* one line, single spaces (libpq indents its hints with tabs) */
    char *w = buf;
    for (char *s = buf; *s; s++) {
        char ch = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : *s;
        if (ch == ' ' && w > buf && w[-1] == ' ') continue;
        *w++ = ch;
    }
    *w = 0;
    return buf;
}

/* One JSON line on stderr, as nest.log writes them (no params: only the
 * statement's first 200 bytes and how long it took). */
static void log_slow(const char *sql, double secs) {
    char f[512];
    size_t n = (size_t)snprintf(f, sizeof f, ",\"duration_ms\":%.1f,\"sql\":", secs * 1000.0);
    if (!sql) sql = "";
    size_t sl = strlen(sql);
    json_out_str(f + n, sizeof f - n, sql, sl < 200 ? sl : 200);
    json_out_log("warn", "slow query", f);
}

/* ---- metrics ------------------------------------------------------------ */

static void collect(metrics_registry *r, void *ud) {
    (void)r;
    pg_pool *p = ud;
    static const char *const states[] = {"in_use", "idle", "connecting", "draining", "waiting"};
    int vals[] = {p->n.in_use, p->n.idle, p->n.connecting, p->n.draining, p->n.waiting};
    for (int i = 0; i < 5; i++) {
        const char *v[1] = {states[i]};
        metrics_set(p->m_conns, vals[i], v);
    }
}

static void metrics_setup(pg_pool *p) {
    if (!p->metrics) return;
    static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
    static const char *const labels[] = {"state"};
    p->m_duration = metrics_histogram(p->metrics, "db_query_duration_seconds",
                                      "PostgreSQL query time, send to last result.", NULL, 0,
                                      buckets, (int)(sizeof buckets / sizeof *buckets));
    p->m_conns = metrics_gauge(p->metrics, "db_pool_connections",
                               "PostgreSQL pool connections by state.", labels, 1);
    if (p->m_conns && metrics_add_collector(p->metrics, collect, p) != 0) p->m_conns = NULL;
}

/* ---- poll management ---------------------------------------------------- */

static void poll_closed(uv_handle_t *h) { free(h); }

static void poll_drop(pg_conn *c) {
    if (!c->poll) return;
    c->poll->data = NULL;
    uv_close((uv_handle_t *)c->poll, poll_closed);
    c->poll = NULL;
    c->events = 0;
}

/* Watch the connection's current socket for `events` (a new handle when the
 * socket changed). -1 when no socket or libuv refuses it. */
static int poll_watch(pg_conn *c, int events) {
    int fd = PQsocket(c->pg);
    if (fd < 0) return -1;
    if (c->poll && fd != c->fd) poll_drop(c);
    if (!c->poll) {
        uv_poll_t *h = malloc(sizeof *h);
        if (!h) return -1;
        if (uv_poll_init(c->pool->loop, h, fd) != 0) { free(h); return -1; }
        h->data = c;
        c->poll = h;
        c->fd = fd;
        c->events = 0;
    }
    if (events != c->events) {
        if (uv_poll_start(c->poll, events, on_poll) != 0) return -1;
        c->events = events;
    }
    return 0;
}

/* ---- waiters ------------------------------------------------------------ */

static void waiter_unlink(pg_waiter *w) {
    pg_pool *p = w->pool;
    if (w->prev) w->prev->next = w->next; else p->whead = w->next;
    if (w->next) w->next->prev = w->prev; else p->wtail = w->prev;
    p->n.waiting--;
}

static void on_wtimer(uv_timer_t *t);

static void wtimer_arm(pg_pool *p) {
    if (p->closing) return;
    if (!p->whead) { uv_timer_stop(&p->wtimer); return; }
    uint64_t min = UINT64_MAX;
    for (pg_waiter *w = p->whead; w; w = w->next) if (w->deadline < min) min = w->deadline;
    uint64_t now = uv_now(p->loop);
    uv_timer_start(&p->wtimer, on_wtimer, min > now ? min - now : 0, 0);
}

static void on_wtimer(uv_timer_t *t) {
    pg_pool *p = t->data;
    uint64_t now = uv_now(p->loop);
    pg_waiter *w = p->whead;
    while (w) {
        pg_waiter *next = w->next;
        if (w->deadline <= now) {
            waiter_unlink(w);
            pg_acquire_cb cb = w->cb;
            void *ud = w->ud;
            free(w);
            cb(NULL, PG_EEXHAUSTED, "pool exhausted: no connection free within the queue timeout", ud);
            next = p->whead;   /* the callback may have changed the queue: rescan */
            now = uv_now(p->loop);
        }
        w = next;
    }
    wtimer_arm(p);
}

/* Fail every waiter (server unreachable, or the pool closing). */
static void fail_waiters(pg_pool *p, int status, const char *msg) {
    while (p->whead) {
        pg_waiter *w = p->whead;
        waiter_unlink(w);
        pg_acquire_cb cb = w->cb;
        void *ud = w->ud;
        free(w);
        cb(NULL, status, msg, ud);
    }
    wtimer_arm(p);
}

/* ---- connection lifecycle ---------------------------------------------- */

static void idle_push(pg_conn *c) {
    pg_pool *p = c->pool;
    c->iprev = NULL;
    c->inext = p->idle;
    if (p->idle) p->idle->iprev = c;
    p->idle = c;
    p->n.idle++;
}

static void idle_unlink(pg_conn *c) {
    pg_pool *p = c->pool;
    if (c->iprev) c->iprev->inext = c->inext; else p->idle = c->inext;
    if (c->inext) c->inext->iprev = c->iprev;
    c->iprev = c->inext = NULL;
    p->n.idle--;
}

static void count_state(pg_conn *c, int delta) {
    pg_pool_counts *n = &c->pool->n;
    switch (c->state) {
    case C_CONNECTING: n->connecting += delta; break;
    case C_ACQUIRED: case C_BUSY: n->in_use += delta; break;
    case C_DRAINING: n->draining += delta; break;
    default: break;   /* C_IDLE is counted by idle_push/idle_unlink */
    }
}

static void set_state(pg_conn *c, int st) {
    if (c->state == C_IDLE) idle_unlink(c); else count_state(c, -1);
    c->state = st;
    if (st == C_IDLE) idle_push(c); else count_state(c, +1);
}

static void timer_closed(uv_handle_t *h) { free(h->data); }

static void conn_discard(pg_conn *c) {
    pg_pool *p = c->pool;
    if (c->state == C_IDLE) idle_unlink(c); else count_state(c, -1);
    if (c->prev) c->prev->next = c->next; else p->all = c->next;
    if (c->next) c->next->prev = c->prev;
    p->n.total--;
    poll_drop(c);
    if (c->res) PQclear(c->res);
    if (c->preparing && c->q_stmt) { free(c->q_stmt->sql); free(c->q_stmt); }
    for (pg_stmt *st = c->stmts, *nx; st; st = nx) { nx = st->next; free(st->sql); free(st); }
    c->stmts = c->q_stmt = NULL;
    c->preparing = 0;
    if (c->pg) PQfinish(c->pg);
    c->pg = NULL;
    c->res = NULL;
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* A usable connection: to the first waiter, else onto the idle stack. */
static void conn_available(pg_conn *c) {
    pg_pool *p = c->pool;
    c->timed_out = c->cancel_sent = 0;
    uv_timer_stop(&c->timer);
    poll_watch(c, UV_READABLE);   /* notice a server that goes away */
    if (p->whead) {
        pg_waiter *w = p->whead;
        waiter_unlink(w);
        wtimer_arm(p);
        set_state(c, C_ACQUIRED);
        pg_acquire_cb cb = w->cb;
        void *ud = w->ud;
        free(w);
        cb(c, 0, NULL, ud);
        return;
    }
    c->idle_since = uv_now(p->loop);
    set_state(c, C_IDLE);
}

static void conn_failed(pg_conn *c, const char *why) {
    char buf[512];
    pg_pool *p = c->pool;
    const char *m = trim_msg(buf, sizeof buf, why ? why : (c->pg ? PQerrorMessage(c->pg) : NULL));
    conn_discard(c);
    /* With live connections left the server is up (the connect may have hit
     * max_connections): waiters keep waiting for a release, bounded by their
     * queue timeout. With none, it is down: fail them all now. */
    if (p->n.in_use + p->n.idle > 0) return;
    char msg[600];
    snprintf(msg, sizeof msg, "database unavailable: %s", m);
    fail_waiters(p, PG_EUNAVAILABLE, msg);
}

static void on_conn_timer(uv_timer_t *t);

/* Server notices (NOTICE, WARNING) are not errors: libpq's default prints
 * them to stderr unstructured; drop them. */
static void quiet_notice(void *arg, const char *message) { (void)arg; (void)message; }

static int conn_start(pg_pool *p) {
    pg_conn *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->pool = p;
    c->epoch = p->epoch;
    c->fd = -1;
    c->state = C_CONNECTING;
    uv_timer_init(p->loop, &c->timer);
    c->timer.data = c;
    c->next = p->all;
    if (p->all) p->all->prev = c;
    p->all = c;
    p->n.total++;
    p->n.connecting++;
    char options[160], ctimeout[32];
    snprintf(options, sizeof options, "-c statement_timeout=%llu -c TimeZone=UTC -c DateStyle=ISO",
             (unsigned long long)secs_ms(p->o.statement_timeout));
    snprintf(ctimeout, sizeof ctimeout, "%d", (int)(p->o.connect_timeout + 0.999));
    const char *kw[] = {"dbname", "options", "application_name", "connect_timeout", NULL};
    const char *val[] = {p->url, options, "medianest", ctimeout, NULL};
    c->pg = PQconnectStartParams(kw, val, 1);
    if (c->pg) PQsetNoticeProcessor(c->pg, quiet_notice, NULL);
    uv_timer_start(&c->timer, on_conn_timer, secs_ms(p->o.connect_timeout), 0);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD || poll_watch(c, UV_WRITABLE) != 0) {
        /* report from the loop, never from inside the caller */
        c->broken = 1;
        uv_timer_start(&c->timer, on_conn_timer, 0, 0);
    }
    return 0;
}

/* Start connects for waiters that no pending connect will serve. */
static void pool_fill(pg_pool *p) {
    while (!p->closing && p->n.waiting > p->n.connecting && p->n.total < p->o.max)
        if (conn_start(p) != 0) break;
}

static void conn_connect_step(pg_conn *c) {
    if (c->poll) { uv_poll_stop(c->poll); c->events = 0; }
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->pg, 1) != 0) { conn_failed(c, NULL); return; }
        conn_available(c);
        pool_fill(c->pool);
        return;
    case PGRES_POLLING_READING:
        if (poll_watch(c, UV_READABLE) != 0) conn_failed(c, "cannot watch the socket");
        return;
    case PGRES_POLLING_WRITING:
        if (poll_watch(c, UV_WRITABLE) != 0) conn_failed(c, "cannot watch the socket");
        return;
    default:
        conn_failed(c, NULL);
        return;
    }
}

/* ---- cancel requests (PQcancel blocks: thread pool) --------------------- */

typedef struct cancel_req { uv_work_t w; PGcancel *cc; } cancel_req;

static void cancel_work(uv_work_t *w) {
    cancel_req *r = w->data;
    char err[256];
    PQcancel(r->cc, err, sizeof err);
}
static void cancel_after(uv_work_t *w, int status) {
    (void)status;
    cancel_req *r = w->data;
    PQfreeCancel(r->cc);
    free(r);
}

static void conn_send_cancel(pg_conn *c) {
    if (c->cancel_sent) return;
    c->cancel_sent = 1;
    cancel_req *r = calloc(1, sizeof *r);
    if (!r) return;
    r->cc = PQgetCancel(c->pg);
    if (!r->cc) { free(r); return; }
    r->w.data = r;
    if (uv_queue_work(c->pool->loop, &r->w, cancel_work, cancel_after) != 0) {
        PQfreeCancel(r->cc);
        free(r);
    }
}

/* ---- queries ------------------------------------------------------------ */

/* The query ended (all results read) or the connection broke (msg set). */
static void stmt_forget(pg_conn *c, pg_stmt *st) {
    for (pg_stmt **pp = &c->stmts; *pp; pp = &(*pp)->next)
        if (*pp == st) { *pp = st->next; c->nstmts--; break; }
    free(st->sql);
    free(st);
}

static void query_done(pg_conn *c, const char *msg) {
    pg_pool *p = c->pool;
    uv_timer_stop(&c->timer);
    if (c->preparing) {           /* the PREPARE failed or was cut short */
        c->preparing = 0;
        free(c->q_stmt->sql);
        free(c->q_stmt);
    } else if (c->q_stmt && c->res && PQresultStatus(c->res) == PGRES_FATAL_ERROR) {
        /* e.g. 0A000 "cached plan must not change result type" after a
         * schema change: prepare afresh next time */
        const char *code = PQresultErrorField(c->res, PG_DIAG_SQLSTATE);
        if (code && !strcmp(code, "0A000")) stmt_forget(c, c->q_stmt);
    }
    c->q_stmt = NULL;
    double secs = (double)(uv_hrtime() - c->q_start) / 1e9;
    if (p->m_duration) metrics_observe(p->m_duration, secs, NULL);
    if (p->o.slow_query > 0 && secs >= p->o.slow_query) log_slow(c->sql, secs);
    PGresult *res = msg ? NULL : c->res;
    if (msg && c->res) PQclear(c->res);
    c->res = NULL;
    c->sql = NULL;
    pg_query_cb cb = c->qcb;
    void *ud = c->qud;
    int timed_out = c->timed_out;
    c->qcb = NULL;
    c->qud = NULL;
    if (c->state == C_DRAINING) {
        if (res) PQclear(res);
        set_state(c, C_ACQUIRED);
        pg_pool_release(c);
        return;
    }
    set_state(c, C_ACQUIRED);
    if (cb) cb(c, res, msg, timed_out, ud);
    else if (res) PQclear(res);
}

static void conn_broken(pg_conn *c, const char *why) {
    char buf[512];
    const char *m = trim_msg(buf, sizeof buf, why ? why : PQerrorMessage(c->pg));
    c->broken = 1;
    switch (c->state) {
    case C_CONNECTING: conn_failed(c, m); break;
    case C_BUSY: case C_DRAINING: query_done(c, m); break;   /* the owner releases */
    case C_IDLE: conn_discard(c); pool_fill(c->pool); break;
    default: poll_drop(c); break;   /* borrowed: discarded on release */
    }
}

/* The PREPARE succeeded: remember the statement and send its EXECUTE. */
static int conn_execute_prepared(pg_conn *c) {
    pg_stmt *st = c->q_stmt;
    PQclear(c->res);
    c->res = NULL;
    c->preparing = 0;
    st->next = c->stmts;
    c->stmts = st;
    c->nstmts++;
    if (!PQsendQueryPrepared(c->pg, st->name, c->q_nparams, c->q_values, c->q_lengths,
                             c->q_formats, 0))
        return -1;
    int f = PQflush(c->pg);
    if (f < 0) return -1;
    return poll_watch(c, f ? (UV_READABLE | UV_WRITABLE) : UV_READABLE);
}

/* Read whatever arrived; deliver when the last result is in. */
static void conn_collect(pg_conn *c) {
    while (!PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            if (PQstatus(c->pg) == CONNECTION_BAD) { conn_broken(c, NULL); return; }
            if (c->preparing && c->state == C_BUSY && c->res &&
                PQresultStatus(c->res) == PGRES_COMMAND_OK) {
                if (conn_execute_prepared(c) != 0) { conn_broken(c, NULL); return; }
                continue;
            }
            query_done(c, NULL);
            return;
        }
        ExecStatusType st = PQresultStatus(r);
        if (c->res && PQresultStatus(c->res) == PGRES_FATAL_ERROR) PQclear(r);
        else {
            if (c->res) PQclear(c->res);
            c->res = r;
        }
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            conn_broken(c, "COPY is not supported");
            return;
        }
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) conn_broken(c, NULL);
}

static void on_poll(uv_poll_t *h, int status, int events) {
    pg_conn *c = h->data;
    if (!c) return;
    if (c->state == C_CONNECTING) { conn_connect_step(c); return; }
    if (status < 0) { conn_broken(c, uv_strerror(status)); return; }
    if ((events & UV_WRITABLE) && (c->state == C_BUSY || c->state == C_DRAINING)) {
        int f = PQflush(c->pg);
        if (f < 0) { conn_broken(c, NULL); return; }
        if (f == 0) poll_watch(c, UV_READABLE);
    }
    if (events & UV_READABLE) {
        if (!PQconsumeInput(c->pg)) { conn_broken(c, NULL); return; }
        if (c->state == C_BUSY || c->state == C_DRAINING) { conn_collect(c); return; }
        PGnotify *n;
        while ((n = PQnotifies(c->pg))) PQfreemem(n);
        if (PQstatus(c->pg) == CONNECTION_BAD) { conn_broken(c, NULL); return; }
        /* An idle connection gets nothing unprompted but notices, notifies
         * and the server's goodbye; EOF shows as BAD above. */
    }
}

static void on_conn_timer(uv_timer_t *t) {
    pg_conn *c = t->data;
    switch (c->state) {
    case C_CONNECTING: {
        char msg[160];
        if (c->broken) { conn_failed(c, NULL); return; }
        snprintf(msg, sizeof msg, "connect timed out after %gs", c->pool->o.connect_timeout);
        conn_failed(c, msg);
        return;
    }
    case C_BUSY:
        if (!c->cancel_sent) {
            c->timed_out = 1;
            conn_send_cancel(c);
            uv_timer_start(&c->timer, on_conn_timer, 2000, 0);   /* the server should answer */
            return;
        }
        conn_broken(c, "query timed out and the server did not answer the cancel");
        return;
    case C_DRAINING:
        conn_broken(c, "abandoned query did not finish");
        return;
    default:
        return;
    }
}

int pg_conn_send(pg_conn *c, const char *sql, int nparams, const char *const *values,
                 const int *lengths, const int *formats, int flags, double timeout,
                 pg_query_cb cb, void *ud, const char **err) {
    static char msgbuf[512];
    if (c->state != C_ACQUIRED) { *err = "connection is busy with another query"; return -1; }
    if (c->broken || !c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        *err = "database connection lost";
        return -1;
    }
    int ok;
    pg_stmt *st = NULL;
    if (flags & PG_SEND_SIMPLE) {
        ok = PQsendQuery(c->pg, sql);
    } else if (flags & PG_SEND_PREPARE) {
        for (st = c->stmts; st && strcmp(st->sql, sql) != 0; st = st->next) {}
        if (st) {
            ok = PQsendQueryPrepared(c->pg, st->name, nparams, values, lengths, formats, 0);
        } else if (c->nstmts < PG_MAX_STMTS && (st = calloc(1, sizeof *st)) &&
                   (st->sql = strdup(sql))) {
            snprintf(st->name, sizeof st->name, "mn_s%u", ++c->stmt_seq);
            ok = PQsendPrepare(c->pg, st->name, sql, nparams, NULL);
            if (ok) {
                c->preparing = 1;
                c->q_nparams = nparams;
                c->q_values = values;
                c->q_lengths = lengths;
                c->q_formats = formats;
            } else { free(st->sql); free(st); st = NULL; }
        } else {
            if (st) free(st);
            st = NULL;
            ok = PQsendQueryParams(c->pg, sql, nparams, NULL, values, lengths, formats, 0);
        }
    } else {
        ok = PQsendQueryParams(c->pg, sql, nparams, NULL, values, lengths, formats, 0);
    }
    if (!ok) {
        *err = trim_msg(msgbuf, sizeof msgbuf, PQerrorMessage(c->pg));
        c->broken = 1;
        return -1;
    }
    c->q_stmt = st;
    c->sql = sql;
    c->qcb = cb;
    c->qud = ud;
    c->timed_out = c->cancel_sent = 0;
    c->q_start = uv_hrtime();
    set_state(c, C_BUSY);
    int f = PQflush(c->pg);
    if (f < 0 || poll_watch(c, f ? (UV_READABLE | UV_WRITABLE) : UV_READABLE) != 0) {
        /* deliver from the loop: mark broken and let the timer report it */
        c->broken = 1;
        c->cancel_sent = 1;
        uv_timer_start(&c->timer, on_conn_timer, 0, 0);
        return 0;
    }
    if (timeout > 0) uv_timer_start(&c->timer, on_conn_timer, secs_ms(timeout), 0);
    return 0;
}

void pg_conn_abandon(pg_conn *c) {
    c->qcb = NULL;
    c->qud = NULL;
    if (c->state != C_BUSY) { pg_pool_release(c); return; }
    set_state(c, C_DRAINING);
    conn_send_cancel(c);
    uv_timer_start(&c->timer, on_conn_timer, 5000, 0);
}

int pg_conn_busy(const pg_conn *c) { return c->state == C_BUSY || c->state == C_DRAINING; }

/* ---- borrowing ---------------------------------------------------------- */

int pg_pool_acquire(pg_pool *p, double queue_timeout, pg_acquire_cb cb, void *ud,
                    pg_conn **out, pg_waiter **wout) {
    *out = NULL;
    *wout = NULL;
    if (p->closing) return PG_ECLOSED;
    while (p->idle) {
        pg_conn *c = p->idle;
        if (c->broken || PQstatus(c->pg) != CONNECTION_OK) { conn_discard(c); continue; }
        set_state(c, C_ACQUIRED);
        *out = c;
        return 0;
    }
    if (p->n.waiting >= p->o.queue_max && p->n.total >= p->o.max) return PG_EEXHAUSTED;
    pg_waiter *w = calloc(1, sizeof *w);
    if (!w) return PG_EEXHAUSTED;
    w->pool = p;
    w->cb = cb;
    w->ud = ud;
    if (queue_timeout < 0) queue_timeout = p->o.queue_timeout;
    uv_update_time(p->loop);
    w->deadline = uv_now(p->loop) + secs_ms(queue_timeout);
    w->prev = p->wtail;
    if (p->wtail) p->wtail->next = w; else p->whead = w;
    p->wtail = w;
    p->n.waiting++;
    wtimer_arm(p);
    pool_fill(p);
    *wout = w;
    return 1;
}

void pg_waiter_cancel(pg_waiter *w) {
    pg_pool *p = w->pool;
    waiter_unlink(w);
    free(w);
    wtimer_arm(p);
}

void pg_pool_release(pg_conn *c) {
    pg_pool *p = c->pool;
    if (c->state == C_BUSY || c->state == C_DRAINING) { pg_conn_abandon(c); return; }
    if (p->closing || c->broken || c->epoch != p->epoch || !c->pg ||
        PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        conn_discard(c);
        pool_fill(p);
        return;
    }
    conn_available(c);
}

/* ---- the pool ----------------------------------------------------------- */

static void on_htimer(uv_timer_t *t) {
    pg_pool *p = t->data;
    uint64_t now = uv_now(p->loop), limit = secs_ms(p->o.idle_timeout);
    pg_conn *c = p->idle;
    while (c) {
        pg_conn *next = c->inext;
        if (now - c->idle_since >= limit) conn_discard(c);
        c = next;
    }
}

pg_pool *pg_pool_create(uv_loop_t *loop, const pg_pool_options *o, metrics_registry *metrics) {
    pg_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->loop = loop;
    p->metrics = metrics;
    if (pg_pool_configure(p, o) != 0) { free(p); return NULL; }
    uv_timer_init(loop, &p->wtimer);
    uv_timer_init(loop, &p->htimer);
    p->wtimer.data = p->htimer.data = p;
    p->open_handles = 2;
    uv_timer_start(&p->htimer, on_htimer, 1000, 1000);
    uv_unref((uv_handle_t *)&p->htimer);
    metrics_setup(p);
    return p;
}

int pg_pool_configure(pg_pool *p, const pg_pool_options *o) {
    pg_pool_options n = *o;
    apply_defaults(&n);
    const char *url = o->url ? o->url : "";
    int changed = !p->url || strcmp(p->url, url) != 0 || n.statement_timeout != p->o.statement_timeout;
    if (changed) {
        char *u = strdup(url);
        if (!u) return -ENOMEM;
        free(p->url);
        p->url = u;
        p->epoch++;
        /* idle connections of the old settings go now; borrowed ones on release */
        while (p->idle) conn_discard(p->idle);
    }
    p->o = n;
    p->o.url = p->url;
    /* a smaller max takes effect at once for idle connections */
    while (p->idle && p->n.total > p->o.max) conn_discard(p->idle);
    return 0;
}

static void pool_timer_closed(uv_handle_t *h) {
    pg_pool *p = h->data;
    if (--p->open_handles == 0) { free(p->url); free(p); }
}

void pg_pool_destroy(pg_pool *p) {
    if (!p || p->closing) return;
    p->closing = 1;
    if (p->metrics && p->m_conns) metrics_remove_collector(p->metrics, collect, p);
    fail_waiters(p, PG_ECLOSED, "pool closed");
    while (p->all) {
        pg_conn *c = p->all;
        c->qcb = NULL;
        conn_discard(c);
    }
    uv_close((uv_handle_t *)&p->wtimer, pool_timer_closed);
    uv_close((uv_handle_t *)&p->htimer, pool_timer_closed);
}

void pg_pool_counts_get(const pg_pool *p, pg_pool_counts *out) { *out = p->n; }
