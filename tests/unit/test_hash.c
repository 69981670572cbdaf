/* Tests for hash.c: xxHash64 known answers (cross-checked against the
 * reference xxhsum -H1 / libxxhash XXH64), every code path of the algorithm
 * (empty, < 4, < 8, < 32 bytes, whole stripes, stripes + tail), seeds, any
 * alignment, no over-read, and the SplitMix64 mixer's published outputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "hash.h"

struct kat {
	size_t len;
	uint64_t seed0;
	uint64_t seed_golden; /* seed 0x9E3779B97F4A7C15 */
};

#define SEED_GOLDEN 0x9E3779B97F4A7C15ULL

/* Input byte i is (i * 31 + 7) mod 256; values from the reference
 * implementation (xxHash 0.8.1). */
static const struct kat pattern_kats[] = {
    {0, 0xEF46DB3751D8E999ULL, 0xC4349FC93C010000ULL},
    {1, 0xA96C7F0CE858BBB7ULL, 0x585882422A6165E7ULL},
    {3, 0x56E6957632A487F9ULL, 0x5ACB303E78133C22ULL},
    {4, 0xC60D15B1E3FF8F04ULL, 0x7D51D5E2461732B3ULL},
    {7, 0xAFBEFC3D6C6F9A8EULL, 0x2CE9ADEC2B2C8104ULL},
    {8, 0x3DA5C7AA269683E0ULL, 0x758848F033FA76A2ULL},
    {9, 0x4B17A9BA9E215C09ULL, 0xD4576CF554B7D929ULL},
    {15, 0xAE2A37EB9357CAA7ULL, 0xA18D5C90D722CEE3ULL},
    {16, 0xA19AD429B02BC413ULL, 0xE3594F9058B426E7ULL},
    {31, 0x4A74F3A1A39AD4A1ULL, 0x8137041F5AF88413ULL},
    {32, 0x8D57D6A4671CC43DULL, 0x184EBCF3745CD46CULL},
    {33, 0x62C9FD21ED857664ULL, 0x52FAC3C981F3CC2EULL},
    {63, 0x5C320A0D2707057FULL, 0x64EF99A2E94CC7BDULL},
    {64, 0x7BBABBC45729D17EULL, 0xF7F22435FE1AB128ULL},
    {100, 0xEFA0AD2D3E70C151ULL, 0xBC7AB33BE7528C18ULL},
    {1000, 0x99594F4828043D35ULL, 0xDA717F741F399F3FULL},
};

static uint8_t *pattern(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + 7);
	return p;
}

static void test_pattern_kats(void **state)
{
	for (size_t k = 0; k < sizeof(pattern_kats) / sizeof(pattern_kats[0]); k++) {
		const struct kat *v = &pattern_kats[k];
		uint8_t *src = pattern(v->len);
		/* Right before an unreadable page: reading one byte past the
		 * input crashes the test. */
		uint8_t *g = guard_dup(src, v->len);

		assert_int_equal(hash_bytes(g, v->len), v->seed0);
		assert_int_equal(hash_bytes_seed(g, v->len, 0), v->seed0);
		assert_int_equal(hash_bytes_seed(g, v->len, SEED_GOLDEN), v->seed_golden);
		guard_free(g, v->len);
		free(src);
	}
}

/* Strings whose XXH64 values are widely published (python-xxhash's README,
 * the xxhsum tool) plus a member identity as the balancers hash it. */
static void test_string_kats(void **state)
{
	assert_int_equal(hash_str(""), 0xEF46DB3751D8E999ULL);
	assert_int_equal(hash_str("abc"), 0x44BC2CF5AD770999ULL);
	assert_int_equal(hash_str("Nobody inspects the spammish repetition"),
			 0xFBCEA83C8A378BF1ULL);
	assert_int_equal(hash_str("127.0.0.1:8100"), 0x4C0B507F4B3E1278ULL);
	assert_int_equal(hash_bytes_seed("xxhash", 6, 20141025), 0xB559B98D844E0635ULL);
	assert_int_equal(hash_bytes_seed("abc", 3, 1), 0xBEA9CA8199328908ULL);
	assert_int_equal(hash_bytes_seed("127.0.0.1:8100", 14, 1), 0x7BFD25CD6E580574ULL);
	assert_int_equal(hash_bytes(NULL, 0), 0xEF46DB3751D8E999ULL);
}

/* The value must not depend on where the bytes sit in memory. */
static void test_any_alignment(void **state)
{
	uint8_t *src = pattern(200);
	uint8_t buf[216];

	for (size_t len = 0; len <= 200; len++) {
		uint64_t want = hash_bytes(src, len);

		for (size_t off = 1; off < 16; off++) {
			memcpy(buf + off, src, len);
			assert_int_equal(hash_bytes(buf + off, len), want);
		}
		uint8_t *g = guard_dup(src, len);
		assert_int_equal(hash_bytes(g, len), want);
		guard_free(g, len);
	}
	free(src);
}

/* Every length is a different input: a bug that ignores the tail or the
 * length would make neighbours collide. */
static void test_lengths_differ(void **state)
{
	uint8_t *zero = calloc(1, 129);
	uint64_t seen[129];

	assert_non_null(zero);
	for (size_t len = 0; len <= 128; len++) {
		seen[len] = hash_bytes(zero, len);
		for (size_t j = 0; j < len; j++)
			assert_true(seen[j] != seen[len]);
	}
	free(zero);
}

/* SplitMix64 seeded with 0 produces these first outputs (Vigna's reference
 * splitmix64.c); hash_mix64 is its output function. */
static void test_splitmix_kats(void **state)
{
	uint64_t s = 0;

	assert_int_equal(hash_splitmix_next(&s), 0xE220A8397B1DCDAFULL);
	assert_int_equal(hash_splitmix_next(&s), 0x6E789E6AA1B965F4ULL);
	assert_int_equal(hash_splitmix_next(&s), 0x06C45D188009454FULL);
	assert_int_equal(s, 3 * 0x9E3779B97F4A7C15ULL);
	assert_int_equal(hash_mix64(0x9E3779B97F4A7C15ULL), 0xE220A8397B1DCDAFULL);
	assert_int_equal(hash_mix64(0), 0);
}

static int popcount64(uint64_t x)
{
	return __builtin_popcountll(x);
}

/* Avalanche: flipping one input bit flips about half the output bits, for
 * the mixer and for the byte hash. */
static void test_avalanche(void **state)
{
	uint64_t total_mix = 0, total_bytes = 0, n = 0;

	for (uint64_t x = 1; x < 200; x++) {
		uint64_t in = x * 0x9E3779B97F4A7C15ULL;
		for (int bit = 0; bit < 64; bit++) {
			uint64_t flipped = in ^ (1ULL << bit);
			total_mix += (uint64_t)popcount64(hash_mix64(in) ^ hash_mix64(flipped));
			total_bytes += (uint64_t)popcount64(hash_bytes(&in, sizeof(in)) ^
							    hash_bytes(&flipped, sizeof(flipped)));
			n++;
		}
	}
	/* Ideal is 32.0 bits per flip; a weak mixer lands far below. */
	assert_in_range(total_mix * 10 / n, 315, 325);
	assert_in_range(total_bytes * 10 / n, 315, 325);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pattern_kats),  cmocka_unit_test(test_string_kats),
	    cmocka_unit_test(test_any_alignment), cmocka_unit_test(test_lengths_differ),
	    cmocka_unit_test(test_splitmix_kats), cmocka_unit_test(test_avalanche),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
