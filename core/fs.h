/* fs.h — the blocking file-system helpers MediaNest uses outside request
 * paths: at start-up (data directory, key file), on reload (hashing the
 * source tree) and when setting up file watches. Never call them from a
 * request handler: they block the loop.
 *
 * Paths are borrowed for the duration of the call; nothing is retained.
 */
#ifndef MN_FS_H
#define MN_FS_H

#include <sys/stat.h>
#include <sys/types.h>

/* Called for each entry below the walked directory (dot-files skipped) with
 * its path and stat. For a directory, a non-zero return descends into it. */
typedef int (*fs_visit_fn)(const char *path, const struct stat *st, void *ud);

/* Visit the tree below dir, at most max_depth directories deep. Unreadable
 * directories, paths too long for PATH_MAX and entries that vanish are
 * skipped. */
void fs_walk(const char *dir, int max_depth, fs_visit_fn visit, void *ud);

/* Create path and each missing parent with mode. 0, or -errno (-ENOTDIR when a
 * component exists and is not a directory). */
int fs_mkdir_p(const char *path, mode_t mode);

#endif
