/* metrics.h — the metrics registry: counters, gauges and histograms with
 * labels, exposed in the Prometheus text format 0.0.4.
 *
 * One registry per app (metrics_for_app() keeps it in APP_SLOT_METRICS, with
 * the process collector); it outlives generations, so a counter keeps
 * counting across hot reloads. lua_metrics.c is the Lua binding
 * ("nest.core.metrics"); C modules (http server, db pool...) use this
 * header directly.
 *
 * Ownership: the registry owns every metric and series; they live until
 * metrics_destroy(). Pointers to them (metric *, metric_series *) stay valid
 * until then, so a C module may look a series up once and keep it. Names,
 * help texts, label names and values passed in are copied.
 *
 * Labels: declared at registration; a series is one combination of label
 * values (looked up by hash). Each metric has a cap on its series (default
 * METRICS_DEFAULT_MAX_SERIES): once reached, a lookup of a new combination
 * gets the metric's overflow series, whose label values are all "_overflow",
 * and adds 1 to metrics_overflow_total{metric="<name>"} (registered on first
 * overflow). So the counter counts folded lookups: one per observation for
 * Lua callers, one per lookup for C callers that keep series pointers.
 *
 * Collectors: functions run at the start of every exposition to refresh
 * values that are sampled rather than observed (memory, pool sizes). A
 * module that registers one removes it before freeing what it reads.
 *
 * Not thread-safe: loop thread only.
 */
#ifndef MN_METRICS_H
#define MN_METRICS_H

#include <stddef.h>

typedef struct metrics_registry metrics_registry;
typedef struct metric metric;
typedef struct metric_series metric_series;

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

#define METRICS_MAX_LABELS 16
#define METRICS_MAX_BUCKETS 64
#define METRICS_DEFAULT_MAX_SERIES 1000
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 (+Inf implied) */
extern const double metrics_default_buckets[10];

metrics_registry *metrics_create(void);     /* NULL on allocation failure */
void metrics_destroy(metrics_registry *r);

/* Register a metric, or find the one already registered under name.
 * labels: nlabels label names ([a-zA-Z_][a-zA-Z0-9_]*, not starting with
 * "__", not "le" for a histogram, no duplicates). name: [a-zA-Z_:][a-zA-Z0-9_:]*.
 * buckets (histograms only): strictly increasing finite upper bounds, +Inf
 * implied (a trailing +Inf is dropped); NULL or 0 = the default buckets.
 * help may be NULL.
 * Same name again: the existing metric when type, label names and (if given)
 * buckets match, else -EEXIST.
 * Returns 0 with *out set, -EINVAL, -EEXIST or -ENOMEM; *why (when not
 * NULL) points at a constant message on failure. */
int metrics_register(metrics_registry *r, metric_type type, const char *name, const char *help,
                     const char *const *labels, int nlabels, const double *buckets, int nbuckets,
                     metric **out, const char **why);

/* Shorthands: the metric or NULL. */
metric *metrics_counter(metrics_registry *r, const char *name, const char *help,
                        const char *const *labels, int nlabels);
metric *metrics_gauge(metrics_registry *r, const char *name, const char *help,
                      const char *const *labels, int nlabels);
metric *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                          const char *const *labels, int nlabels, const double *buckets,
                          int nbuckets);

metric_type metrics_type(const metric *m);
const char *metrics_name(const metric *m);
int metrics_label_count(const metric *m);
void metrics_set_max_series(metric *m, size_t max_series);

/* The series for these label values (n must be the metric's label count;
 * lens may be NULL for NUL-terminated values). Over the cap: the overflow
 * series. NULL only on a wrong count or allocation failure. */
metric_series *metrics_series(metric *m, const char *const *values, const size_t *lens, int n);

/* Update a series. inc: counters (v >= 0, else -EINVAL) and gauges;
 * set: gauges, and counters from collectors; observe: histograms.
 * Return 0 or -EINVAL (wrong type or value). */
int metrics_series_inc(metric_series *s, double v);
int metrics_series_set(metric_series *s, double v);
int metrics_series_observe(metric_series *s, double v);

/* Lookup + update in one call; values are NUL-terminated, as many as the
 * metric has labels (NULL when it has none). 0, -EINVAL or -ENOMEM. */
int metrics_inc(metric *m, double v, const char *const *values);
int metrics_set(metric *m, double v, const char *const *values);
int metrics_observe(metric *m, double v, const char *const *values);

/* Current value of a counter/gauge series, or a histogram's sum (tests). */
double metrics_series_value(const metric_series *s);

typedef void (*metrics_collector_fn)(metrics_registry *r, void *ud);
int metrics_add_collector(metrics_registry *r, metrics_collector_fn fn, void *ud);  /* 0 / -ENOMEM */
void metrics_remove_collector(metrics_registry *r, metrics_collector_fn fn, void *ud);

/* Register process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_cpu_seconds_total, process_open_fds, process_max_fds and
 * process_start_time_seconds, refreshed from /proc at each exposition. */
int metrics_add_process_collector(metrics_registry *r);

/* Run the collectors, then write the exposition in pieces to write().
 * write() may raise a Lua error (longjmp out): nothing is left allocated. */
typedef void (*metrics_write_fn)(void *ud, const char *p, size_t n);
void metrics_expose(metrics_registry *r, metrics_write_fn write, void *ud);

/* The same into a malloc'd NUL-terminated string (caller frees); NULL on
 * allocation failure. */
char *metrics_expose_string(metrics_registry *r, size_t *len);

#endif
