/* logbuf.h — a buffered, line-ordered log sink on the event loop.
 *
 * The access log writes one line per request; a write(2) per line is a
 * syscall per request. A logbuf gathers whole lines in memory and writes
 * them in one go when the buffer fills, LOGBUF_FLUSH_MS after the first
 * unwritten line, and when it is closed. Lines are never split and leave in
 * the order they came. A crash loses at most the last LOGBUF_FLUSH_MS.
 *
 * Ownership: logbuf_open() returns a logbuf the caller closes with
 * logbuf_close(), which flushes, closes the fd when the logbuf owns it and
 * frees the logbuf in its timer's close callback. The writes block (a file or
 * stderr, as fwrite did), so they are batched, not deferred to a thread.
 */
#ifndef MN_LOGBUF_H
#define MN_LOGBUF_H

#include <stddef.h>
#include <uv.h>

#define LOGBUF_BYTES (64 * 1024)
#define LOGBUF_FLUSH_MS 100

typedef struct logbuf logbuf;

/* fd: where lines go; own_fd: close it in logbuf_close. NULL on no memory. */
logbuf *logbuf_open(uv_loop_t *loop, int fd, int own_fd);

/* Append one complete line (with its newline); ud is the logbuf, so this is
 * an http_server log writer as it stands. */
void logbuf_write(const char *line, size_t n, void *ud);

void logbuf_flush(logbuf *b);
void logbuf_close(logbuf *b);

#endif
