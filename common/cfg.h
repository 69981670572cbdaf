/* Config helpers over libconfig 1.5: loading, error lines, unknown-key
 * checks, typed getters, and the `-t` check every daemon shares.
 *
 * A daemon's builder turns a config file into an immutable snapshot:
 *
 *   cfg_load(path, &cfg, err)           parse; syntax errors come out here
 *   cfg_check_keys(root, allowed, err)  every group: unknown keys are errors
 *   cfg_get_*(group, "key", ..., err)   typed values with defaults
 *   config_destroy(&cfg)                after copying what it needs
 *
 * Reload runs the same builder off the hot path and publishes the result
 * (snapshot.h); a config that fails anywhere is rejected whole.
 *
 * Error lines always read "FILE:LINE: KEY: what is wrong", where KEY is the
 * setting's path from the root, members joined with '.', list and array
 * elements as "[i]": `services[0].listen`, `trusted[2]`. LINE is the
 * offending setting's line (for a missing key, the line of the group that
 * lacks it; line 1 for the top level). The first error recorded in a
 * struct cfg_err wins; later ones are dropped, so a builder can simply
 * return at the first failure.
 *
 * Getters share one contract: `group` may be NULL (an absent optional
 * group: every key is absent); an absent key yields the default and 0; a
 * present key of the wrong type or value records an error and returns
 * -EINVAL. Strings returned point into the config_t and die with it.
 */
#ifndef STRATA_CFG_H
#define STRATA_CFG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "cidr.h"

#define CFG_ERR_MAX	  512
#define CFG_PATH_MAX	  256
#define CFG_MAX_FILE_SIZE (16u << 20) /* a config is text written by people */
#define CFG_LIST_MAX	  4096	      /* entries in one address list */

struct cfg_err {
	char msg[CFG_ERR_MAX]; /* the whole line, no newline; "" when unset */
};

void cfg_err_init(struct cfg_err *err);
static inline bool cfg_err_is_set(const struct cfg_err *err)
{
	return err->msg[0] != '\0';
}

/* Initialises *cfg and parses `path`. @include paths are relative to the
 * directory of `path`. Returns 0 (caller owns *cfg: config_destroy() it), or
 * -EINVAL / -errno with *cfg already destroyed and err set to
 *   "FILE: cannot read: REASON" or "FILE:LINE: syntax error[: DETAIL]".
 * Also refuses integer literals libconfig 1.5 would silently truncate
 * (cfgval_find_int_overflow()). */
int cfg_load(const char *path, config_t *cfg, struct cfg_err *err);

/* Same from memory; `name` stands for the file name in errors and must
 * outlive *cfg (it is kept as the root setting's hook). */
int cfg_load_string(const char *name, const char *text, config_t *cfg, struct cfg_err *err);

/* Records "FILE:LINE: KEY: <fmt>" for setting `s` (just "FILE:LINE: <fmt>"
 * for the root). Returns -EINVAL so callers can `return cfg_errf(...)`. */
int cfg_errf(struct cfg_err *err, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same for `key` inside `group`: at the member when present, else at the
 * group's line with KEY = group path + key. `group` must not be NULL. */
int cfg_errf_key(struct cfg_err *err, const config_setting_t *group, const char *key,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes the KEY form of `s`'s path ("" for the root); returns its length. */
size_t cfg_path(const config_setting_t *s, char *buf, size_t len);

/* The file and line errors name for `s`. */
const char *cfg_file(const config_setting_t *s);
unsigned cfg_line(const config_setting_t *s);

/* Checks that `group` is a group whose every member is in `allowed` (a
 * NULL-terminated array). An unknown key records
 *   "FILE:LINE: KEY: unknown key (did you mean 'listen'?)"
 * with the closest allowed name by edit distance, or lists the allowed keys
 * when none is close. NULL group: 0. */
int cfg_check_keys(const config_setting_t *group, const char *const allowed[], struct cfg_err *err);

/* Records "required key is missing" unless `key` is present in `group`
 * (which must not be NULL: a missing group has no line to point at). */
int cfg_require(const config_setting_t *group, const char *key, struct cfg_err *err);

/* True when `group` holds `key`. */
bool cfg_has(const config_setting_t *group, const char *key);

/* Checks that `s` is a group: "expected a group { ... }, got ...". */
int cfg_expect_group(const config_setting_t *s, struct cfg_err *err);

/* Sub-settings: *out is the member, or NULL when absent. cfg_get_list takes
 * a list ( ... ); cfg_get_group a group { ... }. */
int cfg_get_group(const config_setting_t *group, const char *key, const config_setting_t **out,
		  struct cfg_err *err);
int cfg_get_list(const config_setting_t *group, const char *key, const config_setting_t **out,
		 struct cfg_err *err);

int cfg_get_string(const config_setting_t *group, const char *key, const char *def,
		   const char **out, struct cfg_err *err);
/* Integers (32- or 64-bit literals) within [min, max]. */
int cfg_get_int(const config_setting_t *group, const char *key, long long def, long long min,
		long long max, long long *out, struct cfg_err *err);
int cfg_get_bool(const config_setting_t *group, const char *key, bool def, bool *out,
		 struct cfg_err *err);
/* A string that must be one of `names` (NULL-terminated); *out is its index. */
int cfg_get_enum(const config_setting_t *group, const char *key, const char *const names[], int def,
		 int *out, struct cfg_err *err);

/* A duration string ("250ms", cfgval.h) or an integer meaning milliseconds,
 * within [min_us, max_us]; *us in microseconds. */
int cfg_get_duration(const config_setting_t *group, const char *key, uint64_t def_us,
		     uint64_t min_us, uint64_t max_us, uint64_t *us, struct cfg_err *err);
/* A size string ("16k", cfgval.h) or an integer meaning bytes, in [min, max]. */
int cfg_get_size(const config_setting_t *group, const char *key, uint64_t def, uint64_t min,
		 uint64_t max, uint64_t *bytes, struct cfg_err *err);

/* A socket address string (addr_parse() with `flags`/`default_port`).
 * Absent: `def` parsed the same way, or an unset address (AF_UNSPEC) when
 * def is NULL. */
int cfg_get_addr(const config_setting_t *group, const char *key, unsigned flags,
		 uint16_t default_port, const char *def, struct addr *out, struct cfg_err *err);

/* A list or array of address strings (or one string). *items is malloc'ed
 * (free() it; NULL with *n = 0 when absent or empty). Duplicates are
 * errors: a repeated entry is almost always a typo for another one. */
int cfg_get_addr_list(const config_setting_t *group, const char *key, unsigned flags,
		      uint16_t default_port, struct addr **items, size_t *n, struct cfg_err *err);

/* A list or array of CIDR strings (or one string) into *out, which this
 * initialises (empty when absent); on error *out is left empty. Host bits
 * and duplicates are errors. */
int cfg_get_cidr_list(const config_setting_t *group, const char *key, struct cidr_list *out,
		      struct cfg_err *err);

/* The shared `-t`: runs the daemon's own builder on `path`. On success
 * prints "PATH: ok" to stdout, destroys the snapshot and returns 0; on
 * failure prints the error line to stderr and returns 1. A failing builder
 * must leave *snapshot NULL (it owns its cleanup). */
int cfg_check_main(const char *path,
		   int (*build)(const char *path, void **snapshot, struct cfg_err *err),
		   void (*destroy)(void *snapshot));

#endif
