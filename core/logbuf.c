/* logbuf.c — a buffered, line-ordered log sink on the event loop (see
 * logbuf.h for the contract).
 */
#include "logbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct logbuf {
    uv_timer_t timer;       /* armed while lines wait; freed in on_closed */
    int fd;
    int own_fd;
    size_t len;
    char data[LOGBUF_BYTES];
};

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;             /* a log that cannot be written is dropped, never fatal */
        }
        p += w;
        n -= (size_t)w;
    }
}

void logbuf_flush(logbuf *b) {
    if (b->len) write_all(b->fd, b->data, b->len);
    b->len = 0;
    uv_timer_stop(&b->timer);
}

static void on_timer(uv_timer_t *t) { logbuf_flush((logbuf *)t->data); }

logbuf *logbuf_open(uv_loop_t *loop, int fd, int own_fd) {
    logbuf *b = malloc(sizeof *b);
    if (!b) return NULL;
    b->fd = fd;
    b->own_fd = own_fd;
    b->len = 0;
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    uv_unref((uv_handle_t *)&b->timer);   /* a pending flush never keeps the loop alive */
    return b;
}

void logbuf_write(const char *line, size_t n, void *ud) {
    logbuf *b = ud;
    if (b->len + n > sizeof b->data) logbuf_flush(b);
    if (n > sizeof b->data) { write_all(b->fd, line, n); return; }
    if (b->len == 0) uv_timer_start(&b->timer, on_timer, LOGBUF_FLUSH_MS, 0);
    memcpy(b->data + b->len, line, n);
    b->len += n;
}

static void on_closed(uv_handle_t *h) {
    logbuf *b = h->data;
    if (b->own_fd) close(b->fd);
    free(b);
}

void logbuf_close(logbuf *b) {
    if (!b) return;
    logbuf_flush(b);
    uv_close((uv_handle_t *)&b->timer, on_closed);
}
