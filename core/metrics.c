/* metrics.c — the metrics registry and its Prometheus text exposition.
 *
 * A registry is a list of metrics in registration order; a metric keeps its
 * series in a hash table keyed by the label values (SipHash under the
 * registry's random key) and in a list in creation order, which is the
 * exposition order. Each series is one allocation: header, histogram bucket
 * counts, label value lengths, raw values, and the escaped `a="x",b="y"`
 * text used at exposition. See metrics.h for ownership and the cap rules.
 */
#include "metrics.h"
#include "siphash.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const double metrics_default_buckets[10] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

struct metric_series {
    metric_series *hnext;       /* hash chain */
    metric_series *next;        /* creation order */
    metric *m;
    uint64_t hash;
    double value;               /* counter/gauge value, histogram sum */
    uint64_t count;             /* histogram: observations */
    uint64_t *buckets;          /* histogram: per-bucket (not cumulative) counts, nbuckets + 1 */
    uint32_t *lens;             /* label value lengths */
    char *values;               /* label values, concatenated */
    char *text;                 /* escaped labels without braces, "" when none */
    size_t text_len;
};

struct metric {
    metric *next;               /* registration order */
    metrics_registry *r;
    metric_type type;
    char *name, *help;
    int nlabels;
    char **labels;
    int nbuckets;               /* finite bounds; +Inf is bucket nbuckets */
    double *bounds;
    size_t max_series, nseries;
    metric_series **table;
    size_t mask;
    metric_series *first, *last;
    metric_series *solo;        /* the one series of a label-less metric */
    metric_series *overflow;    /* all "_overflow", made on first need */
    metric_series *overflow_count;  /* metrics_overflow_total{metric=name} */
};

typedef struct collector {
    metrics_collector_fn fn;
    void *ud;
} collector;

typedef struct proc_metrics {
    metric *rss, *vsize, *cpu, *fds, *max_fds, *start;
    double start_time;
} proc_metrics;

struct metrics_registry {
    metric *first, *last;
    uint64_t k0, k1;
    collector *collectors;
    int ncollectors, collectors_cap;
    metric *overflow_metric;
    int overflow_failed;        /* the name is taken by something else */
    proc_metrics *proc;
};

static const char OVERFLOW_VALUE[] = "_overflow";

/* ---- names --------------------------------------------------------------- */

static int name_valid(const char *s, int colon) {
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
                 (p != s && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

/* ---- registry ------------------------------------------------------------ */

metrics_registry *metrics_create(void) {
    metrics_registry *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    uint64_t k[2];
    siphash_random_key(k);
    r->k0 = k[0];
    r->k1 = k[1];
    return r;
}

static void metric_free(metric *m) {
    for (metric_series *s = m->first, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    for (int i = 0; i < m->nlabels; i++) free(m->labels[i]);
    free(m->labels);
    free(m->bounds);
    free(m->table);
    free(m->name);
    free(m->help);
    free(m);
}

void metrics_destroy(metrics_registry *r) {
    if (!r) return;
    for (metric *m = r->first, *next; m; m = next) {
        next = m->next;
        metric_free(m);
    }
    free(r->collectors);
    free(r->proc);
    free(r);
}

static metric *find_metric(metrics_registry *r, const char *name) {
    for (metric *m = r->first; m; m = m->next)
        if (strcmp(m->name, name) == 0) return m;
    return NULL;
}

/* Validate and normalise buckets into out[] (without a trailing +Inf). */
static int check_buckets(const double *b, int n, double *out, int *nout, const char **why) {
    if (!b || n == 0) {
        b = metrics_default_buckets;
        n = 10;
    }
    if (n > 0 && isinf(b[n - 1]) && b[n - 1] > 0) n--;
    if (n < 0 || n > METRICS_MAX_BUCKETS) {
        *why = "too many buckets";
        return -EINVAL;
    }
    for (int i = 0; i < n; i++) {
        if (!isfinite(b[i]) || (i > 0 && !(b[i] > b[i - 1]))) {
            *why = "buckets must be finite and strictly increasing";
            return -EINVAL;
        }
        out[i] = b[i];
    }
    *nout = n;
    return 0;
}

static int same_shape(const metric *m, metric_type type, const char *const *labels, int nlabels,
                      const double *bounds, int nbounds, int explicit_buckets) {
    if (m->type != type || m->nlabels != nlabels) return 0;
    for (int i = 0; i < nlabels; i++)
        if (strcmp(m->labels[i], labels[i]) != 0) return 0;
    if (type == METRIC_HISTOGRAM && explicit_buckets) {
        if (m->nbuckets != nbounds) return 0;
        for (int i = 0; i < nbounds; i++)
            if (m->bounds[i] != bounds[i]) return 0;
    }
    return 1;
}

static metric_series *series_new(metric *m, const char *const *v, const size_t *lens, uint64_t h);

int metrics_register(metrics_registry *r, metric_type type, const char *name, const char *help,
                     const char *const *labels, int nlabels, const double *buckets, int nbuckets,
                     metric **out, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    *out = NULL;
    if (!name_valid(name, 1)) {
        *why = "invalid metric name";
        return -EINVAL;
    }
    if (nlabels < 0 || nlabels > METRICS_MAX_LABELS) {
        *why = "too many labels";
        return -EINVAL;
    }
    for (int i = 0; i < nlabels; i++) {
        if (!name_valid(labels[i], 0) || strncmp(labels[i], "__", 2) == 0) {
            *why = "invalid label name";
            return -EINVAL;
        }
        if (type == METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0) {
            *why = "a histogram cannot have a label named le";
            return -EINVAL;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0) {
                *why = "duplicate label name";
                return -EINVAL;
            }
    }
    double bounds[METRICS_MAX_BUCKETS];
    int nb = 0;
    if (type == METRIC_HISTOGRAM) {
        int rc = check_buckets(buckets, nbuckets, bounds, &nb, why);
        if (rc) return rc;
    }

    metric *m = find_metric(r, name);
    if (m) {
        if (!same_shape(m, type, labels, nlabels, bounds, nb, buckets && nbuckets > 0)) {
            *why = "already registered with another type, labels or buckets";
            return -EEXIST;
        }
        *out = m;
        return 0;
    }

    m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->r = r;
    m->type = type;
    m->max_series = METRICS_DEFAULT_MAX_SERIES;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    m->labels = calloc(nlabels ? (size_t)nlabels : 1, sizeof *m->labels);
    m->bounds = malloc((nb ? (size_t)nb : 1) * sizeof *m->bounds);
    if (!m->name || !m->help || !m->labels || !m->bounds) goto oom;
    m->nlabels = nlabels;
    for (int i = 0; i < nlabels; i++)
        if (!(m->labels[i] = strdup(labels[i]))) goto oom;
    m->nbuckets = nb;
    memcpy(m->bounds, bounds, (size_t)nb * sizeof *bounds);
    if (nlabels == 0) {
        if (!(m->solo = series_new(m, NULL, NULL, 0))) goto oom;
    } else {
        m->mask = 7;
        if (!(m->table = calloc(m->mask + 1, sizeof *m->table))) goto oom;
    }
    if (r->last) r->last->next = m;
    else r->first = m;
    r->last = m;
    *out = m;
    return 0;
oom:
    if (m) metric_free(m);
    *why = "out of memory";
    return -ENOMEM;
}

metric *metrics_counter(metrics_registry *r, const char *name, const char *help,
                        const char *const *labels, int nlabels) {
    metric *m;
    metrics_register(r, METRIC_COUNTER, name, help, labels, nlabels, NULL, 0, &m, NULL);
    return m;
}

metric *metrics_gauge(metrics_registry *r, const char *name, const char *help,
                      const char *const *labels, int nlabels) {
    metric *m;
    metrics_register(r, METRIC_GAUGE, name, help, labels, nlabels, NULL, 0, &m, NULL);
    return m;
}

metric *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                          const char *const *labels, int nlabels, const double *buckets,
                          int nbuckets) {
    metric *m;
    metrics_register(r, METRIC_HISTOGRAM, name, help, labels, nlabels, buckets, nbuckets, &m, NULL);
    return m;
}

metric_type metrics_type(const metric *m) { return m->type; }
const char *metrics_name(const metric *m) { return m->name; }
int metrics_label_count(const metric *m) { return m->nlabels; }
void metrics_set_max_series(metric *m, size_t max_series) { m->max_series = max_series; }

/* ---- series -------------------------------------------------------------- */

static size_t escaped_len(const char *p, size_t n) {
    size_t e = n;
    for (size_t i = 0; i < n; i++) e += p[i] == '\\' || p[i] == '"' || p[i] == '\n';
    return e;
}

static char *escape_into(char *o, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' || c == '"') *o++ = '\\', *o++ = c;
        else if (c == '\n') *o++ = '\\', *o++ = 'n';
        else *o++ = c;
    }
    return o;
}

static uint64_t hash_values(const metrics_registry *r, const char *const *v, const size_t *lens, int n) {
    uint64_t h = 0;
    for (int i = 0; i < n; i++) h = siphash13(r->k0 ^ h, r->k1, v[i], lens[i]);
    return h;
}

/* A new series for values v (lens known), linked into m's list (and table
 * when m has labels). */
static metric_series *series_new(metric *m, const char *const *v, const size_t *lens, uint64_t h) {
    int n = m->nlabels;
    size_t nbk = m->type == METRIC_HISTOGRAM ? (size_t)m->nbuckets + 1 : 0;
    size_t raw = 0, text = 0;
    for (int i = 0; i < n; i++) {
        raw += lens[i];
        text += strlen(m->labels[i]) + 3 + escaped_len(v[i], lens[i]) + (i > 0);   /* name="v", */
    }
    metric_series *s = calloc(1, sizeof *s + nbk * sizeof(uint64_t) + (size_t)n * sizeof(uint32_t) +
                                     raw + text + 1);
    if (!s) return NULL;
    s->m = m;
    s->hash = h;
    s->buckets = (uint64_t *)(s + 1);
    s->lens = (uint32_t *)(s->buckets + nbk);
    s->values = (char *)(s->lens + n);
    s->text = s->values + raw;
    char *rp = s->values, *tp = s->text;
    for (int i = 0; i < n; i++) {
        s->lens[i] = (uint32_t)lens[i];
        memcpy(rp, v[i], lens[i]);
        rp += lens[i];
        if (i > 0) *tp++ = ',';
        size_t ln = strlen(m->labels[i]);
        memcpy(tp, m->labels[i], ln);
        tp += ln;
        *tp++ = '=';
        *tp++ = '"';
        tp = escape_into(tp, v[i], lens[i]);
        *tp++ = '"';
    }
    *tp = 0;
    s->text_len = (size_t)(tp - s->text);
    if (m->last) m->last->next = s;
    else m->first = s;
    m->last = s;
    if (n > 0) {
        s->hnext = m->table[h & m->mask];
        m->table[h & m->mask] = s;
    }
    return s;
}

static void table_grow(metric *m) {
    size_t n = (m->mask + 1) * 2;
    metric_series **t = calloc(n, sizeof *t);
    if (!t) return;
    for (metric_series *s = m->first; s; s = s->next)
        if (s != m->solo) {
            s->hnext = t[s->hash & (n - 1)];
            t[s->hash & (n - 1)] = s;
        }
    free(m->table);
    m->table = t;
    m->mask = n - 1;
}

static metric *overflow_metric(metrics_registry *r) {
    if (r->overflow_metric || r->overflow_failed) return r->overflow_metric;
    static const char *const lbl[] = {"metric"};
    metric *m;
    if (metrics_register(r, METRIC_COUNTER, "metrics_overflow_total",
                         "Label sets folded into a metric's _overflow series because it reached "
                         "its series cap.",
                         lbl, 1, NULL, 0, &m, NULL) != 0) {
        r->overflow_failed = 1;
        return NULL;
    }
    m->max_series = SIZE_MAX;   /* bounded by the number of metrics */
    return r->overflow_metric = m;
}

static metric_series *fold(metric *m) {
    if (!m->overflow) {
        const char *v[METRICS_MAX_LABELS];
        size_t l[METRICS_MAX_LABELS];
        for (int i = 0; i < m->nlabels; i++) v[i] = OVERFLOW_VALUE, l[i] = sizeof OVERFLOW_VALUE - 1;
        m->overflow = series_new(m, v, l, hash_values(m->r, v, l, m->nlabels));
        if (!m->overflow) return NULL;
    }
    if (!m->overflow_count) {
        metric *om = overflow_metric(m->r);
        if (om && om != m) m->overflow_count = metrics_series(om, (const char *const *)&m->name, NULL, 1);
    }
    if (m->overflow_count) m->overflow_count->value += 1;
    return m->overflow;
}

metric_series *metrics_series(metric *m, const char *const *values, const size_t *lens, int n) {
    if (n != m->nlabels) return NULL;
    if (n == 0) return m->solo;
    size_t l[METRICS_MAX_LABELS];
    if (!lens) {
        for (int i = 0; i < n; i++) l[i] = strlen(values[i]);
        lens = l;
    }
    uint64_t h = hash_values(m->r, values, lens, n);
    for (metric_series *s = m->table[h & m->mask]; s; s = s->hnext) {
        if (s->hash != h) continue;
        const char *p = s->values;
        int i = 0;
        for (; i < n; i++) {
            if (s->lens[i] != lens[i] || memcmp(p, values[i], lens[i]) != 0) break;
            p += lens[i];
        }
        if (i == n) return s;
    }
    if (m->nseries >= m->max_series) return fold(m);
    if (m->nseries >= m->mask + 1) table_grow(m);
    metric_series *s = series_new(m, values, lens, h);
    if (s) m->nseries++;
    return s;
}

int metrics_series_inc(metric_series *s, double v) {
    metric_type t = s->m->type;
    if (t == METRIC_HISTOGRAM || (t == METRIC_COUNTER && !(v >= 0))) return -EINVAL;
    s->value += v;
    return 0;
}

int metrics_series_set(metric_series *s, double v) {
    if (s->m->type == METRIC_HISTOGRAM) return -EINVAL;
    s->value = v;
    return 0;
}

int metrics_series_observe(metric_series *s, double v) {
    const metric *m = s->m;
    if (m->type != METRIC_HISTOGRAM) return -EINVAL;
    /* first bound >= v; NaN lands in +Inf */
    int lo = 0, hi = m->nbuckets;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v <= m->bounds[mid]) hi = mid;
        else lo = mid + 1;
    }
    if (isnan(v)) lo = m->nbuckets;
    s->buckets[lo]++;
    s->count++;
    s->value += v;
    return 0;
}

double metrics_series_value(const metric_series *s) { return s->value; }

static metric_series *series_z(metric *m, const char *const *values) {
    return metrics_series(m, values, NULL, m->nlabels);
}

int metrics_inc(metric *m, double v, const char *const *values) {
    metric_series *s = series_z(m, values);
    return s ? metrics_series_inc(s, v) : -ENOMEM;
}

int metrics_set(metric *m, double v, const char *const *values) {
    metric_series *s = series_z(m, values);
    return s ? metrics_series_set(s, v) : -ENOMEM;
}

int metrics_observe(metric *m, double v, const char *const *values) {
    metric_series *s = series_z(m, values);
    return s ? metrics_series_observe(s, v) : -ENOMEM;
}

/* ---- collectors ---------------------------------------------------------- */

int metrics_add_collector(metrics_registry *r, metrics_collector_fn fn, void *ud) {
    if (r->ncollectors == r->collectors_cap) {
        int cap = r->collectors_cap ? r->collectors_cap * 2 : 4;
        collector *c = realloc(r->collectors, (size_t)cap * sizeof *c);
        if (!c) return -ENOMEM;
        r->collectors = c;
        r->collectors_cap = cap;
    }
    r->collectors[r->ncollectors++] = (collector){fn, ud};
    return 0;
}

void metrics_remove_collector(metrics_registry *r, metrics_collector_fn fn, void *ud) {
    for (int i = 0; i < r->ncollectors; i++)
        if (r->collectors[i].fn == fn && r->collectors[i].ud == ud) {
            memmove(&r->collectors[i], &r->collectors[i + 1],
                    (size_t)(r->ncollectors - i - 1) * sizeof *r->collectors);
            r->ncollectors--;
            return;
        }
}

/* Process start as Unix time: boot time + start ticks (/proc), 0 if unknown. */
static double process_start_time(void) {
    double btime = 0, start = 0;
    char buf[1024];
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        while (fgets(buf, sizeof buf, f))
            if (sscanf(buf, "btime %lf", &btime) == 1) break;
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        char *p = strrchr(buf, ')');        /* comm may contain spaces */
        unsigned long long ticks;
        /* after ")": fields 3..21 skipped, starttime is field 22 */
        if (p && sscanf(p + 1,
                        "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
                        &ticks) == 1)
            start = (double)ticks / (double)sysconf(_SC_CLK_TCK);
    }
    return btime > 0 ? btime + start : 0;
}

static void collect_process(metrics_registry *r, void *ud) {
    (void)r;
    proc_metrics *p = ud;
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
            metrics_series_set(p->vsize->solo, (double)size * (double)page);
            metrics_series_set(p->rss->solo, (double)resident * (double)page);
        }
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        metrics_series_set(p->cpu->solo, (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                                             ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int n = 0;
        for (struct dirent *e; (e = readdir(d));)
            n += e->d_name[0] != '.';
        closedir(d);
        metrics_series_set(p->fds->solo, n - 1);    /* minus the directory stream's own fd */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metrics_series_set(p->max_fds->solo, rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur);
    metrics_series_set(p->start->solo, p->start_time);
}

int metrics_add_process_collector(metrics_registry *r) {
    if (r->proc) return 0;
    proc_metrics *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    p->rss = metrics_gauge(r, "process_resident_memory_bytes", "Resident memory size in bytes.", NULL, 0);
    p->vsize = metrics_gauge(r, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL, 0);
    p->cpu = metrics_counter(r, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", NULL, 0);
    p->fds = metrics_gauge(r, "process_open_fds", "Number of open file descriptors.", NULL, 0);
    p->max_fds = metrics_gauge(r, "process_max_fds", "Maximum number of open file descriptors.", NULL, 0);
    p->start = metrics_gauge(r, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", NULL, 0);
    if (!p->rss || !p->vsize || !p->cpu || !p->fds || !p->max_fds || !p->start ||
        metrics_add_collector(r, collect_process, p) != 0) {
        free(p);        /* metrics already registered stay, harmlessly at 0 */
        return -ENOMEM;
    }
    p->start_time = process_start_time();
    r->proc = p;
    return 0;
}

/* ---- exposition ---------------------------------------------------------- */

typedef struct out {
    metrics_write_fn write;
    void *ud;
    size_t n;
    char buf[8192];
} out;

static void out_flush(out *o) {
    if (o->n) o->write(o->ud, o->buf, o->n);
    o->n = 0;
}

static void out_put(out *o, const char *p, size_t n) {
    if (o->n + n > sizeof o->buf) {
        out_flush(o);
        if (n > sizeof o->buf) {
            o->write(o->ud, p, n);
            return;
        }
    }
    memcpy(o->buf + o->n, p, n);
    o->n += n;
}

static inline void out_str(out *o, const char *s) { out_put(o, s, strlen(s)); }

/* Shortest of %.15g/%.17g that reads back as v; Prometheus spellings for
 * the special values. b has room for 32 bytes; returns the length. */
static int fmt_double(char *b, double v) {
    if (isnan(v)) return (int)strlen(strcpy(b, "NaN"));
    if (isinf(v)) return (int)strlen(strcpy(b, v > 0 ? "+Inf" : "-Inf"));
    int n = snprintf(b, 32, "%.15g", v);
    if (strtod(b, NULL) != v) n = snprintf(b, 32, "%.17g", v);
    return n;
}

static void out_double(out *o, double v) {
    char b[32];
    out_put(o, b, (size_t)fmt_double(b, v));
}

static void out_u64(out *o, uint64_t v) {
    char b[24];
    int n = snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    out_put(o, b, (size_t)n);
}

static void out_help(out *o, const char *s) {
    for (const char *p = s; *p; p++) {
        if (*p == '\\') out_put(o, "\\\\", 2);
        else if (*p == '\n') out_put(o, "\\n", 2);
        else {
            const char *q = p;
            while (q[1] && q[1] != '\\' && q[1] != '\n') q++;
            out_put(o, p, (size_t)(q - p + 1));
            p = q;
        }
    }
}

/* name[suffix]{labels[,extra]} */
static void out_series_name(out *o, const metric *m, const char *suffix, const metric_series *s,
                            const char *extra) {
    out_str(o, m->name);
    if (suffix) out_str(o, suffix);
    if (!s->text_len && !extra) return;
    out_put(o, "{", 1);
    out_put(o, s->text, s->text_len);
    if (extra) {
        if (s->text_len) out_put(o, ",", 1);
        out_str(o, extra);
    }
    out_put(o, "}", 1);
}

static void expose_metric(out *o, const metric *m) {
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    if (m->help[0]) {
        out_str(o, "# HELP ");
        out_str(o, m->name);
        out_put(o, " ", 1);
        out_help(o, m->help);
        out_put(o, "\n", 1);
    }
    out_str(o, "# TYPE ");
    out_str(o, m->name);
    out_put(o, " ", 1);
    out_str(o, type_names[m->type]);
    out_put(o, "\n", 1);
    for (const metric_series *s = m->first; s; s = s->next) {
        if (m->type != METRIC_HISTOGRAM) {
            out_series_name(o, m, NULL, s, NULL);
            out_put(o, " ", 1);
            out_double(o, s->value);
            out_put(o, "\n", 1);
            continue;
        }
        uint64_t cum = 0;
        for (int i = 0; i <= m->nbuckets; i++) {
            char le[48] = "le=\"+Inf\"";
            if (i < m->nbuckets) {
                char b[32];
                int n = fmt_double(b, m->bounds[i]);
                snprintf(le, sizeof le, "le=\"%.*s\"", n, b);
            }
            cum += s->buckets[i];
            out_series_name(o, m, "_bucket", s, le);
            out_put(o, " ", 1);
            out_u64(o, cum);
            out_put(o, "\n", 1);
        }
        out_series_name(o, m, "_sum", s, NULL);
        out_put(o, " ", 1);
        out_double(o, s->value);
        out_put(o, "\n", 1);
        out_series_name(o, m, "_count", s, NULL);
        out_put(o, " ", 1);
        out_u64(o, s->count);
        out_put(o, "\n", 1);
    }
}

void metrics_expose(metrics_registry *r, metrics_write_fn write, void *ud) {
    for (int i = 0; i < r->ncollectors; i++) r->collectors[i].fn(r, r->collectors[i].ud);
    out o;      /* on the stack: write() may longjmp (a Lua buffer), nothing to leak */
    o.write = write;
    o.ud = ud;
    o.n = 0;
    for (const metric *m = r->first; m; m = m->next) expose_metric(&o, m);
    out_flush(&o);
}

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int failed;
} strbuf;

static void strbuf_write(void *ud, const char *p, size_t n) {
    strbuf *b = ud;
    if (b->failed) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

char *metrics_expose_string(metrics_registry *r, size_t *len) {
    strbuf b = {0};
    metrics_expose(r, strbuf_write, &b);
    strbuf_write(&b, "", 0);   /* make sure there is a buffer for the NUL */
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    b.p[b.n] = 0;
    if (len) *len = b.n;
    return b.p;
}
