/* proc.h — child processes on the event loop (no shell), with bounded,
 * line-oriented stdout and a bounded stderr tail.
 *
 * Ownership and lifetime:
 *   - A proc is owned by C: by its app's registry (proc_registry, kept in
 *     APP_SLOT_PROC), not by Lua. The Lua handle (lua_proc.c) only holds a
 *     pointer and calls proc_release() when it is collected or closed. So a
 *     process outlives the Lua generation that started it only as long as C
 *     says: today a release kills it, but a later hot-reload design could hand
 *     the proc (and its stdout stream) to the next generation instead, since
 *     nothing of it lives in a lua_State.
 *   - proc_release() means "no owner any more": pending waiters are notified,
 *     the process gets SIGTERM, then
 *     SIGKILL after the grace period; its pipes are closed at once. The proc
 *     is freed once the child has exited (libuv has reaped it: no zombie) and
 *     every uv handle is closed — in the close callbacks, never earlier.
 *   - proc_registry_destroy() (app stop) SIGKILLs every live child; the
 *     registry memory goes with its last proc. The loop keeps running while a
 *     child is alive (its uv_process_t is active), so the exit is reaped.
 *
 * Stdout: bytes are split into lines ('\n', a trailing '\r' is kept). A line
 * longer than max_line is cut to max_line bytes and the rest of it, up to the
 * next '\n', is discarded (counted in truncated). When more than max_buffer
 * bytes of complete lines wait unconsumed, reading stops (uv_read_stop) — the
 * pipe fills and a fast writer blocks — and resumes when the consumer has
 * taken the backlog below half of it. So memory is bounded by
 * max_buffer + max_line + one read.
 *
 * Stderr: the last err_max bytes are kept.
 *
 * Notification: at most one "lines" waiter and one "exit" waiter, each a
 * callback set by the binding; proc calls it once when the condition holds
 * (a complete line or EOF; the exit) and forgets it. Callbacks run inside
 * libuv callbacks: they must only wake a sched op.
 */
#ifndef MN_PROC_H
#define MN_PROC_H

#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

typedef struct proc proc;
typedef struct proc_registry proc_registry;
typedef void (*proc_notify_fn)(proc *p, void *ud);

typedef struct proc_options {
    const char *const *argv;  /* argv[0] looked up in PATH; NULL-terminated */
    const char *cwd;          /* NULL: ours */
    const char *const *env;   /* "K=V", NULL-terminated; NULL: inherit ours */
    const char *stdin_data;   /* written then closed; NULL: /dev/null */
    size_t stdin_len;
    size_t max_line;          /* 0: 64 KiB */
    size_t max_buffer;        /* 0: 1 MiB of unconsumed lines */
    size_t err_max;           /* 0: 64 KiB of stderr tail */
    double grace;             /* seconds between SIGTERM and SIGKILL on release; <= 0: 5 */
} proc_options;

/* A registry of children (the binding keeps one per app); freed by
 * proc_registry_destroy() once its last proc is gone. */
proc_registry *proc_registry_new(void);
void proc_registry_destroy(void *reg);
int proc_registry_count(proc_registry *r);

/* Start a child. 0 and *out set, or a negative UV_E* (nothing to free). */
int proc_spawn(proc_registry *r, uv_loop_t *loop, const proc_options *o, proc **out);

/* Next complete line: 1 (*line, *len valid until the next proc call), 0 when
 * none is ready yet, -1 at the end of stdout (EOF, or after release). */
int proc_next_line(proc *p, const char **line, size_t *len);
/* 1 when proc_next_line would not return 0. */
int proc_lines_ready(proc *p);

int proc_exited(proc *p);
/* Exit status and terminating signal (0 when none); valid once exited. */
void proc_status(proc *p, int64_t *code, int *signo);
pid_t proc_pid(proc *p);
/* The kept stderr tail. */
const char *proc_stderr(proc *p, size_t *len);
size_t proc_truncated(proc *p);
/* Send a signal. 0, or a negative UV_E* (UV_ESRCH once exited). */
int proc_kill(proc *p, int signo);

/* Waiters (see the header comment): fn runs once, from a libuv callback,
 * when a line (or EOF) is ready / the child exited — or on proc_release().
 * Register only when the condition does not hold yet. NULL fn clears.
 * 0, or UV_EBUSY when another waiter of that kind is set. */
int proc_on_lines(proc *p, proc_notify_fn fn, void *ud);
int proc_on_exit(proc *p, proc_notify_fn fn, void *ud);

/* The owner is gone: SIGTERM now, SIGKILL after the grace period, free when
 * reaped and closed. p must not be used afterwards. */
void proc_release(proc *p);

#endif
