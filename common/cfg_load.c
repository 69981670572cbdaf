/* libconfig helpers: reading a config file or string, refusing NUL bytes and
 * integer literals libconfig 1.5 would silently truncate; see cfg.h. */
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

static int read_text(const char *path, char **text, size_t *len, struct cfg_err *err)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	char *buf;

	if (!f) {
		int e = errno;

		cfg_i_file_errf(err, "%s: cannot read: %s", path, strerror(e));
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

		cfg_i_file_errf(err, "%s: cannot read: %s", path,
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
		 text[at.off + at.len - 1] == 'L' ? "64 bits"
						  : "32 bits (append L for 64 bits)");
	probe = (struct int_probe){file, at.line, stored_value(text + at.off, at.len), true};
	s = find_int_at(config_root_setting(cfg), &probe);
	if (!s) {
		probe.by_value = false;
		s = find_int_at(config_root_setting(cfg), &probe);
	}
	if (s)
		return cfg_errf(err, s, "%s", msg);
	return cfg_i_file_errf(
	    err, "%s:%u: %s",
	    file ? file : (const char *)config_setting_get_hook(config_root_setting(cfg)), at.line,
	    msg);
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
		return cfg_i_file_errf(err, "%s:%u: NUL byte in the file", name, line);
	}
	config_set_destructor(cfg, free);
	if (!config_read_string(cfg, text)) {
		const char *detail = config_error_text(cfg);
		bool plain = !detail || !strcmp(detail, "syntax error");

		return cfg_i_file_errf(err, "%s:%d: syntax error%s%s",
				       config_error_file(cfg) ? config_error_file(cfg) : name,
				       config_error_line(cfg), plain ? "" : ": ",
				       plain ? "" : detail);
	}
	/* set after the read: config_read_string() starts from a fresh root */
	hook = strdup(name);
	if (!hook)
		return cfg_i_file_errf(err, "%s: out of memory", name);
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
