/* strata-l4: io_uring TCP balancer that speaks PROXY protocol v2 to the L7 pool.
 *
 * Start-up order (docs/l4.md "Privileges"): parse the config, raise the
 * descriptor limit, bind everything that may need root (listeners, admin
 * socket, metrics listener, access log), drop to the configured user, then
 * start the health thread, the workers and the admin thread. The main
 * thread then only waits for signals: SIGHUP reloads, SIGTERM drains,
 * SIGINT exits at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "cfg.h"
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "drain.h"
#include "health.h"
#include "lbworker.h"
#include "log.h"
#include "nofile.h"
#include "privs.h"
#include "proc.h"
#include "worker.h"

#define L4_SLOT_EXTRA 256 /* loop slots beyond connections: listeners */

static const struct daemon_info info = {
    .name = "strata-l4",
    .summary = "io_uring TCP balancer that speaks PROXY protocol v2 to the L7 pool",
    .default_config = "/etc/strata/l4.conf",
};

struct l4_main {
	struct l4_proc proc;
	struct admin_srv *admin;
	struct metrics_http *mh;
	struct l4_health_thread *health;
	bool workers;
};

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

/* The privileged part: everything bound or opened before dropping root. */
static int open_privileged(struct l4_main *m, struct l4_config *c)
{
	struct l4_proc *p = &m->proc;
	struct cfg_err err;
	int rc;

	cfg_err_init(&err);
	rc = l4_proc_open_listeners(p, c, NULL, &err);
	if (rc) {
		log_err("%s", err.msg);
		return rc;
	}
	if (c->admin_socket) {
		rc = admin_srv_new(c->admin_socket, c->admin_group, &m->admin);
		if (rc == 0)
			rc = l4_ctl_register(m->admin, p);
		if (rc) {
			log_err("admin socket %s: %s", c->admin_socket, strerror(-rc));
			return rc;
		}
	}
	if (addr_family(&c->metrics) != AF_UNSPEC) {
		rc = metrics_http_start(p->reg, addr_sockaddr(&c->metrics), c->metrics.len, &m->mh);
		if (rc) {
			log_err("metrics listener: %s", strerror(-rc));
			return rc;
		}
	}
	if (c->access_log) {
		rc = alog_open(c->access_log, &p->alog);
		if (rc) {
			log_err("access log %s: %s", c->access_log, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int start_threads(struct l4_main *m, const struct l4_config *c, unsigned long nofile)
{
	struct l4_proc *p = &m->proc;
	uint32_t max = atomic_load(&p->max_conns);
	struct worker_params wp = {
	    .count = p->n_workers,
	    .cpus = c->cpus,
	    .ncpus = c->ncpus,
	    .init = l4_worker_init,
	    .fini = l4_worker_fini,
	    .arg = p,
	};
	int rc;

	loop_params_default(&wp.loop);
	wp.loop.entries = p->ring.entries;
	wp.loop.buf_count = p->ring.buffers;
	wp.loop.buf_size = p->ring.buffer_size;
	/* SO_REUSEPORT spreads by hash: any worker may end up with them all. */
	wp.loop.slots = (max ? max : (unsigned)nofile / 2) + L4_SLOT_EXTRA;
	wp.loop.no_defer_taskrun = !p->ring.defer_taskrun;
	wp.loop.no_recv_multishot = !p->ring.recv_multishot;
	rc = l4_health_start(p, &m->health);
	if (rc == 0)
		rc = worker_start(&wp);
	if (rc) {
		log_err("cannot start the workers: %s", strerror(-rc));
		return rc;
	}
	m->workers = true;
	if (m->admin && (rc = admin_start(m->admin))) {
		log_err("cannot start the admin thread: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

static struct l4_config *load(const char *path, struct l4_main *m, bool debug)
{
	struct cfg_err err;
	struct l4_config *c;
	unsigned n;

	cfg_err_init(&err);
	if (l4_config_parse(path, &c, &err)) {
		log_err("%s", err.msg);
		return NULL;
	}
	log_set_level(debug ? LOG_LVL_DEBUG : c->log_level);
	n = c->workers ? c->workers : online_cpus();
	if (l4_proc_init(&m->proc, n, c->node_name) < 0) {
		log_err("out of memory");
		snap_put(&c->hdr);
		return NULL;
	}
	m->proc.force_debug = debug;
	l4_mw = metrics_worker(m->proc.reg, m->proc.main_writer);
	if (l4_config_attach(c, &m->proc.st, n, &err)) {
		log_err("%s", err.msg);
		snap_put(&c->hdr);
		return NULL;
	}
	m->proc.ring = c->ring;
	m->proc.listen_backlog = c->listen_backlog;
	return c;
}

static void serve(struct l4_main *m)
{
	for (;;) {
		int sig = worker_signals_wait(-1);

		if (sig == SIGHUP) {
			l4_proc_reload(&m->proc);
		} else if (sig == SIGTERM) {
			l4_drain_run(&m->proc); /* SIGTERM: drain.h */
			return;
		} else if (sig == SIGINT) {
			log_info("SIGINT: exiting now");
			return;
		} else if (sig < 0 && sig != -EINTR) {
			log_err("waiting for signals: %s", strerror(-sig));
			return;
		}
	}
}

static void shutdown_all(struct l4_main *m)
{
	admin_srv_free(m->admin);
	if (m->workers)
		worker_stop_all();
	l4_health_stop(m->health);
	metrics_http_stop(m->mh);
	alog_close(m->proc.alog);
	l4_proc_fini(&m->proc);
}

int main(int argc, char **argv)
{
	static struct l4_main m;
	struct daemon_opts opts;
	struct l4_config *c;
	unsigned long nofile;
	int rc;

	log_init(info.name, LOG_LVL_INFO);
	daemon_parse_args(argc, argv, &info, &opts);
	if (opts.check_only)
		return cfg_check_main(opts.config_path, l4_config_check, l4_config_check_free);
	if ((rc = worker_signals_block()) < 0) {
		log_err("cannot block signals: %s", strerror(-rc));
		return 1;
	}
	nofile = nofile_raise();
	c = load(opts.config_path, &m, opts.debug);
	if (!c)
		return 1;
	m.proc.nofile = nofile;
	if (open_privileged(&m, c) || l4_privs_drop(c->user, c->group)) {
		snap_put(&c->hdr);
		shutdown_all(&m);
		return 1;
	}
	l4_proc_publish(&m.proc, c, false);
	log_info("%s %s: node %s, %u workers, %zu services, max_conns %u", info.name,
		 STRATA_VERSION, c->node_name, m.proc.n_workers, c->n_svc,
		 atomic_load(&m.proc.max_conns));
	rc = start_threads(&m, c, nofile);
	if (rc == 0)
		serve(&m);
	shutdown_all(&m);
	return rc ? 1 : 0;
}
