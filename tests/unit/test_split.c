/* split: ratios within 2 % over 10k clients (canary, thirds, blue/green),
 * stickiness (calls, instances, reloads), the fewest clients moving when
 * weights change, forcing by header and cookie (a zero-weight side too,
 * unknown names ignored), sticky cookie and header keys, the weight parser
 * from guarded buffers, reload semantics, and weight switches under
 * concurrent picks that never fail and never show a torn table. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "addr.h"
#include "guard.h"
#include "../../l7/http1_parse.h"
#include "../../l7/split.h"

#define CLIENTS 10000

static struct addr client(uint32_t i)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.u.in4.sin_family = AF_INET;
	/* 10k clients spread over a few /16s like real traffic */
	a.u.in4.sin_addr.s_addr = htonl(0x0a000000u + (i % 7) * 0x10000u + i * 13u);
	a.u.in4.sin_port = htons((uint16_t)(1024 + i));
	a.len = sizeof(a.u.in4);
	return a;
}

static struct l7_split *make(const char *const *names, const uint32_t *w, unsigned n)
{
	struct l7_split_params p = {.n_sides = n};

	for (unsigned i = 0; i < n; i++)
		p.sides[i] = (struct l7_split_side_cfg){names[i], w[i]};
	return l7_split_new(&p);
}

static const char *const bg[] = {"blue", "green"};

/* Picks for every client; counts per side into n[]. */
static void tally(const struct l7_split *sp, unsigned *n, int *side_of)
{
	memset(n, 0, sizeof(unsigned) * L7_SPLIT_MAX_SIDES);
	for (uint32_t i = 0; i < CLIENTS; i++) {
		struct addr a = client(i);
		struct l7_split_choice c;
		int s = l7_split_choose(sp, NULL, &a, &c);

		assert_true(s >= 0);
		assert_int_equal(c.why, L7_SPLIT_WHY_CLIENT_IP);
		n[s]++;
		if (side_of)
			side_of[i] = s;
	}
}

static void check_ratio(const unsigned *n, const uint32_t *w, unsigned sides)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < sides; i++)
		total += w[i];
	for (unsigned i = 0; i < sides; i++) {
		double want = (double)w[i] / (double)total, got = (double)n[i] / CLIENTS;

		printf("    side %u: weight %u, %.2f %% of clients (want %.2f %%)\n", i, w[i],
		       100 * got, 100 * want);
		assert_true(got >= want - 0.02 && got <= want + 0.02);
	}
}

static void test_ratios(void **state)
{
	static const char *const abc[] = {"a", "b", "c"};
	static const uint32_t canary[] = {5, 95}, thirds[] = {1, 1, 1}, half[] = {50, 50};
	unsigned n[L7_SPLIT_MAX_SIDES];
	struct l7_split *sp;

	sp = make(bg, canary, 2);
	tally(sp, n, NULL);
	check_ratio(n, canary, 2);
	l7_split_free(sp);
	sp = make(bg, half, 2);
	tally(sp, n, NULL);
	check_ratio(n, half, 2);
	/* an even split is also within 2 % of its own share */
	assert_true(n[0] >= 4900 && n[0] <= 5100);
	l7_split_free(sp);
	sp = make(abc, thirds, 3);
	tally(sp, n, NULL);
	check_ratio(n, thirds, 3);
	l7_split_free(sp);
	/* blue/green: everyone on one side */
	sp = make(bg, (const uint32_t[]){100, 0}, 2);
	tally(sp, n, NULL);
	assert_int_equal(n[0], CLIENTS);
	l7_split_free(sp);
}

static void test_sticky_and_stable(void **state)
{
	static const uint32_t w[] = {30, 70};
	struct l7_split *a = make(bg, w, 2), *b = make(bg, w, 2);
	int *sa = calloc(CLIENTS, sizeof(int)), *sb = calloc(CLIENTS, sizeof(int));
	unsigned n[L7_SPLIT_MAX_SIDES];

	tally(a, n, sa);
	/* another instance (or a restart) puts every client where a did */
	tally(b, n, sb);
	assert_memory_equal(sa, sb, CLIENTS * sizeof(int));
	/* and so does asking again, with another source port */
	for (uint32_t i = 0; i < CLIENTS; i += 97) {
		struct addr c = client(i);

		addr_set_port(&c, 9);
		assert_int_equal(l7_split_pick(a, l7_split_bucket_addr(&c)), sa[i]);
	}
	/* known answers: a client's bucket must never drift between builds,
	 * or a rolling upgrade would reshuffle the canary */
	struct addr k = client(0);
	assert_int_equal(l7_split_bucket_addr(&k), 6007); /* 10.0.0.0 */
	assert_int_equal(l7_split_bucket("\x04\x0a\x00\x00\x00", 5), 6007);
	assert_int_equal(l7_split_bucket("abc123", 6), 3286);
	assert_int_equal(l7_split_bucket("", 0), 3056);
	free(sa);
	free(sb);
	l7_split_free(a);
	l7_split_free(b);
}

/* Counts clients whose side differs between before[] and after[]. */
static unsigned moved(const int *before, const int *after, int from, int to)
{
	unsigned m = 0;

	for (unsigned i = 0; i < CLIENTS; i++)
		if (before[i] != after[i]) {
			if (from >= 0)
				assert_int_equal(before[i], from);
			if (to >= 0)
				assert_int_equal(after[i], to);
			m++;
		}
	return m;
}

static void test_minimal_movement(void **state)
{
	static const char *const abc[] = {"a", "b", "c"};
	int *s0 = calloc(CLIENTS, sizeof(int)), *s1 = calloc(CLIENTS, sizeof(int));
	unsigned n[L7_SPLIT_MAX_SIDES], m;
	struct l7_split *sp = make(bg, (const uint32_t[]){5, 95}, 2);

	tally(sp, n, s0);
	char line[128];
	assert_int_equal(l7_split_format(sp, line, sizeof(line)), 35);
	assert_string_equal(line, "blue=5 [0,500) green=95 [500,10000)");
	assert_int_equal(l7_split_format(sp, line, 20), -E2BIG);
	/* canary 5 -> 10 %: only green clients move, to blue, about 5 % */
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){10, 90}, 2), 0);
	tally(sp, n, s1);
	m = moved(s0, s1, 1, 0);
	printf("    5/95 -> 10/90 moved %u of %u clients\n", m, CLIENTS);
	assert_true(m >= 400 && m <= 600);
	/* and back: exactly those return */
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){5, 95}, 2), 0);
	tally(sp, n, s1);
	assert_int_equal(moved(s0, s1, -1, -1), 0);
	/* blue/green flip moves everyone, once */
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){100, 0}, 2), 0);
	tally(sp, n, s0);
	assert_int_equal(n[0], CLIENTS);
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){0, 100}, 2), 0);
	tally(sp, n, s1);
	assert_int_equal(moved(s0, s1, 0, 1), CLIENTS);
	l7_split_free(sp);
	/* three sides: weight moved between neighbours b and c leaves a alone */
	sp = make(abc, (const uint32_t[]){20, 40, 40}, 3);
	tally(sp, n, s0);
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){20, 30, 50}, 3), 0);
	tally(sp, n, s1);
	m = moved(s0, s1, 1, 2);
	printf("    20/40/40 -> 20/30/50 moved %u clients, all b -> c\n", m);
	assert_true(m >= 800 && m <= 1200);
	l7_split_free(sp);
	free(s0);
	free(s1);
}

static struct http1_request req;
static char *guarded;
static size_t guarded_len;

static void parse_req(const char *head)
{
	enum http1_err err;

	if (guarded)
		guard_free(guarded, guarded_len);
	guarded_len = strlen(head);
	guarded = guard_dup(head, guarded_len);
	assert_int_equal(http1_parse_request(guarded, guarded_len, 0, NULL, &req, &err),
			 (int)guarded_len);
}

static void test_forcing_and_keys(void **state)
{
	struct l7_split_params p = {
	    .sides = {{"blue", 100}, {"green", 0}},
	    .n_sides = 2,
	    .key = L7_SPLIT_KEY_COOKIE,
	    .key_name = "sid",
	    .force_header = "X-Strata-Side",
	    .force_cookie = "side",
	};
	struct l7_split *sp = l7_split_new(&p);
	struct addr c = client(1);
	struct l7_split_choice ch;

	assert_non_null(sp);
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nx-strata-side: GREEN\r\n\r\n");
	assert_int_equal(l7_split_choose(sp, &req, &c, &ch), 1); /* weight 0, forced */
	assert_int_equal(ch.why, L7_SPLIT_WHY_HEADER_FORCED);
	assert_string_equal(l7_split_why_name(ch.why), "header_forced");
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; side=green\r\n\r\n");
	assert_int_equal(l7_split_choose(sp, &req, &c, &ch), 1);
	assert_int_equal(ch.why, L7_SPLIT_WHY_COOKIE_FORCED);
	/* the header wins over the cookie */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nCookie: side=green\r\nX-Strata-Side: blue\r\n\r\n");
	assert_int_equal(l7_split_choose(sp, &req, &c, &ch), 0);
	assert_int_equal(ch.why, L7_SPLIT_WHY_HEADER_FORCED);
	/* an unknown side is ignored: split as usual */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nX-Strata-Side: purple\r\n\r\n");
	assert_int_equal(l7_split_choose(sp, &req, &c, &ch), 0);
	assert_int_equal(ch.why, L7_SPLIT_WHY_CLIENT_IP);
	/* the sticky cookie decides the bucket, whatever the address */
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){50, 50}, 2), 0);
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nCookie: sid=abc123\r\n\r\n");
	l7_split_choose(sp, &req, &c, &ch);
	assert_int_equal(ch.why, L7_SPLIT_WHY_COOKIE);
	assert_int_equal(ch.bucket, l7_split_bucket("abc123", 6));
	for (uint32_t i = 0; i < 100; i++) {
		struct addr other = client(i);
		struct l7_split_choice c2;

		l7_split_choose(sp, &req, &other, &c2);
		assert_int_equal(c2.side, ch.side);
	}
	/* an empty sticky cookie falls back to the address */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nCookie: sid=\r\n\r\n");
	l7_split_choose(sp, &req, &c, &ch);
	assert_int_equal(ch.why, L7_SPLIT_WHY_CLIENT_IP);
	assert_int_equal(ch.bucket, l7_split_bucket_addr(&c));
	l7_split_free(sp);
	/* header key */
	p.key = L7_SPLIT_KEY_HEADER;
	p.key_name = "X-User";
	p.force_header = p.force_cookie = NULL;
	sp = l7_split_new(&p);
	assert_non_null(sp);
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nx-user: 42\r\nX-Strata-Side: green\r\n\r\n");
	l7_split_choose(sp, &req, &c, &ch);
	assert_int_equal(ch.why, L7_SPLIT_WHY_HEADER); /* forcing is off */
	assert_int_equal(ch.bucket, l7_split_bucket("42", 2));
	assert_int_equal(ch.side, 0); /* blue is at 100 again: configured weights */
	l7_split_free(sp);
	guard_free(guarded, guarded_len);
	guarded = NULL;
}

static void test_bad_params(void **state)
{
	struct l7_split_params p = {.sides = {{"a", 1}, {"b", 1}}, .n_sides = 2};

	assert_null(l7_split_new(NULL));
	p.n_sides = 0;
	assert_null(l7_split_new(&p));
	p.n_sides = L7_SPLIT_MAX_SIDES + 1;
	assert_null(l7_split_new(&p));
	p.n_sides = 2;
	p.sides[1].name = "a"; /* repeated */
	assert_null(l7_split_new(&p));
	p.sides[1].name = "";
	assert_null(l7_split_new(&p));
	p.sides[1] = (struct l7_split_side_cfg){"b", 0};
	p.sides[0].weight = 0; /* all zero */
	assert_null(l7_split_new(&p));
	p.sides[0].weight = L7_SPLIT_MAX_WEIGHT + 1;
	assert_null(l7_split_new(&p));
	p.sides[0].weight = 1;
	p.key = L7_SPLIT_KEY_COOKIE; /* without its name */
	assert_null(l7_split_new(&p));
	p.key_name = "bad name";
	assert_null(l7_split_new(&p));
	p.key_name = "ok";
	p.force_header = "x:y";
	assert_null(l7_split_new(&p));
	p.force_header = NULL;
	struct l7_split *sp = l7_split_new(&p);
	assert_non_null(sp);
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){0, 0}, 2), -EINVAL);
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){1, 1, 1}, 3), -EINVAL);
	assert_int_equal(l7_split_count(sp), 2);
	assert_string_equal(l7_split_side_name(sp, 1), "b");
	assert_null(l7_split_side_name(sp, 2));
	l7_split_free(sp);
}

struct spec_case {
	const char *text;
	int rc; /* > 0: ok */
	uint32_t w0, w1, w2;
	enum l7_split_err why;
};

static const struct spec_case spec_cases[] = {
    {"blue=0,green=100", 16, 0, 100, 7, L7_SPLIT_ERR_NONE},
    {" green = 5 ", 11, 10, 5, 7, L7_SPLIT_ERR_NONE}, /* others keep their weight */
    {"Blue=3,canary=4", 15, 3, 20, 4, L7_SPLIT_ERR_NONE},
    {"", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_EMPTY},
    {"blue=1,", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_EMPTY},
    {",blue=1", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_EMPTY},
    {"blue", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_NO_EQUALS},
    {"red=1", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_UNKNOWN},
    {"=1", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_UNKNOWN},
    {"blue=1,blue=2", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_DUPLICATE},
    {"blue=", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_WEIGHT},
    {"blue=1x", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_WEIGHT},
    {"blue=-1", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_WEIGHT},
    {"blue=1 0", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_WEIGHT},
    {"blue=1000001", -E2BIG, 0, 0, 0, L7_SPLIT_ERR_TOO_LARGE},
    {"blue=99999999999999999999999", -E2BIG, 0, 0, 0, L7_SPLIT_ERR_TOO_LARGE},
    {"blue=0,green=0,canary=0", -EBADMSG, 0, 0, 0, L7_SPLIT_ERR_ALL_ZERO},
};

static void test_parse_weights(void **state)
{
	static const char *const names[] = {"blue", "green", "canary"};
	struct l7_split *sp = make(names, (const uint32_t[]){10, 20, 7}, 3);

	for (size_t i = 0; i < sizeof(spec_cases) / sizeof(spec_cases[0]); i++) {
		const struct spec_case *c = &spec_cases[i];
		size_t len = strlen(c->text);
		char *buf = guard_dup(c->text, len);
		uint32_t w[L7_SPLIT_MAX_SIDES];
		enum l7_split_err why;
		int rc = l7_split_parse_weights(sp, buf, len, w, &why);

		if (rc != c->rc || why != c->why)
			fail_msg("\"%s\": rc %d why %d (%s)", c->text, rc, why,
				 l7_split_err_text(why));
		if (rc > 0 && (w[0] != c->w0 || w[1] != c->w1 || w[2] != c->w2))
			fail_msg("\"%s\": %u %u %u", c->text, w[0], w[1], w[2]);
		/* every prefix gives a verdict without reading past it */
		for (size_t k = 0; k < len; k++) {
			char *pre = guard_dup(c->text, k);

			rc = l7_split_parse_weights(sp, pre, k, w, &why);
			assert_true(rc == (int)k || rc == -EBADMSG || rc == -E2BIG);
			guard_free(pre, k);
		}
		guard_free(buf, len);
	}
	char big[L7_SPLIT_SPEC_MAX + 2];
	uint32_t w[L7_SPLIT_MAX_SIDES];
	enum l7_split_err why;
	memset(big, ' ', sizeof(big));
	assert_int_equal(l7_split_parse_weights(sp, big, sizeof(big), w, &why), -E2BIG);
	l7_split_free(sp);
}

static void test_reconfigure(void **state)
{
	struct l7_split_params p = {.sides = {{"blue", 100}, {"green", 0}}, .n_sides = 2};
	struct l7_split *sp = l7_split_new(&p);
	uint32_t w[L7_SPLIT_MAX_SIDES];

	/* the operator flips it at run time */
	assert_int_equal(l7_split_set_weights(sp, (const uint32_t[]){0, 100}, 2), 0);
	/* a reload with the same configured weights keeps the operator's */
	assert_int_equal(l7_split_reconfigure(sp, &p), 0);
	assert_int_equal(l7_split_weights(sp, w), 2);
	assert_int_equal(w[0], 0);
	assert_int_equal(w[1], 100);
	/* a reload that changes them applies the new ones */
	p.sides[0].weight = 90;
	p.sides[1].weight = 10;
	assert_int_equal(l7_split_reconfigure(sp, &p), 0);
	l7_split_weights(sp, w);
	assert_int_equal(w[0], 90);
	assert_int_equal(w[1], 10);
	/* other sides, keys or forcing: the caller builds a new split */
	p.sides[1].name = "canary";
	assert_int_equal(l7_split_reconfigure(sp, &p), -EINVAL);
	p.sides[1].name = "green";
	p.force_header = "X-Side";
	assert_int_equal(l7_split_reconfigure(sp, &p), -EINVAL);
	p.force_header = NULL;
	p.key = L7_SPLIT_KEY_COOKIE;
	p.key_name = "sid";
	assert_int_equal(l7_split_reconfigure(sp, &p), -EINVAL);
	l7_split_weights(sp, w);
	assert_int_equal(w[0], 90); /* untouched by the refusals */
	l7_split_free(sp);
}

/* --- switches under concurrent picks ------------------------------------ */

struct flip {
	struct l7_split *sp;
	atomic_bool stop;
	_Atomic uint64_t picks, torn, failed, flips;
};

/* Tables X = 1/1/98 (bounds 100, 200, 10000) and Y = 98/1/1 (9800, 9900,
 * 10000): bucket 5000 is c under X and a under Y; a torn mix of the two
 * would answer b. */
static void *picker(void *arg)
{
	struct flip *f = arg;

	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		int s = l7_split_pick(f->sp, 5000);

		if (s < 0)
			atomic_fetch_add(&f->failed, 1);
		else if (s == 1)
			atomic_fetch_add(&f->torn, 1);
		atomic_fetch_add_explicit(&f->picks, 1, memory_order_relaxed);
	}
	return NULL;
}

static void test_switch_under_picks(void **state)
{
	static const char *const abc[] = {"a", "b", "c"};
	static const uint32_t x[] = {1, 1, 98}, y[] = {98, 1, 1};
	struct flip f = {.sp = make(abc, x, 3)};
	struct timespec ts = {0, 20000};
	uint64_t until = (uint64_t)time(NULL) + 2;
	pthread_t th[2];

	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, picker, &f), 0);
	while ((uint64_t)time(NULL) < until) {
		assert_int_equal(l7_split_set_weights(f.sp, f.flips & 1 ? x : y, 3), 0);
		f.flips++;
		nanosleep(&ts, NULL);
	}
	atomic_store(&f.stop, true);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("    %llu weight switches during %llu picks: %llu failed, %llu torn\n",
	       (unsigned long long)f.flips, (unsigned long long)f.picks,
	       (unsigned long long)f.failed, (unsigned long long)f.torn);
	assert_true(f.flips > 100 && f.picks > 1000);
	assert_int_equal(f.failed, 0);
	assert_int_equal(f.torn, 0);
	l7_split_free(f.sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratios),	     cmocka_unit_test(test_sticky_and_stable),
	    cmocka_unit_test(test_minimal_movement), cmocka_unit_test(test_forcing_and_keys),
	    cmocka_unit_test(test_bad_params),	     cmocka_unit_test(test_parse_weights),
	    cmocka_unit_test(test_reconfigure),	     cmocka_unit_test(test_switch_under_picks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
