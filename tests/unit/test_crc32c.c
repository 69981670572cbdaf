/* Tests for crc32c.c: RFC 3720 B.4 vectors on both implementations, chaining,
 * every length and alignment hardware against software, and no over-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crc32c.h"
#include "guard.h"

typedef uint32_t (*crc_fn)(uint32_t crc, const void *buf, size_t len);

struct vector {
	uint8_t data[32];
	size_t len;
	uint32_t crc;
};

/* RFC 3720 appendix B.4 ("CRC Examples") plus the customary check value of
 * the Castagnoli CRC over the ASCII digits "123456789". */
static void fill_vectors(struct vector v[5])
{
	memset(v, 0, 5 * sizeof(*v));
	v[0].len = 32; /* 32 bytes of zeros */
	v[0].crc = 0x8A9136AA;
	memset(v[1].data, 0xff, 32);
	v[1].len = 32;
	v[1].crc = 0x62A8AB43;
	for (int i = 0; i < 32; i++) {
		v[2].data[i] = (uint8_t)i;	  /* incrementing 00..1f */
		v[3].data[i] = (uint8_t)(31 - i); /* decrementing 1f..00 */
	}
	v[2].len = 32;
	v[2].crc = 0x46DD794E;
	v[3].len = 32;
	v[3].crc = 0x113FDB5C;
	memcpy(v[4].data, "123456789", 9);
	v[4].len = 9;
	v[4].crc = 0xE3069283;
}

static void check_vectors(crc_fn fn)
{
	struct vector v[5];

	fill_vectors(v);
	for (int i = 0; i < 5; i++) {
		/* Placed before an unreadable page: the last byte read must be the
		 * last byte of the input. */
		uint8_t *g = guard_dup(v[i].data, v[i].len);

		assert_int_equal(fn(0, g, v[i].len), v[i].crc);
		guard_free(g, v[i].len);
	}
}

static void test_vectors_sw(void **state)
{
	check_vectors(crc32c_sw);
}

static void test_vectors_hw(void **state)
{
	/* The dispatcher must report what the CPU really has. */
	__builtin_cpu_init();
	assert_int_equal(crc32c_has_hw(), __builtin_cpu_supports("sse4.2") != 0);
	if (crc32c_has_hw())
		check_vectors(crc32c_hw);
	check_vectors(crc32c);
}

static void test_empty_is_identity(void **state)
{
	assert_int_equal(crc32c_sw(0, NULL, 0), 0);
	assert_int_equal(crc32c(0, "", 0), 0);
	assert_int_equal(crc32c_sw(0xE3069283, "", 0), 0xE3069283);
	assert_int_equal(crc32c(0xE3069283, "", 0), 0xE3069283);
}

/* Extending over two pieces equals one pass, at every split point. */
static void test_chaining(void **state)
{
	const char *s = "123456789";

	for (size_t cut = 0; cut <= 9; cut++) {
		uint32_t a = crc32c_sw(crc32c_sw(0, s, cut), s + cut, 9 - cut);
		uint32_t b = crc32c(crc32c(0, s, cut), s + cut, 9 - cut);

		assert_int_equal(a, 0xE3069283);
		assert_int_equal(b, 0xE3069283);
	}
}

/* Every length 0..300 at every alignment 0..7, each ending at a guard page:
 * the 8-, 4- and 1-byte steps of the hardware loop must agree with the table. */
static void test_hw_matches_sw(void **state)
{
	uint8_t src[320];
	uint32_t x = 0x12345678;

	for (size_t i = 0; i < sizeof(src); i++) {
		x = x * 1103515245u + 12345u;
		src[i] = (uint8_t)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= 300; len++) {
			uint8_t *g = guard_dup(src + off, len);
			uint32_t sw = crc32c_sw(0, g, len);

			if (crc32c_has_hw())
				assert_int_equal(crc32c_hw(0, g, len), sw);
			assert_int_equal(crc32c(0, g, len), sw);
			guard_free(g, len);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors_sw),	      cmocka_unit_test(test_vectors_hw),
	    cmocka_unit_test(test_empty_is_identity), cmocka_unit_test(test_chaining),
	    cmocka_unit_test(test_hw_matches_sw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
