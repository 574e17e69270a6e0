/* test_proc.c — unit tests of core/proc.c on a private loop, without Lua:
 * line splitting, truncation of over-long lines, a last line without '\n',
 * stdin, exit status and signals, back-pressure, and that a released child
 * is killed, reaped and every handle closed (the loop ends with nothing
 * alive). Prints one line per check and exits non-zero when any fails.
 */
#include "proc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static uv_loop_t loop;
static proc_registry *reg;

static proc *spawn(const char *const *argv, const char *in, size_t max_line, size_t max_buffer) {
    proc_options o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.stdin_data = in;
    o.stdin_len = in ? strlen(in) : 0;
    o.max_line = max_line;
    o.max_buffer = max_buffer;
    o.grace = 0.2;
    proc *p = NULL;
    int rc = proc_spawn(reg, &loop, &o, &p);
    return rc == 0 ? p : NULL;
}

/* Run the loop until a line (or the end) is ready; 1 line, -1 end. */
static int next(proc *p, char *out, size_t cap) {
    const char *l;
    size_t n;
    int rc;
    while ((rc = proc_next_line(p, &l, &n)) == 0) uv_run(&loop, UV_RUN_ONCE);
    if (rc == 1) {
        size_t m = n < cap - 1 ? n : cap - 1;
        memcpy(out, l, m);
        out[m] = 0;
    }
    return rc;
}

static void wait_exit(proc *p) { while (!proc_exited(p)) uv_run(&loop, UV_RUN_ONCE); }

int main(void) {
    uv_loop_init(&loop);
    reg = proc_registry_new();
    char line[256];

    const char *printf_argv[] = {"printf", "a\\nbb\\n\\nlast", NULL};
    proc *p = spawn(printf_argv, NULL, 0, 0);
    CHECK(p != NULL, "spawn printf via PATH");
    CHECK(next(p, line, sizeof line) == 1 && strcmp(line, "a") == 0, "first line 'a'");
    CHECK(next(p, line, sizeof line) == 1 && strcmp(line, "bb") == 0, "second line 'bb'");
    CHECK(next(p, line, sizeof line) == 1 && strcmp(line, "") == 0, "empty line");
    CHECK(next(p, line, sizeof line) == 1 && strcmp(line, "last") == 0, "last line without newline");
    CHECK(next(p, line, sizeof line) == -1, "then the end");
    wait_exit(p);
    int64_t code;
    int sig;
    proc_status(p, &code, &sig);
    CHECK(code == 0 && sig == 0, "exit 0");
    proc_release(p);

    const char *long_argv[] = {"sh", "-c", "head -c 5000 /dev/zero | tr '\\0' x; printf '\\nok\\n'", NULL};
    p = spawn(long_argv, NULL, 100, 0);
    CHECK(next(p, line, sizeof line) == 1 && strlen(line) == 100, "a 5000-byte line is cut to max_line");
    CHECK(next(p, line, sizeof line) == 1 && strcmp(line, "ok") == 0, "its rest is skipped");
    CHECK(proc_truncated(p) == 1, "one truncated line counted");
    proc_release(p);

    const char *cat_argv[] = {"cat", NULL};
    p = spawn(cat_argv, "in1\nin2\n", 0, 0);
    CHECK(next(p, line, sizeof line) == 1 && strcmp(line, "in1") == 0, "stdin reaches the child");
    CHECK(next(p, line, sizeof line) == 1 && strcmp(line, "in2") == 0, "all of it");
    CHECK(next(p, line, sizeof line) == -1, "stdin closed after it: cat ends");
    proc_release(p);

    const char *exit_argv[] = {"sh", "-c", "echo oops >&2; exit 7", NULL};
    p = spawn(exit_argv, NULL, 0, 0);
    wait_exit(p);
    proc_status(p, &code, &sig);
    CHECK(code == 7, "exit status 7");
    while (next(p, line, sizeof line) != -1) {}
    size_t en = 0;
    const char *e = proc_stderr(p, &en);
    for (int i = 0; i < 2000 && en < 5; i++) {   /* stderr may trail the exit */
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
        e = proc_stderr(p, &en);
    }
    CHECK(en == 5 && memcmp(e, "oops\n", 5) == 0, "stderr captured");
    proc_release(p);

    const char *sleep_argv[] = {"sleep", "30", NULL};
    p = spawn(sleep_argv, NULL, 0, 0);
    CHECK(proc_kill(p, SIGTERM) == 0, "kill SIGTERM");
    wait_exit(p);
    proc_status(p, &code, &sig);
    CHECK(sig == SIGTERM, "terminated by SIGTERM");
    CHECK(proc_kill(p, SIGTERM) == UV_ESRCH, "kill after exit: ESRCH");
    proc_release(p);

    const char *seq_argv[] = {"seq", "1", "200000", NULL};
    p = spawn(seq_argv, NULL, 0, 4096);
    for (int i = 0; i < 200; i++) uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(100);
    for (int i = 0; i < 200; i++) uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(!proc_exited(p), "back-pressure: the writer is blocked while nobody reads");
    int n = 0;
    while (next(p, line, sizeof line) == 1) n++;
    CHECK(n == 200000, "then all 200000 lines arrive (%d)", n);
    proc_release(p);

    const char *stubborn_argv[] = {"sh", "-c", "trap '' TERM; echo ready; sleep 30", NULL};
    p = spawn(stubborn_argv, NULL, 0, 0);
    CHECK(next(p, line, sizeof line) == 1, "stubborn child ready");
    pid_t pid = proc_pid(p);
    proc_release(p);                         /* SIGTERM, ignored; SIGKILL after 0.2 s */
    uv_run(&loop, UV_RUN_DEFAULT);           /* returns when every handle is closed */
    CHECK(proc_registry_count(reg) == 0, "every proc freed after the loop drained");
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f == NULL, "the released child was reaped (no /proc/%d)", (int)pid);
    if (f) fclose(f);

    proc_registry_destroy(reg);
    CHECK(uv_loop_close(&loop) == 0, "loop closes: no handle leaked");
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
