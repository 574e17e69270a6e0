/* scheduler.c — the coroutine scheduler: runs tasks, parks them on I/O ops and
 * resumes them from a uv_check handler.
 *
 * Resuming happens only here, at the top of the loop, so a libuv callback
 * never re-enters Lua. While tasks are queued an idle handle keeps the loop
 * from blocking in poll. A task's struct outlives its end while it still sits
 * in the ready queue (it is skipped and freed when popped).
 */
#include "scheduler.h"
#include "gen.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>

struct sched_task {
    mn_gen *gen;
    lua_State *co;          /* the task's thread, anchored by co_ref */
    int co_ref;
    sched_op *op;           /* pending op, or NULL */
    sched_done_fn done;
    void *ud;
    int nargs;              /* arguments for the first resume */
    unsigned started : 1, running : 1, cancelled : 1, queued : 1, ended : 1;
    sched_task *next;       /* ready queue */
    sched_task *gprev, *gnext;  /* the generation's task list */
};

static struct {
    uv_loop_t *loop;
    uv_check_t check;
    uv_idle_t idle;
    sched_task *head, *tail;
    sched_task *current;
} S;

static char sentinel;

void *sched_sentinel(void) { return &sentinel; }

static void on_idle(uv_idle_t *h) { (void)h; }

static void enqueue(sched_task *t) {
    if (t->queued) return;
    t->queued = 1;
    t->next = NULL;
    if (S.tail) S.tail->next = t; else S.head = t;
    S.tail = t;
    uv_idle_start(&S.idle, on_idle);
}

/* End a task: tell its owner, drop the thread, account the generation. */
static void finish(sched_task *t, sched_status st, int nres) {
    mn_gen *g = t->gen;
    t->ended = 1;
    if (t->done) t->done(t, st, st == SCHED_CANCELLED ? NULL : t->co, nres, t->ud);
    luaL_unref(g->L, LUA_REGISTRYINDEX, t->co_ref);
    t->co = NULL;
    if (t->gprev) t->gprev->gnext = t->gnext; else g->task_list = t->gnext;
    if (t->gnext) t->gnext->gprev = t->gprev;
    if (!t->queued) free(t);
    if (--g->tasks == 0 && g->retired && g->on_drained) g->on_drained(g);
}

/* ---- deadlines ------------------------------------------------------------ */

struct sched_deadline {
    uv_timer_t timer;
    sched_op *op;                     /* NULL once the op woke or was dropped */
    void (*on_expiry)(sched_op *op);
};

static void deadline_closed(uv_handle_t *h) { free(h->data); }

/* Detach the op's deadline; its timer is freed in the close callback. */
static void deadline_drop(sched_op *op) {
    sched_deadline *d = op->deadline;
    if (!d) return;
    op->deadline = NULL;
    d->op = NULL;
    uv_close((uv_handle_t *)&d->timer, deadline_closed);
}

static void deadline_fired(uv_timer_t *timer) {
    sched_deadline *d = timer->data;
    sched_op *op = d->op;
    if (op && !op->woken) d->on_expiry(op);    /* wakes op, which drops d */
    if (d->op) deadline_drop(d->op);           /* an expiry that did not wake */
}

void sched_op_deadline(sched_op *op, uv_loop_t *loop, double seconds,
                       void (*on_expiry)(sched_op *op)) {
    if (seconds <= 0 || op->woken) return;
    sched_deadline *d = calloc(1, sizeof *d);
    if (!d) { fputs("medianest: out of memory (op deadline)\n", stderr); abort(); }
    deadline_drop(op);
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    d->op = op;
    d->on_expiry = on_expiry;
    op->deadline = d;
    uv_update_time(loop);
    uv_timer_start(&d->timer, deadline_fired, (uint64_t)(seconds * 1000 + 0.5), 0);
}

/* Drop whatever op the task waits on, per the op lifetime contract. */
static void drop_op(sched_task *t) {
    sched_op *op = t->op;
    if (!op) return;
    t->op = NULL;
    op->task = NULL;
    deadline_drop(op);
    if (op->woken) op->release(op); else op->cancel(op);
}

static void after_resume(sched_task *t, int st, int nres) {
    if (st == LUA_YIELD) {
        lua_pop(t->co, nres);
        if (t->cancelled) { drop_op(t); finish(t, SCHED_CANCELLED, 0); return; }
        if (!t->op) {
            lua_pushliteral(t->co, "coroutine.yield called outside a coroutine "
                                   "(a task can only wait on I/O)");
            finish(t, SCHED_ERROR, 1);
            return;
        }
        if (t->op->woken) enqueue(t);   /* completed before we yielded */
        return;
    }
    if (t->cancelled) { finish(t, SCHED_CANCELLED, 0); return; }
    if (st == LUA_OK) { finish(t, SCHED_OK, nres); return; }
    const char *msg = lua_tostring(t->co, -1);
    luaL_traceback(t->co, t->co, msg ? msg : "(error object is not a string)", 0);
    finish(t, SCHED_ERROR, 1);
}

static void run(sched_task *t) {
    int nargs;
    if (!t->started) {
        t->started = 1;
        nargs = t->nargs;
    } else {
        sched_op *op = t->op;
        t->op = NULL;
        op->task = NULL;
        nargs = op->push(op, t->co);
        op->release(op);
    }
    sched_task *prev = S.current;
    S.current = t;
    t->running = 1;
    int nres = 0;
    int st = lua_resume(t->co, NULL, nargs, &nres);
    t->running = 0;
    S.current = prev;
    after_resume(t, st, nres);
}

/* Run what was queued when this turn began; later wakes wait a turn so
 * I/O is never starved by tasks that keep waking each other. */
static void on_check(uv_check_t *h) {
    (void)h;
    sched_task *t = S.head;
    S.head = S.tail = NULL;
    while (t) {
        sched_task *next = t->next;
        t->queued = 0;
        if (t->ended) free(t);
        else if (t->cancelled) { drop_op(t); finish(t, SCHED_CANCELLED, 0); }
        else run(t);
        t = next;
    }
    if (!S.head) uv_idle_stop(&S.idle);
}

int sched_init(uv_loop_t *loop) {
    S.loop = loop;
    uv_check_init(loop, &S.check);
    uv_idle_init(loop, &S.idle);
    uv_check_start(&S.check, on_check);
    uv_unref((uv_handle_t *)&S.check);
    uv_unref((uv_handle_t *)&S.idle);
    return 0;
}

void sched_shutdown(void) {
    uv_close((uv_handle_t *)&S.check, NULL);
    uv_close((uv_handle_t *)&S.idle, NULL);
}

sched_task *sched_spawn(mn_gen *g, lua_State *from, int nargs,
                        sched_done_fn done, void *ud) {
    if (!from) from = g->L;
    sched_task *t = calloc(1, sizeof *t);
    if (!t) { lua_pop(from, nargs + 1); return NULL; }
    t->gen = g;
    t->done = done;
    t->ud = ud;
    t->nargs = nargs;
    t->co = lua_newthread(from);
    t->co_ref = luaL_ref(from, LUA_REGISTRYINDEX);
    lua_xmove(from, t->co, nargs + 1);
    g->tasks++;
    t->gnext = g->task_list;
    if (g->task_list) g->task_list->gprev = t;
    g->task_list = t;
    enqueue(t);
    return t;
}

void sched_cancel(sched_task *t) {
    if (!t || t->ended || t->cancelled) return;
    t->cancelled = 1;
    if (t->running) return;     /* after_resume() finishes it */
    drop_op(t);
    finish(t, SCHED_CANCELLED, 0);
}

void sched_cancel_gen(mn_gen *g) {
    sched_task *t = g->task_list;
    while (t) {
        sched_task *next = t->gnext;
        if (!t->running) sched_cancel(t);
        t = next;
    }
}

sched_task *sched_current(lua_State *L) {
    (void)L;
    return S.current;
}

mn_gen *sched_task_gen(sched_task *t) { return t->gen; }

int sched_op_begin(lua_State *L, sched_op *op, const char *what) {
    sched_task *t = S.current;
    if (!t) {
        lua_pushfstring(L, "%s: no task is running (I/O can only be done in a "
                           "request, WebSocket message, timer, job or script)", what);
        return -1;
    }
    if (!lua_isyieldable(L)) {
        lua_pushfstring(L, "%s: cannot wait here (inside a metamethod, a C "
                           "iterator, or a module's top level during require)", what);
        return -1;
    }
    op->task = t;
    op->woken = 0;
    op->next_ready = NULL;
    op->deadline = NULL;
    t->op = op;
    return 0;
}

int sched_wait(lua_State *L) {
    lua_pushlightuserdata(L, &sentinel);
    return lua_yield(L, 1);
}

void sched_op_wake(sched_op *op) {
    if (op->woken) return;
    op->woken = 1;
    deadline_drop(op);
    sched_task *t = op->task;
    if (t && !t->running) enqueue(t);
}
