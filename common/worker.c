/* Worker threads with one loop each, the listener helper and main-thread
 * signal handling; see worker.h.
 *
 * The worker set is process-wide state owned by this file: worker_start()
 * creates it, worker_stop_all() tears it down. Each loop is created, run
 * and destroyed on its own worker thread.
 */
#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78 /* linux/in6.h, since 4.15 */
#endif

struct worker {
	pthread_t thread;
	unsigned index;
	int cpu; /* -1: not pinned */
	struct loop *loop;
	bool running; /* init succeeded: loop_run() is (about to be) running */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct worker *w;
	unsigned n, ready;
	int first_err;
	struct worker_params p;
} ws = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static __thread unsigned tl_index = WORKER_NONE;
static int sig_fd = -1;

static void pin(struct worker *w)
{
	cpu_set_t set;
	int ret;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (ret)
		log_warn("worker %u: cannot pin to CPU %d: %s", w->index, w->cpu, strerror(ret));
}

static void report_ready(struct worker *w, int ret)
{
	pthread_mutex_lock(&ws.lock);
	if (ret < 0 && !ws.first_err)
		ws.first_err = ret;
	w->running = ret == 0;
	ws.ready++;
	pthread_cond_broadcast(&ws.cond);
	pthread_mutex_unlock(&ws.lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;
	int ret;

	/* Signals belong to the main thread's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	tl_index = w->index;
	if (w->cpu >= 0)
		pin(w);
	w->loop = loop_create(&ws.p.loop);
	ret = w->loop ? 0 : -errno;
	if (ret == 0 && ws.p.init)
		ret = ws.p.init(w->loop, w->index, ws.p.arg);
	if (ret < 0)
		log_err("worker %u: start failed: %s", w->index, strerror(-ret));
	report_ready(w, ret);
	if (ret == 0) {
		loop_run(w->loop);
		if (ws.p.fini)
			ws.p.fini(w->loop, w->index, ws.p.arg);
	}
	loop_destroy(w->loop);
	return NULL;
}

static unsigned default_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > (long)WORKER_MAX ? WORKER_MAX : (unsigned)n;
}

/* Stops and joins the first `n` workers, whatever state they are in. */
static void stop_join(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (ws.w[i].running)
			loop_stop(ws.w[i].loop);
	for (unsigned i = 0; i < n; i++)
		pthread_join(ws.w[i].thread, NULL);
	free(ws.w);
	ws.w = NULL;
	ws.n = 0;
}

int worker_start(const struct worker_params *p)
{
	unsigned n = p->count ? p->count : default_count(), started = 0;
	int ret = 0;

	if (ws.w)
		return -EALREADY;
	if (n > WORKER_MAX)
		return -EINVAL;
	ws.w = calloc(n, sizeof(*ws.w));
	if (!ws.w)
		return -ENOMEM;
	ws.p = *p;
	ws.ready = 0;
	ws.first_err = 0;
	for (; started < n; started++) {
		struct worker *w = &ws.w[started];

		w->index = started;
		w->cpu = p->cpus && p->ncpus ? p->cpus[started % p->ncpus] : -1;
		ret = -pthread_create(&w->thread, NULL, worker_main, w);
		if (ret < 0)
			break;
	}
	pthread_mutex_lock(&ws.lock);
	while (ws.ready < started)
		pthread_cond_wait(&ws.cond, &ws.lock);
	if (ret == 0)
		ret = ws.first_err;
	pthread_mutex_unlock(&ws.lock);
	if (ret < 0) {
		stop_join(started);
		return ret;
	}
	ws.n = n;
	return 0;
}

void worker_stop_all(void)
{
	if (ws.w)
		stop_join(ws.n);
}

int worker_post_all(loop_post_fn fn, void *arg)
{
	int ret = 0;

	for (unsigned i = 0; i < ws.n; i++) {
		int r = loop_post(ws.w[i].loop, fn, arg);

		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}

unsigned worker_count(void)
{
	return ws.n;
}

struct loop *worker_loop(unsigned index)
{
	return index < ws.n ? ws.w[index].loop : NULL;
}

unsigned worker_index(void)
{
	return tl_index;
}

/* --- listeners -------------------------------------------------------------------- */

static int set_int(int fd, int level, int opt, int val)
{
	return setsockopt(fd, level, opt, &val, sizeof(val)) < 0 ? -errno : 0;
}

static int inet_options(int fd, int family, unsigned flags)
{
	bool v6 = family == AF_INET6;
	int ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);

	if (ret == 0 && !(flags & WORKER_LISTEN_EXCLUSIVE))
		ret = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (ret == 0 && v6)
		ret = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, !(flags & WORKER_LISTEN_DUAL_STACK));
	/* Listening on a VIP before VRRP has moved it here must work. */
	if (ret == 0 && !(flags & WORKER_LISTEN_NO_FREEBIND))
		ret = v6 ? set_int(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1)
			 : set_int(fd, IPPROTO_IP, IP_FREEBIND, 1);
	/* Accept at once: a PROXY header or TLS hello is read by us, not waited
	 * for in the kernel. */
	if (ret == 0)
		ret = set_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 0);
	return ret;
}

int worker_listen(const struct sockaddr *sa, socklen_t salen, int backlog, unsigned flags)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		ret = inet_options(fd, sa->sa_family, flags);
	if (ret == 0 && bind(fd, sa, salen) < 0)
		ret = -errno;
	if (ret == 0 && listen(fd, backlog) < 0)
		ret = -errno;
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/* --- signals ---------------------------------------------------------------------- */

int worker_signals_block(void)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	/* A peer that resets mid-send must not kill us; sends also pass
	 * MSG_NOSIGNAL. */
	if (sigaction(SIGPIPE, &ign, NULL) < 0)
		return -errno;
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	if (sig_fd < 0)
		sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return sig_fd < 0 ? -errno : 0;
}

int worker_signals_wait(int timeout_ms)
{
	struct pollfd pfd = {.fd = sig_fd, .events = POLLIN};
	struct signalfd_siginfo si;

	if (sig_fd < 0)
		return -EBADF;
	for (;;) {
		ssize_t n = read(sig_fd, &si, sizeof(si));
		int r;

		if (n == (ssize_t)sizeof(si))
			return (int)si.ssi_signo;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		r = poll(&pfd, 1, timeout_ms);
		if (r == 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int worker_signals_fd(void)
{
	return sig_fd;
}
