/* strata-l4's SIGTERM drain (drain.h): SYN filter on the listeners, the
 * exit verdict, and the main thread's wait.
 *
 * Why a filter and not close(2): a closed listener answers the next SYN
 * with a RST (the client fails at once) and resets every connection still
 * in its accept queue. A dropped SYN is repeated by the client after its
 * initial RTO (RFC 6298 §2: 1 s), by which time strata-vrrp has moved the
 * VIP and the repeat reaches the new master. Only pure SYNs are dropped:
 * the listener's filter also sees the final ACK of a handshake it answered
 * before the drain (tcp_v4_rcv() runs tcp_filter() on the listener for a
 * request socket), and dropping that would leave a client that believes it
 * is connected with a server that never accepts it; the accepted socket
 * inherits the filter, which must therefore pass its data. Measured on
 * this kernel (docs/vrrp.md): with the filter a connect() gets no answer,
 * without it a RST; queued connections are still accepted.
 */
#include "drain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "lbworker.h"
#include "log.h"
#include "proc.h"
#include "worker.h"

#define L4_DRAIN_EXIT_WAIT_MS 2000 /* after closing the rest at drain_timeout */
#define TCP_FLAGS_OFF	      13   /* RFC 9293 §3.1; the filter sees the TCP header at 0 */
#define TCP_FL_SYN	      0x02
#define TCP_FL_ACK	      0x10

enum l4_drain_verdict l4_drain_decide(const struct l4_drain_view *v)
{
	if (v->now - v->start >= v->timeout_ms)
		return L4_DRAIN_TIMEOUT;
	if (v->active)
		return L4_DRAIN_WAIT;
	if (v->addrs_gone)
		return L4_DRAIN_GONE;
	if (v->now - v->last_busy >= v->linger_ms)
		return L4_DRAIN_LINGER;
	return L4_DRAIN_WAIT;
}

const char *l4_drain_verdict_name(enum l4_drain_verdict v)
{
	static const char *const names[L4_DRAIN__COUNT] = {
	    "still draining", "nothing open and every listen address left this host",
	    "nothing open for drain_linger", "drain timeout"};

	return (unsigned)v < L4_DRAIN__COUNT ? names[v] : "?";
}

int l4_drain_filter_syns(int fd)
{
	/* ldb [13]; and #(SYN|ACK); jeq #SYN ? drop : pass */
	static struct sock_filter code[] = {
	    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, TCP_FLAGS_OFF),
	    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, TCP_FL_SYN | TCP_FL_ACK),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TCP_FL_SYN, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	    BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

bool l4_drain_addr_is_local(const struct addr *a)
{
	struct addr probe = *a;
	int fd = socket(addr_family(a), SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return true;
	if (addr_family(a) == AF_INET)
		probe.u.in4.sin_port = 0;
	else
		probe.u.in6.sin6_port = 0;
	rc = bind(fd, addr_sockaddr(&probe), probe.len);
	rc = rc < 0 ? errno : 0;
	close(fd);
	return rc != EADDRNOTAVAIL;
}

/* Workers whose listeners drop SYNs: the drain is announced (and tested
 * against) only once every listener filters. */
static atomic_uint workers_quiesced;

void l4_drain_quiesce(struct l4_worker *w)
{
	unsigned n = 0;

	for (struct l4_listener *l = w->listeners, *next; l; l = next) {
		int rc = l4_drain_filter_syns(l->fd);

		next = l->next;
		if (rc == 0) {
			n++;
			continue;
		}
		log_warn("worker %u: cannot filter SYNs on a listener (%s): closing it", w->index,
			 strerror(-rc));
		l4_listener_remove(l);
	}
	log_debug("worker %u: %u listeners drop new SYNs", w->index, n);
	atomic_fetch_add(&workers_quiesced, 1);
}

/* Bounded: a worker stuck elsewhere must not hold the drain itself. */
static void wait_quiesced(void)
{
	const struct timespec ms = {.tv_nsec = 1000000};

	for (int i = 0; i < 2000 && atomic_load(&workers_quiesced) < worker_count(); i++)
		nanosleep(&ms, NULL);
}

/* --- connections at a switch (worker side) -------------------------------- */

static bool tcp_info_of(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	return fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == 0;
}

bool l4_drain_conn_at_switch(const struct l4_conn *c, uint32_t idle_ms)
{
	struct tcp_info cl, sv;

	if (c->state != L4_ST_RELAY || c->setup)
		return false;
	for (unsigned d = 0; d < 2; d++)
		if (c->dir[d].queued || c->dir[d].in_pipe || !c->dir[d].bytes ||
		    (c->dir[d].flags & (L4_DF_SEND | L4_DF_SPOUT)))
			return false;
	if (!tcp_info_of(c->fd[L4_CLIENT], &cl) || cl.tcpi_unacked ||
	    cl.tcpi_last_data_sent < idle_ms || cl.tcpi_last_data_recv < cl.tcpi_last_data_sent)
		return false; /* unacknowledged, too recent, or the client spoke last */
	/* The instance side agrees: its answer came after our last byte to it
	 * (a request still being answered has ours last). */
	if (tcp_info_of(c->fd[L4_SERVER], &sv) && sv.tcpi_last_data_sent < sv.tcpi_last_data_recv)
		return false;
	/* Ages are in jiffies (4 ms at HZ=250): a whole exchange inside one
	 * jiffy ties on both sockets and counts as answered. */
	return true;
}

void l4_drain_on_tick(struct loop *loop, void *arg)
{
	struct l4_worker *w = l4_worker_self();
	uint32_t idle_ms = (uint32_t)(uintptr_t)arg;
	unsigned n = 0;

	if (!w)
		return;
	for (struct l4_conn *c = w->live; c; c = c->next) {
		if (c->end == L4_END_NONE && l4_drain_conn_at_switch(c, idle_ms)) {
			l4_conn_close(c, L4_END_SHUTDOWN);
			n++;
		}
	}
	if (n)
		log_debug("worker %u: drain closed %u idle connections", w->index, n);
}

/* --- the main thread's wait ---------------------------------------------- */

/* The specific listen addresses whose departure ends the drain early. */
struct drain_addrs {
	struct addr a[L4_DRAIN_MAX_ADDRS];
	unsigned n;
	bool watchable; /* no wildcard, at least one, all kept */
};

static void collect_addrs(const struct l4_config *c, struct drain_addrs *wa)
{
	wa->n = 0;
	wa->watchable = c != NULL;
	for (size_t s = 0; c && s < c->n_svc; s++) {
		for (size_t i = 0; i < c->svc[s].n_listen; i++) {
			const struct addr *a = &c->svc[s].listen[i].addr;

			if (!l4_listen_local(a) || wa->n == L4_DRAIN_MAX_ADDRS)
				wa->watchable = false;
			else
				wa->a[wa->n++] = *a;
		}
	}
	wa->watchable = wa->watchable && wa->n > 0;
}

static bool addrs_gone(const struct drain_addrs *wa)
{
	if (!wa->watchable)
		return false;
	for (unsigned i = 0; i < wa->n; i++)
		if (l4_drain_addr_is_local(&wa->a[i]))
			return false;
	return true;
}

static void close_the_rest(struct l4_proc *p)
{
	uint64_t deadline;

	if (atomic_load(&p->st.active) == 0)
		return;
	log_warn("drain timeout: closing %u connections", atomic_load(&p->st.active));
	worker_post_all(l4_worker_on_kill, NULL);
	deadline = log_now_ms() + L4_DRAIN_EXIT_WAIT_MS;
	while (atomic_load(&p->st.active) > 0 && log_now_ms() < deadline)
		worker_signals_wait(20);
}

void l4_drain_run(struct l4_proc *p)
{
	struct l4_config *c = l4_proc_config(p);
	struct drain_addrs wa;
	struct l4_drain_view v = {.start = log_now_ms()};
	enum l4_drain_verdict verdict = L4_DRAIN_WAIT;
	uint32_t idle;

	v.last_busy = v.start;
	v.linger_ms = c ? c->drain_linger_ms : 0;
	v.timeout_ms = c ? c->drain_timeout_ms : 0;
	idle = c ? c->drain_close_idle_ms : 0;
	collect_addrs(c, &wa);
	if (c)
		snap_put(&c->hdr);
	atomic_store(&p->drain_start_ms, v.start);
	atomic_store(&p->draining, true);
	worker_post_all(l4_worker_on_drain, NULL);
	wait_quiesced();
	log_info("SIGTERM: listeners drop new SYNs, draining %u connections%s",
		 atomic_load(&p->st.active),
		 wa.watchable ? "; exit once the listen addresses leave this host" : "");
	while (verdict == L4_DRAIN_WAIT) {
		v.now = log_now_ms();
		v.active = atomic_load(&p->st.active);
		if (v.active)
			v.last_busy = v.now;
		if (v.active && idle)
			worker_post_all(l4_drain_on_tick, (void *)(uintptr_t)idle);
		v.addrs_gone = !v.active && addrs_gone(&wa);
		verdict = l4_drain_decide(&v);
		if (verdict == L4_DRAIN_WAIT && worker_signals_wait(L4_DRAIN_POLL_MS) == SIGINT) {
			log_info("SIGINT during the drain");
			verdict = L4_DRAIN_TIMEOUT;
		}
	}
	close_the_rest(p);
	log_info("drained (%s), exiting", l4_drain_verdict_name(verdict));
}
