/* http_static.c — static files from one directory (the built web UI).
 *
 * http_static_open() walks the directory once and builds a sorted index of
 * every regular file (dotfiles skipped) keyed by its URL path. Files up to
 * SMALL_MAX bytes are read into memory then; larger ones are read from disk
 * for each answer (a plain pread of the range asked for). A file "x.gz" or
 * "x.br" next to "x" becomes a precompressed variant of "x", chosen by
 * Accept-Encoding when no Range is asked.
 *
 * Ownership: the index, every path and every in-memory body belong to the
 * http_static and are freed by http_static_close(); nothing changes after
 * open, so serving never allocates index state. Changed files on disk keep
 * their indexed size and mtime until the next open (a reload).
 */
#include "http_static.h"
#include "json_out.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_MAX (256 * 1024)
#define MAX_DEPTH 16
#define MAX_PATH 4096

typedef struct sfile {
    char *url;               /* "/assets/app.js", the lookup key */
    char *abs;               /* path on disk */
    size_t size;
    struct timespec mtime;
    char *data;              /* whole body when size <= SMALL_MAX, else NULL */
    char etag[64];           /* quoted */
    char lastmod[40];
    const char *ctype;
    int immutable;
    struct sfile *gz, *br;   /* precompressed siblings (index entries) */
} sfile;

struct http_static {
    sfile *files;
    size_t n, cap;
};

/* ---- content types and cache policy ------------------------------------ */

static const struct { const char *ext, *type; } TYPES[] = {
    {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"}, {"json", "application/json"},
    {"map", "application/json"}, {"webmanifest", "application/manifest+json"},
    {"txt", "text/plain; charset=utf-8"}, {"xml", "application/xml"},
    {"svg", "image/svg+xml"}, {"png", "image/png"}, {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"webp", "image/webp"},
    {"avif", "image/avif"}, {"ico", "image/x-icon"}, {"woff", "font/woff"},
    {"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
    {"wasm", "application/wasm"}, {"mp4", "video/mp4"}, {"webm", "video/webm"},
    {"mp3", "audio/mpeg"}, {"pdf", "application/pdf"}, {"gz", "application/gzip"},
    {"br", "application/octet-stream"}, {NULL, NULL}};

static const char *content_type(const char *name) {
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (dot && (!slash || dot > slash)) {
        for (int i = 0; TYPES[i].ext; i++)
            if (!strcasecmp(dot + 1, TYPES[i].ext)) return TYPES[i].type;
    }
    return "application/octet-stream";
}

static int token_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* A content-hashed name: "<stem>.<hash>.<ext>" or "<stem>-<hash>.<ext>"
 * where hash is 8+ hex or base64url characters with at least one digit
 * (so "service-worker.js" or "app.settings.js" are not taken for hashes). */
static int is_hashed(const char *url) {
    const char *base = strrchr(url, '/');
    base = base ? base + 1 : url;
    const char *ext = strrchr(base, '.');
    if (!ext || ext == base) return 0;
    /* scan back from ext over token chars (but '-' ends the hash) */
    const char *p = ext;
    int digits = 0;
    size_t len = 0;
    while (p > base && token_char(p[-1]) && p[-1] != '-') {
        p--;
        len++;
        if (*p >= '0' && *p <= '9') digits++;
    }
    if (p == base || (p[-1] != '.' && p[-1] != '-')) return 0;
    if (p - 1 == base) return 0;         /* nothing before the separator */
    return len >= 8 && digits > 0;
}

/* ---- building the index ------------------------------------------------ */

static int add_file(http_static *st, const char *url, const char *abs, const struct stat *sb) {
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 64;
        sfile *nf = realloc(st->files, nc * sizeof *nf);
        if (!nf) return -ENOMEM;
        st->files = nf;
        st->cap = nc;
    }
    sfile *f = &st->files[st->n];
    memset(f, 0, sizeof *f);
    f->url = strdup(url);
    f->abs = strdup(abs);
    if (!f->url || !f->abs) { free(f->url); free(f->abs); return -ENOMEM; }
    f->size = (size_t)sb->st_size;
    f->mtime = sb->st_mtim;
    if (f->size <= SMALL_MAX) {
        int fd = open(abs, O_RDONLY | O_CLOEXEC);
        if (fd < 0) { free(f->url); free(f->abs); return 0; }   /* unreadable: skip */
        f->data = malloc(f->size ? f->size : 1);
        size_t got = 0;
        while (f->data && got < f->size) {
            ssize_t k = read(fd, f->data + got, f->size - got);
            if (k <= 0) break;
            got += (size_t)k;
        }
        close(fd);
        if (!f->data || got != f->size) { free(f->data); free(f->url); free(f->abs); return 0; }
    }
    snprintf(f->etag, sizeof f->etag, "\"%zx-%llx\"", f->size,
             (unsigned long long)f->mtime.tv_sec * 1000000000ull + (unsigned long long)f->mtime.tv_nsec);
    struct tm tm;
    gmtime_r(&f->mtime.tv_sec, &tm);
    strftime(f->lastmod, sizeof f->lastmod, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    f->ctype = content_type(url);
    f->immutable = is_hashed(url);
    st->n++;
    return 0;
}

static int walk(http_static *st, const char *abs, const char *url, int depth) {
    if (depth > MAX_DEPTH) return 0;
    DIR *d = opendir(abs);
    if (!d) return depth == 0 ? -errno : 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;           /* ., .., dotfiles */
        char a[MAX_PATH], u[MAX_PATH];
        if (snprintf(a, sizeof a, "%s/%s", abs, e->d_name) >= (int)sizeof a) continue;
        if (snprintf(u, sizeof u, "%s/%s", url, e->d_name) >= (int)sizeof u) continue;
        if (strchr(e->d_name, '\\')) continue;
        struct stat sb;
        if (stat(a, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) rc = walk(st, a, u, depth + 1);
        else if (S_ISREG(sb.st_mode)) rc = add_file(st, u, a, &sb);
    }
    closedir(d);
    return rc;
}

static int cmp_file(const void *a, const void *b) {
    return strcmp(((const sfile *)a)->url, ((const sfile *)b)->url);
}

static sfile *lookup(http_static *st, const char *url) {
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(url, st->files[mid].url);
        if (c == 0) return &st->files[mid];
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return NULL;
}

http_static *http_static_open(const char *dir) {
    http_static *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    char root[MAX_PATH];
    snprintf(root, sizeof root, "%s", dir);
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') root[--rl] = 0;
    if (walk(st, root, "", 0) != 0) { http_static_close(st); return NULL; }
    qsort(st->files, st->n, sizeof *st->files, cmp_file);
    /* attach precompressed siblings (the array no longer moves) */
    for (size_t i = 0; i < st->n; i++) {
        sfile *f = &st->files[i];
        char u[MAX_PATH + 4];
        snprintf(u, sizeof u, "%s.gz", f->url);
        f->gz = lookup(st, u);
        snprintf(u, sizeof u, "%s.br", f->url);
        f->br = lookup(st, u);
    }
    return st;
}

void http_static_close(http_static *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) {
        free(st->files[i].url);
        free(st->files[i].abs);
        free(st->files[i].data);
    }
    free(st->files);
    free(st);
}

size_t http_static_count(http_static *st) { return st ? st->n : 0; }

/* ---- request paths ------------------------------------------------------ */

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decode `path` into out and check it. 0: a name to look up (a
 * trailing '/' names the directory's index.html); -1: cannot name a file
 * here (empty segment, dotfile, too long) — a plain miss; -2: refused
 * outright — a "." or ".." segment (encoded or not), NUL, backslash or a
 * broken %-escape, i.e. an attempt to leave the directory. */
static int decode_path(const char *path, size_t len, char *out, size_t cap) {
    size_t o = 0;
    if (len == 0 || path[0] != '/') return -2;
    for (size_t i = 0; i < len; i++) {
        char ch = path[i];
        if (ch == '%') {
            if (i + 2 >= len) return -2;
            int hi = hexval(path[i + 1]), lo = hexval(path[i + 2]);
            if (hi < 0 || lo < 0) return -2;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == 0 || ch == '\\') return -2;
        if (o + 1 >= cap) return -1;
        out[o++] = ch;
    }
    out[o] = 0;
    int miss = 0;
    const char *seg = out + 1;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t sl = end ? (size_t)(end - seg) : strlen(seg);
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) return -2;
        if (sl == 0 && end) miss = 1;                  /* "//" */
        if (sl > 0 && seg[0] == '.') miss = 1;         /* dotfiles are never indexed */
        if (!end) break;
        seg = end + 1;
    }
    if (miss) return -1;
    if (out[o - 1] == '/') {
        static const char idx[] = "index.html";
        if (o + sizeof idx > cap) return -1;
        memcpy(out + o, idx, sizeof idx);
    }
    return 0;
}

/* ---- request headers ----------------------------------------------------- */

/* q-value of `coding` in Accept-Encoding (0 when absent or refused). */
static int accept_q(const char *v, size_t n, const char *coding) {
    size_t cl = strlen(coding);
    size_t i = 0;
    int star = -1;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == ',' || v[i] == '\t')) i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ';' && v[i] != ' ') i++;
        size_t tl = i - s;
        int q = 1000;
        while (i < n && v[i] != ',') {
            if (v[i] == 'q' && i + 1 < n && v[i + 1] == '=') {
                i += 2;
                double d = 0;
                int seen = 0;
                double scale = 1;
                int frac = 0;
                while (i < n && ((v[i] >= '0' && v[i] <= '9') || v[i] == '.')) {
                    if (v[i] == '.') frac = 1;
                    else if (frac) { scale /= 10; d += (v[i] - '0') * scale; }
                    else d = d * 10 + (v[i] - '0');
                    seen = 1;
                    i++;
                }
                /* RFC 9110: q is 0..1 with at most 3 decimals; clamp anything else
                 * before converting (the fuzzer sent q=888...8, past INT_MAX) */
                if (seen) q = d >= 1 ? 1000 : (int)(d * 1000 + 0.5);
                continue;
            }
            i++;
        }
        if (tl == cl && !strncasecmp(v + s, coding, cl)) return q;
        if (tl == 1 && v[s] == '*') star = q;
    }
    return star > 0 ? star : 0;
}

/* Does an If-None-Match list contain etag (weak comparison) or "*"? */
static int etag_matches(const char *v, size_t n, const char *etag) {
    size_t el = strlen(etag);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == ',' || v[i] == '\t')) i++;
        if (i < n && v[i] == '*') return 1;
        if (i + 2 <= n && v[i] == 'W' && v[i + 1] == '/') i += 2;
        size_t s = i;
        while (i < n && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (e - s == el && !memcmp(v + s, etag, el)) return 1;
    }
    return 0;
}

static int parse_http_date(const char *v, size_t n, time_t *out) {
    char buf[64];
    if (n >= sizeof buf) return -1;
    memcpy(buf, v, n);
    buf[n] = 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end) return -1;
    *out = timegm(&tm);
    return 0;
}

/* Range: "bytes=a-b" | "bytes=a-" | "bytes=-n". 1 with [*from, *to] set,
 * 0 when the header is to be ignored (malformed, several ranges), -1 when
 * unsatisfiable (416). */
static int parse_range(const char *v, size_t n, size_t size, size_t *from, size_t *to) {
    if (n < 7 || strncasecmp(v, "bytes=", 6)) return 0;
    const char *p = v + 6, *end = v + n;
    if (memchr(p, ',', (size_t)(end - p))) return 0;
    unsigned long long a = 0, b = 0;
    int ha = 0, hb = 0;
    while (p < end && *p == ' ') p++;
    while (p < end && *p >= '0' && *p <= '9') {
        if (a > (~0ull - 9) / 10) return 0;
        a = a * 10 + (unsigned)(*p++ - '0');
        ha = 1;
    }
    if (p >= end || *p++ != '-') return 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (b > (~0ull - 9) / 10) return 0;
        b = b * 10 + (unsigned)(*p++ - '0');
        hb = 1;
    }
    while (p < end && *p == ' ') p++;
    if (p != end || (!ha && !hb)) return 0;
    if (!ha) {                                   /* suffix: the last b bytes */
        if (b == 0 || size == 0) return -1;
        *from = b >= size ? 0 : size - (size_t)b;
        *to = size - 1;
        return 1;
    }
    if (hb && b < a) return 0;
    if (a >= size) return -1;
    *from = (size_t)a;
    *to = hb && b < size ? (size_t)b : size - 1;
    return 1;
}

/* ---- answering ------------------------------------------------------------ */

static const char *header(http_request *r, const char *name, size_t *n) {
    return http_request_header(r, name, n);
}

/* The body bytes [from, from+len) of f: in memory, or read into *owned. */
static const char *body_of(sfile *f, size_t from, size_t len, char **owned) {
    *owned = NULL;
    if (f->data) return f->data + from;
    int fd = open(f->abs, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char *b = malloc(len ? len : 1);
    size_t got = 0;
    while (b && got < len) {
        ssize_t k = pread(fd, b + got, len - got, (off_t)(from + got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    if (!b || got != len) { free(b); return NULL; }
    *owned = b;
    return b;
}

int http_static_serve(http_static *st, http_request *r, const char *path, size_t len, int flags) {
    char url[MAX_PATH];
    sfile *f = NULL;
    int dp = decode_path(path, len, url, sizeof url);
    if (st && dp == 0) f = lookup(st, url);
    if (!f) {
        /* a traversal attempt is answered 404 here, so that no fallback
         * (the SPA's index.html) makes it look like it worked */
        if (!(flags & HTTP_STATIC_MUST) && dp != -2) return 0;
        char nf[160];
        size_t n = json_out_error(nf, sizeof nf, "NOT_FOUND", "Not found", http_request_id(r));
        http_response_send(r, 404, NULL, 0, "application/json", nf, (size_t)n, HTTP_RESP_NO_GZIP);
        return 1;
    }
    int head = http_request_is_head(r);
    char hdrs[512];
    int hl = 0;
    const char *cc = f->immutable ? "public, max-age=31536000, immutable" : "no-cache";
    int vary = f->gz || f->br;

    size_t vn;
    const char *v;
    size_t from = 0, to = f->size ? f->size - 1 : 0;
    int ranged = 0;
    v = header(r, "range", &vn);
    if (v) {
        size_t ifr_n;
        const char *ifr = header(r, "if-range", &ifr_n);
        if (!ifr || etag_matches(ifr, ifr_n, f->etag)) ranged = parse_range(v, vn, f->size, &from, &to);
    }

    /* representation: a precompressed sibling when accepted (never for a Range) */
    sfile *rep = f;
    const char *enc = NULL;
    if (!ranged && vary && (v = header(r, "accept-encoding", &vn))) {
        if (f->br && accept_q(v, vn, "br") > 0) { rep = f->br; enc = "br"; }
        else if (f->gz && accept_q(v, vn, "gzip") > 0) { rep = f->gz; enc = "gzip"; }
    }
    char etag[72];
    if (enc) snprintf(etag, sizeof etag, "%.*s-%s\"", (int)strlen(f->etag) - 1, f->etag, enc);
    else snprintf(etag, sizeof etag, "%s", f->etag);

    hl = snprintf(hdrs, sizeof hdrs, "ETag: %s\r\nLast-Modified: %s\r\nCache-Control: %s\r\n%s",
                  etag, f->lastmod, cc, vary ? "Vary: Accept-Encoding\r\n" : "");

    /* conditionals: If-None-Match wins over If-Modified-Since */
    int not_modified = 0;
    if ((v = header(r, "if-none-match", &vn))) not_modified = etag_matches(v, vn, etag);
    else if ((v = header(r, "if-modified-since", &vn))) {
        time_t t;
        if (parse_http_date(v, vn, &t) == 0 && f->mtime.tv_sec <= t) not_modified = 1;
    }
    if (not_modified) {
        http_response_send(r, 304, hdrs, (size_t)hl, NULL, "", 0, HTTP_RESP_NO_GZIP);
        return 1;
    }
    if (ranged < 0) {
        hl += snprintf(hdrs + hl, sizeof hdrs - (size_t)hl, "Content-Range: bytes */%zu\r\n", f->size);
        http_response_send(r, 416, hdrs, (size_t)hl, NULL, "", 0, HTTP_RESP_NO_GZIP);
        return 1;
    }
    hl += snprintf(hdrs + hl, sizeof hdrs - (size_t)hl, "Accept-Ranges: bytes\r\n");
    if (enc) hl += snprintf(hdrs + hl, sizeof hdrs - (size_t)hl, "Content-Encoding: %s\r\n", enc);
    int status = 200;
    size_t blen = rep->size;
    if (ranged > 0) {
        status = 206;
        blen = to - from + 1;
        hl += snprintf(hdrs + hl, sizeof hdrs - (size_t)hl, "Content-Range: bytes %zu-%zu/%zu\r\n",
                       from, to, f->size);
    } else {
        from = 0;
    }
    char *owned = NULL;
    const char *body = NULL;
    if (!head) {
        body = body_of(rep, from, blen, &owned);
        if (!body) {
            char e[160];
            size_t n = json_out_error(e, sizeof e, "INTERNAL", "Cannot read file", http_request_id(r));
            http_response_send(r, 500, NULL, 0, "application/json", e, n, HTTP_RESP_NO_GZIP);
            return 1;
        }
    }
    http_response_send(r, status, hdrs, (size_t)hl, f->ctype, body ? body : "", blen,
                       HTTP_RESP_NO_GZIP | (head ? HTTP_RESP_NO_BODY : 0));
    free(owned);
    return 1;
}
