/* reload.c — content hash of the source tree and the reload result record
 * (see reload.h). */
#include "reload.h"
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct pathlist { char **v; size_t n, cap; int oom; } pathlist;

static void add_path(pathlist *l, const char *p) {
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) { l->oom = 1; return; }
        l->v = nv;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(p))) { l->oom = 1; return; }
    l->n++;
}

/* fs_walk visitor: every regular file, into every directory. */
static int collect(const char *path, const struct stat *st, void *ud) {
    if (S_ISREG(st->st_mode)) add_path(ud, path);
    return 1;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void hash_file(EVP_MD_CTX *ctx, const char *path) {
    EVP_DigestUpdate(ctx, path, strlen(path) + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { EVP_DigestUpdate(ctx, "-", 2); return; }
    struct stat st;
    char size[32];
    int sn = snprintf(size, sizeof size, "%lld", fstat(fd, &st) == 0 ? (long long)st.st_size : -1LL);
    EVP_DigestUpdate(ctx, size, (size_t)sn + 1);
    char buf[16384];
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0) EVP_DigestUpdate(ctx, buf, (size_t)k);
    close(fd);
}

int reload_hash(const char *const *paths, int n, char hex[65]) {
    pathlist l = {0};
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (!paths[i]) continue;
        if (stat(paths[i], &st) != 0) {
            char missing[PATH_MAX];
            snprintf(missing, sizeof missing, "\x01missing:%s", paths[i]);
            add_path(&l, missing);
        } else if (S_ISDIR(st.st_mode)) {
            fs_walk(paths[i], 32, collect, &l);
        } else {
            add_path(&l, paths[i]);
        }
    }
    int rc = 0;
    if (l.oom) { rc = -ENOMEM; goto out; }
    qsort(l.v, l.n, sizeof *l.v, cmp_str);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) { rc = -ENOMEM; goto out; }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; i < l.n; i++) {
        if (i && !strcmp(l.v[i], l.v[i - 1])) continue;   /* a path given twice */
        if (l.v[i][0] == '\x01') EVP_DigestUpdate(ctx, l.v[i], strlen(l.v[i]) + 1);
        else hash_file(ctx, l.v[i]);
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++) snprintf(hex + i * 2, 3, "%02x", md[i]);
out:
    for (size_t i = 0; i < l.n; i++) free(l.v[i]);
    free(l.v);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------ */

typedef struct jbuf { char *p; size_t len, cap; } jbuf;

static void jput(jbuf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (b->len + 1 < b->cap) b->p[b->len] = s[i];
        b->len++;
    }
}

static void jlit(jbuf *b, const char *s) { jput(b, s, strlen(s)); }

static void jstr(jbuf *b, const char *s) {
    jput(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; jput(b, esc, 2); }
        else if (c == '\n') jput(b, "\\n", 2);
        else if (c == '\t') jput(b, "\\t", 2);
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); jput(b, esc, 6); }
        else jput(b, (const char *)&c, 1);
    }
    jput(b, "\"", 1);
}

static void jint(jbuf *b, long v) {
    char s[32];
    int n = snprintf(s, sizeof s, "%ld", v);
    jput(b, s, (size_t)n);
}

size_t reload_result_json(const reload_result *r, int pid, char *buf, size_t cap) {
    jbuf b = {buf, 0, cap};
    jlit(&b, "{\"ok\":");
    jlit(&b, r->ok ? "true" : "false");
    if (r->noop) jlit(&b, ",\"noop\":true");
    if (r->busy) jlit(&b, ",\"busy\":true");
    jlit(&b, ",\"seq\":");
    jint(&b, r->seq);
    jlit(&b, ",\"trigger\":");
    jstr(&b, r->trigger ? r->trigger : "api");
    jlit(&b, ",\"generation\":");
    jint(&b, r->generation);
    jlit(&b, ",\"previous\":");
    jint(&b, r->previous);
    char secs[32];
    snprintf(secs, sizeof secs, ",\"seconds\":%.6f", r->seconds);
    jlit(&b, secs);
    if (r->hash[0]) { jlit(&b, ",\"hash\":"); jstr(&b, r->hash); }
    if (!r->ok) {
        jlit(&b, ",\"error\":");
        jstr(&b, r->error[0] ? r->error : "reload failed");
        jlit(&b, ",\"plugin\":");
        if (r->plugin[0]) jstr(&b, r->plugin); else jlit(&b, "null");
    }
    if (pid > 0) { jlit(&b, ",\"pid\":"); jint(&b, pid); }
    jlit(&b, ",\"message\":");
    char msg[1400];
    if (r->busy) snprintf(msg, sizeof msg, "a reload is already in progress; try again");
    else if (r->noop) snprintf(msg, sizeof msg, "nothing changed: generation %d keeps serving", r->generation);
    else if (r->ok) snprintf(msg, sizeof msg, "reloaded: generation %d replaces %d (%.0f ms)",
                             r->generation, r->previous, r->seconds * 1000);
    else snprintf(msg, sizeof msg, "reload failed%s%s%s: %s; generation %d keeps serving",
                  r->plugin[0] ? " (plugin " : "", r->plugin, r->plugin[0] ? ")" : "",
                  r->error[0] ? r->error : "?", r->generation);
    jstr(&b, msg);
    jlit(&b, "}");
    if (cap) buf[b.len < cap ? b.len : cap - 1] = 0;
    return b.len < cap ? b.len : cap ? cap - 1 : 0;
}

int reload_write_file(const char *dir, const reload_result *r, int pid) {
    char path[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/reload.json", dir) >= (int)sizeof path) return -ENAMETOOLONG;
    snprintf(tmp, sizeof tmp, "%s/.reload.json.%d.tmp", dir, (int)getpid());
    char buf[4096];
    size_t n = reload_result_json(r, pid, buf, sizeof buf);
    buf[n++] = '\n';
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    ssize_t w = write(fd, buf, n);
    int err = w == (ssize_t)n ? 0 : -EIO;
    if (close(fd) != 0 && !err) err = -errno;
    if (!err && rename(tmp, path) != 0) err = -errno;
    if (err) unlink(tmp);
    return err;
}
