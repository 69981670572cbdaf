/* strata-l4's admin commands (stratactl): show services / instances /
 * conns / stats, set instance, reload, metrics.
 *
 * Handlers run on the admin thread (admin.h). They read the current
 * snapshot (a reference for the call), the instance records' atomics and
 * metric sums; `set instance` changes an admin state atomically and lets the
 * balancer rebuild; `reload` asks the main thread and waits for its verdict.
 */
#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "proc.h"
#include "state.h"

#define CTL_RELOAD_WAIT_MS 8000 /* under ADMIN_TIMEOUT_MS */

static const char *const hres_names[L4_HRES__COUNT] = {"-",	"ok",	      "refused",  "timeout",
						       "error", "bad_status", "bad_reply"};

static uint64_t rd(struct l4_proc *p, uint32_t cell)
{
	return metrics_read(p->reg, cell);
}

static unsigned n_available(const struct l4_service *s)
{
	unsigned n = 0;

	for (size_t i = 0; i < s->n_inst; i++)
		n += balance_live_available(&s->inst[i].rt->live);
	return n;
}

static void show_services(struct l4_proc *p, const struct l4_config *c, struct admin_out *out)
{
	admin_puts(out,
		   "# service listen balance data_path sni active total available/instances\n");
	for (size_t i = 0; i < c->n_svc; i++) {
		const struct l4_service *s = &c->svc[i];
		char a[ADDR_STR_MAX];

		addr_format(&s->listen[0].addr, a, sizeof(a));
		admin_printf(out, "%s %s%s %s %s %s %ld %llu %u/%zu\n", s->name, a,
			     s->n_listen > 1 ? ",..." : "", balance_algo_name(s->algo),
			     l4_data_path_name(s->data_path), s->sni ? "yes" : "no",
			     (long)metrics_read_gauge(p->reg, s->rt->m_active),
			     (unsigned long long)rd(p, s->rt->m_conns), n_available(s), s->n_inst);
	}
}

static uint64_t cerr_total(struct l4_proc *p, const struct l4_inst_rt *rt)
{
	uint64_t n = 0;

	for (int e = 0; e < L4_CERR__COUNT; e++)
		n += rd(p, rt->m_cerr[e]);
	return n;
}

static void show_instance(struct l4_proc *p, const struct l4_service *s,
			  const struct l4_instance *in, struct admin_out *out)
{
	const struct l4_inst_rt *rt = in->rt;
	int res = atomic_load(&rt->last_result);
	const char *health = in->health.type == L4_CHECK_NONE ? "unchecked"
			     : atomic_load(&rt->up)	      ? "up"
							      : "down";

	admin_printf(out, "%s %s %u %s %s %s %s %s %ld %llu %llu %s\n", s->name, in->name,
		     in->weight, in->backup ? "yes" : "no",
		     l4_admin_name((enum l4_admin)atomic_load(&rt->admin)), health,
		     balance_live_available(&rt->live) ? "yes" : "no",
		     l4_check_name(in->health.type), (long)metrics_read_gauge(p->reg, rt->m_active),
		     (unsigned long long)rd(p, rt->m_conns), (unsigned long long)cerr_total(p, rt),
		     (unsigned)res < L4_HRES__COUNT ? hres_names[res] : "?");
}

static int show_instances(struct l4_proc *p, const struct l4_config *c, const char *only,
			  struct admin_out *out)
{
	if (only && !l4_config_service(c, only))
		return admin_fail(out, "no service '%s'", only);
	admin_puts(out, "# service instance weight backup admin health available check active "
			"total connect_errors last_check\n");
	for (size_t i = 0; i < c->n_svc; i++) {
		const struct l4_service *s = &c->svc[i];

		if (only && strcmp(only, s->name) != 0)
			continue;
		for (size_t k = 0; k < s->n_inst; k++)
			show_instance(p, s, &s->inst[k], out);
	}
	return 0;
}

static void show_health(const struct l4_config *c, struct admin_out *out)
{
	uint64_t now = log_now_ms();

	admin_puts(out, "# service instance check interval_ms timeout_ms rise fall health "
			"last_check last_error since_change_s\n");
	for (size_t i = 0; i < c->n_svc; i++) {
		const struct l4_service *s = &c->svc[i];

		for (size_t k = 0; k < s->n_inst; k++) {
			const struct l4_instance *in = &s->inst[k];
			const struct l4_inst_rt *rt = in->rt;
			int res = atomic_load(&rt->last_result), err = atomic_load(&rt->last_errno);
			uint64_t since = atomic_load(&rt->last_change_ms);

			admin_printf(out, "%s %s %s %u %u %u %u %s %s %s %llu\n", s->name, in->name,
				     l4_check_name(in->health.type), in->health.interval_ms,
				     in->health.timeout_ms, in->health.rise, in->health.fall,
				     atomic_load(&rt->up) ? "up" : "down",
				     (unsigned)res < L4_HRES__COUNT ? hres_names[res] : "?",
				     res > L4_HRES_OK && err ? strerrorname_np(err) : "-",
				     (unsigned long long)(since ? (now - since) / 1000 : 0));
		}
	}
}

static void show_conns(struct l4_proc *p, const struct l4_config *c, struct admin_out *out)
{
	admin_printf(out, "total %u max %u\n", atomic_load(&p->st.active),
		     atomic_load(&p->max_conns));
	for (size_t i = 0; i < c->n_svc; i++) {
		const struct l4_service *s = &c->svc[i];

		admin_printf(out, "service %s %u max %u\n", s->name, atomic_load(&s->rt->active),
			     s->max_conns);
		for (size_t k = 0; k < s->n_inst; k++)
			admin_printf(out, "instance %s %s %ld\n", s->name, s->inst[k].name,
				     (long)metrics_read_gauge(p->reg, s->inst[k].rt->m_active));
	}
}

static void show_stats(struct l4_proc *p, const struct l4_config *c, struct admin_out *out)
{
	const struct l4_metric_ids *m = &p->st.m;

	admin_printf(out, "node %s\nconfig %s generation %llu\nworkers %u\n", c->node_name, c->path,
		     (unsigned long long)c->hdr.generation, p->n_workers);
	admin_printf(out, "active %u\naccept_paused %llu\naccept_errors %llu\n",
		     atomic_load(&p->st.active), (unsigned long long)rd(p, m->accept_paused),
		     (unsigned long long)rd(p, m->accept_errors));
	/* strata-vrrp's tracker reads these two (docs/vrrp.md "Planned maintenance"). */
	admin_printf(out, "draining %d\ndraining_ms %llu\n", atomic_load(&p->draining) ? 1 : 0,
		     atomic_load(&p->draining)
			 ? (unsigned long long)(log_now_ms() - atomic_load(&p->drain_start_ms))
			 : 0ull);
	admin_printf(out, "reloads_ok %llu\nreloads_failed %llu\nsplice_starts %llu\n",
		     (unsigned long long)rd(p, m->reloads_ok),
		     (unsigned long long)rd(p, m->reloads_failed),
		     (unsigned long long)rd(p, m->splice_conns));
	for (size_t i = 0; i < c->n_svc; i++) {
		const struct l4_svc_rt *rt = c->svc[i].rt;

		admin_printf(out,
			     "service %s conns %llu bytes_in %llu bytes_out %llu retries %llu "
			     "no_instance %llu rejected %llu\n",
			     rt->name, (unsigned long long)rd(p, rt->m_conns),
			     (unsigned long long)rd(p, rt->m_bytes_in),
			     (unsigned long long)rd(p, rt->m_bytes_out),
			     (unsigned long long)rd(p, rt->m_retries),
			     (unsigned long long)rd(p, rt->m_no_instance),
			     (unsigned long long)rd(p, rt->m_rejected));
	}
}

static int cmd_show(void *arg, int argc, char **argv, struct admin_out *out)
{
	struct l4_proc *p = arg;
	struct l4_config *c = l4_proc_config(p);
	int rc = 0;

	if (!c)
		return admin_fail(out, "no configuration loaded");
	if (argc >= 2 && strcmp(argv[1], "services") == 0)
		show_services(p, c, out);
	else if (argc >= 2 && strcmp(argv[1], "instances") == 0)
		rc = show_instances(p, c, argc > 2 ? argv[2] : NULL, out);
	else if (argc >= 2 && strcmp(argv[1], "health") == 0)
		show_health(c, out);
	else if (argc >= 2 && strcmp(argv[1], "conns") == 0)
		show_conns(p, c, out);
	else if (argc >= 2 && strcmp(argv[1], "stats") == 0)
		show_stats(p, c, out);
	else
		rc = admin_fail(out, "usage: show services|instances [SERVICE]|health|conns|stats");
	snap_put(&c->hdr);
	return rc;
}

static int cmd_set(void *arg, int argc, char **argv, struct admin_out *out)
{
	struct l4_proc *p = arg;
	struct l4_config *c;
	struct l4_inst_rt *rt;
	enum l4_admin st;
	const struct l4_service *s;
	int rc = 0;

	if (argc != 5 || strcmp(argv[1], "instance") != 0 || l4_admin_parse(argv[4], &st) < 0)
		return admin_fail(out, "usage: set instance SERVICE ADDRESS ready|drain|maint");
	c = l4_proc_config(p);
	if (!c)
		return admin_fail(out, "no configuration loaded");
	s = l4_config_service(c, argv[2]);
	if (!s)
		rc = admin_fail(out, "no service '%s'", argv[2]);
	else if (l4_service_instance(s, argv[3]) < 0)
		rc = admin_fail(out, "service '%s' has no instance '%s'", argv[2], argv[3]);
	snap_put(&c->hdr);
	if (rc)
		return rc;
	rt = l4_state_find_instance(&p->st, argv[2], argv[3]);
	if (!rt)
		return admin_fail(out, "no instance '%s'", argv[3]);
	if (!l4_mw) /* the admin thread's own arena, taken on first use */
		l4_mw = metrics_worker(p->reg, p->admin_writer);
	int was = atomic_exchange(&rt->admin, (int)st);
	log_info("admin: service %s instance %s: %s -> %s (uid %u)", argv[2], argv[3],
		 l4_admin_name((enum l4_admin)was), l4_admin_name(st),
		 (unsigned)admin_peer_uid(out));
	l4_health_refresh(p, argv[2], rt);
	admin_printf(out, "%s %s %s\n", argv[2], argv[3], l4_admin_name(st));
	return 0;
}

static int cmd_reload(void *arg, int argc, char **argv, struct admin_out *out)
{
	struct l4_proc *p = arg;
	struct timespec until;
	uint64_t seq;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CTL_RELOAD_WAIT_MS / 1000;
	pthread_mutex_lock(&p->reload_lock);
	seq = p->reload_seq;
	kill(getpid(), SIGHUP);
	while (p->reload_seq == seq && rc == 0)
		rc = pthread_cond_timedwait(&p->reload_done, &p->reload_lock, &until);
	if (p->reload_seq == seq)
		rc = admin_fail(out, "reload did not finish in time");
	else if (p->reload_rc)
		rc = admin_fail(out, "%s", p->reload_msg);
	else
		admin_printf(out, "%s\n", p->reload_msg);
	pthread_mutex_unlock(&p->reload_lock);
	return rc ? -1 : 0;
}

int l4_ctl_register(struct admin_srv *srv, struct l4_proc *p)
{
	int rc = 0;

	rc |= admin_register(srv, "show", "show services|instances [SERVICE]|health|conns|stats",
			     cmd_show, p, ADMIN_READONLY);
	rc |= admin_register(srv, "set", "set instance SERVICE ADDRESS ready|drain|maint", cmd_set,
			     p, ADMIN_MUTATING);
	rc |= admin_register(srv, "reload", "reload  (re-read the config, like SIGHUP)", cmd_reload,
			     p, ADMIN_MUTATING);
	rc |= admin_register(srv, "metrics", "metrics [PREFIX]", metrics_admin_cmd, p->reg,
			     ADMIN_READONLY);
	return rc ? -EINVAL : 0;
}
