/* watch.h — a debounced file watcher for dev.watch (hot reload on change).
 *
 * watch_set() replaces the watched set with the given paths: a directory is
 * watched with every directory below it (inotify is not recursive, so one
 * uv_fs_event_t per directory); a file is watched through its parent
 * directory, reacting to events for its name only (editors replace files by
 * renaming, which a watch on the file itself would miss). Any event re-arms
 * a debounce timer; when it fires, fn(ud) runs once for the whole burst.
 * Directories created later are picked up at the next watch_set().
 *
 * Ownership: the watch owns its handles; watch_close() stops everything and
 * the memory is freed in the last close callback (never earlier).
 */
#ifndef MN_WATCH_H
#define MN_WATCH_H

#include <uv.h>

typedef struct watch watch;
typedef void (*watch_fn)(void *ud);

/* debounce in seconds (<= 0: 0.25). NULL on allocation failure. */
watch *watch_create(uv_loop_t *loop, double debounce, watch_fn fn, void *ud);
/* Watch exactly these paths (missing ones are skipped). Returns the number of
 * directories watched, or a negative UV_E* when nothing could be watched. */
int watch_set(watch *w, const char *const *paths, int n);
/* Fire the debounce timer again later (e.g. the reload it asked for was
 * refused as busy). */
void watch_poke(watch *w);
void watch_set_debounce(watch *w, double debounce);
/* Number of directories watched now. */
int watch_count(watch *w);
void watch_close(watch *w);

#endif
