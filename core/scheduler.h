/* scheduler.h — runs Lua coroutines ("tasks") on the event loop.
 *
 * Every request, WebSocket message, timer tick and job runs in its own task.
 * An I/O primitive written in C never blocks: it starts the operation, binds
 * a sched_op to the running task and yields. When the operation finishes the
 * mechanism calls sched_op_wake(); the task is resumed later from a uv_check
 * handler, never from inside the libuv callback (no re-entrancy).
 *
 * Writing a primitive (see lua_timer.c for the smallest complete example):
 *
 *   static int l_sleep(lua_State *L) {
 *       sleep_op *s = calloc(1, sizeof *s);          // owned by the mechanism
 *       s->op.push = sleep_push;                     // results -> Lua stack
 *       s->op.release = sleep_release;               // free after resume
 *       s->op.cancel = sleep_cancel;                 // task died: stop + free
 *       if (sched_op_begin(L, &s->op, "nest.timer.sleep") != 0) { free(s); return lua_error(L); }
 *       uv_timer_start(...);                         // calls sched_op_wake(&s->op)
 *       return sched_wait(L);
 *   }
 *
 * Op lifetime — exactly one of these is called, once:
 *   - push() then release(): the op woke and its task is being resumed;
 *     push() pushes the results on the task's stack and returns their count.
 *   - release() alone: the op woke but the task was cancelled before resume.
 *   - cancel(): the task was cancelled while the op was still pending. The
 *     mechanism stops the operation, must never call sched_op_wake() for it
 *     afterwards, and frees the op (possibly later, in a close callback).
 *
 * A deadline (sched_op_deadline) belongs to the scheduler, not the op: its
 * timer stops when the op wakes or is cancelled and is freed in its own close
 * callback, so an op with a deadline is freed as promptly as one without.
 */
#ifndef MN_SCHEDULER_H
#define MN_SCHEDULER_H

#include <lua.h>
#include <uv.h>

typedef struct sched_task sched_task;
typedef struct sched_op sched_op;
typedef struct sched_deadline sched_deadline;
typedef struct mn_gen mn_gen;

struct sched_op {
    sched_task *task;                         /* set by sched_op_begin */
    int  (*push)(sched_op *op, lua_State *L); /* push results, return count */
    void (*release)(sched_op *op);            /* free the op */
    void (*cancel)(sched_op *op);             /* stop the operation, free the op */
    sched_op *next_ready;                     /* scheduler's ready queue */
    sched_deadline *deadline;                 /* set by sched_op_deadline */
    int woken;                                /* set by sched_op_wake */
};

/* How a task ended, passed to its done callback. */
typedef enum { SCHED_OK, SCHED_ERROR, SCHED_CANCELLED } sched_status;

/* Called once when a task ends. For SCHED_OK the coroutine's return values
 * are on `co` (count `nres`); for SCHED_ERROR the error message (with
 * traceback when available) is on top of `co`. For SCHED_CANCELLED `co` is
 * NULL. The task is freed after the callback returns. */
typedef void (*sched_done_fn)(sched_task *t, sched_status st, lua_State *co,
                              int nres, void *ud);

/* Spawn a task in generation g running the function at stack index -(nargs+1)
 * of `from` (g->L or any thread of it) with the nargs values above it (both
 * are popped). The task starts on the next loop turn. Returns NULL on
 * allocation failure (the values are popped all the same). */
sched_task *sched_spawn(mn_gen *g, lua_State *from, int nargs,
                        sched_done_fn done, void *ud);

/* Cancel a task: a pending op is cancelled, the coroutine is never resumed
 * again, done() runs with SCHED_CANCELLED. Safe on a task that is queued to
 * run or to resume; a no-op on one that is running right now (it is marked
 * and cancelled when it next yields). */
void sched_cancel(sched_task *t);

/* Cancel every task of generation g (used when an app stops). */
void sched_cancel_gen(mn_gen *g);

/* The task currently running Lua code in L's generation, or NULL. */
sched_task *sched_current(lua_State *L);

/* The generation a task belongs to. */
mn_gen *sched_task_gen(sched_task *t);

/* Bind op to the running task. Returns 0, or -1 with an error message pushed
 * on L (no task running, or L cannot yield here) — `what` names the call. */
int sched_op_begin(lua_State *L, sched_op *op, const char *what);

/* Yield the running task until its op wakes; return from the binding with
 * `return sched_wait(L);`. The op's pushed results become the binding's
 * return values. */
int sched_wait(lua_State *L);

/* The op's operation finished: queue its task for resumption (and drop its
 * deadline). */
void sched_op_wake(sched_op *op);

/* Give a begun op a deadline: when it has not woken `seconds` from now,
 * on_expiry(op) runs (from a timer callback, never inside Lua); it must end
 * the operation and wake the op with a timeout result. seconds <= 0 sets no
 * deadline. Out of memory aborts (as Redis's zmalloc does): an op silently
 * without its deadline could wait forever. */
void sched_op_deadline(sched_op *op, uv_loop_t *loop, double seconds,
                      void (*on_expiry)(sched_op *op));

/* Per-loop scheduler state; sched_init once per loop before any spawn. */
int sched_init(uv_loop_t *loop);
void sched_shutdown(void);

/* The light userdata a primitive yields; the coroutine.* wrappers pass it
 * through plugin coroutines up to the scheduler. */
void *sched_sentinel(void);

#endif
