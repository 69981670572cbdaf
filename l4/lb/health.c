/* The health-check thread (health.h).
 *
 * Ownership: the thread owns its check list (struct hc_item, one per
 * checked instance of the current snapshot) and their sockets. It reads the
 * snapshot through the publication slot and writes only the instance
 * records' health fields (atomics) and its own metrics arena.
 *
 * One check is a small state machine per item:
 *   IDLE --due--> CONNECTING --writable, SO_ERROR 0--> done (tcp)
 *                            \-> SENDING --all written--> READING --status--> done
 * and any state --deadline or error--> done (failed).
 */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbworker.h"
#include "log.h"
#include "pphdr.h"
#include "proc.h"
#include "state.h"

#define HC_POLL_MAX_MS 100  /* snapshot changes and stop are noticed this fast */
#define HC_REQ_MAX     1024 /* LOCAL header + request line + Host */
#define HC_REPLY_MAX   256  /* a status line longer than this is not one */

enum hc_phase { HC_IDLE, HC_CONNECTING, HC_SENDING, HC_READING, HC__COUNT };

struct hc_item {
	struct l4_inst_rt *rt;
	char svc[L4_NAME_MAX + 1];
	struct addr addr;
	struct l4_health h;
	uint16_t ok, fail; /* consecutive results */
	enum hc_phase phase;
	int fd;
	uint64_t next_ms, deadline_ms;
	char req[HC_REQ_MAX];
	size_t req_len, sent;
	char reply[HC_REPLY_MAX];
	size_t got;
	bool seen; /* still in the snapshot (rebuild marker) */
};

struct l4_health_thread {
	struct l4_proc *proc;
	pthread_t tid;
	atomic_bool stop;
	uint64_t gen;
	struct hc_item *items;
	size_t n, cap;
	struct pollfd *pfd;
	size_t *pidx;
};

int l4_health_status(const char *buf, size_t len)
{
	static const char pfx[] = "HTTP/1.";
	int code = 0;

	for (size_t i = 0; i < len && i < sizeof(pfx) - 1; i++)
		if (buf[i] != pfx[i])
			return -1;
	if (len < 12)
		return 0;
	if ((buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
		return -1;
	for (size_t i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		code = code * 10 + (buf[i] - '0');
	}
	if (code < 100 || (len > 12 && buf[12] != ' ' && buf[12] != '\r'))
		return -1;
	return code;
}

void l4_health_refresh(struct l4_proc *p, const char *svc, struct l4_inst_rt *rt)
{
	struct l4_config *c;

	if (!l4_inst_update_available(rt))
		return;
	/* The flip is stored before the acquire, and a reload refreshes its new
	 * snapshot after publishing it, so whichever snapshot is current gets a
	 * table that knows about this change. */
	c = l4_proc_config(p);
	if (!c)
		return;
	const struct l4_service *s = l4_config_service(c, svc);
	if (s && s->bal && balance_refresh(s->bal) < 0)
		log_warn("service %s: cannot rebuild the balancer (out of memory)", svc);
	snap_put(&c->hdr);
}

/* --- the check list ----------------------------------------------------------- */

static void item_close(struct hc_item *it)
{
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
	it->phase = HC_IDLE;
}

static struct hc_item *find_item(struct l4_health_thread *h, const struct l4_inst_rt *rt)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->items[i].rt == rt)
			return &h->items[i];
	return NULL;
}

static int add_item(struct l4_health_thread *h, const struct l4_service *s,
		    const struct l4_instance *in, uint64_t now)
{
	struct hc_item *it;

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;
		struct hc_item *n = realloc(h->items, cap * sizeof(*n));
		struct pollfd *p = realloc(h->pfd, cap * sizeof(*p));
		size_t *x = realloc(h->pidx, cap * sizeof(*x));

		if (n)
			h->items = n;
		if (p)
			h->pfd = p;
		if (x)
			h->pidx = x;
		if (!n || !p || !x)
			return -ENOMEM;
		h->cap = cap;
	}
	it = &h->items[h->n++];
	memset(it, 0, sizeof(*it));
	it->rt = in->rt;
	it->fd = -1;
	/* Spread the first checks over one interval, not all at once. */
	it->next_ms = now + (h->n * 37) % (in->health.interval_ms + 1);
	return 0;
}

/* Follows the current snapshot: new instances get an item, gone ones lose
 * theirs, parameters are refreshed. Counters survive a reload. */
static void rebuild(struct l4_health_thread *h, const struct l4_config *c, uint64_t now)
{
	for (size_t i = 0; i < h->n; i++)
		h->items[i].seen = false;
	for (size_t s = 0; s < c->n_svc; s++) {
		for (size_t k = 0; k < c->svc[s].n_inst; k++) {
			const struct l4_instance *in = &c->svc[s].inst[k];
			struct hc_item *it;

			if (in->health.type == L4_CHECK_NONE)
				continue;
			it = find_item(h, in->rt);
			if (!it && add_item(h, &c->svc[s], in, now) == 0)
				it = &h->items[h->n - 1];
			if (!it)
				continue;
			it->seen = true;
			it->h = in->health;
			it->addr = in->addr;
			memcpy(it->svc, c->svc[s].name, sizeof(it->svc));
		}
	}
	for (size_t i = 0; i < h->n;) {
		if (h->items[i].seen) {
			i++;
			continue;
		}
		item_close(&h->items[i]);
		h->items[i] = h->items[--h->n];
	}
}

/* --- one check ------------------------------------------------------------------ */

static void transition(struct l4_health_thread *h, struct hc_item *it, bool up, int res)
{
	struct l4_inst_rt *rt = it->rt;

	if (!l4_inst_set_up(rt, up))
		return;
	metrics_inc(l4_mw, up ? rt->m_to_up : rt->m_to_down);
	if (up)
		log_info("health: service %s instance %s is UP (%u checks passed)", it->svc,
			 rt->name, it->ok);
	else
		log_warn("health: service %s instance %s is DOWN (%u checks failed, last: %s)",
			 it->svc, rt->name, it->fail, res ? strerror(res) : "bad reply");
	l4_health_refresh(h->proc, it->svc, rt);
}

static void finish(struct l4_health_thread *h, struct hc_item *it, enum l4_hres r, int err,
		   uint64_t now)
{
	struct l4_inst_rt *rt = it->rt;

	item_close(it);
	it->next_ms = now + it->h.interval_ms;
	atomic_store(&rt->last_result, (int)r);
	atomic_store(&rt->last_errno, err);
	if (r == L4_HRES_OK) {
		it->fail = 0;
		if (it->ok < UINT16_MAX)
			it->ok++;
		if (!atomic_load(&rt->up) && it->ok >= it->h.rise)
			transition(h, it, true, 0);
		return;
	}
	it->ok = 0;
	if (it->fail < UINT16_MAX)
		it->fail++;
	log_debug("health: %s %s: check failed: %s", it->svc, rt->name,
		  err ? strerror(err) : "bad reply");
	if (atomic_load(&rt->up) && it->fail >= it->h.fall)
		transition(h, it, false, err);
}

static void build_request(struct l4_health_thread *h, struct hc_item *it)
{
	size_t n = 0;
	int k;

	if (it->h.send_proxy) {
		struct l4_config *c = l4_proc_config(h->proc);

		k = c ? l4_pphdr_local((uint8_t *)it->req, sizeof(it->req), c->node_name) : -1;
		if (c)
			snap_put(&c->hdr);
		n = k > 0 ? (size_t)k : 0;
	}
	k = snprintf(it->req + n, sizeof(it->req) - n,
		     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: strata-l4-check\r\n"
		     "Connection: close\r\n\r\n",
		     it->h.path, it->h.host);
	it->req_len = n + (k > 0 ? (size_t)k : 0);
	it->sent = 0;
	it->got = 0;
}

static void start_check(struct l4_health_thread *h, struct hc_item *it, uint64_t now)
{
	int fd = socket(addr_family(&it->addr), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	it->deadline_ms = now + it->h.timeout_ms;
	if (fd < 0) {
		finish(h, it, L4_HRES_ERROR, errno, now);
		return;
	}
	it->fd = fd;
	it->phase = HC_CONNECTING;
	if (connect(fd, addr_sockaddr(&it->addr), it->addr.len) < 0 && errno != EINPROGRESS)
		finish(h, it, errno == ECONNREFUSED ? L4_HRES_REFUSED : L4_HRES_ERROR, errno, now);
}

static void on_connected(struct l4_health_thread *h, struct hc_item *it, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(it->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		finish(h, it, err == ECONNREFUSED ? L4_HRES_REFUSED : L4_HRES_ERROR, err, now);
		return;
	}
	if (it->h.type == L4_CHECK_TCP) {
		finish(h, it, L4_HRES_OK, 0, now);
		return;
	}
	build_request(h, it);
	it->phase = HC_SENDING;
}

static void on_writable(struct l4_health_thread *h, struct hc_item *it, uint64_t now)
{
	ssize_t n = send(it->fd, it->req + it->sent, it->req_len - it->sent, MSG_NOSIGNAL);

	if (n < 0 && errno != EAGAIN) {
		finish(h, it, L4_HRES_ERROR, errno, now);
		return;
	}
	if (n > 0)
		it->sent += (size_t)n;
	if (it->sent == it->req_len)
		it->phase = HC_READING;
}

static void on_readable(struct l4_health_thread *h, struct hc_item *it, uint64_t now)
{
	ssize_t n = recv(it->fd, it->reply + it->got, sizeof(it->reply) - it->got, 0);
	int code;

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		finish(h, it, n < 0 ? L4_HRES_ERROR : L4_HRES_BAD_REPLY, n < 0 ? errno : 0, now);
		return;
	}
	it->got += (size_t)n;
	code = l4_health_status(it->reply, it->got);
	if (code == 0 && it->got < sizeof(it->reply))
		return;
	if (code <= 0)
		finish(h, it, L4_HRES_BAD_REPLY, 0, now);
	else
		finish(h, it, code == it->h.expect ? L4_HRES_OK : L4_HRES_BAD_STATUS, 0, now);
}

/* --- the thread ------------------------------------------------------------------ */

static int poll_timeout(const struct l4_health_thread *h, uint64_t now)
{
	uint64_t next = now + HC_POLL_MAX_MS;

	for (size_t i = 0; i < h->n; i++) {
		const struct hc_item *it = &h->items[i];
		uint64_t t = it->phase == HC_IDLE ? it->next_ms : it->deadline_ms;

		if (t < next)
			next = t;
	}
	return next > now ? (int)(next - now) : 0;
}

static void run_due(struct l4_health_thread *h, uint64_t now)
{
	for (size_t i = 0; i < h->n; i++) {
		struct hc_item *it = &h->items[i];

		if (atomic_load(&it->rt->admin) == L4_ADMIN_MAINT) {
			item_close(it); /* maint: not checked at all */
			atomic_store(&it->rt->last_result, L4_HRES_NONE);
			it->next_ms = now + it->h.interval_ms;
			continue;
		}
		if (it->phase == HC_IDLE && now >= it->next_ms)
			start_check(h, it, now);
		else if (it->phase != HC_IDLE && now >= it->deadline_ms)
			finish(h, it, L4_HRES_TIMEOUT, ETIMEDOUT, now);
	}
}

static void poll_once(struct l4_health_thread *h)
{
	size_t np = 0;
	uint64_t now;
	int rc;

	for (size_t i = 0; i < h->n; i++) {
		const struct hc_item *it = &h->items[i];

		if (it->phase == HC_IDLE)
			continue;
		h->pfd[np] = (struct pollfd){.fd = it->fd,
					     .events = it->phase == HC_READING ? POLLIN : POLLOUT};
		h->pidx[np++] = i;
	}
	rc = poll(h->pfd, np, poll_timeout(h, log_now_ms()));
	now = log_now_ms();
	for (size_t k = 0; rc > 0 && k < np; k++) {
		struct hc_item *it = &h->items[h->pidx[k]];

		if (!h->pfd[k].revents || it->phase == HC_IDLE)
			continue;
		if (it->phase == HC_CONNECTING)
			on_connected(h, it, now);
		else if (it->phase == HC_SENDING)
			on_writable(h, it, now);
		else
			on_readable(h, it, now);
	}
}

static void *thread_main(void *arg)
{
	struct l4_health_thread *h = arg;

	l4_mw = metrics_worker(h->proc->reg, h->proc->health_writer);
	while (!atomic_load(&h->stop)) {
		uint64_t gen = snap_slot_generation(&h->proc->slot);

		if (gen != h->gen) {
			struct l4_config *c = l4_proc_config(h->proc);

			if (c) {
				rebuild(h, c, log_now_ms());
				snap_put(&c->hdr);
			}
			h->gen = gen;
		}
		run_due(h, log_now_ms());
		poll_once(h);
	}
	return NULL;
}

int l4_health_start(struct l4_proc *p, struct l4_health_thread **out)
{
	struct l4_health_thread *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	h->proc = p;
	atomic_init(&h->stop, false);
	rc = pthread_create(&h->tid, NULL, thread_main, h);
	if (rc) {
		free(h);
		return -rc;
	}
	*out = h;
	return 0;
}

void l4_health_stop(struct l4_health_thread *h)
{
	if (!h)
		return;
	atomic_store(&h->stop, true);
	pthread_join(h->tid, NULL);
	for (size_t i = 0; i < h->n; i++)
		item_close(&h->items[i]);
	free(h->items);
	free(h->pfd);
	free(h->pidx);
	free(h);
}
