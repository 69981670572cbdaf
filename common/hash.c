/* xxHash64 and the SplitMix64 mixer, written from their public descriptions.
 *
 * xxHash64: Yann Collet, "xxHash fast digest algorithm", spec v0.1.1
 * (doc/xxhash_spec.md in the xxHash repository), section "XXH64 algorithm
 * description". Input lanes are read as little-endian byte by byte, so the
 * result is the same on every host whatever its byte order or alignment rules.
 */
#include "hash.h"

#include <string.h>

/* XXH64 spec, "Constants". */
#define P64_1 0x9E3779B185EBCA87ULL
#define P64_2 0xC2B2AE3D27D4EB4FULL
#define P64_3 0x165667B19E3779F9ULL
#define P64_4 0x85EBCA77C2B2AE63ULL
#define P64_5 0x27D4EB2F165667C5ULL

/* XXH64 consumes input in 32-byte stripes of four 8-byte lanes. */
#define XXH64_STRIPE 32

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/* The spec defines lanes as little-endian; assembling bytes explicitly keeps
 * big-endian hosts and unaligned input correct, and compilers turn it into
 * one load on x86. */
static inline uint64_t read_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

static inline uint32_t read_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* XXH64 spec, "Step 2. Process stripes": one lane into one accumulator. */
static inline uint64_t xxh64_round(uint64_t acc, uint64_t lane)
{
	acc += lane * P64_2;
	acc = rotl64(acc, 31);
	return acc * P64_1;
}

/* XXH64 spec, "Step 3. Accumulator convergence": merge one accumulator. */
static inline uint64_t xxh64_merge(uint64_t acc, uint64_t lane_acc)
{
	acc ^= xxh64_round(0, lane_acc);
	return acc * P64_1 + P64_4;
}

/* Steps 1–3: the bulk of inputs of at least one stripe. Consumes whole
 * stripes only and reports how many bytes it used. */
static uint64_t xxh64_stripes(const uint8_t *p, size_t len, uint64_t seed, size_t *used)
{
	uint64_t v1 = seed + P64_1 + P64_2;
	uint64_t v2 = seed + P64_2;
	uint64_t v3 = seed;
	uint64_t v4 = seed - P64_1;
	size_t off = 0;

	for (; len - off >= XXH64_STRIPE; off += XXH64_STRIPE) {
		v1 = xxh64_round(v1, read_le64(p + off));
		v2 = xxh64_round(v2, read_le64(p + off + 8));
		v3 = xxh64_round(v3, read_le64(p + off + 16));
		v4 = xxh64_round(v4, read_le64(p + off + 24));
	}
	*used = off;

	uint64_t acc = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
	acc = xxh64_merge(acc, v1);
	acc = xxh64_merge(acc, v2);
	acc = xxh64_merge(acc, v3);
	return xxh64_merge(acc, v4);
}

/* Step 5 "Consume remaining input" (fewer than 32 bytes) and step 6
 * "Final mix (avalanche)". */
static uint64_t xxh64_tail(uint64_t acc, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		acc ^= xxh64_round(0, read_le64(p));
		acc = rotl64(acc, 27) * P64_1 + P64_4;
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		acc ^= (uint64_t)read_le32(p) * P64_1;
		acc = rotl64(acc, 23) * P64_2 + P64_3;
		p += 4;
		len -= 4;
	}
	while (len > 0) {
		acc ^= (uint64_t)*p * P64_5;
		acc = rotl64(acc, 11) * P64_1;
		p++;
		len--;
	}
	acc ^= acc >> 33;
	acc *= P64_2;
	acc ^= acc >> 29;
	acc *= P64_3;
	acc ^= acc >> 32;
	return acc;
}

uint64_t hash_bytes_seed(const void *data, size_t len, uint64_t seed)
{
	static const uint8_t empty[1];
	const uint8_t *p = data ? data : empty;
	size_t used = 0;
	uint64_t acc;

	if (len >= XXH64_STRIPE)
		acc = xxh64_stripes(p, len, seed, &used);
	else
		acc = seed + P64_5; /* Step 1, special case for short inputs */
	acc += (uint64_t)len;	    /* Step 4: add the full input length */
	return xxh64_tail(acc, p + used, len - used);
}

uint64_t hash_bytes(const void *data, size_t len)
{
	return hash_bytes_seed(data, len, 0);
}

uint64_t hash_str(const char *s)
{
	return hash_bytes(s, strlen(s));
}

uint64_t hash_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

uint64_t hash_splitmix_next(uint64_t *state)
{
	/* The golden-ratio increment makes the state sequence a full-period
	 * Weyl sequence; the mixer turns it into well-spread output. */
	*state += 0x9E3779B97F4A7C15ULL;
	return hash_mix64(*state);
}
