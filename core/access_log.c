/* access_log.c — one access log line (JSON), formatted without stdio (see
 * access_log.h).
 */
#include "access_log.h"

#include <string.h>
#include <time.h>

typedef struct out { char *p; char *end; } out;

static void put(out *o, const char *s, size_t n) {
    if (n > (size_t)(o->end - o->p)) n = (size_t)(o->end - o->p);
    memcpy(o->p, s, n);
    o->p += n;
}
#define PUT_LIT(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_uint(out *o, uint64_t v) {
    char tmp[24];
    int i = sizeof tmp;
    do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    put(o, tmp + i, sizeof tmp - (size_t)i);
}

/* JSON string contents: quotes and backslashes escaped, anything outside
 * printable ASCII as \u00XX (as before: the log stays ASCII). At most max
 * output bytes: the field budgets add up to less than the line, so a long
 * route is cut, never the line's closing quotes and brace. */
static void put_escaped(out *o, const char *s, size_t n, size_t max) {
    static const char hex[] = "0123456789abcdef";
    char *end = (size_t)(o->end - o->p) < max ? o->end : o->p + max;
    for (size_t i = 0; i < n && end - o->p >= 6; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') { *o->p++ = '\\'; *o->p++ = (char)ch; }
        else if (ch < 0x20 || ch >= 0x7f) {
            memcpy(o->p, "\\u00", 4);
            o->p[4] = hex[ch >> 4];
            o->p[5] = hex[ch & 15];
            o->p += 6;
        } else *o->p++ = (char)ch;
    }
}

/* "2026-12-02T15:40:00." for the current second, made once per second. */
static const char *date_prefix(time_t sec) {
    static time_t cached = -1;
    static char prefix[32];
    if (sec != cached) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S.", &tm);
        cached = sec;
    }
    return prefix;
}

size_t access_log_format(char *buf, const access_entry *e) {
    out o = { buf, buf + ACCESS_LOG_LINE_MAX - 2 };   /* room for "}\n" */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned ms = (unsigned)(now.tv_nsec / 1000000);
    char msd[3] = { (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10) };

    PUT_LIT(&o, "{\"time\":\"");
    const char *prefix = date_prefix(now.tv_sec);
    put(&o, prefix, strlen(prefix));
    put(&o, msd, 3);
    if (e->slow) PUT_LIT(&o, "Z\",\"level\":\"warn\",\"msg\":\"slow_request\",\"method\":\"");
    else PUT_LIT(&o, "Z\",\"level\":\"info\",\"msg\":\"request\",\"method\":\"");
    const char *m = e->method ? e->method : "-";
    put_escaped(&o, m, strlen(m), 32);
    PUT_LIT(&o, "\",\"route\":\"");
    put_escaped(&o, e->route, e->route_len, 500);
    PUT_LIT(&o, "\",\"status\":");
    put_uint(&o, (uint64_t)(e->status < 0 ? 0 : e->status));
    /* milliseconds with three decimals, rounded like %.3f */
    uint64_t us = (e->duration_ns + 500) / 1000;
    PUT_LIT(&o, ",\"durationMs\":");
    put_uint(&o, us / 1000);
    char frac[4] = { '.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10) };
    put(&o, frac, 4);
    PUT_LIT(&o, ",\"bytes\":");
    put_uint(&o, e->bytes);
    PUT_LIT(&o, ",\"requestId\":\"");
    put_escaped(&o, e->id, strlen(e->id), 130);
    if (e->user) {
        PUT_LIT(&o, "\",\"userId\":\"");
        put_escaped(&o, e->user, strlen(e->user), 60);
        PUT_LIT(&o, "\",\"ip\":\"");
    } else PUT_LIT(&o, "\",\"userId\":null,\"ip\":\"");
    put_escaped(&o, e->ip, strlen(e->ip), 63);
    PUT_LIT(&o, "\"");
    o.end += 2;
    PUT_LIT(&o, "}\n");
    return (size_t)(o.p - buf);
}
