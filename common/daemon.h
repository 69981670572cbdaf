/* Command-line handling shared by every Strata daemon: -c FILE, -t, -V, -h.
 *
 * Every daemon takes the same options (DESIGN.md "Programs"): `-c FILE`
 * (libconfig), `-t` (check the config, print `FILE: ok` or
 * `FILE:LINE: what is wrong`, exit 0/1), `-V` (version), `-h` (help).
 */
#ifndef STRATA_DAEMON_H
#define STRATA_DAEMON_H

#include <stdbool.h>

struct daemon_info {
	const char *name;           /* "strata-l4" */
	const char *summary;        /* one line for -h */
	const char *default_config; /* used when -c is not given; may be NULL */
	const char *extra_usage;    /* extra option lines for -h, or NULL */
};

struct daemon_opts {
	const char *config_path;
	bool check_only; /* -t */
	bool debug;      /* -d: log at debug level */
};

/* Parses argv. -h and -V print and exit(0); a bad option prints usage and
 * exits 2. Options a daemon adds itself are not supported here on purpose:
 * everything else belongs in the config file. */
void daemon_parse_args(int argc, char **argv, const struct daemon_info *info,
		       struct daemon_opts *out);

/* Prints "NAME VERSION" to stdout. */
void daemon_print_version(const struct daemon_info *info);

#endif
