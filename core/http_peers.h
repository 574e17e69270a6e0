/* http_peers.h — concurrent connections per client address, so that one
 * address cannot take every connection slot.
 *
 * A table of counts keyed by the peer's address (IPv4 exactly; IPv6 by its
 * /64, the block one subscriber is given, or a single host would hold 2^64
 * addresses); a count lives only while it is above zero. Networks marked
 * uncapped (trusted reverse proxies: many clients behind one address) are
 * never refused, and not counted.
 *
 * Ownership: the table owns its entries; http_peers_take() hands back a
 * slot that the caller gives back exactly once with http_peers_give().
 * Nothing here knows about HTTP or libuv handles.
 */
#ifndef MN_HTTP_PEERS_H
#define MN_HTTP_PEERS_H

#include <stddef.h>
#include <sys/socket.h>

typedef struct http_peers http_peers;
typedef struct http_peer_slot http_peer_slot;

/* max: connections one address may hold at once (0 = no cap). */
http_peers *http_peers_create(unsigned max);
void http_peers_free(http_peers *p);
/* Networks that are never capped: exact addresses ("10.0.0.7", "::1") or
 * CIDR blocks ("10.0.0.0/8", "fd00::/8"). Replaces the previous list;
 * entries that do not parse are skipped and counted in the return value. */
int http_peers_set_uncapped(http_peers *p, const char *const *nets, size_t n);
/* Count a new connection from sa. 0 with *slot set (NULL when uncapped or
 * no cap: nothing to give back), or -1 when the address is at its cap
 * (nothing counted). */
int http_peers_take(http_peers *p, const struct sockaddr *sa, http_peer_slot **slot);
void http_peers_give(http_peers *p, http_peer_slot *slot);
/* The connections counted for sa right now (specs, tests). */
unsigned http_peers_count(http_peers *p, const struct sockaddr *sa);

#endif
