/* Command-line handling shared by every Strata daemon; see daemon.h. */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void daemon_print_version(const struct daemon_info *info)
{
	printf("%s %s\n", info->name, STRATA_VERSION);
}

static void print_usage(FILE *out, const struct daemon_info *info)
{
	fprintf(out,
		"usage: %s [-c FILE] [-t] [-d] [-V] [-h]\n"
		"%s\n\n"
		"  -c FILE  configuration file (libconfig)%s%s%s\n"
		"  -t       check the configuration, print 'FILE: ok' or 'FILE:LINE: error', exit 0/1\n"
		"  -d       log at debug level\n"
		"  -V       print the version and exit\n"
		"  -h       print this help and exit\n"
		"%s"
		"\nSignals: SIGHUP reloads the configuration, SIGTERM drains then exits,\n"
		"SIGINT exits at once. Logs go to stderr.\n",
		info->name, info->summary, info->default_config ? " (default " : "",
		info->default_config ? info->default_config : "", info->default_config ? ")" : "",
		info->extra_usage ? info->extra_usage : "");
}

void daemon_parse_args(int argc, char **argv, const struct daemon_info *info,
		       struct daemon_opts *out)
{
	int c;

	out->config_path = info->default_config;
	out->check_only = false;
	out->debug = false;
	while ((c = getopt(argc, argv, "c:tdVh")) != -1) {
		switch (c) {
		case 'c':
			out->config_path = optarg;
			break;
		case 't':
			out->check_only = true;
			break;
		case 'd':
			out->debug = true;
			break;
		case 'V':
			daemon_print_version(info);
			exit(0);
		case 'h':
			print_usage(stdout, info);
			exit(0);
		default:
			print_usage(stderr, info);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", info->name, argv[optind]);
		print_usage(stderr, info);
		exit(2);
	}
	if (!out->config_path) {
		fprintf(stderr, "%s: no configuration file given (-c FILE)\n", info->name);
		exit(2);
	}
}
