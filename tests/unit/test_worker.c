/* Worker tests: threads with their own loops and SO_REUSEPORT listeners on
 * one port, CPU pinning, broadcast posts, stop + join, init failure,
 * listener options (freebind checked inside a private network namespace)
 * and main-thread signals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "loop_harness.h"
#include "worker.h"

#define N_WORKERS 2
#define N_CLIENTS 200

enum { OP_ACCEPT = 1 };

struct wstate {
	uint16_t port;
	pthread_t main_thread;
	struct h_owner acceptor[N_WORKERS];
	int accepted[N_WORKERS]; /* atomic */
	int posted[N_WORKERS];
	int post_wrong[N_WORKERS];
	int fini[N_WORKERS];
	int pinned_ok[N_WORKERS];
	unsigned features[N_WORKERS];
	int fail_index; /* init fails on this worker, -1: never */
	int cpus[N_WORKERS];
};

static struct wstate st;

static void on_accept(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	unsigned me = worker_index();

	if (cqe->res >= 0) {
		__atomic_add_fetch(&st.accepted[me], 1, __ATOMIC_SEQ_CST);
		close(cqe->res);
	}
	if (cqe->res >= 0 && !loop_cqe_more(cqe))
		loop_prep_accept(o->loop, o->id, OP_ACCEPT, o->fd);
}

static void acceptor_free(struct loop *l, void *obj)
{
	struct h_owner *o = obj;

	close(o->fd);
	o->freed++;
}

static const struct loop_ops acceptor_ops = {.on_cqe = h_on_cqe, .on_free = acceptor_free};

static int w_init(struct loop *l, unsigned index, void *arg)
{
	struct wstate *s = arg;
	struct sockaddr_in sin = h_addr(s->port);
	struct h_owner *o = &s->acceptor[index];
	cpu_set_t set;
	int fd;

	if ((int)index == s->fail_index)
		return -EADDRINUSE;
	assert_false(pthread_equal(pthread_self(), s->main_thread));
	assert_int_equal(worker_index(), index);
	s->features[index] = loop_features(l);
	pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
	s->pinned_ok[index] = CPU_COUNT(&set) == 1 && CPU_ISSET(s->cpus[index], &set);
	fd = worker_listen((struct sockaddr *)&sin, sizeof(sin), 128, 0);
	if (fd < 0)
		return fd;
	memset(o, 0, sizeof(*o));
	o->loop = l;
	o->fd = fd;
	o->handler = on_accept;
	o->id = loop_slot_open(l, &acceptor_ops, o);
	return loop_prep_accept(l, o->id, OP_ACCEPT, fd);
}

static void w_fini(struct loop *l, unsigned index, void *arg)
{
	st.fini[index]++;
}

static void on_broadcast(struct loop *l, void *arg)
{
	unsigned me = worker_index();

	assert_true(me < N_WORKERS);
	st.post_wrong[me] += worker_loop(me) != l;
	__atomic_add_fetch(&st.posted[me], 1, __ATOMIC_SEQ_CST);
}

static int total(const int *v)
{
	int n = 0;

	for (int i = 0; i < N_WORKERS; i++)
		n += __atomic_load_n(&v[i], __ATOMIC_SEQ_CST);
	return n;
}

static bool wait_total(const int *v, int want, unsigned ms)
{
	uint64_t deadline = h_now_ms() + ms;

	while (total(v) < want && h_now_ms() < deadline)
		usleep(2000);
	return total(v) == want;
}

/* Pins to CPUs this process may run on (not necessarily 0 and 1). */
static struct worker_params params(void)
{
	cpu_set_t set;
	int k = 0;

	sched_getaffinity(0, sizeof(set), &set);
	for (int c = 0; c < CPU_SETSIZE && k < N_WORKERS; c++)
		if (CPU_ISSET(c, &set))
			st.cpus[k++] = c;
	for (; k < N_WORKERS; k++)
		st.cpus[k] = st.cpus[0];
	return (struct worker_params){
	    .count = N_WORKERS,
	    .cpus = st.cpus,
	    .ncpus = N_WORKERS,
	    .loop = {.slots = 16, .buf_count = 16, .buf_size = 4096},
	    .init = w_init,
	    .fini = w_fini,
	    .arg = &st,
	};
}

static void test_workers_accept(void **state)
{
	struct worker_params p;
	int reserve;

	memset(&st, 0, sizeof(st));
	p = params();
	st.fail_index = -1;
	st.main_thread = pthread_self();
	/* Hold the port while the workers bind their own listeners to it. */
	reserve = h_listener(&st.port, 1);
	close(reserve);
	assert_int_equal(worker_start(&p), 0);
	assert_int_equal(worker_start(&p), -EALREADY);
	assert_int_equal(worker_count(), N_WORKERS);
	assert_null(worker_loop(N_WORKERS));
	assert_int_equal(worker_index(), WORKER_NONE);
	for (int i = 0; i < N_WORKERS; i++) {
		/* Created on its own thread, so the strict ring setup applies. */
		assert_true(st.features[i] & LOOP_F_SINGLE_ISSUER);
		assert_true(st.pinned_ok[i]);
	}
	for (int i = 0; i < N_CLIENTS; i++)
		close(h_connect(st.port));
	assert_true(wait_total(st.accepted, N_CLIENTS, 5000));
	for (int i = 0; i < N_WORKERS; i++)
		assert_true(st.accepted[i] > 0); /* SO_REUSEPORT spread them */

	assert_int_equal(worker_post_all(on_broadcast, NULL), 0);
	assert_true(wait_total(st.posted, N_WORKERS, 3000));
	for (int i = 0; i < N_WORKERS; i++) {
		assert_int_equal(st.posted[i], 1);
		assert_int_equal(st.post_wrong[i], 0);
	}
	worker_stop_all();
	assert_int_equal(worker_count(), 0);
	for (int i = 0; i < N_WORKERS; i++) {
		assert_int_equal(st.fini[i], 1);
		assert_int_equal(st.acceptor[i].freed, 1); /* loop_destroy closed the slot */
	}
	worker_stop_all(); /* again: a no-op */
}

static void test_init_failure(void **state)
{
	struct worker_params p;
	int reserve;

	memset(&st, 0, sizeof(st));
	p = params();
	st.fail_index = 1;
	st.main_thread = pthread_self();
	reserve = h_listener(&st.port, 1);
	close(reserve);
	assert_int_equal(worker_start(&p), -EADDRINUSE);
	assert_int_equal(worker_count(), 0);
	assert_int_equal(st.fini[0], 1); /* the healthy worker ran and was stopped */
	assert_int_equal(st.fini[1], 0);
	assert_int_equal(st.acceptor[0].freed, 1);
	/* And the set can be started again afterwards. */
	st.fail_index = -1;
	assert_int_equal(worker_start(&p), 0);
	worker_stop_all();
}

static int get_int(int fd, int level, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, opt, &v, &len), 0);
	return v;
}

static void test_listen_options(void **state)
{
	struct sockaddr_in6 six = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr_in sin = h_addr(0);
	int fd, fd2;
	socklen_t len = sizeof(sin);

	fd = worker_listen((struct sockaddr *)&sin, sizeof(sin), 16, 0);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_REUSEPORT), 1);
	assert_int_equal(get_int(fd, IPPROTO_IP, IP_FREEBIND), 1);
	assert_int_equal(get_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT), 0);
	assert_int_equal(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	/* A second listener on the same port: the per-worker pattern. */
	fd2 = worker_listen((struct sockaddr *)&sin, sizeof(sin), 16, 0);
	assert_true(fd2 >= 0);
	close(fd2);
	assert_int_equal(
	    worker_listen((struct sockaddr *)&sin, sizeof(sin), 16, WORKER_LISTEN_EXCLUSIVE),
	    -EADDRINUSE);
	close(fd);

	fd = worker_listen((struct sockaddr *)&six, sizeof(six), 16, 0);
	assert_true(fd >= 0);
	assert_int_equal(get_int(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	close(fd);
	six.sin6_addr = in6addr_any;
	fd = worker_listen((struct sockaddr *)&six, sizeof(six), 16, WORKER_LISTEN_DUAL_STACK);
	assert_true(fd >= 0);
	assert_int_equal(get_int(fd, IPPROTO_IPV6, IPV6_V6ONLY), 0);
	close(fd);
}

/* With lo up the namespace has a local routing table, so the kernel can tell
 * that an address is not local (with no table at all it lets any bind by). */
static int lo_up(void)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret;

	ret = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (ret == 0)
		ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return ret;
}

/* In a private network namespace (no traffic, gone when the child exits):
 * an address that is on no interface can be listened on only with freebind. */
static void test_listen_freebind(void **state)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		int fd, code = 0;

		if (unshare(CLONE_NEWNET) != 0 || lo_up() != 0)
			_exit(10);
		inet_pton(AF_INET, "10.77.255.1", &sin.sin_addr);
		fd = worker_listen((struct sockaddr *)&sin, sizeof(sin), 4,
				   WORKER_LISTEN_NO_FREEBIND);
		if (fd != -EADDRNOTAVAIL)
			code = 11;
		fd = worker_listen((struct sockaddr *)&sin, sizeof(sin), 4, 0);
		if (fd < 0)
			code = 12;
		_exit(code);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void *send_sig(void *arg)
{
	usleep(20000);
	kill(getpid(), *(int *)arg);
	return NULL;
}

static void test_signals(void **state)
{
	struct worker_params p;
	int sv[2], sig = SIGTERM, reserve;
	pthread_t th;

	assert_int_equal(worker_signals_block(), 0);
	assert_true(worker_signals_fd() >= 0);
	assert_int_equal(worker_signals_wait(30), 0); /* nothing pending: timeout */
	kill(getpid(), SIGHUP);
	assert_int_equal(worker_signals_wait(1000), SIGHUP);

	/* With workers running, a process signal still comes to the signalfd. */
	memset(&st, 0, sizeof(st));
	p = params();
	st.fail_index = -1;
	st.main_thread = pthread_self();
	reserve = h_listener(&st.port, 1);
	close(reserve);
	assert_int_equal(worker_start(&p), 0);
	assert_int_equal(pthread_create(&th, NULL, send_sig, &sig), 0);
	assert_int_equal(worker_signals_wait(3000), SIGTERM);
	pthread_join(th, NULL);
	worker_stop_all();

	/* SIGPIPE is ignored: writing to a closed peer fails with EPIPE. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(write(sv[0], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_workers_accept), cmocka_unit_test(test_init_failure),
	    cmocka_unit_test(test_listen_options), cmocka_unit_test(test_listen_freebind),
	    cmocka_unit_test(test_signals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
