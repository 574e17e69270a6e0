/* test_logbuf.c — the access log line (core/access_log.c) and its buffer
 * (core/logbuf.c): the line's exact shape, escaping and cuts; the buffer
 * writing nothing until a flush, everything in order, a full buffer
 * written at once, the timer flushing, close flushing. */
#include "access_log.h"
#include "logbuf.h"
#include "check.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t file_size(int fd) { return (size_t)lseek(fd, 0, SEEK_END); }

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

static void test_format(void) {
    char line[ACCESS_LOG_LINE_MAX];
    access_entry e = { "GET", "/api/v1/x/{id}", 14, 200, 1234567, 15, "rid-1", "42", "127.0.0.1", 0 };
    size_t n = access_log_format(line, &e);
    line[n] = 0;
    CHECK(n > 0 && line[n - 1] == '\n', "ends with a newline");
    CHECK(strncmp(line, "{\"time\":\"", 9) == 0 && line[9 + 23] == 'Z', "time is ISO 8601 with ms: %.40s", line);
    const char *tail = strstr(line, "\",\"level\"");
    CHECK(tail && strcmp(tail, "\",\"level\":\"info\",\"msg\":\"request\",\"method\":\"GET\",\"route\":\"/api/v1/x/{id}\","
                               "\"status\":200,\"durationMs\":1.235,\"bytes\":15,\"requestId\":\"rid-1\","
                               "\"userId\":\"42\",\"ip\":\"127.0.0.1\"}\n") == 0, "fields: %s", tail ? tail : line);

    access_entry anon = { NULL, "/\"q\\\x01\xc3", 6, 404, 999, 0, "r", NULL, "::1", 1 };
    n = access_log_format(line, &anon);
    line[n] = 0;
    CHECK(strstr(line, "\"level\":\"warn\",\"msg\":\"slow_request\",\"method\":\"-\"") != NULL, "slow, no method");
    CHECK(strstr(line, "\"route\":\"/\\\"q\\\\\\u0001\\u00c3\"") != NULL, "escaped route: %s", line);
    CHECK(strstr(line, "\"durationMs\":0.001,") != NULL, "sub-microsecond rounds to 0.001");
    CHECK(strstr(line, "\"userId\":null,\"ip\":\"::1\"}\n") != NULL, "anonymous");

    char longroute[5000];
    memset(longroute, '"', sizeof longroute);
    access_entry big = { "GET", longroute, sizeof longroute, 200, 0, 0, "r", "1", "1.2.3.4", 0 };
    n = access_log_format(line, &big);
    CHECK(n <= ACCESS_LOG_LINE_MAX, "bounded: %zu", n);
    CHECK(n > 3 && memcmp(line + n - 3, "\"}\n", 3) == 0, "a cut route keeps the line's end");
    CHECK(strstr(line, "\"ip\":\"1.2.3.4\"") != NULL, "fields after a cut route are kept");
}

static void test_buffer(void) {
    char path[] = "/tmp/test_logbuf.XXXXXX";
    int fd = mkstemp(path);
    int rfd = open(path, O_RDONLY);
    unlink(path);
    uv_loop_t loop;
    uv_loop_init(&loop);
    logbuf *b = logbuf_open(&loop, fd, 1);
    logbuf_write("one\n", 4, b);
    logbuf_write("two\n", 4, b);
    CHECK(file_size(rfd) == 0, "nothing written before a flush");
    uv_run(&loop, UV_RUN_DEFAULT);     /* the timer is unref'd: runs only with other work */
    CHECK(file_size(rfd) == 0, "an unref'd timer does not keep the loop alive");
    uv_timer_t keep;
    uv_timer_init(&loop, &keep);
    uv_timer_start(&keep, stop_loop, LOGBUF_FLUSH_MS * 2, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(file_size(rfd) == 8, "the timer flushed both lines");

    char chunk[1000];
    memset(chunk, 'x', sizeof chunk - 1);
    chunk[sizeof chunk - 1] = '\n';
    size_t before = file_size(rfd), wrote = 0;
    while (wrote + sizeof chunk <= LOGBUF_BYTES) { logbuf_write(chunk, sizeof chunk, b); wrote += sizeof chunk; }
    CHECK(file_size(rfd) == before, "a buffer not yet full waits");
    logbuf_write(chunk, sizeof chunk, b);
    CHECK(file_size(rfd) == before + wrote, "a line that does not fit writes the buffer first, whole lines only");
    logbuf_write("last\n", 5, b);
    logbuf_close(b);
    CHECK(file_size(rfd) == before + wrote + sizeof chunk + 5, "close flushes the rest");
    char tailbuf[6] = {0};
    ssize_t got = pread(rfd, tailbuf, 5, (off_t)(before + wrote + sizeof chunk));
    CHECK(got == 5 && strcmp(tailbuf, "last\n") == 0, "in order");
    uv_close((uv_handle_t *)&keep, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0, "every handle closed");
    close(rfd);
}

int main(void) {
    test_format();
    test_buffer();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
