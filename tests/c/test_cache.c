/* test_cache.c — unit tests of the L1 cache (core/cache.c) with an injected
 * clock: TTL expiry, LRU eviction under the byte budget, byte accounting,
 * add/incr semantics, tags, glob deletes. Prints one line per check and
 * exits non-zero when any fails.
 */
#include "cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"


static uint64_t now_ms;
static uint64_t fake_clock(void *ud) { (void)ud; return now_ms; }

#define K(s) s, strlen(s)
#define OV CACHE_ENTRY_OVERHEAD
#define TOV CACHE_TAG_OVERHEAD

static cache_value str(const char *s) { return (cache_value){.type = CACHE_STR, .u.s = {s, strlen(s)}}; }
static cache_value integer(int64_t i) { return (cache_value){.type = CACHE_INT, .u.i = i}; }
static cache_value num(double n) { return (cache_value){.type = CACHE_NUM, .u.n = n}; }

static int set_s(cache *c, const char *k, const char *v, int64_t ttl) {
    cache_value cv = str(v);
    return cache_set(c, K(k), &cv, ttl, NULL, 0, 0);
}

static int has(cache *c, const char *k) {
    cache_value v;
    return cache_get(c, K(k), &v, NULL) == 0;
}

static int get_is(cache *c, const char *k, const char *want) {
    cache_value v;
    if (cache_get(c, K(k), &v, NULL) != 0 || v.type != CACHE_STR) return 0;
    return v.u.s.len == strlen(want) && memcmp(v.u.s.p, want, v.u.s.len) == 0;
}

static cache_stats stats(cache *c) {
    cache_stats s;
    cache_get_stats(c, &s);
    return s;
}

static void test_values(void) {
    cache *c = cache_create(1 << 20, fake_clock, NULL);
    cache_value v, in;
    int64_t ttl = 0;

    in = (cache_value){.type = CACHE_STR, .u.s = {"a\0b", 3}};
    CHECK(cache_set(c, K("bin"), &in, 0, NULL, 0, 0) == 0, "set a binary string");
    CHECK(cache_get(c, K("bin"), &v, &ttl) == 0 && v.type == CACHE_STR && v.u.s.len == 3 &&
              memcmp(v.u.s.p, "a\0b", 3) == 0, "binary string comes back whole");
    CHECK(ttl == -1, "no ttl reads as -1");

    in = integer(INT64_MAX);
    cache_set(c, K("i"), &in, 0, NULL, 0, 0);
    CHECK(cache_get(c, K("i"), &v, NULL) == 0 && v.type == CACHE_INT && v.u.i == INT64_MAX,
          "integer kept as integer");
    in = num(2.0);
    cache_set(c, K("n"), &in, 0, NULL, 0, 0);
    CHECK(cache_get(c, K("n"), &v, NULL) == 0 && v.type == CACHE_NUM && v.u.n == 2.0,
          "integral double kept as double");

    in = (cache_value){.type = CACHE_STR, .u.s = {"", 0}};
    CHECK(cache_set(c, "", 0, &in, 0, NULL, 0, 0) == 0 && get_is(c, "", ""),
          "empty key and empty value");

    CHECK(cache_get(c, K("nope"), &v, NULL) == -ENOENT && v.type == CACHE_NONE, "missing -> ENOENT");
    cache_stats s = stats(c);
    CHECK(s.hits == 4 && s.misses == 1, "hits %llu misses %llu", (unsigned long long)s.hits,
          (unsigned long long)s.misses);

    CHECK(cache_set(c, K("x"), &in, -5, NULL, 0, 0) == -EINVAL, "negative ttl refused");
    in.type = CACHE_NONE;
    CHECK(cache_set(c, K("x"), &in, 0, NULL, 0, 0) == -EINVAL, "no value refused");
    CHECK(cache_delete(c, K("bin")) == 0 && !has(c, "bin"), "delete removes");
    CHECK(cache_delete(c, K("bin")) == -ENOENT, "delete of missing -> ENOENT");
    cache_destroy(c);
}

static void test_ttl(void) {
    now_ms = 10000;
    cache *c = cache_create(1 << 20, fake_clock, NULL);
    int64_t ttl;
    cache_value v;
    set_s(c, "k", "v", 1000);
    set_s(c, "forever", "v", 0);

    now_ms = 10999;
    CHECK(cache_get(c, K("k"), &v, &ttl) == 0 && ttl == 1, "alive 1 ms before expiry, ttl 1 (%lld)",
          (long long)ttl);
    CHECK(cache_ttl(c, K("k"), &ttl) == 0 && ttl == 1, "cache_ttl agrees");
    CHECK(cache_ttl(c, K("forever"), &ttl) == 0 && ttl == -1, "no expiry -> -1");
    CHECK(cache_ttl(c, K("none"), &ttl) == -ENOENT, "ttl of missing -> ENOENT");

    now_ms = 11000;
    CHECK(stats(c).entries == 2, "expired entry still stored until touched");
    CHECK(cache_get(c, K("k"), &v, &ttl) == -ENOENT, "expired exactly at its ttl");
    cache_stats s = stats(c);
    CHECK(s.entries == 1 && s.expired == 1 && s.bytes == OV + 7 + 1, "freed lazily on access");
    CHECK(has(c, "forever"), "entry without ttl survives");

    set_s(c, "k2", "v", 5);
    now_ms += 5;
    CHECK(cache_ttl(c, K("k2"), &ttl) == -ENOENT, "cache_ttl treats expired as missing");
    CHECK(cache_delete(c, K("k2")) == -ENOENT, "delete of expired -> ENOENT");
    cache_value in = str("again");
    set_s(c, "k3", "v", 5);
    now_ms += 6;
    CHECK(cache_add(c, K("k3"), &in, 0, NULL, 0) == 0 && get_is(c, "k3", "again"),
          "add over an expired entry stores");
    cache_destroy(c);
}

static void test_lru(void) {
    now_ms = 0;
    size_t one = OV + 2 + 10;   /* key "kN" + 10-byte value */
    cache *c = cache_create(3 * one, fake_clock, NULL);
    set_s(c, "k1", "0123456789", 0);
    set_s(c, "k2", "0123456789", 0);
    set_s(c, "k3", "0123456789", 0);
    CHECK(stats(c).bytes == 3 * one && stats(c).evictions == 0, "three entries fill the budget");
    CHECK(has(c, "k1"), "touch k1: k2 becomes least recently used");
    set_s(c, "k4", "0123456789", 0);
    CHECK(!has(c, "k2") && has(c, "k1") && has(c, "k3") && has(c, "k4"), "k2 evicted first");
    CHECK(stats(c).evictions == 1 && stats(c).bytes == 3 * one, "one eviction, still at budget");

    /* order now (MRU..LRU): k4 k3 k1 — has() touched k1 then k3 then k4 */
    cache_value d = integer(1);
    cache_incr(c, K("k1"), &d, NULL, 0, NULL);      /* incr fails (string): no touch */
    cache_value big = {.type = CACHE_STR, .u.s = {"01234567890123456789", 20}};
    cache_set(c, K("k5"), &big, 0, NULL, 0, 0);     /* needs ~1.1 slots: evicts k1 and k3 */
    CHECK(!has(c, "k1") && !has(c, "k3") && has(c, "k4") && has(c, "k5"),
          "a bigger entry evicts as many LRU entries as needed");
    CHECK(stats(c).evictions == 3, "evictions counted (%llu)", (unsigned long long)stats(c).evictions);

    cache_value huge = {.type = CACHE_STR, .u.s = {"x", 3 * one}};
    huge.u.s.p = calloc(1, 3 * one);
    CHECK(cache_set(c, K("k6"), &huge, 0, NULL, 0, 0) == -E2BIG, "entry larger than budget -> E2BIG");
    CHECK(has(c, "k4") && has(c, "k5") && stats(c).entries == 2, "E2BIG leaves the cache unchanged");
    free((void *)huge.u.s.p);

    has(c, "k4");                                   /* k5 becomes the LRU one */
    cache_set_budget(c, one);
    CHECK(stats(c).entries == 1 && has(c, "k4") && stats(c).bytes <= one,
          "shrinking the budget evicts LRU first (k5 was older)");
    cache_destroy(c);

    /* expired entries at the tail are freed as expired, not counted as evictions */
    c = cache_create(2 * one, fake_clock, NULL);
    set_s(c, "k1", "0123456789", 10);
    set_s(c, "k2", "0123456789", 0);
    now_ms = 20;
    set_s(c, "k3", "0123456789", 0);
    CHECK(stats(c).expired == 1 && stats(c).evictions == 0, "expired tail freed as expired");
    cache_destroy(c);
}

static void test_accounting(void) {
    cache *c = cache_create(1 << 20, fake_clock, NULL);
    set_s(c, "key", "xxxx", 0);
    CHECK(stats(c).bytes == OV + 3 + 4, "charge = overhead + key + value");
    set_s(c, "key", "yy", 0);
    CHECK(stats(c).bytes == OV + 3 + 2 && stats(c).entries == 1, "overwrite with smaller value");
    cache_str tags[] = {{K("t1")}, {K("tag2")}, {K("t1")}};
    cache_value v = str("zzzzzz");
    cache_set(c, K("key"), &v, 0, tags, 3, 0);
    CHECK(stats(c).bytes == OV + 3 + 6 + TOV + 2 + TOV + 4, "tags charged once each (deduplicated)");
    v = integer(7);
    cache_set(c, K("key"), &v, 0, NULL, 0, 0);
    CHECK(stats(c).bytes == OV + 3 && stats(c).entries == 1, "number value: key + overhead only");
    CHECK(cache_delete_tag(c, K("t1")) == 0, "overwrite dropped the old entry's tags");
    set_s(c, "other", "abc", 0);
    cache_delete(c, K("key"));
    CHECK(stats(c).bytes == OV + 5 + 3, "delete gives its bytes back");
    CHECK(cache_flush(c) == 1 && stats(c).bytes == 0 && stats(c).entries == 0, "flush empties");
    cache_destroy(c);
}

static void test_add(void) {
    cache *c = cache_create(1 << 20, fake_clock, NULL);
    cache_value a = str("first"), b = str("second");
    CHECK(cache_add(c, K("k"), &a, 0, NULL, 0) == 0, "add to absent key stores");
    CHECK(cache_add(c, K("k"), &b, 0, NULL, 0) == -EEXIST && get_is(c, "k", "first"),
          "add to present key -> EEXIST, value unchanged");
    CHECK(cache_set(c, K("k"), &b, 0, NULL, 0, CACHE_XX) == 0 && get_is(c, "k", "second"),
          "XX replaces a present key");
    CHECK(cache_set(c, K("q"), &b, 0, NULL, 0, CACHE_XX) == -ENOENT && !has(c, "q"),
          "XX on absent key -> ENOENT, nothing stored");
    cache_destroy(c);
}

static void test_incr(void) {
    now_ms = 0;
    cache *c = cache_create(1 << 20, fake_clock, NULL);
    cache_value d = integer(5), init = integer(100), out, v;
    int64_t ttl;

    CHECK(cache_incr(c, K("n"), &d, &init, 1000, &out) == 0 && out.type == CACHE_INT && out.u.i == 105,
          "missing key -> init + delta");
    CHECK(cache_ttl(c, K("n"), &ttl) == 0 && ttl == 1000, "ttl applied on creation");
    now_ms = 400;
    CHECK(cache_incr(c, K("n"), &d, &init, 5000, &out) == 0 && out.u.i == 110, "present key -> + delta");
    CHECK(cache_ttl(c, K("n"), &ttl) == 0 && ttl == 600, "ttl not reset by a later incr (%lld)",
          (long long)ttl);
    CHECK(cache_incr(c, K("z"), &d, NULL, 0, &out) == 0 && out.type == CACHE_INT && out.u.i == 5,
          "init defaults to 0");

    cache_value f = num(0.5);
    CHECK(cache_incr(c, K("n"), &f, NULL, 0, &out) == 0 && out.type == CACHE_NUM && out.u.n == 110.5,
          "integer + double -> double");
    CHECK(cache_get(c, K("n"), &v, NULL) == 0 && v.type == CACHE_NUM && v.u.n == 110.5,
          "stored as double");

    cache_value m = integer(INT64_MAX - 1), one = integer(2);
    cache_set(c, K("big"), &m, 0, NULL, 0, 0);
    CHECK(cache_incr(c, K("big"), &one, NULL, 0, &out) == -ERANGE, "integer overflow -> ERANGE");
    CHECK(cache_get(c, K("big"), &v, NULL) == 0 && v.u.i == INT64_MAX - 1, "overflow leaves value");
    cache_value neg = integer(INT64_MIN);
    CHECK(cache_incr(c, K("fresh"), &neg, &neg, 0, &out) == -ERANGE && !has(c, "fresh"),
          "overflow of init + delta stores nothing");

    set_s(c, "s", "abc", 0);
    CHECK(cache_incr(c, K("s"), &d, NULL, 0, &out) == -EINVAL, "incr of a string -> EINVAL");
    cache_value sv = str("1");
    CHECK(cache_incr(c, K("n"), &sv, NULL, 0, &out) == -EINVAL, "string delta -> EINVAL");

    now_ms = 1000;
    CHECK(cache_incr(c, K("n"), &d, &init, 0, &out) == 0 && out.u.i == 105,
          "expired counter starts again from init");
    size_t bytes = stats(c).bytes;
    for (int i = 0; i < 1000; i++) cache_incr(c, K("n"), &d, NULL, 0, NULL);
    CHECK(stats(c).bytes == bytes && cache_get(c, K("n"), &v, NULL) == 0 && v.u.i == 5105,
          "incr updates in place (bytes unchanged)");
    cache_destroy(c);
}

static void test_tags(void) {
    cache *c = cache_create(1 << 20, fake_clock, NULL);
    cache_str t12[] = {{K("t1")}, {K("t2")}}, t1[] = {{K("t1")}}, t2[] = {{K("t2")}};
    cache_value v = str("v");
    cache_set(c, K("a"), &v, 0, t12, 2, 0);
    cache_set(c, K("b"), &v, 0, t1, 1, 0);
    cache_set(c, K("c"), &v, 0, t2, 1, 0);
    cache_set(c, K("d"), &v, 0, NULL, 0, 0);
    CHECK(cache_delete_tag(c, K("t1")) == 2, "delete_tag removes the two entries with t1");
    CHECK(!has(c, "a") && !has(c, "b") && has(c, "c") && has(c, "d"), "only tagged entries gone");
    CHECK(cache_delete_tag(c, K("t1")) == 0, "tag is gone with its last entry");
    CHECK(cache_delete_tag(c, K("t2")) == 1 && !has(c, "c"), "entry removed via its other tag");
    CHECK(stats(c).bytes == OV + 1 + 1, "tag bytes given back");

    cache_str many[CACHE_MAX_TAGS + 1];
    char names[CACHE_MAX_TAGS + 1][16];
    for (int i = 0; i <= CACHE_MAX_TAGS; i++) {
        snprintf(names[i], sizeof names[i], "m%d", i);
        many[i] = (cache_str){names[i], strlen(names[i])};
    }
    CHECK(cache_set(c, K("e"), &v, 0, many, CACHE_MAX_TAGS + 1, 0) == -EINVAL, "too many tags -> EINVAL");
    CHECK(cache_set(c, K("e"), &v, 0, many, CACHE_MAX_TAGS, 0) == 0, "CACHE_MAX_TAGS tags accepted");
    CHECK(cache_delete_tag(c, K("m7")) == 1, "the last tag indexes too");

    /* a tag shared by many entries, some expired, some evicted */
    for (int i = 0; i < 1000; i++) {
        char k[24];
        snprintf(k, sizeof k, "user:%d", i);
        cache_set(c, K(k), &v, i % 2 ? 10 : 0, t1, 1, 0);
    }
    now_ms += 10;
    CHECK(!has(c, "user:1") && has(c, "user:0"), "odd ones expired");
    CHECK(cache_delete_tag(c, K("t1")) == 999, "delete_tag counts what it removed");
    CHECK(stats(c).entries == 1, "only the untagged entry remains");
    cache_destroy(c);
}

static void test_glob(void) {
    struct { const char *p, *s; int m; } g[] = {
        {"*", "", 1}, {"*", "abc", 1}, {"a*", "abc", 1}, {"a*", "bac", 0},
        {"*c", "abc", 1}, {"a*c", "ac", 1}, {"a*c", "abcbc", 1}, {"a*c", "abcb", 0},
        {"a?c", "abc", 1}, {"a?c", "ac", 0}, {"user:*:req*", "user:1:requests", 1},
        {"[abc]x", "bx", 1}, {"[abc]x", "dx", 0}, {"[!abc]x", "dx", 1}, {"[^abc]x", "ax", 0},
        {"[a-c]", "b", 1}, {"[a-c]", "d", 0}, {"[]]", "]", 1}, {"\\*", "*", 1}, {"\\*", "a", 0},
        {"a[", "a[", 1}, {"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0}, {"abc\\", "abc\\", 1},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        CHECK(cache_glob_match(K(g[i].p), K(g[i].s)) == g[i].m, "glob '%s' vs '%s' -> %d", g[i].p,
              g[i].s, g[i].m);

    cache *c = cache_create(1 << 20, fake_clock, NULL);
    const char *keys[] = {"user:1:req", "user:2:req", "user:1:profile", "stats:a", "stats:b", "user:"};
    for (size_t i = 0; i < 6; i++) set_s(c, keys[i], "v", 0);
    CHECK(cache_delete_pattern(c, K("user:1:*")) == 2 && !has(c, "user:1:req") && has(c, "user:2:req"),
          "prefix pattern deletes its keys");
    CHECK(cache_delete_pattern(c, K("stats:[a]")) == 1 && has(c, "stats:b"), "class pattern");
    CHECK(cache_delete_pattern(c, K("user:")) == 1 && !has(c, "user:"), "literal pattern = one key");
    CHECK(cache_delete_pattern(c, K("*")) == 2 && stats(c).entries == 0, "'*' deletes all");
    cache_destroy(c);
}

/* Random operations checked against a plain array model (no eviction). */
static void test_model(void) {
    enum { N = 200 };
    struct { int present; int64_t v; uint64_t exp; int tag; } model[N] = {{0}};
    cache *c = cache_create((size_t)1 << 30, fake_clock, NULL);
    srand(42);
    now_ms = 1;
    int bad = 0;
    for (int step = 0; step < 200000 && !bad; step++) {
        int k = rand() % N, op = rand() % 10;
        char key[24];
        snprintf(key, sizeof key, "k%d", k);
        if (model[k].present && model[k].exp && now_ms >= model[k].exp) model[k].present = 0;
        cache_value v, out;
        if (op < 3) {
            int64_t ttl = rand() % 3 ? 0 : rand() % 50 + 1;
            int tag = rand() % 5;
            char tn[16];
            snprintf(tn, sizeof tn, "t%d", tag);
            cache_str t = {tn, strlen(tn)};
            v = integer(rand());
            cache_set(c, K(key), &v, ttl, &t, 1, 0);
            model[k].present = 1, model[k].v = v.u.i, model[k].exp = ttl ? now_ms + ttl : 0;
            model[k].tag = tag;
        } else if (op < 6) {
            int rc = cache_get(c, K(key), &out, NULL);
            if ((rc == 0) != model[k].present || (rc == 0 && out.u.i != model[k].v)) bad = step + 1;
        } else if (op < 7) {
            cache_delete(c, K(key));
            model[k].present = 0;
        } else if (op < 8) {
            v = integer(3);
            cache_incr(c, K(key), &v, NULL, 0, &out);
            if (model[k].present) model[k].v += 3;
            else model[k].present = 1, model[k].v = 3, model[k].exp = 0, model[k].tag = -1;
            if (out.u.i != model[k].v) bad = step + 1;
        } else if (op < 9) {
            if (rand() % 50 == 0) {
                int tag = rand() % 5;
                char tn[16];
                snprintf(tn, sizeof tn, "t%d", tag);
                cache_delete_tag(c, K(tn));
                for (int i = 0; i < N; i++)
                    if (model[i].tag == tag) model[i].present = 0;
            }
        } else {
            now_ms += rand() % 3;
        }
        for (int i = 0; i < N; i++)
            if (!model[i].present) model[i].tag = -1;
    }
    CHECK(!bad, "200000 random operations agree with the model%s", bad ? " (diverged)" : "");
    size_t live = 0;
    for (int i = 0; i < N; i++) live += model[i].present && !(model[i].exp && now_ms >= model[i].exp);
    CHECK(cache_delete_pattern(c, K("k*")) >= live, "pattern delete removes every key");
    cache_stats s = stats(c);
    CHECK(s.entries == 0 && s.bytes == 0, "all bytes accounted for after removing all");
    cache_destroy(c);
}

static void test_bulk_eviction(void) {
    size_t budget = 1 << 20;
    cache *c = cache_create(budget, NULL, NULL);
    char key[32], val[200];
    memset(val, 'x', sizeof val);
    int over = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        cache_value v = {.type = CACHE_STR, .u.s = {val, (size_t)(i % 200)}};
        cache_str t = {key, 5};
        cache_set(c, K(key), &v, 0, &t, 1, 0);
        if (stats(c).bytes > budget) over = 1;
    }
    cache_stats s = stats(c);
    CHECK(!over && s.evictions > 90000 && s.entries + s.evictions == 100000,
          "100000 writes stay within 1 MiB (%zu entries, %llu evictions)", s.entries,
          (unsigned long long)s.evictions);
    snprintf(key, sizeof key, "key:%d", 99999);
    CHECK(has(c, key), "most recent entry kept");
    cache_destroy(c);
}

int main(void) {
    test_values();
    test_ttl();
    test_lru();
    test_accounting();
    test_add();
    test_incr();
    test_tags();
    test_glob();
    test_model();
    test_bulk_eviction();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
