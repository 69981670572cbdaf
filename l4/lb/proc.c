/* Process-wide state (proc.h): set-up, snapshot publication, listen
 * sockets and reload.
 *
 * Reload runs on the main thread, off the hot path: parse and validate
 * (nothing changes if that fails), attach (run-time records and balancers),
 * open the sockets of new listen addresses (a bind failure rejects the
 * reload whole), then publish with one pointer swap and post each worker a
 * note to adopt it. Workers close the sockets of addresses the new snapshot
 * no longer lists. Connections keep the snapshot they started under.
 */
#include "proc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "lbworker.h"
#include "log.h"
#include "worker.h"

int l4_proc_init(struct l4_proc *p, unsigned n_workers, const char *node)
{
	struct timeval tv;
	int rc;

	memset(p, 0, sizeof(*p));
	p->n_workers = n_workers;
	p->health_writer = n_workers;
	p->main_writer = n_workers + 1;
	p->admin_writer = n_workers + 2;
	p->reg = metrics_reg_new(n_workers + 3, 0);
	if (!p->reg)
		return -ENOMEM;
	rc = l4_state_init(&p->st, p->reg);
	if (rc) {
		metrics_reg_free(p->reg);
		return rc;
	}
	snap_slot_init(&p->slot);
	pthread_mutex_init(&p->reload_lock, NULL);
	pthread_cond_init(&p->reload_done, NULL);
	p->main_thread = pthread_self();
	/* Connection ids are unique across restarts (start time in µs) and
	 * across nodes (node name): "l4a-6650f3c2a1b2c-0-1f". */
	gettimeofday(&tv, NULL);
	snprintf(p->id_prefix, sizeof(p->id_prefix), "%s-%llx", node,
		 (unsigned long long)tv.tv_sec * 1000000ull + (unsigned long long)tv.tv_usec);
	return 0;
}

void l4_proc_fini(struct l4_proc *p)
{
	snap_slot_destroy(&p->slot);
	l4_state_fini(&p->st);
	metrics_reg_free(p->reg);
	pthread_mutex_destroy(&p->reload_lock);
	pthread_cond_destroy(&p->reload_done);
}

struct l4_config *l4_proc_config(struct l4_proc *p)
{
	struct snap *s = snap_slot_acquire(&p->slot);

	return s ? (struct l4_config *)(void *)s : NULL;
}

static const struct l4_listen *old_listen(const struct l4_config *old, const struct addr *a)
{
	if (!old)
		return NULL;
	for (size_t s = 0; s < old->n_svc; s++)
		for (size_t i = 0; i < old->svc[s].n_listen; i++)
			if (old->svc[s].listen[i].fds && addr_equal(&old->svc[s].listen[i].addr, a))
				return &old->svc[s].listen[i];
	return NULL;
}

static int open_one(struct l4_proc *p, struct l4_listen *ln, struct cfg_err *err)
{
	char a[ADDR_STR_MAX];
	int one = 1;

	for (unsigned i = 0; i < p->n_workers; i++) {
		int fd = worker_listen(addr_sockaddr(&ln->addr), ln->addr.len,
				       (int)p->listen_backlog, 0);

		if (fd < 0) {
			addr_format(&ln->addr, a, sizeof(a));
			snprintf(err->msg, sizeof(err->msg), "listen %s: %s", a, strerror(-fd));
			return fd;
		}
		/* Accepted sockets inherit it: no setsockopt per connection. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ln->fds[i] = fd;
	}
	return 0;
}

/* Closes the sockets opened for `c` that `old` did not have. */
static void close_new(struct l4_proc *p, struct l4_config *c, const struct l4_config *old)
{
	for (size_t s = 0; s < c->n_svc; s++) {
		for (size_t i = 0; i < c->svc[s].n_listen; i++) {
			struct l4_listen *ln = &c->svc[s].listen[i];

			if (!ln->fds || old_listen(old, &ln->addr))
				continue;
			for (unsigned k = 0; k < p->n_workers; k++)
				if (ln->fds[k] >= 0)
					close(ln->fds[k]);
			free(ln->fds);
			ln->fds = NULL;
		}
	}
}

int l4_proc_open_listeners(struct l4_proc *p, struct l4_config *c, const struct l4_config *old,
			   struct cfg_err *err)
{
	for (size_t s = 0; s < c->n_svc; s++) {
		for (size_t i = 0; i < c->svc[s].n_listen; i++) {
			struct l4_listen *ln = &c->svc[s].listen[i];
			const struct l4_listen *prev = old_listen(old, &ln->addr);
			int rc;

			ln->fds = malloc(p->n_workers * sizeof(*ln->fds));
			if (!ln->fds) {
				close_new(p, c, old);
				return -ENOMEM;
			}
			if (prev) {
				memcpy(ln->fds, prev->fds, p->n_workers * sizeof(*ln->fds));
				continue;
			}
			for (unsigned k = 0; k < p->n_workers; k++)
				ln->fds[k] = -1;
			rc = open_one(p, ln, err);
			if (rc) {
				close_new(p, c, old);
				return rc;
			}
		}
	}
	return 0;
}

/* max_conns = 0: as many as the descriptor limit allows, two per connection. */
static uint32_t auto_max_conns(const struct l4_proc *p)
{
	unsigned long n = p->nofile > 2 * L4_NOFILE_RESERVE ? p->nofile : 2 * L4_NOFILE_RESERVE;

	return (uint32_t)((n - L4_NOFILE_RESERVE) / 2);
}

void l4_proc_publish(struct l4_proc *p, struct l4_config *c, bool workers_running)
{
	if (c->max_conns == 0)
		c->max_conns = auto_max_conns(p);
	atomic_store(&p->max_conns, c->max_conns);
	snap_slot_publish(&p->slot, &c->hdr);
	/* Health may have changed between attach and publish: rebuild now that
	 * the health thread refreshes this snapshot too. */
	for (size_t i = 0; i < c->n_svc; i++)
		balance_refresh(c->svc[i].bal);
	l4_state_retire_unused(&p->st, c);
	if (workers_running)
		worker_post_all(l4_worker_on_config, NULL);
}

/* Settings the workers were started with; a reload cannot change them. */
static void warn_restart_only(const struct l4_config *old, const struct l4_config *c)
{
	if (old->workers != c->workers || old->ring.buffers != c->ring.buffers ||
	    old->ring.buffer_size != c->ring.buffer_size || old->ring.entries != c->ring.entries ||
	    old->ring.pipes != c->ring.pipes ||
	    old->ring.recv_multishot != c->ring.recv_multishot ||
	    old->ring.defer_taskrun != c->ring.defer_taskrun)
		log_warn("reload: workers and io_uring settings change only on restart");
	if ((old->user || c->user) && (!old->user || !c->user || strcmp(old->user, c->user)))
		log_warn("reload: user/group change only on restart");
	if ((old->admin_socket || c->admin_socket) &&
	    (!old->admin_socket || !c->admin_socket || strcmp(old->admin_socket, c->admin_socket)))
		log_warn("reload: the admin socket changes only on restart");
	if (!addr_equal(&old->metrics, &c->metrics))
		log_warn("reload: the metrics listener changes only on restart");
	if ((old->access_log || c->access_log) &&
	    (!old->access_log || !c->access_log || strcmp(old->access_log, c->access_log)))
		log_warn("reload: the access log path changes only on restart");
}

static void notify(struct l4_proc *p, int rc, const char *msg)
{
	pthread_mutex_lock(&p->reload_lock);
	p->reload_seq++;
	p->reload_rc = rc;
	snprintf(p->reload_msg, sizeof(p->reload_msg), "%s", msg);
	pthread_cond_broadcast(&p->reload_done);
	pthread_mutex_unlock(&p->reload_lock);
}

int l4_proc_reload(struct l4_proc *p)
{
	struct l4_config *old = l4_proc_config(p), *c = NULL;
	struct cfg_err err;
	char msg[CFG_ERR_MAX + 64];
	int rc;

	cfg_err_init(&err);
	if (!old)
		return -ENOENT;
	rc = l4_config_parse(old->path, &c, &err);
	if (rc == 0)
		rc = l4_config_attach(c, &p->st, p->n_workers, &err);
	if (rc == 0)
		rc = l4_proc_open_listeners(p, c, old, &err);
	if (rc) {
		if (!cfg_err_is_set(&err))
			snprintf(err.msg, sizeof(err.msg), "%s: %s", old->path, strerror(-rc));
		log_err("reload failed, keeping generation %llu: %s",
			(unsigned long long)old->hdr.generation, err.msg);
		metrics_inc(l4_mw, p->st.m.reloads_failed);
		if (c)
			snap_put(&c->hdr);
		notify(p, rc, err.msg);
		snap_put(&old->hdr);
		return rc;
	}
	warn_restart_only(old, c);
	log_set_level(p->force_debug ? LOG_LVL_DEBUG : c->log_level);
	l4_proc_publish(p, c, true);
	metrics_inc(l4_mw, p->st.m.reloads_ok);
	snprintf(msg, sizeof(msg), "%s: reloaded, generation %llu, %zu services", c->path,
		 (unsigned long long)c->hdr.generation, c->n_svc);
	log_info("%s", msg);
	notify(p, 0, msg);
	snap_put(&old->hdr);
	return 0;
}
