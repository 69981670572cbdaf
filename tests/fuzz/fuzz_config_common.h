/* Shared by the config fuzz targets (fuzz_config, fuzz_l4_config,
 * fuzz_l7_config, fuzz_vrrp_config): which inputs they take, the input as
 * NUL-terminated text or as a memfd named through /proc/self/fd (so nothing
 * touches the disk), and the error-line contract of common/cfg.h that every
 * config builder keeps. Header-only: each target stays one binary.
 */
#ifndef STRATA_FUZZ_CONFIG_COMMON_H
#define STRATA_FUZZ_CONFIG_COMMON_H

#include <assert.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cfg.h"

#define FUZZ_CFG_NAME	   "fuzz.conf" /* the source name of text parsed from memory */
#define FUZZ_CFG_MAX_INPUT (64 * 1024) /* larger inputs only slow the search down */
#define FUZZ_CFG_PATH_MAX  32	       /* "/proc/self/fd/N" */

/* What a target does with @include: skip the input (it would read other
 * files), or keep it (the builder itself refuses @include). */
enum fuzz_cfg_include { FUZZ_CFG_SKIP_INCLUDE, FUZZ_CFG_KEEP_INCLUDE };

static inline bool fuzz_cfg_wanted(const uint8_t *data, size_t size, enum fuzz_cfg_include inc)
{
	if (size > FUZZ_CFG_MAX_INPUT)
		return false;
	return inc == FUZZ_CFG_KEEP_INCLUDE || !memmem(data, size, "@include", 8);
}

/* The input as a NUL-terminated copy the caller frees, or NULL when the
 * target does not take it. */
static inline char *fuzz_cfg_text(const uint8_t *data, size_t size, enum fuzz_cfg_include inc)
{
	char *text;

	if (!fuzz_cfg_wanted(data, size, inc))
		return NULL;
	text = malloc(size + 1);
	if (!text)
		return NULL;
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

/* The input in a memfd the caller closes, its name ("/proc/self/fd/N") in
 * `path`; -1 when the target does not take it. @include is always skipped:
 * it would resolve against /proc/self/fd and read whatever is there. */
static inline int fuzz_cfg_memfd(const uint8_t *data, size_t size, const char *label,
				 char path[FUZZ_CFG_PATH_MAX])
{
	int fd;

	if (!fuzz_cfg_wanted(data, size, FUZZ_CFG_SKIP_INCLUDE))
		return -1;
	fd = memfd_create(label, 0);
	assert(fd >= 0);
	assert(write(fd, data, size) == (ssize_t)size);
	snprintf(path, FUZZ_CFG_PATH_MAX, "/proc/self/fd/%d", fd);
	return fd;
}

/* common/cfg.h: an error is one line naming the source, "NAME:LINE: what"
 * (a setting's error) or "NAME: what" (the file as a whole), with
 * something after the prefix. */
static inline void fuzz_cfg_check_err(const struct cfg_err *err, const char *name)
{
	size_t n = strlen(name);
	const char *p = err->msg + n;

	assert(cfg_err_is_set(err) && strlen(err->msg) < CFG_ERR_MAX);
	assert(strncmp(err->msg, name, n) == 0 && *p++ == ':');
	if (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p))
			p++;
		assert(*p++ == ':');
	}
	assert(*p++ == ' ' && *p != '\0');
}

#endif
