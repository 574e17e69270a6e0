/* access_log.h — one access log line (JSON), formatted without stdio.
 *
 * The line is the one documented in docs/operations.md:
 *   {"time":"...Z","level":"info","msg":"request","method":"GET","route":"/health",
 *    "status":200,"durationMs":0.123,"bytes":15,"requestId":"...","userId":null,"ip":"..."}
 * "slow_request" at level "warn" when the request took longer than the
 * server's slow_request limit. snprintf/strftime cost ~6k instructions per
 * request here (issue 16); this writes the same bytes with plain stores and
 * formats the date once per second.
 */
#ifndef MN_ACCESS_LOG_H
#define MN_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#define ACCESS_LOG_LINE_MAX 1280   /* the sum of the field budgets, and some */

typedef struct access_entry {
    const char *method;         /* NULL: "-" */
    const char *route;          /* the route pattern, or the raw path */
    size_t route_len;
    int status;
    uint64_t duration_ns;
    size_t bytes;
    const char *id;             /* the request id */
    const char *user;           /* NULL: "userId":null */
    const char *ip;             /* the client: the peer, or whom a trusted proxy forwarded for */
    int slow;
} access_entry;

/* Writes the line with its newline into out (ACCESS_LOG_LINE_MAX bytes);
 * over-long fields are cut, never the line's shape. Returns its length. */
size_t access_log_format(char *out, const access_entry *e);

#endif
