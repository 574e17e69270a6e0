/* test_metrics.c — unit tests of the metrics registry (core/metrics.c):
 * exact exposition text, cumulative buckets, escaping, the series cap and
 * its overflow folding, registration rules, collectors. Prints one line per
 * check and exits non-zero when any fails.
 */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"


#define V(...) ((const char *const[]){__VA_ARGS__})

static int text_is(metrics_registry *r, const char *want) {
    char *got = metrics_expose_string(r, NULL);
    int ok = got && strcmp(got, want) == 0;
    if (!ok) printf("---- expected:\n%s---- got:\n%s----\n", want, got ? got : "(null)");
    free(got);
    return ok;
}

static int contains(metrics_registry *r, const char *line) {
    char *got = metrics_expose_string(r, NULL);
    int ok = got && strstr(got, line) != NULL;
    if (!ok) printf("---- missing %s in:\n%s----\n", line, got ? got : "(null)");
    free(got);
    return ok;
}

static void test_exposition(void) {
    metrics_registry *r = metrics_create();
    metric *c = metrics_counter(r, "http_requests_total", "Requests served.", V("method", "code"), 2);
    metrics_inc(c, 1, V("GET", "200"));
    metrics_inc(c, 2, V("POST", "500"));
    metrics_inc(c, 1, V("GET", "200"));
    metric *g = metrics_gauge(r, "temperature_celsius", "Temp.\nSecond line \\ end", NULL, 0);
    metrics_set(g, -3.5, NULL);
    metric *h = metrics_histogram(r, "latency_seconds", "Latency.", V("route"), 1, (double[]){0.25, 1}, 2);
    double obs[] = {0.125, 0.25, 0.5, 3};
    for (int i = 0; i < 4; i++) metrics_observe(h, obs[i], V("/a"));
    metrics_observe(h, 0.5, V("/b"));
    metrics_gauge(r, "no_help:things", NULL, V("kind"), 1);

    CHECK(text_is(r,
                  "# HELP http_requests_total Requests served.\n"
                  "# TYPE http_requests_total counter\n"
                  "http_requests_total{method=\"GET\",code=\"200\"} 2\n"
                  "http_requests_total{method=\"POST\",code=\"500\"} 2\n"
                  "# HELP temperature_celsius Temp.\\nSecond line \\\\ end\n"
                  "# TYPE temperature_celsius gauge\n"
                  "temperature_celsius -3.5\n"
                  "# HELP latency_seconds Latency.\n"
                  "# TYPE latency_seconds histogram\n"
                  "latency_seconds_bucket{route=\"/a\",le=\"0.25\"} 2\n"
                  "latency_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
                  "latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
                  "latency_seconds_sum{route=\"/a\"} 3.875\n"
                  "latency_seconds_count{route=\"/a\"} 4\n"
                  "latency_seconds_bucket{route=\"/b\",le=\"0.25\"} 0\n"
                  "latency_seconds_bucket{route=\"/b\",le=\"1\"} 1\n"
                  "latency_seconds_bucket{route=\"/b\",le=\"+Inf\"} 1\n"
                  "latency_seconds_sum{route=\"/b\"} 0.5\n"
                  "latency_seconds_count{route=\"/b\"} 1\n"
                  "# TYPE no_help:things gauge\n"),
          "exposition text of a small registry is exact");
    metrics_destroy(r);
}

static void test_unlabelled_histogram(void) {
    metrics_registry *r = metrics_create();
    metric *h = metrics_histogram(r, "h", "H.", NULL, 0, NULL, 0);
    CHECK(text_is(r,
                  "# HELP h H.\n# TYPE h histogram\n"
                  "h_bucket{le=\"0.005\"} 0\nh_bucket{le=\"0.01\"} 0\nh_bucket{le=\"0.025\"} 0\n"
                  "h_bucket{le=\"0.05\"} 0\nh_bucket{le=\"0.1\"} 0\nh_bucket{le=\"0.25\"} 0\n"
                  "h_bucket{le=\"0.5\"} 0\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"2.5\"} 0\n"
                  "h_bucket{le=\"5\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"),
          "label-less histogram is exposed at zero with the default buckets");

    /* cumulativeness: one observation per bucket edge and one past the end */
    double v[] = {0.001, 0.005, 0.0051, 0.01, 0.02, 0.05, 0.07, 0.1, 0.2, 0.3, 0.5, 0.9, 1, 2, 2.5, 4, 5, 6, 100};
    int n = sizeof v / sizeof v[0];
    for (int i = 0; i < n; i++) metrics_observe(h, v[i], NULL);
    char *t = metrics_expose_string(r, NULL);
    const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, INFINITY};
    int ok = 1;
    long prev = -1;
    for (int b = 0; b < 11; b++) {
        long want = 0;
        for (int i = 0; i < n; i++) want += v[i] <= bounds[b];
        char le[32];
        if (isinf(bounds[b])) snprintf(le, sizeof le, "le=\"+Inf\"} ");
        else snprintf(le, sizeof le, "le=\"%g\"} ", bounds[b]);
        char *p = strstr(t, le);
        long got = p ? strtol(p + strlen(le), NULL, 10) : -1;
        if (got != want || got < prev) {
            ok = 0;
            printf("bucket %s got %ld want %ld\n", le, got, want);
        }
        prev = got;
    }
    CHECK(ok, "bucket counts are cumulative, bounds inclusive, +Inf = all");
    char cnt[32];
    snprintf(cnt, sizeof cnt, "h_count %d\n", n);
    CHECK(strstr(t, cnt) != NULL, "_count equals the +Inf bucket");
    free(t);

    metrics_observe(h, NAN, NULL);
    CHECK(contains(r, "h_bucket{le=\"+Inf\"} 20\n") && contains(r, "h_sum NaN\n"),
          "NaN goes to +Inf and poisons the sum (as the Go client)");
    metrics_destroy(r);
}

static void test_escaping_and_numbers(void) {
    metrics_registry *r = metrics_create();
    metric *g = metrics_gauge(r, "g", "", V("path"), 1);
    metrics_set(g, 0.1, V("a\"b\\c\nd"));
    metrics_set(g, 1e21, V("big"));
    metrics_set(g, 1.0 / 3, V("third"));
    metrics_set(g, INFINITY, V("inf"));
    metrics_set(g, -INFINITY, V("ninf"));
    metrics_set(g, NAN, V("nan"));
    metrics_set(g, 123456789012, V("int"));
    metrics_set(g, 7, V(""));
    CHECK(text_is(r,
                  "# TYPE g gauge\n"
                  "g{path=\"a\\\"b\\\\c\\nd\"} 0.1\n"
                  "g{path=\"big\"} 1e+21\n"
                  "g{path=\"third\"} 0.33333333333333331\n"
                  "g{path=\"inf\"} +Inf\n"
                  "g{path=\"ninf\"} -Inf\n"
                  "g{path=\"nan\"} NaN\n"
                  "g{path=\"int\"} 123456789012\n"
                  "g{path=\"\"} 7\n"),
          "label values escaped; numbers in shortest round-trip form");

    metric *bin = metrics_counter(r, "bin_total", "", V("v"), 1);
    metric_series *s1 = metrics_series(bin, V("a\0b"), (size_t[]){3}, 1);
    metric_series *s2 = metrics_series(bin, V("a\0c"), (size_t[]){3}, 1);
    CHECK(s1 && s2 && s1 != s2, "label values compared with their lengths");
    metrics_destroy(r);
}

static void test_registration(void) {
    metrics_registry *r = metrics_create();
    const char *why = NULL;
    metric *m = NULL, *m2 = NULL;
    CHECK(metrics_register(r, METRIC_COUNTER, "a_total", "A.", V("x", "y"), 2, NULL, 0, &m, &why) == 0 && m,
          "register a counter");
    CHECK(metrics_register(r, METRIC_COUNTER, "a_total", "other help", V("x", "y"), 2, NULL, 0, &m2, &why) == 0 &&
              m2 == m,
          "same name, type and labels -> the same metric");
    CHECK(metrics_register(r, METRIC_COUNTER, "a_total", "A.", V("y", "x"), 2, NULL, 0, &m2, &why) == -EEXIST &&
              !m2 && why,
          "same name, other labels -> EEXIST (%s)", why);
    CHECK(metrics_register(r, METRIC_GAUGE, "a_total", "A.", V("x", "y"), 2, NULL, 0, &m2, &why) == -EEXIST,
          "same name, other type -> EEXIST");

    metric *h = metrics_histogram(r, "h_seconds", "H.", NULL, 0, (double[]){1, 2}, 2);
    CHECK(h && metrics_histogram(r, "h_seconds", "H.", NULL, 0, (double[]){1, 2, INFINITY}, 3) == h,
          "same buckets (trailing +Inf ignored) -> the same histogram");
    CHECK(metrics_histogram(r, "h_seconds", "H.", NULL, 0, NULL, 0) == h, "no buckets given -> accepted");
    CHECK(metrics_register(r, METRIC_HISTOGRAM, "h_seconds", "H.", NULL, 0, (double[]){1, 3}, 2, &m2, &why) ==
              -EEXIST,
          "other buckets -> EEXIST");

    const char *bad_names[] = {"", "1abc", "a-b", "a b", "é"};
    for (int i = 0; i < 5; i++)
        CHECK(metrics_register(r, METRIC_GAUGE, bad_names[i], "", NULL, 0, NULL, 0, &m2, &why) == -EINVAL,
              "metric name '%s' refused (%s)", bad_names[i], why);
    CHECK(metrics_register(r, METRIC_GAUGE, "ok:name_1", "", NULL, 0, NULL, 0, &m2, &why) == 0,
          "colons and digits allowed in metric names");
    const char *bad_labels[] = {"a:b", "1x", "__reserved", ""};
    for (int i = 0; i < 4; i++)
        CHECK(metrics_register(r, METRIC_GAUGE, "lbl", "", &bad_labels[i], 1, NULL, 0, &m2, &why) == -EINVAL,
              "label name '%s' refused (%s)", bad_labels[i], why);
    CHECK(metrics_register(r, METRIC_GAUGE, "lbl", "", V("a", "a"), 2, NULL, 0, &m2, &why) == -EINVAL,
          "duplicate label refused (%s)", why);
    CHECK(metrics_register(r, METRIC_HISTOGRAM, "lh", "", V("le"), 1, NULL, 0, &m2, &why) == -EINVAL,
          "histogram label 'le' refused (%s)", why);
    CHECK(metrics_register(r, METRIC_GAUGE, "lg", "", V("le"), 1, NULL, 0, &m2, &why) == 0,
          "gauge label 'le' allowed");
    CHECK(metrics_register(r, METRIC_HISTOGRAM, "hb", "", NULL, 0, (double[]){1, 1}, 2, &m2, &why) == -EINVAL,
          "non-increasing buckets refused (%s)", why);
    CHECK(metrics_register(r, METRIC_HISTOGRAM, "hb", "", NULL, 0, (double[]){NAN}, 1, &m2, &why) == -EINVAL,
          "NaN bucket refused");

    metric_series *s = metrics_series(m, V("1", "2"), NULL, 2);
    CHECK(metrics_series_inc(s, -1) == -EINVAL && metrics_series_value(s) == 0, "counter refuses to go down");
    CHECK(metrics_series_inc(s, NAN) == -EINVAL, "counter refuses NaN");
    CHECK(metrics_series_observe(s, 1) == -EINVAL, "observe on a counter refused");
    CHECK(metrics_series(m, V("1"), NULL, 1) == NULL, "wrong label count -> NULL");
    metric *g = metrics_gauge(r, "gg", "", NULL, 0);
    CHECK(metrics_inc(g, -2, NULL) == 0 && metrics_inc(g, 0.5, NULL) == 0 &&
              metrics_series_value(metrics_series(g, NULL, NULL, 0)) == -1.5,
          "gauge goes both ways");
    CHECK(metrics_inc(h, 1, NULL) == -EINVAL, "inc on a histogram refused");
    metrics_destroy(r);
}

static void test_series_lookup(void) {
    metrics_registry *r = metrics_create();
    metric *c = metrics_counter(r, "c_total", "", V("a", "b"), 2);
    metrics_set_max_series(c, 100000);
    metric_series *first[5000];
    char a[16], b[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(a, sizeof a, "%d", i);
        snprintf(b, sizeof b, "%d", i * 7);
        first[i] = metrics_series(c, V(a, b), NULL, 2);
    }
    int same = 1;
    for (int i = 0; i < 5000; i++) {
        snprintf(a, sizeof a, "%d", i);
        snprintf(b, sizeof b, "%d", i * 7);
        same &= metrics_series(c, V(a, b), NULL, 2) == first[i] && first[i];
    }
    CHECK(same, "5000 series found again by their label values (table grown)");
    CHECK(metrics_series(c, V("1", "8"), NULL, 2) != first[1], "(\"1\",\"8\") is not (\"1\",\"7\")");
    CHECK(metrics_series(c, V("ab", ""), NULL, 2) != metrics_series(c, V("a", "b"), NULL, 2),
          "value boundaries matter: (ab,\"\") != (a,b)");
    size_t len;
    char *t = metrics_expose_string(r, &len);
    int lines = 0;
    for (char *p = t; *p; p++) lines += *p == '\n';
    CHECK(t && len == strlen(t) && lines == 5000 + 3 + 1, "a large exposition is whole (%zu bytes)", len);
    free(t);
    metrics_destroy(r);
}

static void test_overflow(void) {
    metrics_registry *r = metrics_create();
    metric *c = metrics_counter(r, "req_total", "R.", V("user", "kind"), 2);
    metrics_set_max_series(c, 3);
    const char *users[] = {"u1", "u2", "u3", "u4", "u5", "u1"};
    for (int i = 0; i < 6; i++) metrics_inc(c, 1, V(users[i], "x"));
    metrics_inc(c, 1, V("u6", "y"));
    CHECK(text_is(r,
                  "# HELP req_total R.\n"
                  "# TYPE req_total counter\n"
                  "req_total{user=\"u1\",kind=\"x\"} 2\n"
                  "req_total{user=\"u2\",kind=\"x\"} 1\n"
                  "req_total{user=\"u3\",kind=\"x\"} 1\n"
                  "req_total{user=\"_overflow\",kind=\"_overflow\"} 3\n"
                  "# HELP metrics_overflow_total Label sets folded into a metric's _overflow series "
                  "because it reached its series cap.\n"
                  "# TYPE metrics_overflow_total counter\n"
                  "metrics_overflow_total{metric=\"req_total\"} 3\n"),
          "label sets past the cap fold into _overflow and are counted");

    metric *d = metrics_histogram(r, "d_seconds", "", V("k"), 1, (double[]){1}, 1);
    metrics_set_max_series(d, 0);
    metrics_observe(d, 0.5, V("a"));
    metrics_observe(d, 2, V("b"));
    CHECK(contains(r, "d_seconds_bucket{k=\"_overflow\",le=\"1\"} 1\n") &&
              contains(r, "d_seconds_count{k=\"_overflow\"} 2\n") &&
              contains(r, "metrics_overflow_total{metric=\"d_seconds\"} 2\n"),
          "a histogram folds the same way, counted per metric");

    metric *e = metrics_counter(r, "e_total", "", V("k"), 1);
    for (int i = 0; i < METRICS_DEFAULT_MAX_SERIES + 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        metrics_inc(e, 1, V(k));
    }
    CHECK(contains(r, "e_total{k=\"_overflow\"} 10\n"), "default cap is %d series", METRICS_DEFAULT_MAX_SERIES);
    metrics_destroy(r);
}

static int collected;
static void bump(metrics_registry *r, void *ud) {
    (void)r;
    collected++;
    metrics_set(ud, collected, NULL);
}

static void test_collectors(void) {
    metrics_registry *r = metrics_create();
    metric *g = metrics_gauge(r, "sampled", "", NULL, 0);
    metrics_add_collector(r, bump, g);
    CHECK(contains(r, "sampled 1\n") && collected == 1, "collector runs before exposition");
    CHECK(contains(r, "sampled 2\n"), "and at each exposition");
    metrics_remove_collector(r, bump, g);
    CHECK(contains(r, "sampled 2\n") && collected == 2, "removed collector no longer runs");
    metrics_destroy(r);

    r = metrics_create();
    CHECK(r && metrics_add_process_collector(r) == 0, "the process collector attaches");
    char *t = metrics_expose_string(r, NULL);
    char *p = t ? strstr(t, "\nprocess_resident_memory_bytes ") : NULL;
    double rss = p ? strtod(p + 31, NULL) : 0;
    CHECK(rss > 100000, "process_resident_memory_bytes from /proc/self/statm (%.0f)", rss);
    p = t ? strstr(t, "\nprocess_start_time_seconds ") : NULL;
    double st = p ? strtod(p + 28, NULL) : 0, now = (double)time(NULL);
    CHECK(st > now - 3600 && st <= now + 1, "process_start_time_seconds is plausible (%.0f)", st);
    p = t ? strstr(t, "\nprocess_open_fds ") : NULL;
    CHECK(p && strtod(p + 18, NULL) >= 3, "process_open_fds counts stdio at least");
    CHECK(t && strstr(t, "# TYPE process_cpu_seconds_total counter\n"), "process_cpu_seconds_total is a counter");
    free(t);
    metrics_destroy(r);
}

int main(void) {
    test_exposition();
    test_unlabelled_histogram();
    test_escaping_and_numbers();
    test_registration();
    test_series_lookup();
    test_overflow();
    test_collectors();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
