/* libconfig helpers: error lines, unknown keys and the shared `-t`; see
 * cfg.h. Loading lives in cfg_load.c, typed getters in cfg_get.c.
 *
 * The root setting's hook holds a malloc'ed copy of the file name (freed by
 * libconfig through config_set_destructor()), because settings parsed from
 * a string carry no file name of their own. Hooks are therefore reserved.
 */
#include "cfg.h"
#include "cfg_impl.h"
#include "cfgval.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

size_t cfg_i_append(char *buf, size_t len, size_t pos, const char *fmt, ...)
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
			pos = cfg_i_append(buf, len, pos, "...");
			break;
		}
		chain[depth++] = s;
	}
	while (depth--) {
		s = chain[depth];
		if (config_setting_name(s))
			pos = cfg_i_append(buf, len, pos, "%s%s", pos ? "." : "",
					   config_setting_name(s));
		else
			pos = cfg_i_append(buf, len, pos, "[%d]", config_setting_index(s));
	}
	return pos;
}

static int verrf(struct cfg_err *err, const char *file, unsigned line, const char *path,
		 const char *fmt, va_list ap)
{
	size_t pos;

	if (cfg_err_is_set(err))
		return -EINVAL; /* the first error wins */
	pos = cfg_i_append(err->msg, sizeof(err->msg), 0, "%s:%u: ", file, line);
	if (path[0])
		pos = cfg_i_append(err->msg, sizeof(err->msg), pos, "%s: ", path);
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
		cfg_i_append(path, sizeof(path), pos, "%s%s", pos ? "." : "", key);
	}
	va_start(ap, fmt);
	verrf(err, cfg_file(m ? m : group), cfg_line(m ? m : group), path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int cfg_i_file_errf(struct cfg_err *err, const char *fmt, ...)
{
	va_list ap;

	if (cfg_err_is_set(err))
		return -EINVAL;
	va_start(ap, fmt);
	appendv(err->msg, sizeof(err->msg), 0, fmt, ap);
	va_end(ap);
	return -EINVAL;
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
		pos = cfg_i_append(buf, len, 0, "\"");
		for (i = 0; str[i] && i < 48; i++) {
			unsigned char c = (unsigned char)str[i];

			if (c == '"' || c == '\\')
				pos = cfg_i_append(buf, len, pos, "\\%c", c);
			else if (c < 0x20 || c >= 0x7f)
				pos = cfg_i_append(buf, len, pos, "\\x%02x", c);
			else
				pos = cfg_i_append(buf, len, pos, "%c", c);
		}
		cfg_i_append(buf, len, pos, "%s\"", str[i] ? "..." : "");
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

int cfg_i_type_error(struct cfg_err *err, const config_setting_t *s, const char *expected)
{
	char got[CFG_DESCRIBE_MAX];

	describe(s, got, sizeof(got));
	return cfg_errf(err, s, "expected %s, got %s", expected, got);
}

int cfg_i_value_error(struct cfg_err *err, const config_setting_t *s, const char *expected,
		      const char *why)
{
	char got[CFG_DESCRIBE_MAX];

	describe(s, got, sizeof(got));
	return cfg_errf(err, s, "expected %s, got %s: %s", expected, got, why);
}

/* "must be between LO and HI, got X"; lo or hi NULL for an open side. */
int cfg_i_range_error(struct cfg_err *err, const config_setting_t *s, const char *lo,
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
void cfg_i_join_names(const char *const names[], char q, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; names[i]; i++)
		pos = cfg_i_append(buf, len, pos, "%s%c%s%c", i ? ", " : "", q, names[i], q);
}

int cfg_check_keys(const config_setting_t *group, const char *const allowed[], struct cfg_err *err)
{
	char known[CFG_ERR_MAX / 2];

	if (!group)
		return 0;
	if (!config_setting_is_group(group))
		return cfg_i_type_error(err, group, "a group { ... }");
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *m = config_setting_get_elem(group, i);
		const char *hint;

		if (in_names(config_setting_name(m), allowed))
			continue;
		hint = cfgval_closest(config_setting_name(m), allowed);
		if (hint)
			return cfg_errf(err, m, "unknown key (did you mean '%s'?)", hint);
		cfg_i_join_names(allowed, '\'', known, sizeof(known));
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
	return config_setting_is_group(s) ? 0 : cfg_i_type_error(err, s, "a group { ... }");
}

const config_setting_t *cfg_i_member(const config_setting_t *group, const char *key)
{
	return group ? config_setting_get_member(group, key) : NULL;
}

int cfg_get_group(const config_setting_t *group, const char *key, const config_setting_t **out,
		  struct cfg_err *err)
{
	*out = cfg_i_member(group, key);
	if (*out && !config_setting_is_group(*out)) {
		int rc = cfg_i_type_error(err, *out, "a group { ... }");

		*out = NULL;
		return rc;
	}
	return 0;
}

int cfg_get_list(const config_setting_t *group, const char *key, const config_setting_t **out,
		 struct cfg_err *err)
{
	*out = cfg_i_member(group, key);
	/* "x = [];" parses as an empty array: take it as an empty list */
	if (*out && !config_setting_is_list(*out) &&
	    !(config_setting_is_array(*out) && config_setting_length(*out) == 0)) {
		int rc = cfg_i_type_error(err, *out, "a list ( ... )");

		*out = NULL;
		return rc;
	}
	return 0;
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
		cfg_i_file_errf(&err, "%s: invalid configuration (%s)", path,
				strerror(rc < 0 ? -rc : rc));
	fprintf(stderr, "%s\n", err.msg);
	fflush(stderr);
	return 1;
}
