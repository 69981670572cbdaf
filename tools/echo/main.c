/* strata-echo: the test backend. Answers every HTTP/1.x request with a JSON
 * body naming itself and listing the method, path and every header it
 * received, so a client sees exactly what crossed each tier (DESIGN.md).
 *
 * main() owns the server description and the worker array; each worker owns
 * one SO_REUSEPORT listener per address and everything it accepts.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "echo_addr.h"
#include "echo_buf.h"
#include "echo_respond.h"
#include "echo_worker.h"
#include "log.h"

#define ECHO_BACKLOG 4096

static const struct daemon_info info = {
    .name = "strata-echo",
    .summary = "test backend that answers with its name and the request headers it saw",
};

struct echo_opts {
	const char *addrs[ECHO_MAX_LISTENERS];
	struct sockaddr_storage ss[ECHO_MAX_LISTENERS];
	socklen_t ss_len[ECHO_MAX_LISTENERS];
	unsigned naddrs;
	const char *name;
	unsigned workers;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s -l ADDR:PORT [-l ADDR:PORT ...] [-n NAME] [-w THREADS] [-V] [-h]\n"
		"%s\n\n"
		"  -l ADDR:PORT  listen on 1.2.3.4:80, [::1]:80 or *:80 (up to %d times)\n"
		"  -n NAME       name in every response (default: the first listen address)\n"
		"  -w THREADS    worker threads (default: one per CPU, at most %d)\n"
		"  -V            print the version and exit\n"
		"  -h            print this help and exit\n\n"
		"Endpoints: any path echoes the request as JSON; /echo-body, /size/N[?chunked=1],\n"
		"/status/CODE, /delay/MS, /close, /stats, /healthz; Upgrade: websocket echoes\n"
		"frames, any other Upgrade echoes raw bytes. SIGTERM/SIGINT: exit 0.\n",
		info.name, info.summary, ECHO_MAX_LISTENERS, ECHO_MAX_WORKERS);
}

static unsigned default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > ECHO_MAX_WORKERS ? ECHO_MAX_WORKERS : (unsigned)n;
}

static void add_address(struct echo_opts *o, const char *arg)
{
	const char *why = NULL;

	if (o->naddrs == ECHO_MAX_LISTENERS) {
		fprintf(stderr, "%s: at most %d -l options\n", info.name, ECHO_MAX_LISTENERS);
		exit(2);
	}
	if (echo_addr_parse(arg, &o->ss[o->naddrs], &o->ss_len[o->naddrs], &why) < 0) {
		fprintf(stderr, "%s: bad listen address '%s': %s\n", info.name, arg, why);
		exit(2);
	}
	o->addrs[o->naddrs++] = arg;
}

static void parse_args(int argc, char **argv, struct echo_opts *o)
{
	char *end;
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->workers = default_workers();
	while ((c = getopt(argc, argv, "l:n:w:Vh")) != -1) {
		switch (c) {
		case 'l':
			add_address(o, optarg);
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'w':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > ECHO_MAX_WORKERS) {
				fprintf(stderr, "%s: -w takes 1..%d\n", info.name,
					ECHO_MAX_WORKERS);
				exit(2);
			}
			o->workers = (unsigned)v;
			break;
		case 'V':
			daemon_print_version(&info);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc || o->naddrs == 0) {
		if (optind < argc)
			fprintf(stderr, "%s: unexpected argument '%s'\n", info.name, argv[optind]);
		else
			fprintf(stderr, "%s: no listen address (-l ADDR:PORT)\n", info.name);
		usage(stderr);
		exit(2);
	}
}

static int open_listener(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* One listener per worker on the same port: the kernel spreads
	 * connections across them, and no accept lock is shared. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, ECHO_BACKLOG) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Opens nworkers listeners for each address; the first one resolves port 0
 * so all of a group share the port. Writes each bound address to names[]. */
static int open_listeners(const struct echo_opts *o, int fds[][ECHO_MAX_LISTENERS],
			  char names[][ECHO_ADDR_STR_MAX])
{
	for (unsigned a = 0; a < o->naddrs; a++) {
		struct sockaddr_storage ss = o->ss[a];
		socklen_t len = o->ss_len[a];

		for (unsigned w = 0; w < o->workers; w++) {
			int fd = open_listener(&ss, len);

			if (fd < 0) {
				log_err("cannot listen on %s: %s", o->addrs[a], strerror(-fd));
				return fd;
			}
			fds[w][a] = fd;
			if (w == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
				return -errno;
		}
		echo_addr_format((struct sockaddr *)&ss, names[a], ECHO_ADDR_STR_MAX);
	}
	return 0;
}

static int set_name(struct echo_server *srv, const char *name)
{
	struct echo_buf b = {0};

	echo_respond_json_str(&b, name, strlen(name));
	if (!echo_buf_ok(&b))
		return -ENOMEM;
	srv->name_json = b.data;
	srv->name_json_len = b.len;
	return 0;
}

static void log_listening(const struct echo_opts *o, char names[][ECHO_ADDR_STR_MAX],
			  const char *name)
{
	char line[ECHO_MAX_LISTENERS * (ECHO_ADDR_STR_MAX + 2)];
	size_t n = 0;

	line[0] = '\0';
	for (unsigned a = 0; a < o->naddrs; a++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", a ? ", " : "", names[a]);
	log_info("listening on %s as \"%s\" with %u worker%s", line, name, o->workers,
		 o->workers == 1 ? "" : "s");
}

/* Blocks until SIGTERM or SIGINT (blocked in every thread). */
static int wait_for_signal(const sigset_t *set)
{
	int sig = 0;

	while (sigwait(set, &sig) != 0)
		;
	return sig;
}

int main(int argc, char **argv)
{
	static int fds[ECHO_MAX_WORKERS][ECHO_MAX_LISTENERS];
	static char names[ECHO_MAX_LISTENERS][ECHO_ADDR_STR_MAX];
	struct echo_server srv = {0};
	struct echo_opts o;
	unsigned started = 0;
	sigset_t set;
	int rc = 1, sig;

	log_init(info.name, LOG_LVL_INFO);
	parse_args(argc, argv, &o);
	memset(fds, -1, sizeof(fds));
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	echo_respond_init();
	srv.nworkers = o.workers;
	srv.workers = calloc(o.workers, sizeof(*srv.workers));
	if (!srv.workers || open_listeners(&o, fds, names) < 0 ||
	    set_name(&srv, o.name ? o.name : names[0]) < 0)
		goto out_close_fds;
	for (unsigned w = 0; w < o.workers; w++) {
		int r = echo_worker_init(&srv.workers[w], &srv, w, fds[w], o.naddrs);

		/* The worker owns its fds now, even when init failed. */
		memset(fds[w], -1, sizeof(fds[w]));
		started = w + 1;
		if (r < 0 || (r = echo_worker_start(&srv.workers[w])) < 0) {
			log_err("worker %u: %s", w, strerror(-r));
			started = w;
			echo_worker_destroy(&srv.workers[w]);
			goto out_stop;
		}
	}
	log_listening(&o, names, o.name ? o.name : names[0]);
	sig = wait_for_signal(&set);
	log_info("%s: closing listeners, exiting", strsignal(sig));
	rc = 0;
out_stop:
	for (unsigned w = 0; w < started; w++)
		echo_worker_stop(&srv.workers[w]);
	for (unsigned w = 0; w < started; w++) {
		echo_worker_join(&srv.workers[w]);
		echo_worker_destroy(&srv.workers[w]);
	}
out_close_fds:
	for (unsigned w = 0; w < ECHO_MAX_WORKERS; w++)
		for (unsigned a = 0; a < ECHO_MAX_LISTENERS; a++)
			if (fds[w][a] >= 0)
				close(fds[w][a]);
	free(srv.workers);
	free(srv.name_json);
	return rc;
}
