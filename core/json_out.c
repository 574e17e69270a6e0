/* json_out.c — escaped JSON strings, the error envelope and log lines
 * written from C (see json_out.h). No allocation: callers pass buffers. */
#include "json_out.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

size_t json_out_str(char *out, size_t cap, const char *s, size_t n) {
    if (cap < 3) { if (cap) out[0] = 0; return 0; }
    size_t w = 0, room = cap - 2;   /* the closing quote and the NUL */
    out[w++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7];
        size_t el = 1;
        if (ch == '"' || ch == '\\') { esc[0] = '\\'; esc[1] = (char)ch; el = 2; }
        else if (ch == '\n') { memcpy(esc, "\\n", 2); el = 2; }
        else if (ch == '\t') { memcpy(esc, "\\t", 2); el = 2; }
        else if (ch < 0x20) el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", ch);
        else esc[0] = (char)ch;
        if (w + el > room) break;
        memcpy(out + w, esc, el);
        w += el;
    }
    out[w++] = '"';
    out[w] = 0;
    return w;
}

size_t json_out_error(char *buf, size_t cap, const char *code, const char *message,
                      const char *request_id) {
    char msg[512];
    json_out_str(msg, sizeof msg, message, strlen(message));
    int n = request_id
        ? snprintf(buf, cap, "{\"error\":{\"code\":\"%s\",\"message\":%s,\"requestId\":\"%s\"}}",
                   code, msg, request_id)
        : snprintf(buf, cap, "{\"error\":{\"code\":\"%s\",\"message\":%s}}", code, msg);
    if (n < 0) { buf[0] = 0; return 0; }
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

void json_out_log(const char *level, const char *msg, const char *fields) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char ts[40];
    size_t l = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + l, sizeof ts - l, ".%03dZ", (int)(now.tv_nsec / 1000000));
    char m[1024];
    json_out_str(m, sizeof m, msg, strlen(msg));
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":%s%s}\n", ts, level, m,
            fields ? fields : "");
}
