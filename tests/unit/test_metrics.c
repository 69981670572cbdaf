/* Tests for the metrics registry, the Prometheus exposition (checked exactly
 * and by a strict format checker), concurrent writers, the /metrics HTTP
 * endpoint and the `metrics` admin command. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin.h"
#include "log.h"
#include "metrics.h"

/* --- a strict checker for the text format 0.0.4 -------------------------- */

struct fam_state {
	char name[METRICS_NAME_MAX];
	char type[32];
	char series[512];  /* labels (without le) of the histogram series in progress */
	double last_le;	   /* last le seen in that series */
	double last_count; /* its last bucket value */
	bool inf_seen;
};

static bool name_ok(const char *s, size_t n, bool metric)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (metric && c == ':') || (i && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* Parses `{a="x",b="y"}` at *p; copies the labels except le into `rest` and
 * the le value into `le`. Returns false on any syntax error. */
static bool parse_labels(const char **p, char *rest, size_t rest_cap, char *le, size_t le_cap)
{
	const char *s = *p + 1;
	size_t ro = 0;

	le[0] = rest[0] = '\0';
	while (*s != '}') {
		const char *n0 = s, *v0;
		char val[512];
		size_t vo = 0;

		while (*s && *s != '=')
			s++;
		if (*s != '=' || !name_ok(n0, (size_t)(s - n0), false) || s[1] != '"')
			return false;
		for (v0 = s += 2; *s != '"'; s++) {
			if (!*s || *s == '\n' || vo >= sizeof(val) - 2)
				return false;
			if (*s == '\\') {
				s++;
				if (*s != '\\' && *s != '"' && *s != 'n')
					return false;
			}
			val[vo++] = *s;
		}
		val[vo] = '\0';
		if (v0 - n0 == 4 && memcmp(n0, "le", 2) == 0)
			snprintf(le, le_cap, "%.63s", val);
		else
			ro += (size_t)snprintf(rest + ro, rest_cap - ro, "%.*s,", (int)(s + 1 - n0),
					       n0);
		s++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return false;
	}
	*p = s + 1;
	return true;
}

static bool value_ok(const char *s, double *out)
{
	char *end;

	if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0) {
		*out = strcmp(s, "NaN") == 0 ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
		return true;
	}
	*out = strtod(s, &end);
	return end != s && *end == '\0' && !strchr(s, ' ');
}

/* Checks a sample line against the family in progress. */
static const char *check_sample(struct fam_state *f, char *line)
{
	char rest[512], le[64], *sp;
	const char *p = line;
	size_t nlen = strlen(f->name);
	double v, lev;

	while (*p && *p != '{' && *p != ' ')
		p++;
	if (!f->name[0] || !name_ok(line, (size_t)(p - line), true))
		return "sample without a TYPE or with a bad name";
	const char *suffix = line + nlen;
	size_t slen = (size_t)(p - suffix);
	if ((size_t)(p - line) < nlen || memcmp(line, f->name, nlen) != 0)
		return "sample of another family";
	bool hist = strcmp(f->type, "histogram") == 0;
	if (!hist && slen)
		return "sample name differs from its family";
	if (hist && !(slen == 7 && !memcmp(suffix, "_bucket", 7)) &&
	    !(slen == 4 && !memcmp(suffix, "_sum", 4)) &&
	    !(slen == 6 && !memcmp(suffix, "_count", 6)))
		return "bad histogram suffix";
	rest[0] = le[0] = '\0';
	if (*p == '{' && !parse_labels(&p, rest, sizeof(rest), le, sizeof(le)))
		return "bad label syntax";
	if (*p != ' ')
		return "no space before the value";
	sp = (char *)p + 1;
	if (!value_ok(sp, &v))
		return "bad value (or a timestamp)";
	if (!hist)
		return le[0] ? "le label outside a histogram" : NULL;
	if (slen == 7) {
		if (!le[0] || !value_ok(le, &lev))
			return "bucket without a valid le";
		if (strcmp(rest, f->series) != 0) {
			if (f->series[0] && !f->inf_seen)
				return "bucket series ended without +Inf";
			snprintf(f->series, sizeof(f->series), "%s", rest);
			f->last_le = -INFINITY;
			f->last_count = 0;
			f->inf_seen = false;
		}
		if (!(lev > f->last_le) || v < f->last_count)
			return "buckets not ascending or not cumulative";
		f->last_le = lev;
		f->last_count = v;
		f->inf_seen = isinf(lev);
		return NULL;
	}
	if (le[0])
		return "le on _sum/_count";
	if (!f->inf_seen || strcmp(rest, f->series) != 0)
		return "_sum/_count without its buckets";
	if (slen == 6 && v != f->last_count)
		return "_count differs from the +Inf bucket";
	return NULL;
}

/* Returns NULL when `text` is valid exposition text, else what is wrong. */
static const char *check_exposition(const char *text)
{
	static char seen[64][METRICS_NAME_MAX];
	static char err[256];
	struct fam_state f = {0};
	int n_seen = 0;
	char *copy = strdup(text), *save = NULL, *line;
	const char *bad = NULL;
	size_t len = strlen(text);

	if (len && text[len - 1] != '\n')
		bad = "text does not end with a newline";
	for (line = strtok_r(copy, "\n", &save); line && !bad; line = strtok_r(NULL, "\n", &save)) {
		char name[METRICS_NAME_MAX], type[32];

		if (strncmp(line, "# HELP ", 7) == 0) {
			const char *h = line + 7;
			size_t nl = strcspn(h, " ");
			if (!name_ok(h, nl, true))
				bad = "bad HELP name";
			for (const char *q = h + nl; *q && !bad; q++)
				if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
					bad = "bad escape in HELP";
				else if (*q == '\\')
					q++;
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			if (sscanf(line + 7, "%127s %31s", name, type) != 2 ||
			    (strcmp(type, "counter") && strcmp(type, "gauge") &&
			     strcmp(type, "histogram")))
				bad = "bad TYPE line";
			for (int i = 0; i < n_seen && !bad; i++)
				if (!strcmp(seen[i], name))
					bad = "family appears twice";
			if (!bad && n_seen < 64)
				snprintf(seen[n_seen++], METRICS_NAME_MAX, "%s", name);
			if (!bad && f.series[0] && !f.inf_seen)
				bad = "histogram ended without +Inf";
			memset(&f, 0, sizeof(f));
			snprintf(f.name, sizeof(f.name), "%s", name);
			snprintf(f.type, sizeof(f.type), "%s", type);
		} else if (line[0] == '#') {
			bad = "unknown comment line";
		} else {
			bad = check_sample(&f, line);
		}
		if (bad) {
			snprintf(err, sizeof(err), "%s: '%.150s'", bad, line);
			bad = err;
		}
	}
	free(copy);
	return bad;
}

static void assert_valid(const char *text)
{
	const char *why = check_exposition(text);

	if (why)
		fail_msg("invalid exposition: %s\n%s", why, text);
}

/* --- registry and exposition --------------------------------------------- */

static const double lat_bounds[] = {0.0005, 0.01, 1};

static void test_exposition_exact(void **state)
{
	struct metrics_reg *reg = metrics_reg_new(2, 0);
	const char *const lbl[] = {"service", "instance", NULL};
	const char *const svc[] = {"service", NULL};
	struct metrics_worker *w0 = metrics_worker(reg, 0), *w1 = metrics_worker(reg, 1);
	int req = metrics_family(reg, "strata_test_requests_total", "Requests seen.",
				 METRICS_COUNTER, lbl);
	int lat = metrics_histogram(reg, "strata_test_latency_seconds", "Latency.", svc, lat_bounds,
				    3, 1e-6);
	int64_t web = metrics_series(reg, req, (const char *const[]){"web", "127.0.0.1:8100"});
	int64_t api = metrics_series(reg, req, (const char *const[]){"api", "127.0.0.1:8101"});
	int64_t act = metrics_simple(reg, "strata_test_active", "Open connections.", METRICS_GAUGE);
	int64_t h = metrics_series(reg, lat, (const char *const[]){"web"});
	const struct metrics_hist *hh = metrics_hist(reg, lat);
	size_t len;
	char *text;

	assert_true(req >= 0 && lat >= 0 && web >= 0 && api >= 0 && act >= 0 && h >= 0);
	assert_true(metrics_family(reg, "strata_test_active", "x", METRICS_GAUGE, NULL) >= 0);
	for (int i = 0; i < 3; i++)
		metrics_inc(w0, (uint32_t)web);
	metrics_add(w1, (uint32_t)web, 4);
	metrics_inc(w1, (uint32_t)api);
	metrics_inc(w0, (uint32_t)act);
	metrics_inc(w0, (uint32_t)act);
	metrics_dec(w1, (uint32_t)act);
	metrics_observe(w0, hh, (uint32_t)h, 500); /* exactly 0.0005 s: le is inclusive */
	metrics_observe(w1, hh, (uint32_t)h, 501);
	metrics_observe(w1, hh, (uint32_t)h, 2000000);
	text = metrics_render(reg, &len);
	assert_int_equal(len, strlen(text));
	assert_string_equal(
	    text, "# HELP strata_test_requests_total Requests seen.\n"
		  "# TYPE strata_test_requests_total counter\n"
		  "strata_test_requests_total{service=\"web\",instance=\"127.0.0.1:8100\"} 7\n"
		  "strata_test_requests_total{service=\"api\",instance=\"127.0.0.1:8101\"} 1\n"
		  "# HELP strata_test_latency_seconds Latency.\n"
		  "# TYPE strata_test_latency_seconds histogram\n"
		  "strata_test_latency_seconds_bucket{service=\"web\",le=\"0.0005\"} 1\n"
		  "strata_test_latency_seconds_bucket{service=\"web\",le=\"0.01\"} 2\n"
		  "strata_test_latency_seconds_bucket{service=\"web\",le=\"1\"} 2\n"
		  "strata_test_latency_seconds_bucket{service=\"web\",le=\"+Inf\"} 3\n"
		  "strata_test_latency_seconds_sum{service=\"web\"} 2.001001\n"
		  "strata_test_latency_seconds_count{service=\"web\"} 3\n"
		  "# HELP strata_test_active Open connections.\n"
		  "# TYPE strata_test_active gauge\n"
		  "strata_test_active 1\n");
	assert_valid(text);
	free(text);
	metrics_reg_free(reg);
}

static void test_label_and_help_escaping(void **state)
{
	struct metrics_reg *reg = metrics_reg_new(1, 0);
	const char *const lbl[] = {"path", NULL};
	int fam = metrics_family(reg, "esc_total", "a\\b\nc \"q\"", METRICS_COUNTER, lbl);
	int64_t s = metrics_series(reg, fam, (const char *const[]){"a\"b\\c\nd"});
	char *text;

	assert_true(s >= 0);
	metrics_inc(metrics_worker(reg, 0), (uint32_t)s);
	text = metrics_render(reg, NULL);
	assert_string_equal(text, "# HELP esc_total a\\\\b\\nc \"q\"\n"
				  "# TYPE esc_total counter\n"
				  "esc_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
	assert_valid(text);
	free(text);
	metrics_reg_free(reg);
}

static void test_negative_gauge_and_set(void **state)
{
	struct metrics_reg *reg = metrics_reg_new(3, 0);
	int64_t g = metrics_simple(reg, "g", "", METRICS_GAUGE);
	int64_t s = metrics_simple(reg, "s", "set", METRICS_GAUGE);
	char *text;

	metrics_dec(metrics_worker(reg, 1), (uint32_t)g);
	metrics_sub(metrics_worker(reg, 2), (uint32_t)g, 4);
	metrics_add(metrics_worker(reg, 0), (uint32_t)g, 2);
	metrics_set(metrics_worker(reg, 2), (uint32_t)s, 1234567890123);
	metrics_set(metrics_worker(reg, 2), (uint32_t)s, -7);
	assert_int_equal(metrics_read_gauge(reg, (uint32_t)g), -3);
	text = metrics_render(reg, NULL);
	assert_string_equal(
	    text, "# HELP g \n# TYPE g gauge\ng -3\n# HELP s set\n# TYPE s gauge\ns -7\n");
	assert_valid(text);
	free(text);
	metrics_reg_free(reg);
}

static void test_histogram_bucket_edges(void **state)
{
	static const double b[] = {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
	struct metrics_reg *reg = metrics_reg_new(1, 0);
	int fam = metrics_histogram(reg, "lat_seconds", "h", NULL, b, 10, 1e-9);
	int64_t idx = metrics_series(reg, fam, NULL);
	const struct metrics_hist *h = metrics_hist(reg, fam);
	struct metrics_worker *w = metrics_worker(reg, 0);

	assert_int_equal(h->thr[0], 500000); /* 0.0005 s in ns, despite 1e-9 rounding */
	assert_int_equal(h->thr[9], 10000000000ull);
	metrics_observe(w, h, (uint32_t)idx, 0);
	metrics_observe(w, h, (uint32_t)idx, 500000);
	metrics_observe(w, h, (uint32_t)idx, 500001);
	metrics_observe(w, h, (uint32_t)idx, 10000000000ull);
	metrics_observe(w, h, (uint32_t)idx, 10000000001ull);
	assert_int_equal(metrics_read(reg, (uint32_t)idx + 0), 2);
	assert_int_equal(metrics_read(reg, (uint32_t)idx + 1), 1);
	assert_int_equal(metrics_read(reg, (uint32_t)idx + 9), 1);
	assert_int_equal(metrics_read(reg, (uint32_t)idx + 10), 1); /* +Inf */
	char *text = metrics_render(reg, NULL);
	assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.0005\"} 2\n"));
	assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.001\"} 3\n"));
	assert_non_null(strstr(text, "lat_seconds_bucket{le=\"10\"} 4\n"));
	assert_non_null(strstr(text, "lat_seconds_bucket{le=\"+Inf\"} 5\n"));
	assert_non_null(strstr(text, "lat_seconds_sum 20.001000002\n"));
	assert_non_null(strstr(text, "lat_seconds_count 5\n"));
	assert_valid(text);
	free(text);
	metrics_reg_free(reg);
}

static void test_registration_rules(void **state)
{
	struct metrics_reg *reg = metrics_reg_new(1, 8);
	const char *const ab[] = {"a", "b", NULL}, *const ba[] = {"b", "a", NULL};
	int fam = metrics_family(reg, "x_total", "x", METRICS_COUNTER, ab);

	assert_true(fam >= 0);
	assert_int_equal(metrics_family(reg, "x_total", "other help", METRICS_COUNTER, ab), fam);
	assert_int_equal(metrics_family(reg, "x_total", "x", METRICS_GAUGE, ab), -EEXIST);
	assert_int_equal(metrics_family(reg, "x_total", "x", METRICS_COUNTER, ba), -EEXIST);
	assert_int_equal(metrics_family(reg, "9bad", "x", METRICS_COUNTER, NULL), -EINVAL);
	assert_int_equal(metrics_family(reg, "a-b", "x", METRICS_COUNTER, NULL), -EINVAL);
	assert_true(metrics_family(reg, "ns:sub_total", "x", METRICS_COUNTER, NULL) >= 0);
	assert_int_equal(metrics_family(reg, "y", "x", METRICS_COUNTER,
					(const char *const[]){"__reserved", NULL}),
			 -EINVAL);
	assert_int_equal(
	    metrics_family(reg, "y", "x", METRICS_COUNTER, (const char *const[]){"a", "a", NULL}),
	    -EINVAL);
	assert_int_equal(metrics_family(reg, "y", "x", METRICS_HISTOGRAM, NULL), -EINVAL);
	assert_int_equal(
	    metrics_histogram(reg, "h", "x", (const char *const[]){"le", NULL}, lat_bounds, 3, 1),
	    -EINVAL);
	assert_int_equal(metrics_histogram(reg, "h", "x", NULL, (const double[]){1, 1}, 2, 1),
			 -EINVAL);
	assert_int_equal(metrics_histogram(reg, "h", "x", NULL, lat_bounds, 3, 0), -EINVAL);
	/* Found or created by label values. */
	int64_t s1 = metrics_series(reg, fam, (const char *const[]){"1", "2"});
	int64_t s2 = metrics_series(reg, fam, (const char *const[]){"1", "3"});
	assert_true(s1 >= 0 && s2 >= 0 && s1 != s2);
	assert_int_equal(metrics_series(reg, fam, (const char *const[]){"1", "2"}), s1);
	assert_int_equal(metrics_series(reg, fam, (const char *const[]){"1", NULL}), -EINVAL);
	assert_int_equal(metrics_series(reg, 99, NULL), -EINVAL);
	/* 8 cells: a 3-bound histogram needs 5, only 6 are left after two
	 * counters, a second one does not fit. */
	assert_int_equal(metrics_histogram(reg, "h2", "x", NULL, lat_bounds, 3, 1), -EINVAL);
	int hf = metrics_histogram(reg, "h2", "x", NULL, lat_bounds, 3, 1e-6);
	assert_true(metrics_series(reg, hf, NULL) >= 0);
	assert_int_equal(metrics_series(reg, fam, (const char *const[]){"9", "9"}), s2 + 6);
	assert_int_equal(metrics_series(reg, fam, (const char *const[]){"9", "10"}), -ENOSPC);
	metrics_reg_free(reg);
}

static void test_stale_series_hidden_and_revived(void **state)
{
	struct metrics_reg *reg = metrics_reg_new(1, 0);
	const char *const lbl[] = {"instance", NULL};
	int fam = metrics_family(reg, "up_total", "u", METRICS_COUNTER, lbl);
	int other = metrics_family(reg, "other_total", "o", METRICS_COUNTER, NULL);
	int64_t a = metrics_series(reg, fam, (const char *const[]){"a"});
	int64_t b = metrics_series(reg, fam, (const char *const[]){"b"});
	struct metrics_worker *w = metrics_worker(reg, 0);
	char *text;

	metrics_series(reg, other, NULL);
	metrics_add(w, (uint32_t)a, 5);
	metrics_add(w, (uint32_t)b, 6);
	/* A reload: everything stale, the new config keeps only "b". */
	metrics_mark_stale(reg, -1);
	assert_int_equal(metrics_series(reg, fam, (const char *const[]){"b"}), b);
	metrics_inc(w, (uint32_t)a); /* an old connection still counts: harmless */
	text = metrics_render(reg, NULL);
	assert_string_equal(
	    text, "# HELP up_total u\n# TYPE up_total counter\nup_total{instance=\"b\"} 6\n");
	free(text);
	/* "a" comes back with its counter intact. */
	assert_int_equal(metrics_series(reg, fam, (const char *const[]){"a"}), a);
	assert_int_equal(metrics_series_stale(reg, fam, (const char *const[]){"b"}), 0);
	assert_int_equal(metrics_series_stale(reg, fam, (const char *const[]){"zz"}), -ENOENT);
	text = metrics_render(reg, NULL);
	assert_string_equal(
	    text, "# HELP up_total u\n# TYPE up_total counter\nup_total{instance=\"a\"} 6\n");
	free(text);
	metrics_reg_free(reg);
}

static void test_many_series_hash_growth(void **state)
{
	struct metrics_reg *reg = metrics_reg_new(1, 0);
	int fam =
	    metrics_family(reg, "m_total", "m", METRICS_COUNTER, (const char *const[]){"i", NULL});
	char v[16];

	for (int i = 0; i < 5000; i++) {
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(metrics_series(reg, fam, (const char *const[]){v}), i);
	}
	for (int i = 4999; i >= 0; i -= 7) {
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(metrics_series(reg, fam, (const char *const[]){v}), i);
	}
	char *text = metrics_render(reg, NULL);
	assert_valid(text);
	assert_non_null(strstr(text, "m_total{i=\"4999\"} 0\n"));
	free(text);
	metrics_reg_free(reg);
}

/* --- concurrency ----------------------------------------------------------- */

#define CONC_WRITERS 4
#define CONC_INCS    2000000

struct conc {
	struct metrics_reg *reg;
	const struct metrics_hist *h;
	uint32_t ctr, hist;
	unsigned id;
	int done; /* atomic */
};

static void *conc_writer(void *arg)
{
	struct conc *c = arg;
	struct metrics_worker *w = metrics_worker(c->reg, c->id);

	for (uint32_t i = 0; i < CONC_INCS; i++) {
		metrics_inc(w, c->ctr);
		if ((i & 1023) == 0)
			metrics_observe(w, c->h, c->hist, i & 0xffff);
	}
	return NULL;
}

static void test_concurrent_writers_vs_reader(void **state)
{
	struct metrics_reg *reg = metrics_reg_new(CONC_WRITERS, 0);
	int hf = metrics_histogram(reg, "c_hist", "h", NULL, lat_bounds, 3, 1e-4);
	struct conc c[CONC_WRITERS];
	pthread_t th[CONC_WRITERS];
	uint64_t last = 0, now;
	int renders = 0;

	for (int i = 0; i < CONC_WRITERS; i++) {
		c[i] = (struct conc){.reg = reg, .id = (unsigned)i, .h = metrics_hist(reg, hf)};
		c[i].ctr = (uint32_t)metrics_simple(reg, "c_total", "c", METRICS_COUNTER);
		c[i].hist = (uint32_t)metrics_series(reg, hf, NULL);
		pthread_create(&th[i], NULL, conc_writer, &c[i]);
	}
	do { /* reading while they write: the sum only ever grows */
		now = metrics_read(reg, c[0].ctr);
		assert_true(now >= last);
		last = now;
		if (renders++ % 64 == 0) {
			char *text = metrics_render(reg, NULL);
			assert_valid(text);
			free(text);
		}
	} while (now < (uint64_t)CONC_WRITERS * CONC_INCS && renders < 50000000);
	for (int i = 0; i < CONC_WRITERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(metrics_read(reg, c[0].ctr), (uint64_t)CONC_WRITERS * CONC_INCS);
	uint64_t count = 0;
	for (uint32_t b = 0; b <= 3; b++)
		count += metrics_read(reg, c[0].hist + b);
	assert_int_equal(count, CONC_WRITERS * (CONC_INCS / 1024 + 1));
	metrics_reg_free(reg);
}

/* --- the HTTP endpoint ------------------------------------------------------ */

struct http_fix {
	struct metrics_reg *reg;
	struct metrics_http *h;
	int port;
};

static int http_setup(void **state)
{
	struct http_fix *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	f->reg = metrics_reg_new(1, 0);
	metrics_add(metrics_worker(f->reg, 0),
		    (uint32_t)metrics_simple(f->reg, "http_test_total", "t", METRICS_COUNTER), 42);
	if (metrics_http_start(f->reg, (struct sockaddr *)&sin, sizeof(sin), &f->h) < 0)
		return -1;
	f->port = metrics_http_port(f->h);
	*state = f;
	return f->port > 0 ? 0 : -1;
}

static int http_teardown(void **state)
{
	struct http_fix *f = *state;

	metrics_http_stop(f->h);
	metrics_reg_free(f->reg);
	free(f);
	return 0;
}

static int connect_port(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Sends `req` (in pieces of `step` bytes) and reads the answer until EOF. */
static char *http_exchange(int port, const char *req, size_t req_len, size_t step)
{
	static char resp[65536];
	int fd = connect_port(port);
	size_t n = 0;
	ssize_t r;

	for (size_t off = 0; off < req_len; off += step) {
		size_t k = req_len - off < step ? req_len - off : step;
		assert_int_equal(send(fd, req + off, k, MSG_NOSIGNAL), (ssize_t)k);
		if (step < req_len)
			usleep(1000);
	}
	while ((r = recv(fd, resp + n, sizeof(resp) - 1 - n, 0)) > 0)
		n += (size_t)r;
	close(fd);
	resp[n] = '\0';
	return resp;
}

static char *get(int port, const char *req)
{
	return http_exchange(port, req, strlen(req), strlen(req));
}

static void test_http_get_metrics(void **state)
{
	struct http_fix *f = *state;
	char *resp = get(f->port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
	char *body = strstr(resp, "\r\n\r\n");
	char *want = metrics_render(f->reg, NULL);
	char cl[64];

	assert_true(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(
	    strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(body);
	assert_string_equal(body + 4, want);
	snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", strlen(want));
	assert_non_null(strstr(resp, cl));
	assert_non_null(strstr(body, "http_test_total 42\n"));
	assert_valid(body + 4);
	free(want);
	/* Query strings and bare-LF clients are fine too. */
	assert_true(strncmp(get(f->port, "GET /metrics?x=1 HTTP/1.0\n\n"), "HTTP/1.1 200 ", 13) ==
		    0);
}

static void test_http_head_has_no_body(void **state)
{
	struct http_fix *f = *state;
	char *resp = get(f->port, "HEAD /metrics HTTP/1.1\r\n\r\n");
	char *end = strstr(resp, "\r\n\r\n");

	assert_true(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(end);
	assert_string_equal(end, "\r\n\r\n");
}

static void test_http_errors(void **state)
{
	struct http_fix *f = *state;
	char big[METRICS_HTTP_MAX_REQUEST + 100];

	assert_true(strncmp(get(f->port, "GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 ", 13) == 0);
	assert_true(strncmp(get(f->port, "GET /metricsx HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 ", 13) ==
		    0);
	assert_true(strncmp(get(f->port, "POST /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 405 ", 13) ==
		    0);
	assert_true(strncmp(get(f->port, "GET /metrics HTTP/2.0\r\n\r\n"), "HTTP/1.1 400 ", 13) ==
		    0);
	assert_true(strncmp(get(f->port, "get /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 400 ", 13) ==
		    0);
	assert_true(strncmp(http_exchange(f->port, "\x00\xff\x01 junk\r\n\r\n", 12, 12),
			    "HTTP/1.1 400 ", 13) == 0);
	assert_true(strncmp(get(f->port, "GET  /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 400 ", 13) ==
		    0);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	assert_true(strncmp(http_exchange(f->port, big, sizeof(big), sizeof(big)), "HTTP/1.1 431 ",
			    13) == 0);
}

static void test_http_request_split_at_every_byte(void **state)
{
	struct http_fix *f = *state;
	const char *req = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";

	assert_true(strncmp(http_exchange(f->port, req, strlen(req), 1), "HTTP/1.1 200 ", 13) == 0);
}

/* Idle clients fill every slot; a real request still gets its answer, at the
 * latest when the idle ones time out, and the server stays up. */
static void test_http_idle_clients_cannot_block_it(void **state)
{
	struct http_fix *f = *state;
	int idle[METRICS_HTTP_MAX_CLIENTS + 4];
	uint64_t t0 = log_now_ms();

	idle[0] = connect_port(f->port);
	assert_true(strncmp(get(f->port, "GET /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 200 ", 13) ==
		    0);
	assert_true(log_now_ms() - t0 < 1000); /* one idle client: no wait at all */
	for (int i = 1; i < METRICS_HTTP_MAX_CLIENTS + 4; i++)
		idle[i] = connect_port(f->port);
	assert_true(strncmp(get(f->port, "GET /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 200 ", 13) ==
		    0);
	assert_true(log_now_ms() - t0 < METRICS_HTTP_TIMEOUT_MS + 3000);
	for (int i = 0; i < METRICS_HTTP_MAX_CLIENTS + 4; i++)
		close(idle[i]);
}

/* --- the admin command -------------------------------------------------------- */

struct collected {
	char text[4096];
	size_t len;
};

static void collect_line(void *arg, const char *line, size_t len)
{
	struct collected *c = arg;

	c->len +=
	    (size_t)snprintf(c->text + c->len, sizeof(c->text) - c->len, "%.*s\n", (int)len, line);
}

static void test_admin_metrics_command_filters_by_prefix(void **state)
{
	struct metrics_reg *reg = metrics_reg_new(1, 0);
	char dir[] = "/tmp/strata-metrics-XXXXXX", path[64];
	struct admin_srv *srv;
	struct collected col = {.len = 0};
	struct admin_reply r = {.on_line = collect_line, .arg = &col};

	metrics_inc(metrics_worker(reg, 0),
		    (uint32_t)metrics_simple(reg, "aa_total", "a", METRICS_COUNTER));
	metrics_simple(reg, "bb_open", "b", METRICS_GAUGE);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/m.sock", dir);
	assert_int_equal(admin_srv_new(path, NULL, &srv), 0);
	assert_int_equal(admin_register(srv, "metrics", "metrics [PREFIX]", metrics_admin_cmd, reg,
					ADMIN_READONLY),
			 0);
	assert_int_equal(admin_start(srv), 0);
	assert_int_equal(admin_request(path, "metrics bb_", &r, 3000), 0);
	assert_string_equal(col.text, "# HELP bb_open b\n# TYPE bb_open gauge\nbb_open 0\n");
	memset(&col, 0, sizeof(col));
	assert_int_equal(admin_request(path, "metrics", &r, 3000), 0);
	assert_string_equal(col.text, "# HELP aa_total a\n# TYPE aa_total counter\naa_total 1\n"
				      "# HELP bb_open b\n# TYPE bb_open gauge\nbb_open 0\n");
	assert_int_equal(admin_request(path, "metrics a b", &r, 3000), 1);
	assert_string_equal(r.message, "usage: metrics [PREFIX]");
	admin_srv_free(srv);
	rmdir(dir);
	metrics_reg_free(reg);
}

/* The checker itself must reject what Prometheus would reject. */
static void test_checker_rejects_bad_text(void **state)
{
	assert_null(check_exposition("# TYPE a counter\na{x=\"1\"} 1\n"));
	assert_non_null(check_exposition("a 1\n"));
	assert_non_null(check_exposition("# TYPE a counter\na{x=\"1} 1\n"));
	assert_non_null(check_exposition("# TYPE a counter\na{x=\"\\q\"} 1\n"));
	assert_non_null(check_exposition("# TYPE a counter\na 1 2 3\n"));
	assert_non_null(check_exposition("# TYPE a counter\nb 1\n"));
	assert_non_null(check_exposition("# TYPE a counter\n# TYPE a counter\n"));
	assert_non_null(check_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
					 "h_bucket{le=\"+Inf\"} 1\nh_count 1\n"));
	assert_non_null(check_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
					 "h_bucket{le=\"+Inf\"} 3\nh_count 2\n"));
	assert_non_null(check_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\n"));
	assert_non_null(check_exposition("# TYPE a counter\na 1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_checker_rejects_bad_text),
	    cmocka_unit_test(test_exposition_exact),
	    cmocka_unit_test(test_label_and_help_escaping),
	    cmocka_unit_test(test_negative_gauge_and_set),
	    cmocka_unit_test(test_histogram_bucket_edges),
	    cmocka_unit_test(test_registration_rules),
	    cmocka_unit_test(test_stale_series_hidden_and_revived),
	    cmocka_unit_test(test_many_series_hash_growth),
	    cmocka_unit_test(test_concurrent_writers_vs_reader),
	    cmocka_unit_test_setup_teardown(test_http_get_metrics, http_setup, http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_head_has_no_body, http_setup, http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_errors, http_setup, http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_request_split_at_every_byte, http_setup,
					    http_teardown),
	    cmocka_unit_test_setup_teardown(test_http_idle_clients_cannot_block_it, http_setup,
					    http_teardown),
	    cmocka_unit_test(test_admin_metrics_command_filters_by_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
