/* main.c — the medianest command line.
 *
 * `serve` runs an app until SIGTERM/SIGINT (graceful drain, exit 0); SIGHUP
 * hot-reloads it (app_reload; the result lands in <data_dir>/reload.json,
 * which `medianest reload` waits for). While serving, <data_dir>/medianest.pid
 * holds our pid; it is removed at exit. Every other command is a Lua script
 * run with the whole runtime and its event loop: lua/nest/cli/<command>.lua,
 * or the user's script for `run`.
 */
#include "app.h"
#include "app_http.h"
#include "gen.h"
#include "json_out.h"
#include "scheduler.h"

#include <lauxlib.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage =
    "usage: medianest <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve [-c FILE] [--demo [--demo-public]]\n"
    "                             run the server (SIGTERM or SIGINT drains and exits);\n"
    "                             --demo listens on loopback only unless --demo-public\n"
    "  check [-c FILE]            validate the config and the plugins\n"
    "  migrate [-c FILE]          apply the database migrations\n"
    "  run SCRIPT [ARGS...]       run a Lua script with the whole runtime\n"
    "  busted [BUSTED ARGS...]    run the specs inside the runtime\n"
    "  reload [-c FILE]           hot-reload the running server (SIGHUP) and report\n"
    "  routes [-c FILE] [--json]  every route: auth, limits, plugin, handler file:line\n"
    "\n"
    "options: --help, --version. Environment: MEDIANEST_LISTEN, MEDIANEST_DATA_DIR,\n"
    "DATABASE_URL, REDIS_URL, MEDIANEST_SECRET_KEY, MEDIANEST_CONFIG (see config.lua.example).\n";

static struct {
    uv_loop_t *loop;
    mn_app *app;
    uv_signal_t sigterm, sigint, sighup;
    int exit_code;
    int stopping;
    int serving;
    char pid_file[4096];
} M;

static void close_signals(void) {
    uv_close((uv_handle_t *)&M.sigterm, NULL);
    uv_close((uv_handle_t *)&M.sigint, NULL);
    uv_close((uv_handle_t *)&M.sighup, NULL);
    sched_shutdown();
}

static void on_stopped(mn_app *a, void *ud) {
    (void)a; (void)ud;
    M.app = NULL;
    close_signals();
}

static void stop_app(int code) {
    if (M.stopping) return;
    M.stopping = 1;
    M.exit_code = code;
    if (M.app) app_stop(M.app, on_stopped, NULL);
    else close_signals();
}

static void on_signal(uv_signal_t *h, int signum) {
    (void)h;
    if (signum == SIGHUP) {
        /* the result is logged and written to <data_dir>/reload.json */
        if (M.app && M.serving && !M.stopping) app_reload(M.app, "signal", 0, NULL, NULL);
        return;
    }
    char f[32];
    snprintf(f, sizeof f, ",\"signal\":%d", signum);
    json_out_log("info", "shutting down", f);
    stop_app(0);
}

static void on_ready(mn_app *a, int status, const char *err, void *ud) {
    const char *mode = ud;
    if (status < 0) {
        fprintf(stderr, "medianest: %s\n", err ? err : "failed to start");
        stop_app(1);
        return;
    }
    if (!strcmp(mode, "serve")) {
        M.serving = 1;
        const char *dir = app_data_dir(a);
        if (dir) {
            snprintf(M.pid_file, sizeof M.pid_file, "%s/medianest.pid", dir);
            FILE *f = fopen(M.pid_file, "w");
            if (f) { fprintf(f, "%d\n", (int)getpid()); fclose(f); }
            else M.pid_file[0] = 0;
        }
        /* tell the operator where we are (and anything else boot wants to say) */
        mn_gen *g = app_current_gen(a);
        if (gen_push_hook(g, "on_listening") == LUA_TFUNCTION) {
            lua_pushinteger(g->L, app_http_port(a));
            sched_spawn(g, NULL, 1, NULL, NULL);
        } else {
            lua_pop(g->L, 1);
        }
        return;
    }
    stop_app(status);
}

static int has_flag(int argc, char **argv, const char *flag) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], flag)) return 1;
    return 0;
}

static const char *opt_value(int argc, char **argv, const char *s1, const char *s2) {
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], s1) || (s2 && !strcmp(argv[i], s2))) return argv[i + 1];
    return NULL;
}

/* The source root: MEDIANEST_ROOT, else the build's, else the cwd. */
static const char *find_root(void) {
    const char *r = getenv("MEDIANEST_ROOT");
    if (r && *r) return r;
    if (access(MN_SOURCE_ROOT "/lua/nest/boot.lua", R_OK) == 0) return MN_SOURCE_ROOT;
    return ".";
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("medianest %s\n", MN_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    app_options o;
    memset(&o, 0, sizeof o);
    o.root = find_root();
    o.config_path = opt_value(argc - 2, argv + 2, "-c", "--config");
    if (!o.config_path) o.config_path = getenv("MEDIANEST_CONFIG");
    char script[PATH_MAX];
    if (!strcmp(cmd, "serve")) {
        if (has_flag(argc - 2, argv + 2, "--help")) { fputs(usage, stdout); return 0; }
        o.mode = "serve";
        o.demo = has_flag(argc - 2, argv + 2, "--demo");
        if (has_flag(argc - 2, argv + 2, "--demo-public")) {
            if (!o.demo) { fputs("medianest: --demo-public goes with --demo\n", stderr); return 2; }
            o.demo = 2;   /* the operator accepts a demo reachable beyond this machine */
        }
    } else if (!strcmp(cmd, "run")) {
        if (argc < 3 || !strcmp(argv[2], "--help")) {
            fputs("usage: medianest run SCRIPT.lua [ARGS...]\n", argc < 3 ? stderr : stdout);
            return argc < 3 ? 2 : 0;
        }
        o.mode = "run";
        o.script = argv[2];
        o.argc = argc - 3;
        o.argv = argv + 3;
    } else {
        /* a built-in command is a script under lua/nest/cli/ */
        for (const char *p = cmd; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || *p == '-')) { fputs(usage, stderr); return 2; }
        snprintf(script, sizeof script, "%s/lua/nest/cli/%s.lua", o.root, cmd);
        if (access(script, R_OK) != 0) {
            fprintf(stderr, "medianest: unknown command '%s'\n\n%s", cmd, usage);
            return 2;
        }
        o.mode = "run";
        o.script = script;
        o.argc = argc - 2;
        o.argv = argv + 2;
    }
    signal(SIGPIPE, SIG_IGN);
    M.loop = uv_default_loop();
    sched_init(M.loop);
    uv_signal_init(M.loop, &M.sigterm);
    uv_signal_init(M.loop, &M.sigint);
    uv_signal_init(M.loop, &M.sighup);
    uv_signal_start(&M.sigterm, on_signal, SIGTERM);
    uv_signal_start(&M.sigint, on_signal, SIGINT);
    uv_signal_start(&M.sighup, on_signal, SIGHUP);
    M.app = app_create(M.loop, &o);
    if (!M.app || app_start(M.app, on_ready, (void *)o.mode) != 0) {
        fprintf(stderr, "medianest: cannot start\n");
        return 1;
    }
    uv_run(M.loop, UV_RUN_DEFAULT);
    if (M.pid_file[0]) unlink(M.pid_file);
    /* Close whatever a module left open so the loop can be closed cleanly. */
    uv_loop_close(M.loop);
    fflush(stdout);
    return M.exit_code;
}
