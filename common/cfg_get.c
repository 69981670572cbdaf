/* libconfig helpers: typed getters (scalars, durations, sizes, addresses,
 * CIDR lists) with `FILE:LINE: key: what` errors; see cfg.h. */
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

#include "addr.h"
#include "cidr.h"

static bool is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

int cfg_get_string(const config_setting_t *group, const char *key, const char *def,
		   const char **out, struct cfg_err *err)
{
	const config_setting_t *s = cfg_i_member(group, key);

	*out = def;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return cfg_i_type_error(err, s, "a string");
	*out = config_setting_get_string(s);
	return 0;
}

int cfg_get_int(const config_setting_t *group, const char *key, long long def, long long min,
		long long max, long long *out, struct cfg_err *err)
{
	const config_setting_t *s = cfg_i_member(group, key);
	char lo[24], hi[24];
	long long v;

	*out = def;
	if (!s)
		return 0;
	if (!is_int(s))
		return cfg_i_type_error(err, s, "an integer");
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		snprintf(lo, sizeof(lo), "%lld", min);
		snprintf(hi, sizeof(hi), "%lld", max);
		return cfg_i_range_error(err, s, min == LLONG_MIN ? NULL : lo,
					 max == LLONG_MAX ? NULL : hi);
	}
	*out = v;
	return 0;
}

int cfg_get_bool(const config_setting_t *group, const char *key, bool def, bool *out,
		 struct cfg_err *err)
{
	const config_setting_t *s = cfg_i_member(group, key);

	*out = def;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return cfg_i_type_error(err, s, "true or false");
	*out = config_setting_get_bool(s) != 0;
	return 0;
}

int cfg_get_enum(const config_setting_t *group, const char *key, const char *const names[], int def,
		 int *out, struct cfg_err *err)
{
	const config_setting_t *s = cfg_i_member(group, key);
	char expected[CFG_ERR_MAX / 2] = "one of ";
	const char *str, *hint;

	*out = def;
	if (!s)
		return 0;
	cfg_i_join_names(names, '"', expected + 7, sizeof(expected) - 7);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return cfg_i_type_error(err, s, expected);
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
	return cfg_i_type_error(err, s, expected);
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
			return cfg_i_value_error(err, s, expected, why);
		return 0;
	}
	if (!is_int(s))
		return cfg_i_type_error(err, s, expected);
	v = config_setting_get_int64(s);
	if (v < 0)
		return cfg_i_value_error(err, s, expected, "negative values are not allowed");
	if ((uint64_t)v > UINT64_MAX / int_unit)
		return cfg_i_value_error(err, s, expected, "value too large");
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
	return cfg_i_range_error(err, s, min ? lo : NULL, max != UINT64_MAX ? hi : NULL);
}

int cfg_get_duration(const config_setting_t *group, const char *key, uint64_t def_us,
		     uint64_t min_us, uint64_t max_us, uint64_t *us, struct cfg_err *err)
{
	const config_setting_t *s = cfg_i_member(group, key);
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
	const config_setting_t *s = cfg_i_member(group, key);
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
		return cfg_i_type_error(err, s, addr_example(flags));
	str = config_setting_get_string(s);
	if (addr_parse(str, strlen(str), flags, port, out, &why))
		return cfg_i_value_error(err, s, addr_example(flags), why);
	return 0;
}

int cfg_get_addr(const config_setting_t *group, const char *key, unsigned flags,
		 uint16_t default_port, const char *def, struct addr *out, struct cfg_err *err)
{
	const config_setting_t *s = cfg_i_member(group, key);
	const char *why;

	memset(out, 0, sizeof(*out));
	if (s)
		return addr_value(s, flags, default_port, out, err);
	if (def && addr_parse(def, strlen(def), flags, default_port, out, &why))
		return cfg_i_file_errf(err, "%s: built-in default \"%s\": %s", key, def, why);
	return 0;
}

/* A string, or a list/array of them: how many entries; <0 on a type error. */
static int string_items(const config_setting_t *s, const char *expected, struct cfg_err *err)
{
	int n;

	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return 1;
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return cfg_i_type_error(err, s, expected);
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
	const config_setting_t *s = cfg_i_member(group, key);
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
		return cfg_i_type_error(err, s, cidr_example);
	str = config_setting_get_string(s);
	if (cidr_parse(str, strlen(str), CIDR_F_HOST_BITS, out, &why))
		return cfg_i_value_error(err, s, cidr_example, why);
	if (cidr_has_host_bits(out)) {
		cidr_mask(out);
		cidr_format(out, fixed, sizeof(fixed));
		snprintf(msg, sizeof(msg), "host bits set (did you mean \"%s\"?)", fixed);
		return cfg_i_value_error(err, s, cidr_example, msg);
	}
	return 0;
}

int cfg_get_cidr_list(const config_setting_t *group, const char *key, struct cidr_list *out,
		      struct cfg_err *err)
{
	const config_setting_t *s = cfg_i_member(group, key);
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
