/* libconfig helpers: loading, error lines, unknown keys, typed getters and
 * the shared `-t`; see cfg.h.
 *
 * The root setting's hook holds a malloc'ed copy of the file name (freed by
 * libconfig through config_set_destructor()), because settings parsed from
 * a string carry no file name of their own. Hooks are therefore reserved.
 */
#include "cfg.h"
#include "cfgval.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_PATH_DEPTH	 32 /* deeper paths print as "...x.y" */
#define CFG_DESCRIBE_MAX 96
#define CFG_INCLUDES_MAX 64 /* distinct @include files scanned for bad integers */

/* libconfig 1.5 leaks the string token that triggers a syntax error (its
 * grammar has no %destructor): a few bytes per failed load, bounded, and
 * not ours to fix. Sanitizer builds would otherwise fail `-t` on such a
 * file, so tell LeakSanitizer about it; nothing else is suppressed. */
#if defined(__SANITIZE_ADDRESS__)
#define CFG_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CFG_LSAN 1
#endif
#endif
#ifdef CFG_LSAN
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}
#endif

void cfg_err_init(struct cfg_err *err)
{
	err->msg[0] = '\0';
}

/* --- error lines ---------------------------------------------------------- */

static size_t appendv(char *buf, size_t len, size_t pos, const char *fmt, va_list ap)
{
	int n;

	if (pos + 1 >= len)
		return pos;
	n = vsnprintf(buf + pos, len - pos, fmt, ap);
	if (n < 0)
		return pos;
	return (size_t)n >= len - pos ? len - 1 : pos + (size_t)n;
}

static size_t append(char *buf, size_t len, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t len, size_t pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pos = appendv(buf, len, pos, fmt, ap);
	va_end(ap);
	return pos;
}

const char *cfg_file(const config_setting_t *s)
{
	const config_setting_t *root = s->config ? config_root_setting(s->config) : NULL;

	if (config_setting_source_file(s))
		return config_setting_source_file(s);
	if (root && config_setting_get_hook(root))
		return config_setting_get_hook(root);
	return "<string>";
}

unsigned cfg_line(const config_setting_t *s)
{
	unsigned line = config_setting_source_line(s);

	return line ? line : 1; /* the root has no line of its own */
}

size_t cfg_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *chain[CFG_PATH_DEPTH];
	size_t depth = 0, pos = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (; s && config_setting_parent(s); s = config_setting_parent(s)) {
		if (depth == CFG_PATH_DEPTH) {
			pos = append(buf, len, pos, "...");
			break;
		}
		chain[depth++] = s;
	}
	while (depth--) {
		s = chain[depth];
		if (config_setting_name(s))
			pos = append(buf, len, pos, "%s%s", pos ? "." : "", config_setting_name(s));
		else
			pos = append(buf, len, pos, "[%d]", config_setting_index(s));
	}
	return pos;
}

static int verrf(struct cfg_err *err, const char *file, unsigned line, const char *path,
		 const char *fmt, va_list ap)
{
	size_t pos;

	if (cfg_err_is_set(err))
		return -EINVAL; /* the first error wins */
	pos = append(err->msg, sizeof(err->msg), 0, "%s:%u: ", file, line);
	if (path[0])
		pos = append(err->msg, sizeof(err->msg), pos, "%s: ", path);
	appendv(err->msg, sizeof(err->msg), pos, fmt, ap);
	return -EINVAL;
}

int cfg_errf(struct cfg_err *err, const config_setting_t *s, const char *fmt, ...)
{
	char path[CFG_PATH_MAX];
	va_list ap;

	cfg_path(s, path, sizeof(path));
	va_start(ap, fmt);
	verrf(err, cfg_file(s), cfg_line(s), path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int cfg_errf_key(struct cfg_err *err, const config_setting_t *group, const char *key,
		 const char *fmt, ...)
{
	const config_setting_t *m;
	char path[CFG_PATH_MAX];
	size_t pos;
	va_list ap;

	assert(group); /* an absent group has no line to point at */
	m = config_setting_get_member(group, key);
	if (m) {
		cfg_path(m, path, sizeof(path));
	} else {
		pos = cfg_path(group, path, sizeof(path));
		append(path, sizeof(path), pos, "%s%s", pos ? "." : "", key);
	}
	va_start(ap, fmt);
	verrf(err, cfg_file(m ? m : group), cfg_line(m ? m : group), path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int file_errf(struct cfg_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int file_errf(struct cfg_err *err, const char *fmt, ...)
{
	va_list ap;

	if (cfg_err_is_set(err))
		return -EINVAL;
	va_start(ap, fmt);
	appendv(err->msg, sizeof(err->msg), 0, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* --- loading -------------------------------------------------------------- */

static int read_text(const char *path, char **text, size_t *len, struct cfg_err *err)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	char *buf;

	if (!f) {
		int e = errno;

		file_errf(err, "%s: cannot read: %s", path, strerror(e));
		return -e;
	}
	buf = malloc(cap + 1);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap || n > CFG_MAX_FILE_SIZE)
			break;
		char *bigger = realloc(buf, cap * 2 + 1);

		if (!bigger) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	if (!buf || ferror(f) || n > CFG_MAX_FILE_SIZE) {
		int e = !buf ? ENOMEM : ferror(f) ? EIO : EFBIG;

		file_errf(err, "%s: cannot read: %s", path,
			  e == EFBIG ? "larger than 16 MiB, not a config file" : strerror(e));
		free(buf);
		fclose(f);
		return -e;
	}
	fclose(f);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

/* What libconfig 1.5 stores for an integer literal: (int)strtol() or
 * (int)strtoul() without the L suffix, strtoll()/strtoull() with it. */
static long long stored_value(const char *lit, size_t len)
{
	bool hex = len > 2 && (lit[1] == 'x' || lit[1] == 'X');
	char buf[72];

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, lit, len);
	buf[len] = '\0';
	if (buf[len - 1] == 'L')
		return hex ? (long long)strtoull(buf, NULL, 16) : strtoll(buf, NULL, 10);
	return hex ? (int)strtoul(buf, NULL, 16) : (int)strtol(buf, NULL, 10);
}

struct int_probe {
	const char *file; /* NULL: the main text */
	unsigned line;
	long long value;
	bool by_value; /* else the first integer on the line */
};

/* The integer setting a literal became, to name its KEY in the error. */
static const config_setting_t *find_int_at(const config_setting_t *s, const struct int_probe *p)
{
	const char *sf = config_setting_source_file(s);
	int type = config_setting_type(s);

	if ((type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) &&
	    config_setting_source_line(s) == p->line &&
	    (p->file ? sf && !strcmp(sf, p->file) : !sf) &&
	    (!p->by_value || config_setting_get_int64(s) == p->value))
		return s;
	if (!config_setting_is_aggregate(s))
		return NULL;
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *hit = find_int_at(config_setting_get_elem(s, i), p);

		if (hit)
			return hit;
	}
	return NULL;
}

/* Refuses integer literals libconfig 1.5 truncates without a word. */
static int check_int_literals(const config_t *cfg, const char *file, const char *text, size_t len,
			      struct cfg_err *err)
{
	const config_setting_t *s;
	struct int_probe probe;
	struct cfgval_span at;
	char msg[160];
	int w;

	if (cfgval_find_int_overflow(text, len, &at) == 0)
		return 0;
	w = at.len > 40 ? 40 : (int)at.len;
	snprintf(msg, sizeof(msg), "integer %.*s%s does not fit in %s", w, text + at.off,
		 at.len > 40 ? "..." : "",
		 text[at.off + at.len - 1] == 'L' ? "64 bits" : "32 bits (append L for 64 bits)");
	probe = (struct int_probe){file, at.line, stored_value(text + at.off, at.len), true};
	s = find_int_at(config_root_setting(cfg), &probe);
	if (!s) {
		probe.by_value = false;
		s = find_int_at(config_root_setting(cfg), &probe);
	}
	if (s)
		return cfg_errf(err, s, "%s", msg);
	return file_errf(err, "%s:%u: %s",
			 file ? file
			      : (const char *)config_setting_get_hook(config_root_setting(cfg)),
			 at.line, msg);
}

struct seen_files {
	const char *names[CFG_INCLUDES_MAX];
	size_t n;
};

static void collect_files(const config_setting_t *s, struct seen_files *seen)
{
	const char *f = config_setting_source_file(s);
	size_t i;

	if (f) {
		for (i = 0; i < seen->n && strcmp(seen->names[i], f); i++)
			;
		if (i == seen->n && seen->n < CFG_INCLUDES_MAX)
			seen->names[seen->n++] = f;
	}
	if (!config_setting_is_aggregate(s))
		return;
	for (int k = 0; k < config_setting_length(s); k++)
		collect_files(config_setting_get_elem(s, k), seen);
}

/* Included files hold settings too; scan each one libconfig read. */
static int check_includes(const config_t *cfg, struct cfg_err *err)
{
	struct seen_files seen = {.n = 0};
	const char *dir = config_get_include_dir(cfg);
	char path[PATH_MAX];
	size_t len;
	char *text;
	int rc = 0;

	collect_files(config_root_setting(cfg), &seen);
	for (size_t i = 0; i < seen.n && rc == 0; i++) {
		const char *name = seen.names[i];

		if (name[0] == '/' || !dir)
			snprintf(path, sizeof(path), "%s", name);
		else
			snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (read_text(path, &text, &len, err) != 0)
			return -EINVAL;
		rc = check_int_literals(cfg, name, text, len, err);
		free(text);
	}
	return rc;
}

static int parse_text(const char *name, const char *text, size_t len, config_t *cfg,
		      struct cfg_err *err)
{
	const char *nul = memchr(text, '\0', len);
	char *hook;

	if (nul) { /* libconfig would stop there and ignore the rest */
		unsigned line = 1;

		for (const char *p = text; p < nul; p++)
			line += *p == '\n';
		return file_errf(err, "%s:%u: NUL byte in the file", name, line);
	}
	config_set_destructor(cfg, free);
	if (!config_read_string(cfg, text)) {
		const char *detail = config_error_text(cfg);
		bool plain = !detail || !strcmp(detail, "syntax error");

		return file_errf(err, "%s:%d: syntax error%s%s",
				 config_error_file(cfg) ? config_error_file(cfg) : name,
				 config_error_line(cfg), plain ? "" : ": ", plain ? "" : detail);
	}
	/* set after the read: config_read_string() starts from a fresh root */
	hook = strdup(name);
	if (!hook)
		return file_errf(err, "%s: out of memory", name);
	config_setting_set_hook(config_root_setting(cfg), hook);
	if (check_int_literals(cfg, NULL, text, len, err) || check_includes(cfg, err))
		return -EINVAL;
	return 0;
}

int cfg_load_string(const char *name, const char *text, config_t *cfg, struct cfg_err *err)
{
	config_init(cfg);
	if (parse_text(name, text, strlen(text), cfg, err) != 0) {
		config_destroy(cfg);
		return -EINVAL;
	}
	return 0;
}

int cfg_load(const char *path, config_t *cfg, struct cfg_err *err)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	size_t len;
	char *text;
	int rc;

	rc = read_text(path, &text, &len, err);
	if (rc)
		return rc;
	config_init(cfg);
	/* @include "x.conf" means next to this file, not next to the CWD */
	if (slash && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		config_set_include_dir(cfg, slash == path ? "/" : dir);
	}
	rc = parse_text(path, text, len, cfg, err);
	free(text);
	if (rc) {
		config_destroy(cfg);
		return rc;
	}
	return 0;
}

/* --- keys and types -------------------------------------------------------- */

/* A value as the error line shows it: "text" (escaped, cut at 48 bytes),
 * 42, 1.5, true, or the kind of aggregate. */
static void describe(const config_setting_t *s, char *buf, size_t len)
{
	const char *str;
	size_t pos = 0, i;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING:
		str = config_setting_get_string(s);
		pos = append(buf, len, 0, "\"");
		for (i = 0; str[i] && i < 48; i++) {
			unsigned char c = (unsigned char)str[i];

			if (c == '"' || c == '\\')
				pos = append(buf, len, pos, "\\%c", c);
			else if (c < 0x20 || c >= 0x7f)
				pos = append(buf, len, pos, "\\x%02x", c);
			else
				pos = append(buf, len, pos, "%c", c);
		}
		append(buf, len, pos, "%s\"", str[i] ? "..." : "");
		return;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		snprintf(buf, len, "%lld", config_setting_get_int64(s));
		return;
	case CONFIG_TYPE_FLOAT:
		snprintf(buf, len, "%g", config_setting_get_float(s));
		return;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
		return;
	case CONFIG_TYPE_GROUP:
		snprintf(buf, len, "a group { ... }");
		return;
	case CONFIG_TYPE_LIST:
		snprintf(buf, len, "a list ( ... )");
		return;
	case CONFIG_TYPE_ARRAY:
		snprintf(buf, len, "an array [ ... ]");
		return;
	default:
		snprintf(buf, len, "nothing");
	}
}

static int type_error(struct cfg_err *err, const config_setting_t *s, const char *expected)
{
	char got[CFG_DESCRIBE_MAX];

	describe(s, got, sizeof(got));
	return cfg_errf(err, s, "expected %s, got %s", expected, got);
}

static int value_error(struct cfg_err *err, const config_setting_t *s, const char *expected,
		       const char *why)
{
	char got[CFG_DESCRIBE_MAX];

	describe(s, got, sizeof(got));
	return cfg_errf(err, s, "expected %s, got %s: %s", expected, got, why);
}

/* "must be between LO and HI, got X"; lo or hi NULL for an open side. */
static int range_error(struct cfg_err *err, const config_setting_t *s, const char *lo,
		       const char *hi)
{
	char got[CFG_DESCRIBE_MAX];

	describe(s, got, sizeof(got));
	if (lo && hi)
		return cfg_errf(err, s, "must be between %s and %s, got %s", lo, hi, got);
	return cfg_errf(err, s, "must be at %s %s, got %s", lo ? "least" : "most", lo ? lo : hi,
			got);
}

static bool in_names(const char *name, const char *const names[])
{
	for (size_t i = 0; names[i]; i++) {
		if (!strcmp(name, names[i]))
			return true;
	}
	return false;
}

/* `names` as "'a', 'b', 'c'" (or with double quotes), cut when too long. */
static void join_names(const char *const names[], char q, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; names[i]; i++)
		pos = append(buf, len, pos, "%s%c%s%c", i ? ", " : "", q, names[i], q);
}

int cfg_check_keys(const config_setting_t *group, const char *const allowed[], struct cfg_err *err)
{
	char known[CFG_ERR_MAX / 2];

	if (!group)
		return 0;
	if (!config_setting_is_group(group))
		return type_error(err, group, "a group { ... }");
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *m = config_setting_get_elem(group, i);
		const char *hint;

		if (in_names(config_setting_name(m), allowed))
			continue;
		hint = cfgval_closest(config_setting_name(m), allowed);
		if (hint)
			return cfg_errf(err, m, "unknown key (did you mean '%s'?)", hint);
		join_names(allowed, '\'', known, sizeof(known));
		return cfg_errf(err, m, "unknown key (known keys: %s)", known);
	}
	return 0;
}

bool cfg_has(const config_setting_t *group, const char *key)
{
	return group && config_setting_get_member(group, key) != NULL;
}

int cfg_require(const config_setting_t *group, const char *key, struct cfg_err *err)
{
	if (cfg_has(group, key))
		return 0;
	return cfg_errf_key(err, group, key, "required key is missing");
}

int cfg_expect_group(const config_setting_t *s, struct cfg_err *err)
{
	return config_setting_is_group(s) ? 0 : type_error(err, s, "a group { ... }");
}

static const config_setting_t *member(const config_setting_t *group, const char *key)
{
	return group ? config_setting_get_member(group, key) : NULL;
}

int cfg_get_group(const config_setting_t *group, const char *key, const config_setting_t **out,
		  struct cfg_err *err)
{
	*out = member(group, key);
	if (*out && !config_setting_is_group(*out)) {
		int rc = type_error(err, *out, "a group { ... }");

		*out = NULL;
		return rc;
	}
	return 0;
}

int cfg_get_list(const config_setting_t *group, const char *key, const config_setting_t **out,
		 struct cfg_err *err)
{
	*out = member(group, key);
	/* "x = [];" parses as an empty array: take it as an empty list */
	if (*out && !config_setting_is_list(*out) &&
	    !(config_setting_is_array(*out) && config_setting_length(*out) == 0)) {
		int rc = type_error(err, *out, "a list ( ... )");

		*out = NULL;
		return rc;
	}
	return 0;
}

/* --- scalar getters ------------------------------------------------------- */

static bool is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

int cfg_get_string(const config_setting_t *group, const char *key, const char *def,
		   const char **out, struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);

	*out = def;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return type_error(err, s, "a string");
	*out = config_setting_get_string(s);
	return 0;
}

int cfg_get_int(const config_setting_t *group, const char *key, long long def, long long min,
		long long max, long long *out, struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);
	char lo[24], hi[24];
	long long v;

	*out = def;
	if (!s)
		return 0;
	if (!is_int(s))
		return type_error(err, s, "an integer");
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		snprintf(lo, sizeof(lo), "%lld", min);
		snprintf(hi, sizeof(hi), "%lld", max);
		return range_error(err, s, min == LLONG_MIN ? NULL : lo,
				   max == LLONG_MAX ? NULL : hi);
	}
	*out = v;
	return 0;
}

int cfg_get_bool(const config_setting_t *group, const char *key, bool def, bool *out,
		 struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);

	*out = def;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return type_error(err, s, "true or false");
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

int cfg_get_enum(const config_setting_t *group, const char *key, const char *const names[], int def,
		 int *out, struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);
	char expected[CFG_ERR_MAX / 2] = "one of ";
	const char *str, *hint;

	*out = def;
	if (!s)
		return 0;
	join_names(names, '"', expected + 7, sizeof(expected) - 7);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return type_error(err, s, expected);
	str = config_setting_get_string(s);
	for (int i = 0; names[i]; i++) {
		if (!strcmp(str, names[i])) {
			*out = i;
			return 0;
		}
	}
	hint = cfgval_closest(str, names);
	if (hint)
		return cfg_errf(err, s, "expected %s, got \"%s\" (did you mean \"%s\"?)", expected,
				str, hint);
	return type_error(err, s, expected);
}

static const char duration_example[] = "a duration like \"250ms\"";
static const char size_example[] = "a size like \"16k\"";

/* A string through `parse`, or an integer times `int_unit`. */
static int unit_value(const config_setting_t *s, const char *expected, uint64_t int_unit,
		      int (*parse)(const char *, size_t, uint64_t *, const char **), uint64_t *out,
		      struct cfg_err *err)
{
	const char *why;
	long long v;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *str = config_setting_get_string(s);

		if (parse(str, strlen(str), out, &why))
			return value_error(err, s, expected, why);
		return 0;
	}
	if (!is_int(s))
		return type_error(err, s, expected);
	v = config_setting_get_int64(s);
	if (v < 0)
		return value_error(err, s, expected, "negative values are not allowed");
	if ((uint64_t)v > UINT64_MAX / int_unit)
		return value_error(err, s, expected, "value too large");
	*out = (uint64_t)v * int_unit;
	return 0;
}

static int unit_range(const config_setting_t *s, uint64_t v, uint64_t min, uint64_t max,
		      int (*format)(uint64_t, char *, size_t), struct cfg_err *err)
{
	char lo[CFGVAL_STR_MAX], hi[CFGVAL_STR_MAX];

	if (v >= min && v <= max)
		return 0;
	format(min, lo, sizeof(lo));
	format(max, hi, sizeof(hi));
	return range_error(err, s, min ? lo : NULL, max != UINT64_MAX ? hi : NULL);
}

int cfg_get_duration(const config_setting_t *group, const char *key, uint64_t def_us,
		     uint64_t min_us, uint64_t max_us, uint64_t *us, struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);
	uint64_t v;

	*us = def_us;
	if (!s)
		return 0;
	if (unit_value(s, duration_example, CFGVAL_US_PER_MS, cfgval_duration, &v, err) ||
	    unit_range(s, v, min_us, max_us, cfgval_format_duration, err))
		return -EINVAL;
	*us = v;
	return 0;
}

int cfg_get_size(const config_setting_t *group, const char *key, uint64_t def, uint64_t min,
		 uint64_t max, uint64_t *bytes, struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);
	uint64_t v;

	*bytes = def;
	if (!s)
		return 0;
	if (unit_value(s, size_example, 1, cfgval_size, &v, err) ||
	    unit_range(s, v, min, max, cfgval_format_size, err))
		return -EINVAL;
	*bytes = v;
	return 0;
}

/* --- addresses and CIDRs -------------------------------------------------- */

static const char *addr_example(unsigned flags)
{
	if (flags & ADDR_F_NO_PORT)
		return "an IP address like \"10.0.0.1\"";
	if (flags & ADDR_F_UNIX)
		return "an address like \"127.0.0.1:80\" or \"unix:/path\"";
	return "an address like \"127.0.0.1:80\"";
}

static int addr_value(const config_setting_t *s, unsigned flags, uint16_t port, struct addr *out,
		      struct cfg_err *err)
{
	const char *str, *why;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return type_error(err, s, addr_example(flags));
	str = config_setting_get_string(s);
	if (addr_parse(str, strlen(str), flags, port, out, &why))
		return value_error(err, s, addr_example(flags), why);
	return 0;
}

int cfg_get_addr(const config_setting_t *group, const char *key, unsigned flags,
		 uint16_t default_port, const char *def, struct addr *out, struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);
	const char *why;

	memset(out, 0, sizeof(*out));
	if (s)
		return addr_value(s, flags, default_port, out, err);
	if (def && addr_parse(def, strlen(def), flags, default_port, out, &why))
		return file_errf(err, "%s: built-in default \"%s\": %s", key, def, why);
	return 0;
}

/* A string, or a list/array of them: how many entries; <0 on a type error. */
static int string_items(const config_setting_t *s, const char *expected, struct cfg_err *err)
{
	int n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return 1;
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return type_error(err, s, expected);
	n = config_setting_length(s);
	if (n > CFG_LIST_MAX)
		return cfg_errf(err, s, "too many entries (at most %d)", CFG_LIST_MAX);
	return n;
}

static const config_setting_t *string_item(const config_setting_t *s, int i)
{
	return config_setting_type(s) == CONFIG_TYPE_STRING
		   ? s
		   : config_setting_get_elem(s, (unsigned)i);
}

static int duplicate_error(struct cfg_err *err, const config_setting_t *dup,
			   const config_setting_t *first)
{
	char path[CFG_PATH_MAX];

	cfg_path(first, path, sizeof(path));
	return cfg_errf(err, dup, "duplicate of %s", path);
}

int cfg_get_addr_list(const config_setting_t *group, const char *key, unsigned flags,
		      uint16_t default_port, struct addr **items, size_t *n, struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);
	struct addr *arr;
	int count;

	*items = NULL;
	*n = 0;
	if (!s)
		return 0;
	count = string_items(s, addr_example(flags), err);
	if (count <= 0)
		return count;
	arr = calloc((size_t)count, sizeof(*arr));
	if (!arr)
		return cfg_errf(err, s, "out of memory");
	for (int i = 0; i < count; i++) {
		if (addr_value(string_item(s, i), flags, default_port, &arr[i], err))
			goto out_free;
		for (int j = 0; j < i; j++) {
			if (addr_equal(&arr[j], &arr[i])) {
				duplicate_error(err, string_item(s, i), string_item(s, j));
				goto out_free;
			}
		}
	}
	*items = arr;
	*n = (size_t)count;
	return 0;
out_free:
	free(arr);
	return -EINVAL;
}

static const char cidr_example[] = "a CIDR like \"10.0.0.0/8\"";

static int cidr_value(const config_setting_t *s, struct cidr *out, struct cfg_err *err)
{
	char fixed[CIDR_STR_MAX], msg[CIDR_STR_MAX + 40];
	const char *str, *why;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return type_error(err, s, cidr_example);
	str = config_setting_get_string(s);
	if (cidr_parse(str, strlen(str), CIDR_F_HOST_BITS, out, &why))
		return value_error(err, s, cidr_example, why);
	if (cidr_has_host_bits(out)) {
		cidr_mask(out);
		cidr_format(out, fixed, sizeof(fixed));
		snprintf(msg, sizeof(msg), "host bits set (did you mean \"%s\"?)", fixed);
		return value_error(err, s, cidr_example, msg);
	}
	return 0;
}

int cfg_get_cidr_list(const config_setting_t *group, const char *key, struct cidr_list *out,
		      struct cfg_err *err)
{
	const config_setting_t *s = member(group, key);
	struct cidr c;
	int count;

	cidr_list_init(out);
	if (!s)
		return 0;
	count = string_items(s, cidr_example, err);
	if (count <= 0)
		return count;
	if (count > CIDR_LIST_MAX)
		return cfg_errf(err, s, "too many entries (at most %d)", CIDR_LIST_MAX);
	for (int i = 0; i < count; i++) {
		if (cidr_value(string_item(s, i), &c, err))
			goto out_free;
		for (uint32_t j = 0; j < out->n; j++) {
			if (cidr_equal(&out->items[j], &c)) {
				duplicate_error(err, string_item(s, i), string_item(s, (int)j));
				goto out_free;
			}
		}
		if (cidr_list_add(out, &c)) {
			cfg_errf(err, s, "out of memory");
			goto out_free;
		}
	}
	return 0;
out_free:
	cidr_list_free(out);
	return -EINVAL;
}

/* --- the shared -t -------------------------------------------------------- */

int cfg_check_main(const char *path,
		   int (*build)(const char *path, void **snapshot, struct cfg_err *err),
		   void (*destroy)(void *snapshot))
{
	struct cfg_err err;
	void *snap = NULL;
	int rc;

	cfg_err_init(&err);
	rc = build(path, &snap, &err);
	if (rc == 0) {
		if (snap && destroy)
			destroy(snap);
		printf("%s: ok\n", path);
		fflush(stdout);
		return 0;
	}
	if (!cfg_err_is_set(&err))
		file_errf(&err, "%s: invalid configuration (%s)", path,
			  strerror(rc < 0 ? -rc : rc));
	fprintf(stderr, "%s\n", err.msg);
	fflush(stderr);
	return 1;
}
