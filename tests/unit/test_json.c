/* Tests for the JSON writer: structure, commas, escaping, invalid UTF-8,
 * all-or-nothing overflow. Inputs sit right before an unreadable page. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "json.h"

/* Escapes `n` bytes placed right before a guard page; returns a static copy. */
static const char *esc(const char *s, size_t n)
{
	static char out[1024];
	void *g = guard_dup(s, n);
	long w = json_escape(out, sizeof(out) - 1, g, n);

	guard_free(g, n);
	assert_true(w >= 0);
	out[w] = '\0';
	return out;
}

#define ESC(lit) esc(lit, sizeof(lit) - 1)

static void test_structure_and_commas(void **state)
{
	char mem[256];
	struct json_buf b;

	json_init(&b, mem, sizeof(mem));
	json_obj_begin(&b);
	json_key(&b, "a");
	json_int(&b, -42);
	json_key(&b, "b");
	json_cstr(&b, "x");
	json_key(&b, "c");
	json_arr_begin(&b);
	json_bool(&b, true);
	json_bool(&b, false);
	json_null(&b);
	json_uint(&b, UINT64_MAX);
	json_arr_end(&b);
	json_key(&b, "d");
	json_obj_begin(&b);
	json_obj_end(&b);
	json_key(&b, "e");
	json_cstr(&b, NULL);
	json_obj_end(&b);
	assert_true(json_ok(&b));
	assert_int_equal(b.depth, 0);
	mem[b.len] = '\0';
	assert_string_equal(mem,
			    "{\"a\":-42,\"b\":\"x\",\"c\":[true,false,null,18446744073709551615],"
			    "\"d\":{},\"e\":null}");
}

static void test_nested_arrays_of_objects(void **state)
{
	char mem[128];
	struct json_buf b;

	json_init(&b, mem, sizeof(mem));
	json_arr_begin(&b);
	for (int i = 0; i < 2; i++) {
		json_obj_begin(&b);
		json_key(&b, "i");
		json_int(&b, i);
		json_obj_end(&b);
	}
	json_arr_begin(&b);
	json_arr_end(&b);
	json_arr_end(&b);
	mem[b.len] = '\0';
	assert_string_equal(mem, "[{\"i\":0},{\"i\":1},[]]");
}

static void test_escapes_quotes_backslash_controls(void **state)
{
	assert_string_equal(ESC("a\"b\\c"), "a\\\"b\\\\c");
	assert_string_equal(ESC("\b\f\n\r\t"), "\\b\\f\\n\\r\\t");
	assert_string_equal(ESC("\x01\x1f"), "\\u0001\\u001f");
	assert_string_equal(ESC("x\x7fy"), "x\\u007fy");
	assert_string_equal(ESC("a\0b"), "a\\u0000b");
	assert_string_equal(ESC("/ ~"), "/ ~");
	assert_string_equal(ESC(""), "");
}

static void test_valid_utf8_passes_through(void **state)
{
	assert_string_equal(ESC("caf\xc3\xa9"), "caf\xc3\xa9");			/* U+00E9 */
	assert_string_equal(ESC("\xe2\x82\xac"), "\xe2\x82\xac");		/* U+20AC */
	assert_string_equal(ESC("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");	/* U+1F600 */
	assert_string_equal(ESC("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");	/* U+10FFFF */
	assert_string_equal(ESC("\xed\x9f\xbf"), "\xed\x9f\xbf");		/* U+D7FF */
	assert_string_equal(ESC("\xe2\x80\xa8\xe2\x80\xa9"), "\\u2028\\u2029"); /* separators */
}

static void test_invalid_utf8_replaced_per_byte(void **state)
{
	assert_string_equal(ESC("\x80"), "\\ufffd");
	assert_string_equal(ESC("a\xffz"), "a\\ufffdz");
	/* Overlong '/' (RFC 3629 §10): both bytes replaced, not decoded. */
	assert_string_equal(ESC("\xc0\xaf"), "\\ufffd\\ufffd");
	assert_string_equal(ESC("\xe0\x80\xaf"), "\\ufffd\\ufffd\\ufffd");
	/* UTF-16 surrogate U+D800 encoded in UTF-8. */
	assert_string_equal(ESC("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");
	/* Above U+10FFFF. */
	assert_string_equal(ESC("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");
	/* Truncated sequences at the very end of the input (guard page after). */
	assert_string_equal(ESC("x\xe2\x82"), "x\\ufffd\\ufffd");
	assert_string_equal(ESC("\xf0\x9f\x98"), "\\ufffd\\ufffd\\ufffd");
	assert_string_equal(ESC("\xc3"), "\\ufffd");
	/* A bad continuation does not swallow the next valid character. */
	assert_string_equal(ESC("\xc3"
				"A"),
			    "\\ufffdA");
}

static void test_escape_reports_e2big(void **state)
{
	char out[4];

	assert_int_equal(json_escape(out, sizeof(out), "abcd", 4), 4);
	assert_int_equal(json_escape(out, sizeof(out), "abcde", 5), -E2BIG);
	assert_int_equal(json_escape(out, sizeof(out), "ab\n", 3), 4);
	assert_int_equal(json_escape(out, sizeof(out), "abc\n", 4), -E2BIG);
	assert_int_equal(json_escape(out, 5, "\x01", 1), -E2BIG);
}

/* For every capacity the record either fits exactly or nothing partial is
 * left behind: len rolls back to the end of the last complete append. */
static void test_overflow_all_or_nothing_every_capacity(void **state)
{
	static const char want[] = "{\"k\":\"v\\n\",\"n\":7}";
	char mem[sizeof(want)];

	for (size_t cap = 0; cap <= sizeof(want) - 1; cap++) {
		struct json_buf b;
		size_t before;

		json_init(&b, mem, cap);
		json_obj_begin(&b);
		json_key(&b, "k");
		before = b.len;
		json_str(&b, "v\n", 2);
		if (!json_ok(&b))
			assert_true(b.len <= before);
		json_key(&b, "n");
		json_int(&b, 7);
		json_obj_end(&b);
		if (cap == sizeof(want) - 1) {
			assert_true(json_ok(&b));
			assert_memory_equal(mem, want, b.len);
		} else {
			assert_false(json_ok(&b));
			assert_true(b.len < cap + 1);
			assert_memory_equal(mem, want, b.len); /* a clean prefix */
		}
	}
}

static void test_overflow_is_sticky(void **state)
{
	char mem[8];
	struct json_buf b;

	json_init(&b, mem, sizeof(mem));
	json_cstr(&b, "too long for it");
	assert_false(json_ok(&b));
	assert_int_equal(b.len, 0);
	json_int(&b, 1); /* would fit, but the record is already broken */
	assert_int_equal(b.len, 0);
}

static void test_depth_limit_and_unbalanced_close(void **state)
{
	char mem[128];
	struct json_buf b;

	json_init(&b, mem, sizeof(mem));
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_arr_begin(&b);
	assert_true(json_ok(&b));
	json_arr_begin(&b);
	assert_false(json_ok(&b));

	json_init(&b, mem, sizeof(mem));
	json_obj_end(&b);
	assert_false(json_ok(&b));
}

/* Decodes the escaped form back; returns decoded length or -1 when the
 * escaped text holds something JSON forbids (a raw control byte, a bad
 * escape). \ufffd decodes to EF BF BD. */
static long unescape(const char *e, size_t n, unsigned char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = (unsigned char)e[i];
		unsigned cp;

		if (c < 0x20 || c == '"')
			return -1;
		if (c != '\\') {
			out[o++] = c;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return -1;
		switch (e[i + 1]) {
		case '"':
			out[o++] = '"';
			i += 2;
			continue;
		case '\\':
			out[o++] = '\\';
			i += 2;
			continue;
		case 'b':
			out[o++] = '\b';
			i += 2;
			continue;
		case 'f':
			out[o++] = '\f';
			i += 2;
			continue;
		case 'n':
			out[o++] = '\n';
			i += 2;
			continue;
		case 'r':
			out[o++] = '\r';
			i += 2;
			continue;
		case 't':
			out[o++] = '\t';
			i += 2;
			continue;
		case 'u':
			break;
		default:
			return -1;
		}
		if (i + 6 > n || sscanf(e + i + 2, "%4x", &cp) != 1)
			return -1;
		if (cp < 0x80) {
			out[o++] = (unsigned char)cp;
		} else {
			out[o++] = (unsigned char)(0xE0 | (cp >> 12));
			out[o++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
			out[o++] = (unsigned char)(0x80 | (cp & 0x3F));
		}
		i += 6;
	}
	return (long)o;
}

/* Random bytes: output is always valid escaped JSON; random valid text
 * (ASCII + multibyte) round-trips exactly. */
static void test_random_inputs_roundtrip(void **state)
{
	static const char *const pieces[] = {
	    "a", "\"", "\\", "\n", "\x01", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	    " ", "\t"};
	unsigned char in[64], dec[64 * 6];
	char out[64 * 6];

	srand(12345);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = 0;
		long w, d;
		bool valid = iter & 1;

		while (n < sizeof(in) - 4) {
			if (valid) {
				const char *p = pieces[rand() % 11];
				size_t pl = strlen(p);

				memcpy(in + n, p, pl);
				n += pl;
			} else {
				in[n++] = (unsigned char)rand();
			}
			if (rand() % 16 == 0)
				break;
		}
		void *g = guard_dup(in, n);
		w = json_escape(out, sizeof(out), g, n);
		guard_free(g, n);
		assert_true(w >= 0);
		d = unescape(out, (size_t)w, dec);
		assert_true(d >= 0);
		if (valid) {
			assert_int_equal(d, n);
			assert_memory_equal(dec, in, n);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_structure_and_commas),
	    cmocka_unit_test(test_nested_arrays_of_objects),
	    cmocka_unit_test(test_escapes_quotes_backslash_controls),
	    cmocka_unit_test(test_valid_utf8_passes_through),
	    cmocka_unit_test(test_invalid_utf8_replaced_per_byte),
	    cmocka_unit_test(test_escape_reports_e2big),
	    cmocka_unit_test(test_overflow_all_or_nothing_every_capacity),
	    cmocka_unit_test(test_overflow_is_sticky),
	    cmocka_unit_test(test_depth_limit_and_unbalanced_close),
	    cmocka_unit_test(test_random_inputs_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
