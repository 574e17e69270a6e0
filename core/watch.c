/* watch.c — debounced directory watching with uv_fs_event (see watch.h). */
#include "watch.h"
#include "fs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct wentry {
    uv_fs_event_t h;
    watch *w;
    char *name;               /* only events for this name count; NULL: all */
    struct wentry *next;
} wentry;

struct watch {
    uv_loop_t *loop;
    uv_timer_t timer;
    watch_fn fn;
    void *ud;
    uint64_t debounce_ms;
    wentry *entries;
    int count;
    int pending_closes;       /* handles whose close callback has not run */
    int closing;
};

static void maybe_free(watch *w) {
    if (w->closing && w->pending_closes == 0) free(w);
}

static void on_entry_closed(uv_handle_t *h) {
    wentry *e = h->data;
    watch *w = e->w;
    free(e->name);
    free(e);
    w->pending_closes--;
    maybe_free(w);
}

static void on_timer_closed(uv_handle_t *h) {
    watch *w = h->data;
    w->pending_closes--;
    maybe_free(w);
}

static void on_timer(uv_timer_t *t) {
    watch *w = t->data;
    if (!w->closing) w->fn(w->ud);
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status) {
    (void)events;
    wentry *e = h->data;
    watch *w = e->w;
    if (status < 0 || w->closing) return;
    if (e->name && (!filename || strcmp(filename, e->name) != 0)) return;
    /* editor droppings: swap files and backups do not count */
    if (filename) {
        size_t n = strlen(filename);
        if (filename[0] == '.' || (n && filename[n - 1] == '~') ||
            (n > 4 && !strcmp(filename + n - 4, ".swp")))
            return;
    }
    uv_timer_start(&w->timer, on_timer, w->debounce_ms, 0);
}

watch *watch_create(uv_loop_t *loop, double debounce, watch_fn fn, void *ud) {
    watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->loop = loop;
    w->fn = fn;
    w->ud = ud;
    watch_set_debounce(w, debounce);
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_unref((uv_handle_t *)&w->timer);
    w->pending_closes = 1;    /* the timer */
    return w;
}

void watch_set_debounce(watch *w, double debounce) {
    if (debounce <= 0) debounce = 0.25;
    w->debounce_ms = (uint64_t)(debounce * 1000);
    if (w->debounce_ms == 0) w->debounce_ms = 1;
}

static void clear(watch *w) {
    wentry *e = w->entries;
    w->entries = NULL;
    w->count = 0;
    while (e) {
        wentry *next = e->next;
        uv_fs_event_stop(&e->h);
        w->pending_closes++;
        uv_close((uv_handle_t *)&e->h, on_entry_closed);
        e = next;
    }
}

static int add_dir(watch *w, const char *dir, const char *name) {
    wentry *e = calloc(1, sizeof *e);
    if (!e) return UV_ENOMEM;
    e->w = w;
    if (name && !(e->name = strdup(name))) { free(e); return UV_ENOMEM; }
    uv_fs_event_init(w->loop, &e->h);
    e->h.data = e;
    int rc = uv_fs_event_start(&e->h, on_event, dir, 0);
    if (rc != 0) {
        w->pending_closes++;
        uv_close((uv_handle_t *)&e->h, on_entry_closed);
        return rc;
    }
    uv_unref((uv_handle_t *)&e->h);
    e->next = w->entries;
    w->entries = e;
    w->count++;
    return 0;
}

/* fs_walk visitor: watch each directory; descend only into those watched. */
static int watch_subdir(const char *path, const struct stat *st, void *ud) {
    return S_ISDIR(st->st_mode) && add_dir(ud, path, NULL) == 0;
}

static void add_tree(watch *w, const char *dir) {
    if (add_dir(w, dir, NULL) == 0) fs_walk(dir, 15, watch_subdir, w);
}

int watch_set(watch *w, const char *const *paths, int n) {
    if (w->closing) return UV_EINVAL;
    clear(w);
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (!paths[i] || stat(paths[i], &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) { add_tree(w, paths[i]); continue; }
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", paths[i]);
        char *slash = strrchr(dir, '/');
        const char *name = paths[i];
        if (slash) { *slash = 0; name = slash + 1; if (!dir[0]) strcpy(dir, "/"); }
        else strcpy(dir, ".");
        add_dir(w, dir, name);
    }
    return w->count > 0 || n == 0 ? w->count : UV_ENOENT;
}

void watch_poke(watch *w) {
    if (!w->closing) uv_timer_start(&w->timer, on_timer, w->debounce_ms, 0);
}

int watch_count(watch *w) { return w->count; }

void watch_close(watch *w) {
    if (w->closing) return;
    w->closing = 1;
    clear(w);
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}
