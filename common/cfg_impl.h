/* Internals shared by cfg.c (error lines, key checks, -t), cfg_load.c
 * (reading files) and cfg_get.c (typed getters). Not an API: only those
 * three files include it. */
#ifndef STRATA_CFG_IMPL_H
#define STRATA_CFG_IMPL_H

#include "cfg.h"

#include <stddef.h>

#define CFG_PATH_DEPTH	 32 /* deeper paths print as "...x.y" */
#define CFG_DESCRIBE_MAX 96
#define CFG_INCLUDES_MAX 64 /* distinct @include files scanned for bad integers */

/* Appends printf output at pos, never past len - 1; returns the new pos. */
size_t cfg_i_append(char *buf, size_t len, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Records an error line that names no setting (file-level problems). */
int cfg_i_file_errf(struct cfg_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes names[] as a comma-separated list, each quoted with q. */
void cfg_i_join_names(const char *const names[], char q, char *buf, size_t len);
/* The direct member `key` of group, or NULL. */
const config_setting_t *cfg_i_member(const config_setting_t *group, const char *key);
/* "expected X, got Y" / "expected X, got Y: why" / "must be between lo and hi". */
int cfg_i_type_error(struct cfg_err *err, const config_setting_t *s, const char *expected);
int cfg_i_value_error(struct cfg_err *err, const config_setting_t *s, const char *expected,
		      const char *why);
int cfg_i_range_error(struct cfg_err *err, const config_setting_t *s, const char *lo,
		      const char *hi);

#endif
