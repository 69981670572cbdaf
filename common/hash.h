/* Stable 64-bit hashes: xxHash64 over bytes and a 64-bit integer mixer.
 *
 * "Stable" is the point: two strata-l4 nodes with the same config must map a
 * client to the same L7 instance, and a restart must not reshuffle clients.
 * So the output depends only on the input bytes (and the explicit seed):
 * never on the process, a random per-boot key, address-space layout or the
 * host's endianness. Known-answer tests in tests/unit/test_hash.c pin it.
 *
 * Not a MAC: a peer who can choose keys can choose collisions. Balancing only
 * needs spread, and a hostile client can at worst pick its own backend.
 */
#ifndef STRATA_HASH_H
#define STRATA_HASH_H

#include <stddef.h>
#include <stdint.h>

/* xxHash64 (XXH64, xxHash spec v0.1.1, doc/xxhash_spec.md in Cyan4973/xxHash)
 * of `len` bytes at `data` with `seed`. Reads exactly `len` bytes, any
 * alignment; `data` may be NULL when `len` is 0. */
uint64_t hash_bytes_seed(const void *data, size_t len, uint64_t seed);

/* hash_bytes_seed(data, len, 0): the same value `xxhsum -H1` prints. */
uint64_t hash_bytes(const void *data, size_t len);

/* hash_bytes() of a NUL-terminated string, without the NUL. */
uint64_t hash_str(const char *s);

/* Bijective 64-bit finalizer (SplitMix64's, Steele/Lea/Flood, OOPSLA 2014;
 * constants from Vigna's splitmix64.c): every input bit affects every output
 * bit. Use it to spread integers (ports, indexes, combined hashes). */
uint64_t hash_mix64(uint64_t x);

/* SplitMix64 generator: advances *state and returns the next value. A cheap,
 * per-thread, seedable PRNG for balancing choices (not for secrets). */
uint64_t hash_splitmix_next(uint64_t *state);

#endif
