/* siphash.h — SipHash-1-3, a keyed hash for tables whose keys come from
 * outside (cache keys, metric label values): with a random per-table key an
 * attacker cannot build colliding keys to turn lookups into linear scans.
 *
 * Pure functions, no state; the caller owns the key (two 64-bit words,
 * usually from siphash_random_key()).
 */
#ifndef MN_SIPHASH_H
#define MN_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash13(uint64_t k0, uint64_t k1, const void *data, size_t len);

/* Fill key[0..1] from the OS random source (falls back to the clock and
 * addresses if that fails: still unpredictable enough for hash seeding). */
void siphash_random_key(uint64_t key[2]);

#endif
