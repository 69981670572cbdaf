/* Pure config value parsers (durations, sizes) and the integer literal scan;
 * see cfgval.h for the accepted syntax. */
#include "cfgval.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(const char **why, const char *reason, int err)
{
	*why = reason;
	return err;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A decimal number "123" or "1.25" at the start of s; the unit follows. */
struct number {
	uint64_t whole;
	uint64_t frac;	   /* the digits after the point, as an integer */
	unsigned decimals; /* how many of them */
	size_t used;	   /* bytes taken by the number */
};

static int parse_number(const char *s, size_t len, struct number *n, const char **why)
{
	size_t i = 0;

	memset(n, 0, sizeof(*n));
	if (len == 0)
		return fail(why, "empty value", -EINVAL);
	for (size_t k = 0; k < len; k++) {
		if (s[k] == ' ' || s[k] == '\t')
			return fail(why, "spaces are not allowed", -EINVAL);
	}
	if (s[0] == '-')
		return fail(why, "negative values are not allowed", -EINVAL);
	if (!is_digit(s[0]))
		return fail(why, "must start with a number", -EINVAL);
	for (; i < len && is_digit(s[i]); i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (n->whole > (UINT64_MAX - d) / 10)
			return fail(why, "value too large", -ERANGE);
		n->whole = n->whole * 10 + d;
	}
	if (i < len && s[i] == '.') {
		i++;
		if (i == len || !is_digit(s[i]))
			return fail(why, "missing digits after '.'", -EINVAL);
		for (; i < len && is_digit(s[i]); i++) {
			if (++n->decimals > CFGVAL_MAX_DECIMALS)
				return fail(why, "too many decimal places", -EINVAL);
			n->frac = n->frac * 10 + (uint64_t)(s[i] - '0');
		}
	}
	n->used = i;
	return 0;
}

/* whole.frac * mult, exactly, or an error. 128-bit: whole * mult alone can
 * pass 2^64 before the range check. */
static int scale(const struct number *n, uint64_t mult, uint64_t *out, const char *inexact,
		 const char **why)
{
	unsigned __int128 pow10 = 1, total;

	for (unsigned i = 0; i < n->decimals; i++)
		pow10 *= 10;
	total = (unsigned __int128)n->frac * mult;
	if (total % pow10)
		return fail(why, inexact, -EINVAL);
	total = total / pow10 + (unsigned __int128)n->whole * mult;
	if (total > UINT64_MAX)
		return fail(why, "value too large", -ERANGE);
	*out = (uint64_t)total;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
    {"us", 1},
    {"ms", CFGVAL_US_PER_MS},
    {"s", CFGVAL_US_PER_S},
    {"m", 60 * CFGVAL_US_PER_S},
    {"h", 3600 * CFGVAL_US_PER_S},
};

static const struct unit *find_unit(const struct unit *units, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(units[i].name) == len && memcmp(units[i].name, s, len) == 0)
			return &units[i];
	}
	return NULL;
}

int cfgval_duration(const char *s, size_t len, uint64_t *us, const char **why)
{
	const size_t nunits = sizeof(duration_units) / sizeof(duration_units[0]);
	const struct unit *u;
	struct number n;
	int rc = parse_number(s, len, &n, why);

	if (rc)
		return rc;
	if (n.used == len)
		return fail(why, "missing unit (us, ms, s, m or h)", -EINVAL);
	u = find_unit(duration_units, nunits, s + n.used, len - n.used);
	if (!u)
		return fail(why, "unknown unit (use us, ms, s, m or h)", -EINVAL);
	return scale(&n, u->mult, us, "finer than a microsecond", why);
}

#define KIB 1024ull

static const struct unit size_units[] = {
    {"", 1},
    {"k", KIB},
    {"K", KIB},
    {"KiB", KIB},
    {"m", KIB *KIB},
    {"M", KIB *KIB},
    {"MiB", KIB *KIB},
    {"g", KIB *KIB *KIB},
    {"G", KIB *KIB *KIB},
    {"GiB", KIB *KIB *KIB},
    {"t", KIB *KIB *KIB *KIB},
    {"T", KIB *KIB *KIB *KIB},
    {"TiB", KIB *KIB *KIB *KIB},
};

/* "kB" is 1000 bytes to a disk vendor and 1024 to most people: refuse. */
static bool is_ambiguous_size_unit(const char *s, size_t len)
{
	return len == 2 && strchr("kKmMgGtT", s[0]) && (s[1] == 'B' || s[1] == 'b');
}

int cfgval_size(const char *s, size_t len, uint64_t *bytes, const char **why)
{
	const size_t nunits = sizeof(size_units) / sizeof(size_units[0]);
	const struct unit *u;
	struct number n;
	int rc = parse_number(s, len, &n, why);

	if (rc)
		return rc;
	u = find_unit(size_units, nunits, s + n.used, len - n.used);
	if (!u && is_ambiguous_size_unit(s + n.used, len - n.used))
		return fail(why,
			    "ambiguous unit: sizes are binary, write k or KiB (1k = 1024 bytes)",
			    -EINVAL);
	if (!u)
		return fail(why, "unknown unit (use k, m, g, t or KiB, MiB, GiB, TiB)", -EINVAL);
	return scale(&n, u->mult, bytes, "not a whole number of bytes", why);
}

static int format_exact(uint64_t v, const struct unit *units, size_t n, const char *zero, char *buf,
			size_t len)
{
	int w;

	if (v == 0) {
		w = snprintf(buf, len, "%s", zero);
	} else {
		const struct unit *best = &units[0];

		for (size_t i = 0; i < n; i++) {
			if (v % units[i].mult == 0 && units[i].mult >= best->mult)
				best = &units[i];
		}
		w = snprintf(buf, len, "%llu%s", (unsigned long long)(v / best->mult), best->name);
	}
	return w < 0 || (size_t)w >= len ? -ENOSPC : w;
}

int cfgval_format_duration(uint64_t us, char *buf, size_t len)
{
	return format_exact(us, duration_units, sizeof(duration_units) / sizeof(duration_units[0]),
			    "0s", buf, len);
}

int cfgval_format_size(uint64_t bytes, char *buf, size_t len)
{
	/* the one-letter lower-case units come first, so ties pick them */
	static const struct unit units[] = {
	    {"", 1},
	    {"k", KIB},
	    {"m", KIB * KIB},
	    {"g", KIB * KIB * KIB},
	    {"t", KIB * KIB * KIB * KIB},
	};

	return format_exact(bytes, units, sizeof(units) / sizeof(units[0]), "0", buf, len);
}

/* --- typo hints ----------------------------------------------------------- */

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

size_t cfgval_edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	/* rows i-2, i-1 and i of the classic matrix, rotated */
	size_t rows[3][CFGVAL_EDIT_MAX + 1];
	size_t *pp = rows[0], *prev = rows[1], *cur = rows[2], *t;

	if (alen > CFGVAL_EDIT_MAX || blen > CFGVAL_EDIT_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= blen; j++)
		prev[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t cost = a[i - 1] != b[j - 1];

			cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < cur[j])
				cur[j] = pp[j - 2] + 1;
		}
		t = pp;
		pp = prev;
		prev = cur;
		cur = t;
	}
	return prev[blen];
}

const char *cfgval_closest(const char *word, const char *const names[])
{
	size_t wlen = strlen(word), limit = wlen <= 3 ? 1 : wlen <= 6 ? 2 : 3;
	size_t best_d = SIZE_MAX;
	const char *best = NULL;

	for (size_t i = 0; names[i]; i++) {
		size_t d = cfgval_edit_distance(word, wlen, names[i], strlen(names[i]));

		if (d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	return best_d <= limit ? best : NULL;
}

/* --- integer literal scan ---------------------------------------------- */

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || is_digit(c) || c == '-' || c == '_';
}

/* The end of a number-like token starting at s[i] (a digit or a sign). */
static size_t number_end(const char *s, size_t len, size_t i)
{
	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; i < len; i++) {
		char c = s[i];

		if (is_name_char(c) || c == '.')
			continue;
		if ((c == '+' || c == '-') && (s[i - 1] == 'e' || s[i - 1] == 'E'))
			continue;
		break;
	}
	return i;
}

/* Compares a digit string (no sign, no leading zeros stripped) against a
 * decimal limit, as numbers. */
static bool digits_above(const char *d, size_t n, const char *limit)
{
	size_t ln = strlen(limit);

	while (n > 1 && d[0] == '0') {
		d++;
		n--;
	}
	if (n != ln)
		return n > ln;
	return memcmp(d, limit, n) > 0;
}

/* True when libconfig 1.5 would read the token as something else than its
 * text says. Floats and tokens that are not numbers at all are not ours. */
static bool int_literal_mangled(const char *t, size_t n)
{
	bool neg = t[0] == '-';
	size_t body = (t[0] == '-' || t[0] == '+') ? 1 : 0, digits, suffix;

	if (n - body > 2 && t[body] == '0' && (t[body + 1] == 'x' || t[body + 1] == 'X')) {
		const char *h = t + body + 2;
		size_t hn = n - body - 2;

		for (suffix = 0; suffix < hn && (h[hn - 1 - suffix] == 'L'); suffix++)
			;
		for (size_t i = 0; i < hn - suffix; i++) {
			if (!is_hex(h[i]))
				return false;
		}
		while (hn - suffix > 1 && h[0] == '0') {
			h++;
			hn--;
		}
		if (suffix > 2 || hn == suffix)
			return false;
		/* 32-bit hex above 0x7fffffff turns negative; 64-bit tops at 16 digits */
		return suffix ? hn - suffix > 16 : (hn > 8 || (hn == 8 && h[0] > '7'));
	}
	for (suffix = 0; suffix < n - body && t[n - 1 - suffix] == 'L'; suffix++)
		;
	digits = n - body - suffix;
	if (digits == 0 || suffix > 2)
		return false;
	for (size_t i = body; i < body + digits; i++) {
		if (!is_digit(t[i]))
			return false;
	}
	if (suffix)
		return digits_above(t + body, digits,
				    neg ? "9223372036854775808" : "9223372036854775807");
	return digits_above(t + body, digits, neg ? "2147483648" : "2147483647");
}

/* Skips a comment or string starting at s[i]; returns the index after it and
 * counts the newlines it crossed. Returns i unchanged when s[i] starts neither. */
static size_t skip_opaque(const char *s, size_t len, size_t i, unsigned *line)
{
	size_t j;

	if (s[i] == '#' || (s[i] == '/' && i + 1 < len && s[i + 1] == '/')) {
		const char *nl = memchr(s + i, '\n', len - i);

		return nl ? (size_t)(nl - s) : len;
	}
	if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
		for (j = i + 2; j < len; j++) {
			if (s[j] == '\n')
				(*line)++;
			else if (s[j] == '*' && j + 1 < len && s[j + 1] == '/')
				return j + 2;
		}
		return len;
	}
	if (s[i] == '"') {
		for (j = i + 1; j < len && s[j] != '"'; j++) {
			if (s[j] == '\\' && j + 1 < len)
				j++;
			if (s[j] == '\n')
				(*line)++;
		}
		return j < len ? j + 1 : len;
	}
	return i;
}

int cfgval_find_int_overflow(const char *text, size_t len, struct cfgval_span *where)
{
	unsigned line = 1;
	size_t i = 0, j;

	while (i < len) {
		char c = text[i];

		if (c == '\n') {
			line++;
			i++;
		} else if ((j = skip_opaque(text, len, i, &line)) != i) {
			i = j;
		} else if (is_name_start(c)) {
			for (i++; i < len && is_name_char(text[i]); i++)
				;
		} else if (is_digit(c) ||
			   ((c == '-' || c == '+') && i + 1 < len && is_digit(text[i + 1]))) {
			j = number_end(text, len, i);
			if (int_literal_mangled(text + i, j - i)) {
				where->line = line;
				where->off = i;
				where->len = j - i;
				return -ERANGE;
			}
			i = j;
		} else {
			i++;
		}
	}
	return 0;
}
