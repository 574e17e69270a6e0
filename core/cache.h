/* cache.h — the L1 cache: an in-process key/value store with per-entry TTL,
 * tags, LRU eviction under a byte budget.
 *
 * One cache per app (cache_for_app() keeps it in APP_SLOT_CACHE), shared by
 * every Lua generation, so it survives hot reloads. lua_cache.c is the Lua
 * binding ("nest.core.cache"); lua/nest/cache.lua builds cache-aside and the
 * L2 (Redis) layer on top.
 *
 * Ownership: the cache copies every key, value and tag it is given; callers
 * keep ownership of what they pass in. A string returned by cache_get()
 * points into the cache's own memory and stays valid only until the next
 * call on the cache: copy it before that. Keys, values and tags are binary safe (pointer + length).
 *
 * Values are strings, integers (int64, kept distinct so Lua integers come
 * back as integers) or doubles.
 *
 * Time: milliseconds from a monotonic clock the creator supplies (tests
 * inject a fake one). A TTL of 0 means "never expires". An entry expires when
 * now >= its expiry; expired entries read as missing and are freed lazily
 * (on access, or when the LRU evicts them).
 *
 * Budget: each entry is charged CACHE_ENTRY_OVERHEAD + key + string value +
 * per-tag (CACHE_TAG_OVERHEAD + tag length). The hash table's bucket array
 * is not charged. When a write takes the total over the budget, entries are
 * evicted from the least recently used end (get and incr count as use).
 *
 * Not thread-safe: call from the loop thread only. Every operation is O(1)
 * amortised except cache_delete_tag (O(entries with the tag)),
 * cache_delete_pattern (a full scan: O(all entries), documented and
 * accepted, prefer tags) and cache_flush.
 */
#ifndef MN_CACHE_H
#define MN_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cache cache;

/* Monotonic time in milliseconds. */
typedef uint64_t (*cache_clock_fn)(void *ud);

typedef enum {
    CACHE_NONE = 0,     /* missing (cache_get's out when not found) */
    CACHE_STR,
    CACHE_INT,
    CACHE_NUM
} cache_type;

typedef struct cache_value {
    cache_type type;
    union {
        struct { const char *p; size_t len; } s;
        int64_t i;
        double n;
    } u;
} cache_value;

typedef struct cache_str {
    const char *p;
    size_t len;
} cache_str;

typedef struct cache_stats {
    size_t entries;     /* stored entries (expired ones not yet freed included) */
    size_t bytes;       /* charged bytes, <= max_bytes */
    size_t max_bytes;
    uint64_t hits, misses;
    uint64_t evictions; /* live entries dropped by the LRU to make room */
    uint64_t expired;   /* expired entries freed */
} cache_stats;

#define CACHE_MAX_TAGS 8
#define CACHE_ENTRY_OVERHEAD 96   /* charged per entry: header + allocator */
#define CACHE_TAG_OVERHEAD 64     /* charged per tag of an entry (+ its length) */
#define CACHE_DEFAULT_BYTES ((size_t)64 << 20)

/* cache_set flags */
#define CACHE_NX 1      /* only if absent (or expired): cache_add */
#define CACHE_XX 2      /* only if present */

/* NULL clock: CLOCK_MONOTONIC. Returns NULL on allocation failure. */
cache *cache_create(size_t max_bytes, cache_clock_fn clock, void *clock_ud);
void cache_destroy(cache *c);

/* Change the budget; evicts at once when the cache is over the new one. */
void cache_set_budget(cache *c, size_t max_bytes);

/* 0 and *out filled (and *ttl_ms = remaining ms, or -1 when the entry never
 * expires; ttl_ms may be NULL), or -ENOENT with out->type = CACHE_NONE. */
int cache_get(cache *c, const char *key, size_t klen, cache_value *out, int64_t *ttl_ms);

/* Store a copy of v under key, replacing any previous entry (its tags go
 * with it). ttl_ms 0 = never expires. Tags are deduplicated.
 * Returns 0, -EEXIST (CACHE_NX and present), -ENOENT (CACHE_XX and absent),
 * -E2BIG (the entry alone exceeds the budget), -EINVAL (more than
 * CACHE_MAX_TAGS tags, ttl_ms < 0, or no value), -ENOMEM. On failure the
 * cache is unchanged. */
int cache_set(cache *c, const char *key, size_t klen, const cache_value *v,
              int64_t ttl_ms, const cache_str *tags, int ntags, int flags);

/* cache_set with CACHE_NX. */
int cache_add(cache *c, const char *key, size_t klen, const cache_value *v,
              int64_t ttl_ms, const cache_str *tags, int ntags);

/* Add delta to the number under key; when the key is missing (or expired)
 * store init + delta with ttl_ms (ttl_ms applies only then: an existing
 * entry keeps its expiry and tags). Integer + integer stays integer (-ERANGE
 * on overflow, the entry unchanged); anything with a double gives a double.
 * The result is written to *out. Returns 0, -EINVAL (the value is a string,
 * or delta/init not a number), -ERANGE, -E2BIG, -ENOMEM. */
int cache_incr(cache *c, const char *key, size_t klen, const cache_value *delta,
               const cache_value *init, int64_t ttl_ms, cache_value *out);

/* 0 when the key existed (and was removed), -ENOENT otherwise. */
int cache_delete(cache *c, const char *key, size_t klen);

/* 0 and *ttl_ms = remaining ms (> 0) or -1 when the entry never expires;
 * -ENOENT when missing or expired. Not a use: no LRU move, no hit/miss. */
int cache_ttl(cache *c, const char *key, size_t klen, int64_t *ttl_ms);

/* Remove every entry carrying tag; returns how many. Uses the tag index. */
size_t cache_delete_tag(cache *c, const char *tag, size_t tlen);

/* Remove every entry whose key matches the glob: '*' any run of bytes, '?'
 * one byte, '[abc]' / '[a-z]' / '[!abc]' or '[^abc]' a class, '\x' a
 * literal x. A full scan of the cache. Returns how many were removed. */
size_t cache_delete_pattern(cache *c, const char *glob, size_t glen);

/* Remove everything; returns how many entries were removed. */
size_t cache_flush(cache *c);

void cache_get_stats(const cache *c, cache_stats *out);

/* The glob matcher cache_delete_pattern uses (exposed for tests). */
int cache_glob_match(const char *pat, size_t plen, const char *s, size_t slen);

#endif
