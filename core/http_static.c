/* http_static.c — placeholder until the static file server lands: indexes
 * nothing and serves nothing (every lookup misses). */
#include "http_static.h"
#include <stdlib.h>

struct http_static { int unused; };

http_static *http_static_open(const char *dir) { (void)dir; return NULL; }
void http_static_close(http_static *st) { free(st); }
int http_static_serve(http_static *st, http_request *r, const char *path, size_t len, int flags) {
    (void)st; (void)r; (void)path; (void)len; (void)flags;
    return 0;
}
size_t http_static_count(http_static *st) { (void)st; return 0; }
