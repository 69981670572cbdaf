/* strata-l7 start-up, reload, drain and stop (l7_daemon.h). The main thread
 * owns everything created here; the reload lock also serialises the
 * listening-socket table (runtime.c) against an admin `reload`. */
#include "l7_daemon.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "alog.h"
#include "log.h"
#include "metrics.h"
#include "nofile.h"
#include "worker.h"

#include "exchange.h"
#include "health.h"
#include "l7_admin.h"
#include "l7_config.h"
#include "l7_metrics.h"
#include "l7_worker.h"
#include "runtime.h"
#include "traffic.h"

#define L7_SQ_ENTRIES 4096
#define L7_BUF_COUNT  1024
#define L7_BUF_SIZE   16384

static struct {
	char path[PATH_MAX];
	unsigned workers;
	struct admin_srv *admin;
	struct metrics_http *mh;
	struct metrics_worker *mw; /* main + admin thread writer */
	pthread_mutex_t lock;
	int *cpus;
	unsigned ncpus;
} d = {.lock = PTHREAD_MUTEX_INITIALIZER};

static unsigned worker_count_for(const struct l7_snapshot *cfg)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned w = cfg->workers ? cfg->workers : (n < 1 ? 1u : (unsigned)n);

	return w > WORKER_MAX ? WORKER_MAX : w;
}

static int drop_privileges(const struct l7_snapshot *cfg)
{
	gid_t gid = (gid_t)-1;
	uid_t uid = (uid_t)-1;

	if (cfg->group.ptr) {
		struct group *gr = getgrnam(cfg->group.ptr);

		if (!gr) {
			log_err("group '%s' does not exist", cfg->group.ptr);
			return -ENOENT;
		}
		gid = gr->gr_gid;
	}
	if (cfg->user.ptr) {
		struct passwd *pw = getpwnam(cfg->user.ptr);

		if (!pw) {
			log_err("user '%s' does not exist", cfg->user.ptr);
			return -ENOENT;
		}
		uid = pw->pw_uid;
		if (gid == (gid_t)-1)
			gid = pw->pw_gid;
	}
	if (gid != (gid_t)-1 && (setgroups(0, NULL) < 0 || setgid(gid) < 0)) {
		log_err("cannot switch to group %u: %s", (unsigned)gid, strerror(errno));
		return -errno;
	}
	if (uid != (uid_t)-1 && setuid(uid) < 0) {
		log_err("cannot switch to user %u: %s", (unsigned)uid, strerror(errno));
		return -errno;
	}
	if (uid != (uid_t)-1 || gid != (gid_t)-1)
		log_info("running as uid %u gid %u", (unsigned)getuid(), (unsigned)getgid());
	return 0;
}

/* Each proxied connection holds two descriptors (client, upstream): say so
 * when max_conns cannot be reached, since accepting then pauses at the
 * descriptor limit instead (docs/l7.md "Descriptor limits"). */
static void nofile_warn(const struct l7_snapshot *cfg, unsigned long nofile)
{
	uint64_t need = 2ull * cfg->limits.max_conns;

	if (need > nofile)
		log_warn("max_conns %u needs over %llu descriptors, RLIMIT_NOFILE is %lu: "
			 "accepting pauses at the descriptor limit",
			 cfg->limits.max_conns, (unsigned long long)need, nofile);
}

/* What must be bound or opened before privileges go: metrics, admin
 * socket, access log (the listeners are bound by l7_gen_build). */
static int open_endpoints(const struct l7_snapshot *cfg)
{
	int ret;

	if (cfg->access_log.enabled) {
		ret = alog_open(cfg->access_log.path.ptr, &l7_proc.alog);
		if (ret < 0) {
			log_err("access log %s: %s", cfg->access_log.path.ptr, strerror(-ret));
			return ret;
		}
	}
	if (addr_family(&cfg->metrics_listen) != AF_UNSPEC) {
		ret = metrics_http_start(l7m.reg, addr_sockaddr(&cfg->metrics_listen),
					 cfg->metrics_listen.len, &d.mh);
		if (ret < 0) {
			log_err("metrics: cannot listen: %s", strerror(-ret));
			return ret;
		}
	}
	if (cfg->admin.socket.ptr && cfg->admin.socket.len) {
		ret = admin_srv_new(cfg->admin.socket.ptr, cfg->admin.group.ptr, &d.admin);
		if (ret == 0)
			ret = l7_admin_register(d.admin);
		if (ret < 0) {
			log_err("admin socket %s: %s", cfg->admin.socket.ptr, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int start_workers(const struct l7_snapshot *cfg)
{
	struct worker_params wp = {
	    .count = d.workers,
	    .init = l7_worker_init,
	    .fini = l7_worker_fini,
	};
	uint64_t slots = 2ull * cfg->limits.max_conns + 1024;

	loop_params_default(&wp.loop);
	wp.loop.entries = L7_SQ_ENTRIES;
	wp.loop.slots = slots > LOOP_SLOTS_MAX ? LOOP_SLOTS_MAX : (unsigned)slots;
	wp.loop.buf_count = L7_BUF_COUNT;
	wp.loop.buf_size = L7_BUF_SIZE;
	if (cfg->n_cpu_affinity) {
		d.cpus = malloc(cfg->n_cpu_affinity * sizeof(int));
		if (!d.cpus)
			return -ENOMEM;
		memcpy(d.cpus, cfg->cpu_affinity, cfg->n_cpu_affinity * sizeof(int));
		d.ncpus = cfg->n_cpu_affinity;
		wp.cpus = d.cpus;
		wp.ncpus = d.ncpus;
	}
	return worker_start(&wp);
}

int l7_daemon_start(const char *path)
{
	struct l7_snapshot *cfg;
	struct cfg_err err;
	struct l7_gen *g;
	int ret;

	snprintf(d.path, sizeof(d.path), "%s", path);
	cfg_err_init(&err);
	ret = l7_config_build(path, &cfg, &err);
	if (ret < 0) {
		log_err("%s", err.msg);
		return ret;
	}
	log_set_level(cfg->log_level);
	nofile_warn(cfg, nofile_raise());
	d.workers = worker_count_for(cfg);
	l7_proc.workers = d.workers;
	ret = l7_metrics_init(d.workers, l7_term_names);
	if (ret < 0) {
		log_err("metrics: %s", strerror(-ret));
		snap_put(&cfg->hdr);
		return ret;
	}
	d.mw = metrics_worker(l7m.reg, L7M_WRITER_MAIN(d.workers));
	snap_slot_init(&l7_gen_slot);
	ret = open_endpoints(cfg);
	if (ret < 0) {
		snap_put(&cfg->hdr);
		return ret;
	}
	snap_get(&cfg->hdr); /* kept until the threads run */
	ret = l7_gen_build(cfg, d.workers, &g, &err);
	if (ret < 0) {
		log_err("%s", err.msg);
		snap_put(&cfg->hdr);
		return ret;
	}
	ret = drop_privileges(cfg);
	if (ret == 0) {
		metrics_set(d.mw, l7m.generation,
			    (int64_t)snap_slot_publish(&l7_gen_slot, &g->hdr));
		ret = l7_health_start(d.workers);
	}
	if (ret == 0)
		ret = start_workers(cfg);
	if (ret == 0 && d.admin)
		ret = admin_start(d.admin);
	if (ret < 0)
		log_err("start-up failed: %s", strerror(-ret));
	else
		log_info("ready: %u workers, %u listeners, %u upstreams, %u routes", d.workers,
			 cfg->n_listeners, cfg->n_upstreams, cfg->n_routes);
	snap_put(&cfg->hdr);
	return ret;
}

/* Series of the generation in use, registered again after a failed reload
 * marked everything stale. */
static void remetric(void)
{
	struct l7_gen *g = (struct l7_gen *)snap_slot_acquire(&l7_gen_slot);

	if (!g)
		return;
	for (uint32_t i = 0; i < g->cfg->n_listeners; i++)
		l7_metrics_listener(&g->cfg->listeners[i], &g->lst[i].m);
	for (uint32_t i = 0; i < g->cfg->n_upstreams; i++) {
		const struct l7_upstream *u = &g->cfg->upstreams[i];

		l7_metrics_upstream(u->name.ptr, &g->ups[i].m);
		for (uint32_t s = 0; s < u->n_servers; s++)
			l7_metrics_server(u->name.ptr, u->servers[s].name.ptr, &g->ups[i].ms[s]);
	}
	for (uint32_t i = 0; i < g->cfg->n_routes; i++)
		l7_metrics_route(g->cfg->routes[i].name.ptr, &g->routes[i]);
	l7_metrics_route("(none)", &g->routes[g->cfg->n_routes]);
	l7_gen_put(g);
}

int l7_daemon_reload(char *errbuf, size_t errlen, uint64_t *gen)
{
	struct l7_snapshot *cfg;
	struct cfg_err err;
	struct l7_gen *g;
	int ret;

	pthread_mutex_lock(&d.lock);
	cfg_err_init(&err);
	ret = l7_config_build(d.path, &cfg, &err);
	if (ret == 0) {
		if (worker_count_for(cfg) != d.workers)
			log_warn("reload: workers stays %u until a restart", d.workers);
		log_set_level(cfg->log_level);
		l7_metrics_reload_begin();
		ret = l7_gen_build(cfg, d.workers, &g, &err);
		if (ret < 0)
			remetric();
	}
	if (ret < 0) {
		metrics_inc(d.mw, l7m.reload_failed);
		log_err("reload failed, keeping the running configuration: %s", err.msg);
		snprintf(errbuf, errlen, "%s", err.msg);
		pthread_mutex_unlock(&d.lock);
		return -EINVAL;
	}
	*gen = snap_slot_publish(&l7_gen_slot, &g->hdr);
	worker_post_all(l7_worker_on_reload, NULL);
	/* Answer once every worker switched (bounded: a stuck worker must not
	 * hang the admin socket), so what `reload` reports is what runs. */
	for (int i = 0; i < 200 && !l7_workers_on(*gen, d.workers); i++)
		usleep(5000);
	metrics_set(d.mw, l7m.generation, (int64_t)*gen);
	metrics_inc(d.mw, l7m.reload_ok);
	pthread_mutex_unlock(&d.lock);
	log_info("reloaded %s: generation %llu", d.path, (unsigned long long)*gen);
	return 0;
}

void l7_daemon_drain(void)
{
	struct l7_gen *g = (struct l7_gen *)snap_slot_acquire(&l7_gen_slot);
	uint64_t deadline = log_now_ms() + (g ? g->cfg->timeouts.drain_ms : 30000);

	l7_gen_put(g);
	atomic_store(&l7_proc.draining, true);
	atomic_store(&l7_proc.busy_workers, d.workers);
	metrics_set(d.mw, l7m.draining, 1);
	log_info("draining: no new connections, finishing %u open ones",
		 atomic_load(&l7_proc.nconns));
	worker_post_all(l7_worker_on_drain, NULL);
	while (atomic_load(&l7_proc.busy_workers) > 0) {
		int sig;

		if (log_now_ms() >= deadline) {
			log_warn("drain timeout: closing %u connections",
				 atomic_load(&l7_proc.nconns));
			return;
		}
		sig = worker_signals_wait(20);
		if (sig == SIGINT) {
			log_info("SIGINT: stopping now");
			return;
		}
	}
	log_info("drained");
}

void l7_daemon_stop(void)
{
	worker_stop_all();
	l7_health_stop();
	admin_srv_free(d.admin);
	d.admin = NULL;
	metrics_http_stop(d.mh);
	d.mh = NULL;
	alog_close(l7_proc.alog);
	l7_proc.alog = NULL;
	snap_slot_destroy(&l7_gen_slot);
	l7_lsock_free_all();
	l7_traffic_fini();
	free(d.cpus);
	d.cpus = NULL;
	l7_metrics_fini();
}
