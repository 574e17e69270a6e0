/* http_static.h — static files from one directory (the built web UI).
 *
 * http_static_open() indexes the directory once: small files are kept in
 * memory (with their .gz/.br siblings), larger ones are read on demand.
 * Answers carry ETag and Last-Modified, honour If-None-Match /
 * If-Modified-Since (304) and Range (206/416), pick a precompressed sibling
 * by Accept-Encoding, and set Cache-Control: immutable for content-hashed
 * names (name.<8+ hex or base64url chars>.ext) and no-cache otherwise
 * (index.html, sw.js, the manifest). Paths that escape the directory (../,
 * encoded or not, NUL bytes) are never served.
 *
 * The index is immutable after open; http_static_close() frees it. The
 * server does not own it: whoever opened it closes it after the server.
 */
#ifndef MN_HTTP_STATIC_H
#define MN_HTTP_STATIC_H

#include <stddef.h>
#include "http_server.h"

/* NULL when dir does not exist or cannot be read. */
http_static *http_static_open(const char *dir);
void http_static_close(http_static *st);

/* Answer r with the file at URL path `path` (percent-encoded, as sent).
 * Returns 1 when r was answered (200/206/304/416, or 404 with
 * HTTP_STATIC_MUST), 0 when there is no such file and r is untouched. */
#define HTTP_STATIC_MUST 1
int http_static_serve(http_static *st, http_request *r, const char *path, size_t len, int flags);

/* Number of files indexed. */
size_t http_static_count(http_static *st);

#endif
