/* fuzz_ws_frame.c — libFuzzer target over the WebSocket frame path: the
 * bytes are fed, in uneven slices, to a fresh server-side connection
 * (wslay event context with ws.c's callbacks: unmasking, reassembly,
 * control frames, close handling, the message limit, UTF-8 validation).
 * Checks: no crash or sanitizer report; every message handed on is valid
 * UTF-8 and within the limit; a close code, if any, is one that may be sent.
 *
 * Build: cmake -DFUZZ=ON (clang). Run: build/fuzz_ws_frame -max_total_time=30
 * Without libFuzzer, -DWS_FUZZ_MAIN gives a main() that runs files given
 * as arguments (a smoke test with gcc). */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>

static size_t g_limit;

static void on_text(const char *s, size_t n, void *ud) {
    (void)ud;
    if (n > g_limit || !ws_utf8_valid((const uint8_t *)s, n)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ws_opts o;
    ws_opts_default(&o);
    o.max_message = 4096;
    g_limit = o.max_message;
    int code = ws_feed_detached(data, size, &o, on_text, NULL);
    /* ours (1002/1003/1007/1009) or the echo of a valid peer code */
    if (code != 0 && code != -1 && !(code >= 1000 && code <= 1011 && code != 1004 &&
                                     code != 1005 && code != 1006) &&
        !(code >= 3000 && code <= 4999))
        abort();
    return 0;
}

#ifdef WS_FUZZ_MAIN
int main(int argc, char **argv) {
    static uint8_t buf[1 << 20];
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    return 0;
}
#endif
