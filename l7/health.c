/* The health and housekeeping thread (health.h). It owns its checks; each
 * running check holds a reference to its server's state. */
#include "health.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#include "l7_metrics.h"
#include "runtime.h"
#include "upstream.h"

enum { HC_CONNECT, HC_SEND, HC_READ };

struct check {
	struct l7_server_rt *rt;
	struct l7_health hc; /* a copy: the generation may go away meanwhile */
	int fd;
	int phase;
	uint64_t deadline;
	size_t req_len, sent, got;
	char req[L7_HOST_MAX + 2 * L7_NAME_MAX + 4200];
	char resp[L7_HEALTH_RESP_MAX];
};

static struct {
	pthread_t thread;
	atomic_bool stop;
	bool started;
	unsigned workers;
	struct check checks[L7_HEALTH_MAX_INFLIGHT];
	unsigned n;
	struct metrics_worker *mw;
	uint64_t last_sweep;
} hs;

int l7_health_status(const char *buf, size_t len)
{
	static const char pre[] = "HTTP/1.";
	int st = 0;

	for (size_t i = 0; i < len && i < 7; i++)
		if (buf[i] != pre[i])
			return -1;
	if (len < 12)
		return 0;
	if (buf[7] < '0' || buf[7] > '9' || buf[8] != ' ')
		return -1;
	for (size_t i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		st = st * 10 + (buf[i] - '0');
	}
	return st >= 100 ? st : -1;
}

static void verdict(struct l7_server_rt *rt, const struct l7_health *hc, bool ok, const char *why,
		    uint64_t now)
{
	bool up = atomic_load(&rt->health_up);

	snprintf(rt->hc_last, sizeof(rt->hc_last), "%s", why);
	if (ok) {
		atomic_fetch_add(&rt->checks_ok, 1);
		rt->hc_fall = 0;
		if (!up && ++rt->hc_rise >= hc->rise) {
			atomic_store(&rt->health_up, true);
			log_info("health: %s/%s up (%s)", rt->upstream, rt->name, why);
		}
	} else {
		atomic_fetch_add(&rt->checks_failed, 1);
		rt->hc_rise = 0;
		if (up && ++rt->hc_fall >= hc->fall) {
			atomic_store(&rt->health_up, false);
			log_warn("health: %s/%s down (%s)", rt->upstream, rt->name, why);
		}
	}
	l7_server_update(rt, now);
}

static void check_end(struct check *c, bool ok, const char *why, uint64_t now)
{
	verdict(c->rt, &c->hc, ok, why, now);
	c->rt->hc_running = false;
	c->rt->hc_next_ms = now + c->hc.interval_ms;
	close(c->fd);
	l7_server_rt_put(c->rt);
	*c = hs.checks[--hs.n];
}

static void check_start(struct l7_server_rt *rt, const struct l7_health *hc, uint64_t now)
{
	struct check *c;
	int fd, r;

	if (hs.n == L7_HEALTH_MAX_INFLIGHT)
		return;
	fd = socket(addr_family(&rt->addr), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	c = &hs.checks[hs.n++];
	atomic_fetch_add(&rt->refs, 1);
	rt->hc_running = true;
	*c = (struct check){
	    .rt = rt, .hc = *hc, .fd = fd, .phase = HC_CONNECT, .deadline = now + hc->timeout_ms};
	r = snprintf(c->req, sizeof(c->req),
		     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: strata-l7-health\r\n"
		     "Connection: close\r\n\r\n",
		     hc->method.ptr, hc->path.ptr,
		     hc->host.len			 ? hc->host.ptr
		     : addr_family(&rt->addr) == AF_UNIX ? "localhost"
							 : rt->addr_text);
	c->req_len = r > 0 && (size_t)r < sizeof(c->req) ? (size_t)r : 0;
	if (connect(fd, addr_sockaddr(&rt->addr), rt->addr.len) < 0 && errno != EINPROGRESS) {
		char why[64];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		check_end(c, false, why, now);
	}
}

/* One step of a check whose socket is ready (or whose time is up). */
static void check_step(struct check *c, short rev, uint64_t now)
{
	char why[64];
	ssize_t n;
	int st, err = 0;
	socklen_t el = sizeof(err);

	if (c->phase == HC_CONNECT) {
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			snprintf(why, sizeof(why), "connect: %s", strerror(err));
			check_end(c, false, why, now);
			return;
		}
		c->phase = HC_SEND;
	}
	if (c->phase == HC_SEND) {
		n = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			check_end(c, false, "send failed", now);
			return;
		}
		c->sent += n > 0 ? (size_t)n : 0;
		if (c->sent == c->req_len)
			c->phase = HC_READ;
		return;
	}
	n = recv(c->fd, c->resp + c->got, sizeof(c->resp) - c->got, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		check_end(c, false, n == 0 ? "closed without a status line" : "recv failed", now);
		return;
	}
	c->got += (size_t)n;
	st = l7_health_status(c->resp, c->got);
	if (st == 0 && c->got < sizeof(c->resp))
		return;
	if (st <= 0) {
		check_end(c, false, "not an HTTP response", now);
		return;
	}
	snprintf(why, sizeof(why), "status %d", st);
	check_end(c, st >= c->hc.expect_lo && st <= c->hc.expect_hi, why, now);
}

static void run_checks(uint64_t now)
{
	struct pollfd pf[L7_HEALTH_MAX_INFLIGHT];
	int r;

	for (unsigned i = 0; i < hs.n; i++)
		pf[i] = (struct pollfd){.fd = hs.checks[i].fd,
					.events = hs.checks[i].phase == HC_READ ? POLLIN : POLLOUT};
	r = poll(pf, hs.n, L7_HEALTH_TICK_MS);
	now = log_now_ms();
	/* From the end: check_end() moves the last check into the hole. */
	for (unsigned i = hs.n; i-- > 0;) {
		struct check *c = &hs.checks[i];

		if (r > 0 && pf[i].revents)
			check_step(c, pf[i].revents, now);
		else if (now >= c->deadline)
			check_end(c, false, "timeout", now);
	}
}

static void server_tick(struct l7_gen *g, uint64_t now)
{
	bool sweep = now - hs.last_sweep >= 1000;

	if (sweep)
		hs.last_sweep = now;
	for (uint32_t i = 0; i < g->cfg->n_upstreams; i++) {
		const struct l7_upstream *u = &g->cfg->upstreams[i];
		struct l7_gen_upstream *gu = &g->ups[i];

		for (uint32_t s = 0; s < gu->rt.n; s++) {
			struct l7_server_rt *rt = gu->rt.srv[s];
			uint64_t reused = atomic_load(&rt->conns_reused);
			uint64_t total = reused + atomic_load(&rt->conns_opened);

			if (u->health.enabled && !rt->hc_running && now >= rt->hc_next_ms)
				check_start(rt, &u->health, now);
			if (!u->health.enabled && !atomic_load(&rt->health_up))
				atomic_store(&rt->health_up, true); /* checks switched off */
			l7_server_update(rt, now);
			if (sweep)
				l7_pool_sweep(&rt->pool, now);
			metrics_set(hs.mw, gu->ms[s].up, l7_server_available(rt));
			metrics_set(hs.mw, gu->ms[s].idle, l7_pool_idle(&rt->pool));
			metrics_set(hs.mw, gu->ms[s].reuse_permille,
				    total ? (int64_t)(reused * 1000 / total) : 0);
			metrics_set(hs.mw, gu->ms[s].ejections,
				    (int64_t)atomic_load(&rt->ejections));
		}
	}
	if (atomic_exchange(&l7_balance_dirty, false))
		for (uint32_t i = 0; i < g->cfg->n_upstreams; i++)
			balance_refresh(g->ups[i].rt.bal);
}

static void *health_main(void *arg)
{
	while (!atomic_load(&hs.stop)) {
		struct l7_gen *g = (struct l7_gen *)snap_slot_acquire(&l7_gen_slot);
		uint64_t now = log_now_ms();

		if (g) {
			server_tick(g, now);
			l7_gen_put(g);
		}
		if (hs.n)
			run_checks(now);
		else
			poll(NULL, 0, L7_HEALTH_TICK_MS);
	}
	while (hs.n)
		check_end(&hs.checks[hs.n - 1], false, "stopped", log_now_ms());
	return NULL;
}

int l7_health_start(unsigned workers)
{
	int ret;

	hs.workers = workers;
	hs.mw = metrics_worker(l7m.reg, L7M_WRITER_HEALTH(workers));
	atomic_store(&hs.stop, false);
	ret = -pthread_create(&hs.thread, NULL, health_main, NULL);
	hs.started = ret == 0;
	return ret;
}

void l7_health_stop(void)
{
	if (!hs.started)
		return;
	atomic_store(&hs.stop, true);
	pthread_join(hs.thread, NULL);
	hs.started = false;
}
