/* stratactl: operator CLI over each daemon's admin socket (protocol in
 * common/admin.h). It sends one line, prints the body, and turns the status
 * line into the exit code:
 *   0 OK, 1 ERR (message on stderr), 2 usage error,
 *   3 transport failure (cannot connect, or no complete answer in time).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"

#define CTL_DEFAULT_SOCKET  "l4"
#define CTL_DEFAULT_TIMEOUT 5.0 /* seconds */
#define CTL_EXIT_OK	    0
#define CTL_EXIT_ERR	    1
#define CTL_EXIT_USAGE	    2
#define CTL_EXIT_TRANSPORT  3
#define CTL_ROOT_SEARCH	    4 /* directory levels searched above the binary */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: stratactl [-s SOCKET] [-t SECONDS] COMMAND [ARGS...]\n"
		"       stratactl [-s SOCKET] raw LINE\n"
		"Sends one command to a Strata daemon's admin socket and prints the answer.\n\n"
		"  -s SOCKET   socket path, or a short name: l4, l7-0, l7-1, vrrp, ... means\n"
		"              run/NAME.sock of the checkout (default: $STRATA_ADMIN, else l4)\n"
		"  -t SECONDS  give up after this long (default %.0f; decimals allowed)\n"
		"  -V          print the version and exit\n"
		"  -h          print this help and exit\n\n"
		"'stratactl help' lists the daemon's commands. Exit status: 0 OK, 1 the daemon\n"
		"answered ERR, 2 usage error, 3 cannot connect or no complete answer.\n",
		CTL_DEFAULT_TIMEOUT);
}

/* A short name is a bare word like "l4" or "l7-0": no '/', no '.'. */
static int is_short_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

/* Looks for run/NAME.sock in the directories above the binary, so that
 * build/bin/stratactl finds the checkout's run/ from anywhere. */
static int find_above_binary(const char *name, char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return 0;
	exe[n] = '\0';
	for (int level = 0; level < CTL_ROOT_SEARCH; level++) {
		char *slash = strrchr(exe, '/');

		if (!slash || slash == exe)
			return 0;
		*slash = '\0';
		if (snprintf(out, cap, "%s/run/%s.sock", exe, name) < (int)cap &&
		    access(out, F_OK) == 0)
			return 1;
	}
	return 0;
}

/* Maps -s/$STRATA_ADMIN to a path: a short name becomes run/NAME.sock in
 * the current directory when that exists (running from the checkout), else
 * in the checkout holding this binary, else run/NAME.sock as given so the
 * error names it. Anything else is a path. */
static const char *resolve_socket(const char *spec, char *buf, size_t cap)
{
	if (!is_short_name(spec))
		return spec;
	snprintf(buf, cap, "run/%s.sock", spec);
	if (access(buf, F_OK) == 0)
		return buf;
	if (find_above_binary(spec, buf, cap))
		return buf;
	snprintf(buf, cap, "run/%s.sock", spec);
	return buf;
}

static int parse_timeout(const char *s, int *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v > 0) || v > 3600)
		return -1;
	*ms = (int)(v * 1000 + 0.5);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

/* Joins the words with single spaces; refuses control characters, which
 * would end the line early or be refused by the daemon anyway. */
static char *join_words(int argc, char **argv)
{
	size_t len = 1, o = 0;
	char *line;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	line = malloc(len);
	if (!line)
		return NULL;
	for (int i = 0; i < argc; i++) {
		for (const char *p = argv[i]; *p; p++)
			if ((unsigned char)*p < 0x20 && *p != '\t') {
				free(line);
				errno = EINVAL;
				return NULL;
			}
		o += (size_t)snprintf(line + o, len - o, "%s%s", i ? " " : "", argv[i]);
	}
	line[o] = '\0';
	return line;
}

static void print_line(void *arg, const char *line, size_t len)
{
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
}

static int run(const char *path, char *line, int timeout_ms)
{
	struct admin_reply r = {.on_line = print_line};
	int rc = admin_request(path, line, &r, timeout_ms);

	fflush(stdout);
	if (rc == 0)
		return CTL_EXIT_OK;
	if (rc == 1) {
		fprintf(stderr, "stratactl: %s\n", r.message[0] ? r.message : "command failed");
		return CTL_EXIT_ERR;
	}
	if (!r.connected)
		fprintf(stderr, "stratactl: cannot connect to %s: %s\n", path, strerror(-rc));
	else
		fprintf(stderr, "stratactl: %s: %s\n", path, r.message);
	return CTL_EXIT_TRANSPORT;
}

int main(int argc, char **argv)
{
	const char *spec = getenv("STRATA_ADMIN"), *path;
	int timeout_ms = (int)(CTL_DEFAULT_TIMEOUT * 1000), c, rc;
	char buf[PATH_MAX], *line;

	if (!spec || !*spec)
		spec = CTL_DEFAULT_SOCKET;
	/* '+': options stop at the command, so its own arguments pass through. */
	while ((c = getopt(argc, argv, "+s:t:Vh")) != -1) {
		switch (c) {
		case 's':
			spec = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &timeout_ms) < 0) {
				fprintf(stderr, "stratactl: bad timeout '%s' (seconds, > 0)\n",
					optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'V':
			printf("stratactl %s\n", STRATA_VERSION);
			return CTL_EXIT_OK;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc || (strcmp(argv[optind], "raw") == 0 && optind + 1 >= argc)) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "raw") == 0)
		optind++;
	line = join_words(argc - optind, argv + optind);
	if (!line) {
		fprintf(stderr, "stratactl: %s\n",
			errno == EINVAL ? "arguments must not hold control characters"
					: strerror(errno));
		return CTL_EXIT_USAGE;
	}
	path = resolve_socket(spec, buf, sizeof(buf));
	rc = run(path, line, timeout_ms);
	free(line);
	return rc;
}
