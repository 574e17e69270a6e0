/* fs.c — blocking file-system helpers (see fs.h). */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static void walk(const char *dir, int depth, int max_depth, fs_visit_fn visit, void *ud) {
    if (depth > max_depth) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p) continue;
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (visit(p, &st, ud) && S_ISDIR(st.st_mode)) walk(p, depth + 1, max_depth, visit, ud);
    }
    closedir(d);
}

void fs_walk(const char *dir, int max_depth, fs_visit_fn visit, void *ud) {
    walk(dir, 0, max_depth, visit, ud);
}

static int make_dir(const char *path, mode_t mode) {
    if (mkdir(path, mode) == 0) return 0;
    if (errno != EEXIST) return -errno;
    struct stat st;
    if (stat(path, &st) != 0) return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int fs_mkdir_p(const char *path, mode_t mode) {
    size_t n = strlen(path);
    if (n == 0 || n >= PATH_MAX) return -ENAMETOOLONG;
    char buf[PATH_MAX];
    memcpy(buf, path, n + 1);
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        rc = make_dir(buf, mode);
        buf[i] = c;
    }
    return rc;
}
