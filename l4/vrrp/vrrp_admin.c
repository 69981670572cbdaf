/* Admin socket, Prometheus metrics and the state file; see vrrp_admin.h.
 * struct vrrp_admin is owned by the daemon (d->admin). */
#include "vrrp_admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "log.h"
#include "metrics.h"
#include "vrrp_daemon.h"
#include "vrrp_notify.h"

#define STATE_FILE_MAX (VRRP_MAX_INSTANCES * 256)

struct status_row {
	char name[VRRP_NAME_MAX];
	char ifname[IF_NAMESIZE];
	char master[INET6_ADDRSTRLEN + 8];
	enum vrrp_state state;
	unsigned vrid, prio, base;
	uint64_t since, tx, rx, transitions;
};

struct inst_cells {
	int64_t state[VRRP_ST__COUNT];
	int64_t prio, base, tx, rx, prio0_tx, prio0_rx, transitions, masters, garp, errors;
	int64_t bad[VRRP_PKT__COUNT];
};

struct vrrp_admin {
	struct admin_srv *srv;
	struct metrics_reg *reg;
	struct metrics_http *http;
	struct metrics_worker *w;
	pthread_mutex_t lock;
	unsigned nrows;
	struct status_row rows[VRRP_MAX_INSTANCES];
	struct inst_cells inst[VRRP_MAX_INSTANCES];
	int64_t unmatched[VRRP_MAX_INSTANCES][VRRP_UNM__COUNT];
	int64_t track_up[VRRP_MAX_TRACKERS], track_changes[VRRP_MAX_TRACKERS];
};

/* --- admin commands (admin thread) ---------------------------------------- */

static int cmd_show(void *arg, int argc, char **argv, struct admin_out *out)
{
	struct vrrp_admin *a = arg;

	if (argc > 1)
		return admin_fail(out, "usage: show");
	admin_printf(out, "%-16s %-4s %-10s %-7s %-8s %-4s %-24s %s\n", "instance", "vrid",
		     "interface", "state", "priority", "base", "master", "since");
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < a->nrows; i++) {
		const struct status_row *r = &a->rows[i];

		admin_printf(out, "%-16s %-4u %-10s %-7s %-8u %-4u %-24s %llu\n", r->name, r->vrid,
			     r->ifname, vrrp_state_name(r->state), r->prio, r->base,
			     r->master[0] ? r->master : "-", (unsigned long long)r->since);
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int cmd_state(void *arg, int argc, char **argv, struct admin_out *out)
{
	struct vrrp_admin *a = arg;
	int found = 0;

	if (argc > 2)
		return admin_fail(out, "usage: state [INSTANCE]");
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < a->nrows; i++) {
		const struct status_row *r = &a->rows[i];

		if (argc == 2 && strcmp(argv[1], r->name) != 0)
			continue;
		found = 1;
		admin_printf(out, "%s %s\n", r->name, vrrp_state_name(r->state));
	}
	pthread_mutex_unlock(&a->lock);
	if (argc == 2 && !found)
		return admin_fail(out, "no instance '%s'", argv[1]);
	return 0;
}

/* --- metrics ---------------------------------------------------------------- */

static int64_t series(struct vrrp_admin *a, const char *name, const char *help,
		      enum metrics_type type, const char *const *labels, const char *const *values)
{
	int fam = metrics_family(a->reg, name, help, type, labels);

	return fam < 0 ? fam : metrics_series(a->reg, fam, values);
}

static int inst_metrics(struct vrrp_admin *a, const struct vrrp_inst *in, struct inst_cells *c)
{
	static const char *const l1[] = {"instance", NULL},
				 *const l2[] = {"instance", "state", NULL},
				 *const l3[] = {"instance", "reason", NULL};
	static const struct {
		const char *name, *help;
		enum metrics_type type;
		size_t off;
	} simple[] = {
#define CELL(f) offsetof(struct inst_cells, f)
	    {"strata_vrrp_priority", "Effective priority (after tracker weights)", METRICS_GAUGE,
	     CELL(prio)},
	    {"strata_vrrp_base_priority", "Configured priority", METRICS_GAUGE, CELL(base)},
	    {"strata_vrrp_adverts_sent_total", "Advertisements sent", METRICS_COUNTER, CELL(tx)},
	    {"strata_vrrp_adverts_received_total", "Valid advertisements received", METRICS_COUNTER,
	     CELL(rx)},
	    {"strata_vrrp_priority_zero_sent_total", "Priority 0 (resign) adverts sent",
	     METRICS_COUNTER, CELL(prio0_tx)},
	    {"strata_vrrp_priority_zero_received_total", "Priority 0 adverts received",
	     METRICS_COUNTER, CELL(prio0_rx)},
	    {"strata_vrrp_transitions_total", "State changes", METRICS_COUNTER, CELL(transitions)},
	    {"strata_vrrp_became_master_total", "Transitions to MASTER", METRICS_COUNTER,
	     CELL(masters)},
	    {"strata_vrrp_garp_sent_total", "Gratuitous ARPs / unsolicited NAs sent",
	     METRICS_COUNTER, CELL(garp)},
	    {"strata_vrrp_send_errors_total", "Packets that could not be sent", METRICS_COUNTER,
	     CELL(errors)},
#undef CELL
	};
	const char *v1[] = {in->cfg->name, NULL};

	for (int s = 0; s < VRRP_ST__COUNT; s++) {
		const char *v2[] = {in->cfg->name, vrrp_state_name((enum vrrp_state)s), NULL};

		c->state[s] = series(a, "strata_vrrp_state", "1 for the instance's current state",
				     METRICS_GAUGE, l2, v2);
		if (c->state[s] < 0)
			return (int)c->state[s];
	}
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		int64_t *cell = (int64_t *)((char *)c + simple[i].off);

		*cell = series(a, simple[i].name, simple[i].help, simple[i].type, l1, v1);
		if (*cell < 0)
			return (int)*cell;
	}
	for (int r = 1; r < VRRP_PKT__COUNT; r++) {
		const char *v3[] = {in->cfg->name, vrrp_pkt_reason_name((enum vrrp_pkt_reason)r),
				    NULL};

		c->bad[r] =
		    series(a, "strata_vrrp_bad_packets_total",
			   "Adverts for this VRID dropped, by reason", METRICS_COUNTER, l3, v3);
		if (c->bad[r] < 0)
			return (int)c->bad[r];
	}
	return 0;
}

static int other_metrics(struct vrrp_admin *a, struct vrrp_daemon *d)
{
	static const char *const li[] = {"interface", "reason", NULL}, *const lt[] = {"tracker",
										      NULL};

	for (unsigned i = 0; i < d->nifc; i++)
		for (int r = 1; r < VRRP_UNM__COUNT; r++) {
			const char *v[] = {d->ifc[i].name,
					   r == VRRP_UNM_OTHER_VRID
					       ? "other_vrid"
					       : vrrp_pkt_reason_name((enum vrrp_pkt_reason)r),
					   NULL};

			a->unmatched[i][r] = series(a, "strata_vrrp_unmatched_packets_total",
						    "VRRP packets no instance took, by reason",
						    METRICS_COUNTER, li, v);
			if (a->unmatched[i][r] < 0)
				return (int)a->unmatched[i][r];
		}
	for (unsigned i = 0; i < d->tracks.n; i++) {
		const char *v[] = {d->tracks.t[i].cfg->name, NULL};

		a->track_up[i] = series(a, "strata_vrrp_tracker_up", "1 while the tracker is up",
					METRICS_GAUGE, lt, v);
		a->track_changes[i] = series(a, "strata_vrrp_tracker_changes_total",
					     "Tracker verdict changes", METRICS_COUNTER, lt, v);
		if (a->track_up[i] < 0 || a->track_changes[i] < 0)
			return -ENOSPC;
	}
	return 0;
}

static void set(struct vrrp_admin *a, int64_t cell, uint64_t v)
{
	if (cell >= 0)
		metrics_set(a->w, (uint32_t)cell, (int64_t)v);
}

static void publish_metrics(struct vrrp_admin *a, struct vrrp_daemon *d)
{
	for (unsigned i = 0; i < d->ninst; i++) {
		const struct vrrp_inst *in = &d->inst[i];
		const struct inst_cells *c = &a->inst[i];

		for (int s = 0; s < VRRP_ST__COUNT; s++)
			set(a, c->state[s], in->fsm.state == (enum vrrp_state)s);
		set(a, c->prio, in->fsm.priority);
		set(a, c->base, in->cfg->priority);
		set(a, c->tx, in->st.adverts_tx);
		set(a, c->rx, in->st.adverts_rx);
		set(a, c->prio0_tx, in->st.prio0_tx);
		set(a, c->prio0_rx, in->st.prio0_rx);
		set(a, c->transitions, in->st.transitions);
		set(a, c->masters, in->st.became_master);
		set(a, c->garp, in->st.garp_tx);
		set(a, c->errors, in->st.send_errors);
		for (int r = 1; r < VRRP_PKT__COUNT; r++)
			set(a, c->bad[r], in->st.bad[r]);
	}
	for (unsigned i = 0; i < d->nifc; i++)
		for (int r = 1; r < VRRP_UNM__COUNT; r++)
			set(a, a->unmatched[i][r], d->ifc[i].unmatched[r]);
	for (unsigned i = 0; i < d->tracks.n; i++) {
		set(a, a->track_up[i], d->tracks.t[i].up);
		set(a, a->track_changes[i], d->tracks.t[i].changes);
	}
}

/* --- publishing (loop thread) --------------------------------------------- */

static void fill_row(struct status_row *r, const struct vrrp_inst *in)
{
	snprintf(r->name, sizeof(r->name), "%s", in->cfg->name);
	snprintf(r->ifname, sizeof(r->ifname), "%s", in->cfg->ifname);
	r->state = in->fsm.state;
	r->vrid = in->cfg->vrid;
	r->prio = in->fsm.priority;
	r->base = in->cfg->priority;
	r->since = in->since_wall;
	r->tx = in->st.adverts_tx;
	r->rx = in->st.adverts_rx;
	r->transitions = in->st.transitions;
	r->master[0] = '\0';
	if (in->has_master &&
	    inet_ntop(in->cfg->family, &in->master, r->master, sizeof(r->master)) &&
	    in->fsm.state == VRRP_ST_MASTER)
		strncat(r->master, " (us)", sizeof(r->master) - strlen(r->master) - 1);
}

static void write_state_file(struct vrrp_admin *a, struct vrrp_daemon *d)
{
	static char text[STATE_FILE_MAX];
	size_t n = 0;
	int rc;

	n += (size_t)snprintf(text, sizeof(text),
			      "# strata-vrrp state: instance state priority vrid interface "
			      "master since\n");
	for (unsigned i = 0; i < a->nrows && n < sizeof(text); i++) {
		const struct status_row *r = &a->rows[i];
		char master[sizeof(r->master)];

		snprintf(master, sizeof(master), "%s", r->master[0] ? r->master : "-");
		master[strcspn(master, " ")] = '\0';
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s %s %u %u %s %s %llu\n",
				      r->name, vrrp_state_name(r->state), r->prio, r->vrid,
				      r->ifname, master, (unsigned long long)r->since);
	}
	if (n >= sizeof(text))
		n = sizeof(text) - 1;
	rc = vrrp_state_file_write(d->cfg->state_file, text, n);
	if (rc < 0)
		log_rl(LOG_LVL_WARN, "cannot write state file %s: %s", d->cfg->state_file,
		       strerror(-rc));
}

void vrrp_admin_publish(struct vrrp_daemon *d, bool changed)
{
	struct vrrp_admin *a = d->admin;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->nrows = d->ninst;
	for (unsigned i = 0; i < d->ninst; i++)
		fill_row(&a->rows[i], &d->inst[i]);
	pthread_mutex_unlock(&a->lock);
	if (a->reg)
		publish_metrics(a, d);
	if (changed && d->cfg->state_file[0])
		write_state_file(a, d);
}

static int start_admin_socket(struct vrrp_admin *a, struct vrrp_daemon *d)
{
	int rc = admin_srv_new(d->cfg->admin_socket, d->cfg->admin_group, &a->srv);

	if (rc < 0) {
		log_err("admin socket %s: %s", d->cfg->admin_socket, strerror(-rc));
		return rc;
	}
	rc = admin_register(a->srv, "show", "show  (instances: state, priority, master)", cmd_show,
			    a, ADMIN_READONLY);
	if (!rc)
		rc = admin_register(a->srv, "state", "state [INSTANCE]  (NAME STATE lines)",
				    cmd_state, a, ADMIN_READONLY);
	if (!rc)
		rc = admin_register(a->srv, "metrics", "metrics [PREFIX]", metrics_admin_cmd,
				    a->reg, ADMIN_READONLY);
	if (!rc)
		rc = admin_start(a->srv);
	if (rc < 0)
		log_err("admin socket %s: %s", d->cfg->admin_socket, strerror(-rc));
	return rc;
}

int vrrp_admin_start(struct vrrp_daemon *d)
{
	struct vrrp_admin *a = calloc(1, sizeof(*a));
	int rc = 0;

	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	d->admin = a;
	a->reg = metrics_reg_new(1, 0);
	if (!a->reg)
		return -ENOMEM;
	a->w = metrics_worker(a->reg, 0);
	for (unsigned i = 0; i < d->ninst && !rc; i++)
		rc = inst_metrics(a, &d->inst[i], &a->inst[i]);
	if (!rc)
		rc = other_metrics(a, d);
	if (rc < 0) {
		log_err("metrics: cannot register series: %s", strerror(-rc));
		return rc;
	}
	if (d->cfg->admin_socket[0]) {
		rc = start_admin_socket(a, d);
		if (rc < 0)
			return rc;
	}
	if (addr_family(&d->cfg->metrics) != AF_UNSPEC) {
		rc = metrics_http_start(a->reg, addr_sockaddr(&d->cfg->metrics),
					d->cfg->metrics.len, &a->http);
		if (rc < 0) {
			log_err("metrics listener: %s", strerror(-rc));
			return rc;
		}
		log_info("metrics on port %d", metrics_http_port(a->http));
	}
	return 0;
}

void vrrp_admin_stop(struct vrrp_daemon *d)
{
	struct vrrp_admin *a = d->admin;

	if (!a)
		return;
	admin_srv_free(a->srv);
	metrics_http_stop(a->http);
	metrics_reg_free(a->reg);
	pthread_mutex_destroy(&a->lock);
	free(a);
	d->admin = NULL;
}
