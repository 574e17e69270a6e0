/* http_peers.c — concurrent connections per client address (see
 * http_peers.h). A chained hash table keyed by siphash with a random key,
 * so a client choosing its addresses (an IPv6 block) cannot aim at one
 * bucket; entries are freed when their count falls to zero, so the table
 * holds only addresses connected right now.
 */
#include "http_peers.h"
#include "siphash.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

typedef struct peer_key { uint8_t fam; uint8_t addr[16]; } peer_key;   /* fam 4 or 6 */
typedef struct net { peer_key key; unsigned prefix; } net;

struct http_peer_slot {
    http_peer_slot *next;
    peer_key key;
    unsigned n;
    size_t bucket;
};

struct http_peers {
    unsigned max;
    uint64_t sipkey[2];
    http_peer_slot *buckets[BUCKETS];
    net *uncapped; size_t nuncapped;
};

http_peers *http_peers_create(unsigned max) {
    http_peers *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->max = max;
    siphash_random_key(p->sipkey);
    return p;
}

void http_peers_free(http_peers *p) {
    if (!p) return;
    for (size_t i = 0; i < BUCKETS; i++)
        for (http_peer_slot *e = p->buckets[i], *nx; e; e = nx) { nx = e->next; free(e); }
    free(p->uncapped);
    free(p);
}

/* The address as a key: IPv4-mapped IPv6 counts as the IPv4 it carries. */
static int key_of(const struct sockaddr *sa, peer_key *k) {
    memset(k, 0, sizeof *k);
    if (sa->sa_family == AF_INET) {
        k->fam = 4;
        memcpy(k->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family != AF_INET6) return -1;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(a, mapped, 12)) { k->fam = 4; memcpy(k->addr, a + 12, 4); return 0; }
    k->fam = 6;
    memcpy(k->addr, a, 16);
    return 0;
}

static int in_net(const net *n, const peer_key *k) {
    if (n->key.fam != k->fam) return 0;
    unsigned full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(n->key.addr, k->addr, full)) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (n->key.addr[full] & mask) == (k->addr[full] & mask);
}

static int parse_net(const char *s, net *out) {
    char buf[64];
    size_t len = strlen(s);
    if (len >= sizeof buf) return -1;
    memcpy(buf, s, len + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        char *end;
        *slash = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end) return -1;
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->key.addr) == 1) {
        out->key.fam = 4;
        if (prefix > 32) return -1;
        out->prefix = prefix < 0 ? 32 : (unsigned)prefix;
        return 0;
    }
    struct sockaddr_in6 sa6;
    memset(&sa6, 0, sizeof sa6);
    sa6.sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, buf, &sa6.sin6_addr) != 1 || prefix > 128) return -1;
    key_of((struct sockaddr *)&sa6, &out->key);
    unsigned max = out->key.fam == 4 ? 32 : 128;
    out->prefix = prefix < 0 ? max : (unsigned)prefix;
    if (out->key.fam == 4 && prefix >= 96) out->prefix = (unsigned)prefix - 96;
    return 0;
}

int http_peers_set_uncapped(http_peers *p, const char *const *nets, size_t n) {
    free(p->uncapped);
    p->uncapped = n ? calloc(n, sizeof *p->uncapped) : NULL;
    p->nuncapped = 0;
    int bad = 0;
    for (size_t i = 0; i < n && p->uncapped; i++) {
        if (parse_net(nets[i], &p->uncapped[p->nuncapped]) == 0) p->nuncapped++;
        else bad++;
    }
    return bad;
}

/* IPv6 clients are counted by their /64: the rest of the address is theirs
 * to pick. */
static void key_for_count(peer_key *k) {
    if (k->fam == 6) memset(k->addr + 8, 0, 8);
}

static http_peer_slot **find(http_peers *p, const peer_key *k, size_t *bucket) {
    *bucket = siphash13(p->sipkey[0], p->sipkey[1], k, sizeof *k) & (BUCKETS - 1);
    http_peer_slot **e = &p->buckets[*bucket];
    while (*e && memcmp(&(*e)->key, k, sizeof *k)) e = &(*e)->next;
    return e;
}

int http_peers_take(http_peers *p, const struct sockaddr *sa, http_peer_slot **slot) {
    *slot = NULL;
    peer_key k;
    if (!p->max || key_of(sa, &k) != 0) return 0;
    for (size_t i = 0; i < p->nuncapped; i++)
        if (in_net(&p->uncapped[i], &k)) return 0;
    key_for_count(&k);
    size_t b;
    http_peer_slot **e = find(p, &k, &b);
    if (*e && (*e)->n >= p->max) return -1;
    if (!*e) {
        http_peer_slot *ne = calloc(1, sizeof *ne);
        if (!ne) return 0;          /* out of memory: do not refuse for that */
        ne->key = k;
        ne->bucket = b;
        ne->next = p->buckets[b];
        p->buckets[b] = ne;
        e = &p->buckets[b];
    }
    (*e)->n++;
    *slot = *e;
    return 0;
}

void http_peers_give(http_peers *p, http_peer_slot *slot) {
    if (!slot || --slot->n > 0) return;
    http_peer_slot **e = &p->buckets[slot->bucket];
    while (*e != slot) e = &(*e)->next;
    *e = slot->next;
    free(slot);
}

unsigned http_peers_count(http_peers *p, const struct sockaddr *sa) {
    peer_key k;
    if (key_of(sa, &k) != 0) return 0;
    key_for_count(&k);
    size_t b;
    http_peer_slot **e = find(p, &k, &b);
    return *e ? (*e)->n : 0;
}
