/* proc.c — child processes: uv_spawn without a shell, stdout split into
 * bounded lines with back-pressure, a bounded stderr tail, kill with a grace
 * period, and reaping of every child (see proc.h for ownership).
 *
 * Each proc owns up to five uv handles (process, stdout, stderr, stdin
 * pipes, grace timer); `open` has a bit per handle not yet closed, and the
 * proc is freed in the close callback that clears the last bit — only once
 * released, since the Lua handle may still point at it before.
 */
#include "proc.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

enum { H_PROC = 1, H_OUT = 2, H_ERR = 4, H_IN = 8, H_TIMER = 16 };

struct proc_registry {
    proc *head;
    int count;
    int destroyed;      /* the app is gone: free with the last proc */
};

struct proc {
    uv_process_t process;
    uv_pipe_t out, err, in;
    uv_timer_t timer;
    uv_write_t wreq;
    proc_registry *reg;
    proc *prev, *next;
    pid_t pid;

    char *buf;          /* stdout: unconsumed bytes are buf[rpos, len) */
    size_t rpos, len, cap;
    size_t partial;     /* bytes of the unfinished last line (at the end) */
    size_t ready;       /* complete lines in buf */
    size_t truncated;
    size_t max_line, max_buffer;
    int skipping;       /* discarding the rest of an over-long line */
    int reading;
    int out_eof;

    char *ebuf;         /* stderr tail */
    size_t elen, emax;

    char *in_data;      /* stdin bytes being written (owned) */

    int exited, released;
    int64_t code;
    int signo;
    double grace;
    unsigned open, closing;

    proc_notify_fn lines_fn, exit_fn;
    void *lines_ud, *exit_ud;

    char scratch[64 * 1024];   /* read buffer for both pipes */
};

/* ---- registry ------------------------------------------------------------ */

proc_registry *proc_registry_new(void) { return calloc(1, sizeof(proc_registry)); }

void proc_registry_destroy(void *vr) {
    proc_registry *r = vr;
    r->destroyed = 1;
    for (proc *p = r->head; p; p = p->next) {
        if (!p->exited) uv_process_kill(&p->process, SIGKILL);
        if (!p->released) proc_release(p);   /* not reached normally: Lua handles are gone */
    }
    if (r->count == 0) free(r);
}

int proc_registry_count(proc_registry *r) { return r ? r->count : 0; }

/* ---- handle bookkeeping -------------------------------------------------- */

static void proc_free(proc *p) {
    proc_registry *r = p->reg;
    if (p->prev) p->prev->next = p->next; else r->head = p->next;
    if (p->next) p->next->prev = p->prev;
    r->count--;
    free(p->buf);
    free(p->ebuf);
    free(p->in_data);
    free(p);
    if (r->destroyed && r->count == 0) free(r);
}

static unsigned handle_bit(proc *p, uv_handle_t *h) {
    if (h == (uv_handle_t *)&p->process) return H_PROC;
    if (h == (uv_handle_t *)&p->out) return H_OUT;
    if (h == (uv_handle_t *)&p->err) return H_ERR;
    if (h == (uv_handle_t *)&p->in) return H_IN;
    return H_TIMER;
}

static void on_closed(uv_handle_t *h) {
    proc *p = h->data;
    p->open &= ~handle_bit(p, h);
    if (p->open == 0 && p->released) proc_free(p);
}

static void close_handle(proc *p, unsigned bit, void *h) {
    if (!(p->open & bit) || (p->closing & bit)) return;
    p->closing |= bit;
    uv_close((uv_handle_t *)h, on_closed);
}

/* Released and reaped: close what is left. */
static void maybe_finish(proc *p) {
    if (!p->released || !p->exited) return;
    close_handle(p, H_OUT, &p->out);
    close_handle(p, H_ERR, &p->err);
    close_handle(p, H_IN, &p->in);
    close_handle(p, H_TIMER, &p->timer);
    close_handle(p, H_PROC, &p->process);
}

static void notify_lines(proc *p) {
    if (!p->lines_fn || !proc_lines_ready(p)) return;
    proc_notify_fn fn = p->lines_fn;
    p->lines_fn = NULL;
    fn(p, p->lines_ud);
}

/* ---- stdout -------------------------------------------------------------- */

static int append(proc *p, const char *d, size_t n) {
    if (p->len + n > p->cap && p->rpos > 0) {
        memmove(p->buf, p->buf + p->rpos, p->len - p->rpos);
        p->len -= p->rpos;
        p->rpos = 0;
    }
    if (p->len + n > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n) cap *= 2;
        char *nb = realloc(p->buf, cap);
        if (!nb) return -1;
        p->buf = nb;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, d, n);
    p->len += n;
    return 0;
}

static void end_line(proc *p) {
    append(p, "\n", 1);
    p->partial = 0;
    p->ready++;
}

/* Split incoming bytes into lines, cutting over-long ones. */
static void feed(proc *p, const char *d, size_t n) {
    while (n > 0) {
        const char *nl = memchr(d, '\n', n);
        size_t seg = nl ? (size_t)(nl - d) : n;
        if (p->skipping) {
            if (!nl) return;
            p->skipping = 0;
            d += seg + 1; n -= seg + 1;
            continue;
        }
        size_t room = p->max_line - p->partial;
        if (seg > room) {
            append(p, d, room);
            end_line(p);
            p->truncated++;
            if (!nl) { p->skipping = 1; return; }
            d += seg + 1; n -= seg + 1;
            continue;
        }
        append(p, d, seg);
        if (!nl) { p->partial += seg; return; }
        end_line(p);
        d += seg + 1; n -= seg + 1;
    }
}

static size_t backlog(proc *p) { return p->len - p->rpos - p->partial; }

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
    (void)hint;
    proc *p = h->data;
    *b = uv_buf_init(p->scratch, sizeof p->scratch);
}

static void on_out(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    proc *p = s->data;
    if (nread > 0) {
        feed(p, b->base, (size_t)nread);
        if (backlog(p) > p->max_buffer && p->reading) {
            uv_read_stop(s);       /* back-pressure: the pipe fills, the writer blocks */
            p->reading = 0;
        }
    } else if (nread < 0) {
        p->out_eof = 1;
        p->reading = 0;
        close_handle(p, H_OUT, &p->out);
    }
    notify_lines(p);
}

static void on_err(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    proc *p = s->data;
    if (nread < 0) { close_handle(p, H_ERR, &p->err); return; }
    size_t n = (size_t)nread;
    const char *d = b->base;
    if (n >= p->emax) {
        memcpy(p->ebuf, d + n - p->emax, p->emax);
        p->elen = p->emax;
        return;
    }
    if (p->elen + n > p->emax) {
        size_t drop = p->elen + n - p->emax;
        memmove(p->ebuf, p->ebuf + drop, p->elen - drop);
        p->elen -= drop;
    }
    memcpy(p->ebuf + p->elen, d, n);
    p->elen += n;
}

int proc_lines_ready(proc *p) {
    return p->ready > 0 || p->out_eof || p->released;
}

int proc_next_line(proc *p, const char **line, size_t *len) {
    if (p->ready > 0) {
        char *start = p->buf + p->rpos;
        char *nl = memchr(start, '\n', p->len - p->rpos);
        *line = start;
        *len = (size_t)(nl - start);
        p->rpos += *len + 1;
        p->ready--;
        if (p->rpos == p->len) p->rpos = p->len = 0;
        if (!p->reading && !p->out_eof && !p->released && backlog(p) <= p->max_buffer / 2) {
            if (uv_read_start((uv_stream_t *)&p->out, on_alloc, on_out) == 0) p->reading = 1;
        }
        return 1;
    }
    if (p->out_eof && p->partial > 0) {     /* a last line without '\n' */
        *line = p->buf + p->rpos;
        *len = p->partial;
        p->rpos = p->len = p->partial = 0;
        return 1;
    }
    return (p->out_eof || p->released) ? -1 : 0;
}

/* ---- stdin --------------------------------------------------------------- */

static void on_written(uv_write_t *w, int status) {
    (void)status;
    proc *p = w->data;
    close_handle(p, H_IN, &p->in);
}

/* ---- exit and kill ------------------------------------------------------- */

static void on_child_exit(uv_process_t *h, int64_t status, int term_signal) {
    proc *p = h->data;
    p->exited = 1;
    p->code = status;
    p->signo = term_signal;
    close_handle(p, H_PROC, &p->process);   /* libuv has reaped it */
    if (p->open & H_TIMER) uv_timer_stop(&p->timer);
    if (p->exit_fn) {
        proc_notify_fn fn = p->exit_fn;
        p->exit_fn = NULL;
        fn(p, p->exit_ud);
    }
    maybe_finish(p);
}

static void on_grace(uv_timer_t *t) {
    proc *p = t->data;
    if (!p->exited) uv_process_kill(&p->process, SIGKILL);
}

int proc_kill(proc *p, int signo) {
    if (p->exited) return UV_ESRCH;
    return uv_process_kill(&p->process, signo);
}

void proc_release(proc *p) {
    if (p->released) return;
    p->released = 1;
    /* waiters wake and find the handle closed */
    proc_notify_fn lf = p->lines_fn, ef = p->exit_fn;
    void *lu = p->lines_ud, *eu = p->exit_ud;
    p->lines_fn = p->exit_fn = NULL;
    if (lf) lf(p, lu);
    if (ef) ef(p, eu);
    if (!p->exited) {
        uv_process_kill(&p->process, SIGTERM);
        uv_timer_start(&p->timer, on_grace, (uint64_t)(p->grace * 1000), 0);
    }
    /* nobody reads any more: a writer gets EPIPE instead of blocking */
    close_handle(p, H_OUT, &p->out);
    close_handle(p, H_ERR, &p->err);
    close_handle(p, H_IN, &p->in);
    maybe_finish(p);
}

/* ---- spawn --------------------------------------------------------------- */

int proc_spawn(proc_registry *r, uv_loop_t *loop, const proc_options *o, proc **out) {
    proc *p = calloc(1, sizeof *p);
    if (!p) return UV_ENOMEM;
    p->reg = r;
    p->max_line = o->max_line ? o->max_line : 64 * 1024;
    p->max_buffer = o->max_buffer ? o->max_buffer : 1024 * 1024;
    p->emax = o->err_max ? o->err_max : 64 * 1024;
    p->grace = o->grace > 0 ? o->grace : 5;
    p->ebuf = malloc(p->emax);
    if (!p->ebuf) { free(p); return UV_ENOMEM; }
    if (o->stdin_data && o->stdin_len > 0) {
        p->in_data = malloc(o->stdin_len);
        if (!p->in_data) { free(p->ebuf); free(p); return UV_ENOMEM; }
        memcpy(p->in_data, o->stdin_data, o->stdin_len);
    }
    p->next = r->head;
    if (r->head) r->head->prev = p;
    r->head = p;
    r->count++;

    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    uv_timer_init(loop, &p->timer);
    p->open = H_OUT | H_ERR | H_TIMER | H_PROC;
    p->out.data = p->err.data = p->timer.data = p->process.data = p;
    int has_in = o->stdin_data != NULL;
    if (has_in) {
        uv_pipe_init(loop, &p->in, 0);
        p->in.data = p;
        p->open |= H_IN;
    }

    uv_stdio_container_t stdio[3];
    if (has_in) {
        stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
        stdio[0].data.stream = (uv_stream_t *)&p->in;
    } else {
        stdio[0].flags = UV_IGNORE;
    }
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&p->err;

    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.exit_cb = on_child_exit;
    po.file = o->argv[0];
    po.args = (char **)o->argv;
    po.env = (char **)o->env;
    po.cwd = o->cwd;
    po.stdio_count = 3;
    po.stdio = stdio;

    int rc = uv_spawn(loop, &p->process, &po);
    if (rc != 0) {
        /* the handles must be closed all the same; p frees itself */
        p->exited = 1;
        p->released = 1;
        maybe_finish(p);
        return rc;
    }
    p->pid = p->process.pid;
    if (uv_read_start((uv_stream_t *)&p->out, on_alloc, on_out) == 0) p->reading = 1;
    uv_read_start((uv_stream_t *)&p->err, on_alloc, on_err);
    if (has_in) {
        if (p->in_data) {
            uv_buf_t b = uv_buf_init(p->in_data, (unsigned)o->stdin_len);
            p->wreq.data = p;
            if (uv_write(&p->wreq, (uv_stream_t *)&p->in, &b, 1, on_written) != 0)
                close_handle(p, H_IN, &p->in);
        } else {
            close_handle(p, H_IN, &p->in);   /* empty stdin: EOF right away */
        }
    }
    *out = p;
    return 0;
}

/* ---- accessors ----------------------------------------------------------- */

int proc_exited(proc *p) { return p->exited; }
void proc_status(proc *p, int64_t *code, int *signo) { *code = p->code; *signo = p->signo; }
pid_t proc_pid(proc *p) { return p->pid; }
size_t proc_truncated(proc *p) { return p->truncated; }

const char *proc_stderr(proc *p, size_t *len) {
    *len = p->elen;
    return p->ebuf;
}

int proc_on_lines(proc *p, proc_notify_fn fn, void *ud) {
    if (fn && p->lines_fn) return UV_EBUSY;
    p->lines_fn = fn;
    p->lines_ud = ud;
    return 0;
}

int proc_on_exit(proc *p, proc_notify_fn fn, void *ud) {
    if (fn && p->exit_fn) return UV_EBUSY;
    p->exit_fn = fn;
    p->exit_ud = ud;
    return 0;
}
