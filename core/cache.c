/* cache.c — the L1 cache: chained hash table + doubly linked LRU + TTL +
 * byte budget + a tag index (tag -> the entries carrying it).
 *
 * Each entry is one allocation: header, its tag links, key bytes, string
 * value bytes. Each tag is one allocation holding the tag name and the head
 * of the list of links of the entries that carry it; it is freed when its
 * last entry goes. The cache owns all of these; see cache.h for the rules.
 */
#include "cache.h"
#include "siphash.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct cache_entry cache_entry;
typedef struct cache_tag cache_tag;

/* One tag of one entry: a link in its tag's list of entries. */
typedef struct cache_link {
    struct cache_link *prev, *next;
    cache_tag *tag;
    cache_entry *entry;
} cache_link;

struct cache_tag {
    cache_tag *hnext;       /* tag table chain */
    uint64_t hash;
    cache_link *head;       /* entries carrying the tag */
    size_t count;
    size_t len;
    char name[];
};

struct cache_entry {
    cache_entry *hnext;     /* hash chain */
    cache_entry *prev;      /* LRU, towards the head (most recently used) */
    cache_entry *next;      /* LRU, towards the tail (next to evict) */
    uint64_t hash;
    uint64_t expires;       /* ms on the cache clock; 0 = never */
    union { int64_t i; double n; } num;
    size_t klen, vlen;
    uint8_t type;           /* cache_type */
    uint8_t ntags;
    cache_link tags[];      /* then key bytes, then string value bytes */
};

static_assert(sizeof(cache_entry) + 16 <= CACHE_ENTRY_OVERHEAD, "entry overhead");
static_assert(sizeof(cache_link) + sizeof(cache_tag) / 2 <= CACHE_TAG_OVERHEAD, "tag overhead");

struct cache {
    cache_entry **buckets;
    size_t mask;            /* buckets - 1, a power of two minus one */
    size_t count;
    cache_tag **tbuckets;
    size_t tmask;
    size_t tcount;
    cache_entry *head, *tail;
    size_t bytes, max_bytes;
    uint64_t k0, k1;        /* hash key, random per cache */
    cache_clock_fn clock;
    void *clock_ud;
    uint64_t hits, misses, evictions, expired;
};

#define INITIAL_BUCKETS 64

static inline char *entry_key(cache_entry *e) { return (char *)(e->tags + e->ntags); }

static uint64_t mono_ms(void *ud) {
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t entry_charge(const cache_entry *e) {
    size_t n = CACHE_ENTRY_OVERHEAD + e->klen + e->vlen;
    for (int i = 0; i < e->ntags; i++) n += CACHE_TAG_OVERHEAD + e->tags[i].tag->len;
    return n;
}

cache *cache_create(size_t max_bytes, cache_clock_fn clock, void *clock_ud) {
    cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->buckets = calloc(INITIAL_BUCKETS, sizeof *c->buckets);
    c->tbuckets = calloc(INITIAL_BUCKETS, sizeof *c->tbuckets);
    if (!c->buckets || !c->tbuckets) {
        free(c->buckets);
        free(c->tbuckets);
        free(c);
        return NULL;
    }
    c->mask = c->tmask = INITIAL_BUCKETS - 1;
    c->max_bytes = max_bytes;
    c->clock = clock ? clock : mono_ms;
    c->clock_ud = clock_ud;
    uint64_t k[2];
    siphash_random_key(k);
    c->k0 = k[0];
    c->k1 = k[1];
    return c;
}

/* ---- tags ---------------------------------------------------------------- */

static cache_tag *tag_find(cache *c, const char *name, size_t len, uint64_t h) {
    for (cache_tag *t = c->tbuckets[h & c->tmask]; t; t = t->hnext)
        if (t->hash == h && t->len == len && memcmp(t->name, name, len) == 0) return t;
    return NULL;
}

static void tag_table_grow(cache *c) {
    size_t n = (c->tmask + 1) * 2;
    cache_tag **nb = calloc(n, sizeof *nb);
    if (!nb) return;                        /* keep working with longer chains */
    for (size_t i = 0; i <= c->tmask; i++) {
        cache_tag *t = c->tbuckets[i], *next;
        for (; t; t = next) {
            next = t->hnext;
            t->hnext = nb[t->hash & (n - 1)];
            nb[t->hash & (n - 1)] = t;
        }
    }
    free(c->tbuckets);
    c->tbuckets = nb;
    c->tmask = n - 1;
}

static cache_tag *tag_get(cache *c, const char *name, size_t len) {
    uint64_t h = siphash13(c->k0, c->k1, name, len);
    cache_tag *t = tag_find(c, name, len, h);
    if (t) return t;
    t = malloc(sizeof *t + len + 1);
    if (!t) return NULL;
    t->hash = h;
    t->head = NULL;
    t->count = 0;
    t->len = len;
    memcpy(t->name, name, len);
    t->name[len] = 0;
    if (c->tcount >= c->tmask + 1) tag_table_grow(c);
    t->hnext = c->tbuckets[h & c->tmask];
    c->tbuckets[h & c->tmask] = t;
    c->tcount++;
    return t;
}

static void tag_free(cache *c, cache_tag *t) {
    cache_tag **pp = &c->tbuckets[t->hash & c->tmask];
    while (*pp != t) pp = &(*pp)->hnext;
    *pp = t->hnext;
    c->tcount--;
    free(t);
}

static void link_attach(cache_link *l, cache_tag *t, cache_entry *e) {
    l->tag = t;
    l->entry = e;
    l->prev = NULL;
    l->next = t->head;
    if (t->head) t->head->prev = l;
    t->head = l;
    t->count++;
}

/* Unlink; frees the tag when this was its last entry. */
static void link_detach(cache *c, cache_link *l) {
    cache_tag *t = l->tag;
    if (l->prev) l->prev->next = l->next;
    else t->head = l->next;
    if (l->next) l->next->prev = l->prev;
    if (--t->count == 0) tag_free(c, t);
}

/* ---- entries ------------------------------------------------------------- */

static cache_entry *entry_find(cache *c, const char *key, size_t klen, uint64_t h) {
    for (cache_entry *e = c->buckets[h & c->mask]; e; e = e->hnext)
        if (e->hash == h && e->klen == klen && memcmp(entry_key(e), key, klen) == 0) return e;
    return NULL;
}

static void lru_unlink(cache *c, cache_entry *e) {
    if (e->prev) e->prev->next = e->next;
    else c->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->tail = e->prev;
}

static void lru_push_head(cache *c, cache_entry *e) {
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    else c->tail = e;
    c->head = e;
}

static inline void lru_touch(cache *c, cache_entry *e) {
    if (c->head == e) return;
    lru_unlink(c, e);
    lru_push_head(c, e);
}

static void entry_remove(cache *c, cache_entry *e) {
    cache_entry **pp = &c->buckets[e->hash & c->mask];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->bytes -= entry_charge(e);
    for (int i = 0; i < e->ntags; i++) link_detach(c, &e->tags[i]);
    c->count--;
    free(e);
}

static inline int expired_at(const cache_entry *e, uint64_t now) {
    return e->expires != 0 && now >= e->expires;
}

/* The live entry for key, or NULL; an expired one is freed on the way. */
static cache_entry *lookup_live(cache *c, const char *key, size_t klen, uint64_t h, uint64_t now) {
    cache_entry *e = entry_find(c, key, klen, h);
    if (e && expired_at(e, now)) {
        entry_remove(c, e);
        c->expired++;
        return NULL;
    }
    return e;
}

static void table_grow(cache *c) {
    size_t n = (c->mask + 1) * 2;
    cache_entry **nb = calloc(n, sizeof *nb);
    if (!nb) return;                        /* keep working with longer chains */
    for (size_t i = 0; i <= c->mask; i++) {
        cache_entry *e = c->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    free(c->buckets);
    c->buckets = nb;
    c->mask = n - 1;
}

/* Evict from the LRU tail until within budget, sparing `keep`. */
static void evict(cache *c, const cache_entry *keep, uint64_t now) {
    while (c->bytes > c->max_bytes && c->tail && c->tail != keep) {
        cache_entry *e = c->tail;
        if (expired_at(e, now)) c->expired++;
        else c->evictions++;
        entry_remove(c, e);
    }
}

static inline int64_t remaining(const cache_entry *e, uint64_t now) {
    return e->expires ? (int64_t)(e->expires - now) : -1;
}

static void value_out(cache_entry *e, cache_value *out) {
    out->type = e->type;
    switch (e->type) {
    case CACHE_STR:
        out->u.s.p = entry_key(e) + e->klen;
        out->u.s.len = e->vlen;
        break;
    case CACHE_INT: out->u.i = e->num.i; break;
    default: out->u.n = e->num.n; break;
    }
}

static uint64_t expiry(uint64_t now, int64_t ttl_ms) {
    if (ttl_ms <= 0) return 0;
    uint64_t x = now + (uint64_t)ttl_ms;
    return x ? x : 1;
}

/* Build and link a new entry for key (hash h) replacing `old` (may be NULL).
 * tags are already deduplicated. Leaves the cache unchanged on failure. */
static int insert(cache *c, const char *key, size_t klen, uint64_t h, const cache_value *v,
                  uint64_t expires, const cache_str *tags, int ntags, cache_entry *old,
                  uint64_t now) {
    size_t vlen = v->type == CACHE_STR ? v->u.s.len : 0;
    cache_entry *e = malloc(sizeof *e + (size_t)ntags * sizeof(cache_link) + klen + vlen);
    if (!e) return -ENOMEM;
    e->hash = h;
    e->expires = expires;
    e->klen = klen;
    e->vlen = vlen;
    e->type = (uint8_t)v->type;
    e->ntags = (uint8_t)ntags;
    char *k = entry_key(e);
    if (klen) memcpy(k, key, klen);
    if (v->type == CACHE_STR) {
        if (vlen) memcpy(k + klen, v->u.s.p, vlen);
    } else if (v->type == CACHE_INT) {
        e->num.i = v->u.i;
    } else {
        e->num.n = v->u.n;
    }
    for (int i = 0; i < ntags; i++) {
        cache_tag *t = tag_get(c, tags[i].p, tags[i].len);
        if (!t) {
            while (i-- > 0) link_detach(c, &e->tags[i]);
            free(e);
            return -ENOMEM;
        }
        link_attach(&e->tags[i], t, e);
    }
    if (old) entry_remove(c, old);
    else if (c->count >= c->mask + 1) table_grow(c);
    e->hnext = c->buckets[h & c->mask];
    c->buckets[h & c->mask] = e;
    lru_push_head(c, e);
    c->count++;
    c->bytes += entry_charge(e);
    evict(c, e, now);
    return 0;
}

/* ---- public -------------------------------------------------------------- */

void cache_set_budget(cache *c, size_t max_bytes) {
    c->max_bytes = max_bytes;
    evict(c, NULL, c->clock(c->clock_ud));
}

int cache_get(cache *c, const char *key, size_t klen, cache_value *out, int64_t *ttl_ms) {
    uint64_t h = siphash13(c->k0, c->k1, key, klen);
    uint64_t now = c->clock(c->clock_ud);
    cache_entry *e = lookup_live(c, key, klen, h, now);
    if (!e) {
        c->misses++;
        out->type = CACHE_NONE;
        return -ENOENT;
    }
    c->hits++;
    lru_touch(c, e);
    value_out(e, out);
    if (ttl_ms) *ttl_ms = remaining(e, now);
    return 0;
}

int cache_set(cache *c, const char *key, size_t klen, const cache_value *v,
              int64_t ttl_ms, const cache_str *tags, int ntags, int flags) {
    if (!v || v->type < CACHE_STR || v->type > CACHE_NUM || ttl_ms < 0 || ntags < 0 ||
        ntags > CACHE_MAX_TAGS)
        return -EINVAL;
    cache_str uniq[CACHE_MAX_TAGS];
    int nu = 0;
    size_t charge = CACHE_ENTRY_OVERHEAD + klen + (v->type == CACHE_STR ? v->u.s.len : 0);
    for (int i = 0; i < ntags; i++) {
        int dup = 0;
        for (int j = 0; j < nu && !dup; j++)
            dup = uniq[j].len == tags[i].len && memcmp(uniq[j].p, tags[i].p, tags[i].len) == 0;
        if (dup) continue;
        uniq[nu++] = tags[i];
        charge += CACHE_TAG_OVERHEAD + tags[i].len;
    }
    if (charge > c->max_bytes) return -E2BIG;
    uint64_t h = siphash13(c->k0, c->k1, key, klen);
    uint64_t now = c->clock(c->clock_ud);
    cache_entry *old = lookup_live(c, key, klen, h, now);
    if ((flags & CACHE_NX) && old) return -EEXIST;
    if ((flags & CACHE_XX) && !old) return -ENOENT;
    return insert(c, key, klen, h, v, expiry(now, ttl_ms), uniq, nu, old, now);
}

int cache_add(cache *c, const char *key, size_t klen, const cache_value *v,
              int64_t ttl_ms, const cache_str *tags, int ntags) {
    return cache_set(c, key, klen, v, ttl_ms, tags, ntags, CACHE_NX);
}

static inline int is_num(const cache_value *v) {
    return v && (v->type == CACHE_INT || v->type == CACHE_NUM);
}

static inline double as_double(cache_type t, int64_t i, double n) {
    return t == CACHE_INT ? (double)i : n;
}

/* *r = a + b with the integer/float rules of cache_incr. */
static int add_values(cache_type at, int64_t ai, double an, const cache_value *b, cache_value *r) {
    if (at == CACHE_INT && b->type == CACHE_INT) {
        r->type = CACHE_INT;
        return __builtin_add_overflow(ai, b->u.i, &r->u.i) ? -ERANGE : 0;
    }
    r->type = CACHE_NUM;
    r->u.n = as_double(at, ai, an) + as_double(b->type, b->u.i, b->u.n);
    return 0;
}

int cache_incr(cache *c, const char *key, size_t klen, const cache_value *delta,
               const cache_value *init, int64_t ttl_ms, cache_value *out) {
    static const cache_value zero = {.type = CACHE_INT, .u.i = 0};
    if (!init) init = &zero;
    if (!is_num(delta) || !is_num(init) || ttl_ms < 0) return -EINVAL;
    uint64_t h = siphash13(c->k0, c->k1, key, klen);
    uint64_t now = c->clock(c->clock_ud);
    cache_entry *e = lookup_live(c, key, klen, h, now);
    cache_value r;
    if (e) {
        if (e->type == CACHE_STR) return -EINVAL;
        int rc = add_values(e->type, e->num.i, e->num.n, delta, &r);
        if (rc) return rc;
        e->type = (uint8_t)r.type;          /* numbers carry no bytes: charge unchanged */
        if (r.type == CACHE_INT) e->num.i = r.u.i;
        else e->num.n = r.u.n;
        lru_touch(c, e);
    } else {
        int rc = add_values(init->type, init->u.i, init->u.n, delta, &r);
        if (rc) return rc;
        if (CACHE_ENTRY_OVERHEAD + klen > c->max_bytes) return -E2BIG;
        rc = insert(c, key, klen, h, &r, expiry(now, ttl_ms), NULL, 0, NULL, now);
        if (rc) return rc;
    }
    if (out) *out = r;
    return 0;
}

int cache_delete(cache *c, const char *key, size_t klen) {
    uint64_t h = siphash13(c->k0, c->k1, key, klen);
    cache_entry *e = lookup_live(c, key, klen, h, c->clock(c->clock_ud));
    if (!e) return -ENOENT;
    entry_remove(c, e);
    return 0;
}

int cache_ttl(cache *c, const char *key, size_t klen, int64_t *ttl_ms) {
    uint64_t h = siphash13(c->k0, c->k1, key, klen);
    uint64_t now = c->clock(c->clock_ud);
    cache_entry *e = lookup_live(c, key, klen, h, now);
    if (!e) return -ENOENT;
    *ttl_ms = remaining(e, now);
    return 0;
}

size_t cache_delete_tag(cache *c, const char *tag, size_t tlen) {
    uint64_t h = siphash13(c->k0, c->k1, tag, tlen);
    cache_tag *t = tag_find(c, tag, tlen, h);
    if (!t) return 0;
    /* Each removal takes exactly one link off t (tags are unique per entry);
     * the last one frees t, so count first and do not touch t afterwards. */
    size_t n = t->count;
    for (size_t i = 0; i < n; i++) entry_remove(c, t->head->entry);
    return n;
}

/* '[' class at p[i]: 1 match, 0 no match, -1 malformed (no closing ']').
 * *next is the index after the class. */
static int class_match(const char *p, size_t pn, size_t i, unsigned char ch, size_t *next) {
    i++;
    int neg = 0, hit = 0;
    if (i < pn && (p[i] == '!' || p[i] == '^')) neg = 1, i++;
    int first = 1;
    while (i < pn && (p[i] != ']' || first)) {
        first = 0;
        unsigned char lo = (unsigned char)p[i];
        if (lo == '\\' && i + 1 < pn) lo = (unsigned char)p[++i];
        unsigned char hi = lo;
        if (i + 2 < pn && p[i + 1] == '-' && p[i + 2] != ']') {
            i += 2;
            hi = (unsigned char)p[i];
            if (hi == '\\' && i + 1 < pn) hi = (unsigned char)p[++i];
        }
        if (ch >= lo && ch <= hi) hit = 1;
        i++;
    }
    if (i >= pn) return -1;
    *next = i + 1;
    return hit ^ neg;
}

int cache_glob_match(const char *p, size_t pn, const char *s, size_t sn) {
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < sn) {
        if (pi < pn) {
            char ch = p[pi];
            if (ch == '*') {
                star_p = ++pi;
                star_s = si;
                continue;
            }
            if (ch == '?') {
                pi++, si++;
                continue;
            }
            if (ch == '[') {
                size_t next;
                int m = class_match(p, pn, pi, (unsigned char)s[si], &next);
                if (m == 1) {
                    pi = next, si++;
                    continue;
                }
                if (m < 0 && s[si] == '[') {    /* malformed class: a literal '[' */
                    pi++, si++;
                    continue;
                }
            } else if (ch == '\\' && pi + 1 < pn) {
                if (p[pi + 1] == s[si]) {
                    pi += 2, si++;
                    continue;
                }
            } else if (ch == s[si]) {
                pi++, si++;
                continue;
            }
        }
        if (star_p == SIZE_MAX) return 0;       /* backtrack: the last '*' eats one more */
        pi = star_p;
        si = ++star_s;
    }
    while (pi < pn && p[pi] == '*') pi++;
    return pi == pn;
}

/* How the pattern can be served: 0 needs the matcher, 1 exact key, 2 prefix
 * ("abc*" with no other special byte). */
static int pattern_kind(const char *p, size_t pn) {
    for (size_t i = 0; i < pn; i++) {
        char ch = p[i];
        if (ch == '*') return i == pn - 1 ? 2 : 0;
        if (ch == '?' || ch == '[' || ch == '\\') return 0;
    }
    return 1;
}

size_t cache_delete_pattern(cache *c, const char *glob, size_t glen) {
    int kind = pattern_kind(glob, glen);
    if (kind == 1) return cache_delete(c, glob, glen) == 0;
    size_t n = 0, plen = glen - 1;
    for (cache_entry *e = c->head, *next; e; e = next) {
        next = e->next;
        int m = kind == 2 ? e->klen >= plen && memcmp(entry_key(e), glob, plen) == 0
                          : cache_glob_match(glob, glen, entry_key(e), e->klen);
        if (m) {
            entry_remove(c, e);
            n++;
        }
    }
    return n;
}

size_t cache_flush(cache *c) {
    size_t n = c->count;
    while (c->head) entry_remove(c, c->head);
    return n;
}

void cache_get_stats(const cache *c, cache_stats *out) {
    out->entries = c->count;
    out->bytes = c->bytes;
    out->max_bytes = c->max_bytes;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->expired = c->expired;
}

void cache_destroy(cache *c) {
    if (!c) return;
    cache_flush(c);
    free(c->buckets);
    free(c->tbuckets);
    free(c);
}
