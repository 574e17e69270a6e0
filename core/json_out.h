/* json_out.h — the JSON the C core writes itself: escaped strings, the
 * error envelope every error response carries, and log lines shaped like
 * nest.log's. One copy of each, so that a response or a log line written
 * in C cannot drift from the ones Lua writes (lua/nest/errors.lua,
 * lua/nest/log.lua).
 */
#ifndef MN_JSON_OUT_H
#define MN_JSON_OUT_H

#include <stddef.h>

/* s[0..n) as a quoted JSON string into out (cap bytes, NUL-terminated;
 * cut short rather than overflow, still quoted). Returns its length. */
size_t json_out_str(char *out, size_t cap, const char *s, size_t n);

/* {"error":{"code":..,"message":..,"requestId":..}} into buf; requestId is
 * left out when NULL. Returns the length (< cap; the message is cut short
 * to fit). */
size_t json_out_error(char *buf, size_t cap, const char *code, const char *message,
                      const char *request_id);

/* One line on stderr: {"time":"<ISO 8601, ms, UTC>","level":..,"msg":..<fields>}
 * where fields is NULL or more members already in JSON, each with its
 * leading comma (",\"conn\":3"). */
void json_out_log(const char *level, const char *msg, const char *fields);

#endif
