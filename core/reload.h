/* reload.h — the pieces of a hot reload that need no app: the content hash
 * of the source tree, the result record, and its JSON form (the admin
 * endpoint's answer, <data_dir>/reload.json for `medianest reload`).
 *
 * The orchestration (build a generation, swap, drain) is app_reload() in
 * app.c; see docs/architecture.md#generations-and-hot-reload.
 */
#ifndef MN_RELOAD_H
#define MN_RELOAD_H

#include <stddef.h>

/* sha256 over the given paths: a directory contributes every regular file
 * below it (hidden entries skipped), a file itself; all of them sorted by
 * path, each hashed as path NUL size NUL contents. Missing paths hash as
 * their name alone (so adding one changes the hash). hex gets 64 chars + NUL.
 * 0, or a negative errno (out of memory). Reads synchronously: the trees are
 * the operator's Lua sources, a few hundred KB. */
int reload_hash(const char *const *paths, int n, char hex[65]);

typedef struct reload_result {
    long seq;               /* per app: 1, 2, ... (every trigger counts) */
    const char *trigger;    /* "signal", "admin", "watch", "api" (static string) */
    int ok, noop, busy;
    int generation;         /* the current one after the reload */
    int previous;           /* the one that was current before */
    double seconds;         /* build time */
    char error[1024];       /* when !ok */
    char plugin[128];       /* the plugin at fault, or "" */
    char hash[65];
} reload_result;

/* The result as one JSON object; returns the length written (truncated to
 * cap - 1 like snprintf, always NUL-terminated). pid is included when > 0. */
size_t reload_result_json(const reload_result *r, int pid, char *buf, size_t cap);

/* Write the JSON to dir/reload.json atomically (tmp file + rename).
 * 0 or a negative errno. */
int reload_write_file(const char *dir, const reload_result *r, int pid);

#endif
