/* strata-l7 metric families and per-generation series (l7_metrics.h). The
 * registry is process-wide, created by main() before the workers start. */
#include "l7_metrics.h"

#include "traffic.h"

#include <errno.h>
#include <string.h>

struct l7_metrics l7m;

static const char *const class_names[L7M_CLASS__COUNT] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const refuse_names[L7M_REFUSE__COUNT] = {"untrusted", "malformed", "missing",
							    "max_conns"};

/* Latency buckets in seconds (docs/operations.md "Metrics"). */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				0.1,	0.25,  0.5,    1,     2.5,  5,	   10};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static const char *const lbl_listener[] = {"listener", NULL};
static const char *const lbl_listener_reason[] = {"listener", "reason", NULL};
static const char *const lbl_route_class[] = {"route", "class", NULL};
static const char *const lbl_route[] = {"route", NULL};
static const char *const lbl_server[] = {"upstream", "server", NULL};
static const char *const lbl_server_class[] = {"upstream", "server", "class", NULL};
static const char *const lbl_upstream[] = {"upstream", NULL};
static const char *const lbl_reason[] = {"reason", NULL};
static const char *const lbl_result[] = {"result", NULL};
static const char *const lbl_listener_kind[] = {"listener", "kind", NULL};
static const char *const lbl_listener_event[] = {"listener", "event", NULL};
static const char *const hs_names[L7M_HS__COUNT] = {"full", "resumed"};
static const char *const pause_names[L7M_PAUSE__COUNT] = {"process_fd_limit", "system_fd_limit",
							  "memory"};
static const char *const h2ev_names[L7M_H2EV__COUNT] = {"refused", "reset_in", "reset_out",
							"stalled", "too_large"};

static int fam(const char *name, const char *help, enum metrics_type t, const char *const *lbl)
{
	return metrics_family(l7m.reg, name, help, t, lbl);
}

static int register_families(void)
{
	l7m.f_conns = fam("strata_l7_connections_total", "Client connections accepted",
			  METRICS_COUNTER, lbl_listener);
	l7m.f_active = fam("strata_l7_connections_active", "Client connections open", METRICS_GAUGE,
			   lbl_listener);
	l7m.f_refused =
	    fam("strata_l7_intake_refused_total", "Client connections closed at intake, by reason",
		METRICS_COUNTER, lbl_listener_reason);
	l7m.f_local =
	    fam("strata_l7_local_health_total", "PPv2 LOCAL health checks answered by the instance",
		METRICS_COUNTER, lbl_listener);
	l7m.f_req = fam("strata_l7_requests_total", "Requests answered, by route and status class",
			METRICS_COUNTER, lbl_route_class);
	l7m.f_dur = metrics_histogram(l7m.reg, "strata_l7_request_duration_seconds",
				      "Time from request head to the last response byte", lbl_route,
				      bounds, NBOUNDS, 1e-9);
	l7m.f_ureq =
	    fam("strata_l7_upstream_requests_total",
		"Upstream responses by server and status class", METRICS_COUNTER, lbl_server_class);
	l7m.f_ulat = metrics_histogram(l7m.reg, "strata_l7_upstream_response_seconds",
				       "Time from sending the request to the response head",
				       lbl_server, bounds, NBOUNDS, 1e-9);
	l7m.f_uactive = fam("strata_l7_upstream_active", "Requests in flight to the server",
			    METRICS_GAUGE, lbl_server);
	l7m.f_hits =
	    fam("strata_l7_upstream_pool_hits_total",
		"Requests sent on a reused keep-alive connection", METRICS_COUNTER, lbl_server);
	l7m.f_misses =
	    fam("strata_l7_upstream_pool_misses_total",
		"Requests that opened a new upstream connection", METRICS_COUNTER, lbl_server);
	l7m.f_cerr = fam("strata_l7_upstream_connect_errors_total",
			 "Failed or timed out upstream connects", METRICS_COUNTER, lbl_server);
	l7m.f_fail = fam("strata_l7_upstream_failures_total",
			 "Exchanges that failed (reset, bad response, timeout)", METRICS_COUNTER,
			 lbl_server);
	l7m.f_up = fam("strata_l7_server_up", "1 when the server takes new requests", METRICS_GAUGE,
		       lbl_server);
	l7m.f_idle = fam("strata_l7_upstream_pool_idle", "Idle connections in the shared pool",
			 METRICS_GAUGE, lbl_server);
	l7m.f_reuse = fam("strata_l7_upstream_reuse_permille",
			  "Requests on reused connections per 1000 requests, since start",
			  METRICS_GAUGE, lbl_server);
	l7m.f_eject = fam("strata_l7_server_ejections_total", "Passive ejections", METRICS_COUNTER,
			  lbl_server);
	l7m.f_retries = fam("strata_l7_upstream_retries_total", "Attempts after the first",
			    METRICS_COUNTER, lbl_upstream);
	l7m.f_noserver =
	    fam("strata_l7_upstream_unavailable_total", "Requests answered 503: no usable server",
		METRICS_COUNTER, lbl_upstream);
	l7m.f_term = fam("strata_l7_terminations_total", "Finished exchanges by termination reason",
			 METRICS_COUNTER, lbl_reason);
	l7m.f_hs =
	    fam("strata_l7_tls_handshakes_total", "TLS handshakes completed, full or resumed",
		METRICS_COUNTER, lbl_listener_kind);
	l7m.f_tls_err = fam("strata_l7_tls_errors_total",
			    "TLS connections that failed, by reason (docs/tls.md)", METRICS_COUNTER,
			    lbl_listener_reason);
	l7m.f_mismatch = fam("strata_l7_tls_authority_mismatch_total",
			     "Handshakes whose SNI differs from the PPv2 AUTHORITY strata-l4 sent",
			     METRICS_COUNTER, lbl_listener);
	l7m.f_h2_conns = fam("strata_l7_h2_connections_total", "Connections that speak HTTP/2",
			     METRICS_COUNTER, lbl_listener);
	l7m.f_h2_streams = fam("strata_l7_h2_streams_total", "HTTP/2 requests (streams) received",
			       METRICS_COUNTER, lbl_listener);
	l7m.f_h2_ev = fam("strata_l7_h2_stream_events_total",
			  "HTTP/2 streams refused, reset or answered 431, by event",
			  METRICS_COUNTER, lbl_listener_event);
	l7m.f_h2_err = fam("strata_l7_h2_errors_total",
			   "HTTP/2 connections ended by an error or abuse defence, by reason",
			   METRICS_COUNTER, lbl_listener_reason);
	if (l7m.f_hs < 0 || l7m.f_tls_err < 0 || l7m.f_mismatch < 0 || l7m.f_h2_conns < 0 ||
	    l7m.f_h2_streams < 0 || l7m.f_h2_ev < 0 || l7m.f_h2_err < 0)
		return -EINVAL;
	if (l7m.f_conns < 0 || l7m.f_active < 0 || l7m.f_refused < 0 || l7m.f_local < 0 ||
	    l7m.f_req < 0 || l7m.f_dur < 0 || l7m.f_ureq < 0 || l7m.f_ulat < 0 ||
	    l7m.f_uactive < 0 || l7m.f_hits < 0 || l7m.f_misses < 0 || l7m.f_cerr < 0 ||
	    l7m.f_fail < 0 || l7m.f_up < 0 || l7m.f_idle < 0 || l7m.f_reuse < 0 ||
	    l7m.f_eject < 0 || l7m.f_retries < 0 || l7m.f_noserver < 0 || l7m.f_term < 0)
		return -EINVAL;
	l7m.h_duration = metrics_hist(l7m.reg, l7m.f_dur);
	l7m.h_latency = metrics_hist(l7m.reg, l7m.f_ulat);
	return 0;
}

static int64_t series(int f, const char *const *values)
{
	return metrics_series(l7m.reg, f, values);
}

/* Stores a series index, or records the first error. */
#define CELL(dst, expr)                                                                            \
	do {                                                                                       \
		int64_t c__ = (expr);                                                              \
		if (c__ < 0)                                                                       \
			return (int)c__;                                                           \
		(dst) = (uint32_t)c__;                                                             \
	} while (0)

static int register_globals(const char *const *term_names)
{
	int f = fam("strata_l7_config_reloads_total", "Configuration reloads by result",
		    METRICS_COUNTER, lbl_result);
	const char *ok[] = {"ok"}, *bad[] = {"failed"};

	if (f < 0)
		return f;
	CELL(l7m.reload_ok, series(f, ok));
	CELL(l7m.reload_failed, series(f, bad));
	CELL(l7m.draining, metrics_simple(l7m.reg, "strata_l7_draining",
					  "1 while draining after SIGTERM", METRICS_GAUGE));
	CELL(l7m.generation,
	     metrics_simple(l7m.reg, "strata_l7_config_generation",
			    "Generation of the configuration in use (1 at start)", METRICS_GAUGE));
	f = fam("strata_l7_accept_paused_total",
		"Times accepting paused for want of descriptors or memory, by reason",
		METRICS_COUNTER, lbl_reason);
	if (f < 0)
		return f;
	for (int r = 0; r < L7M_PAUSE__COUNT; r++) {
		const char *v[] = {pause_names[r]};

		CELL(l7m.accept_paused[r], series(f, v));
	}
	CELL(l7m.pool_released,
	     metrics_simple(l7m.reg, "strata_l7_upstream_pool_released_total",
			    "Idle upstream connections closed to free descriptors for a new one",
			    METRICS_COUNTER));
	for (unsigned i = 0; term_names[i] && i < 64; i++) {
		const char *v[] = {term_names[i]};

		CELL(l7m.term[i], series(l7m.f_term, v));
	}
	return 0;
}

int l7_metrics_init(unsigned workers, const char *const *term_names)
{
	int ret;

	l7m.reg = metrics_reg_new(L7M_WRITERS(workers), 0);
	if (!l7m.reg)
		return -ENOMEM;
	ret = register_families();
	if (ret == 0)
		ret = register_globals(term_names);
	return ret;
}

void l7_metrics_fini(void)
{
	metrics_reg_free(l7m.reg);
	l7m.reg = NULL;
}

void l7_metrics_reload_begin(void)
{
	const int per_gen[] = {l7m.f_conns,   l7m.f_active,   l7m.f_refused,  l7m.f_local,
			       l7m.f_req,     l7m.f_dur,      l7m.f_ureq,     l7m.f_ulat,
			       l7m.f_uactive, l7m.f_hits,     l7m.f_misses,   l7m.f_cerr,
			       l7m.f_fail,    l7m.f_up,	      l7m.f_idle,     l7m.f_reuse,
			       l7m.f_eject,   l7m.f_retries,  l7m.f_noserver, l7m.f_hs,
			       l7m.f_tls_err, l7m.f_mismatch, l7m.f_h2_conns, l7m.f_h2_streams,
			       l7m.f_h2_ev,   l7m.f_h2_err};

	for (size_t i = 0; i < sizeof(per_gen) / sizeof(per_gen[0]); i++)
		metrics_mark_stale(l7m.reg, per_gen[i]);
	l7_traffic_metrics_stale();
}

static int listener_tls(const struct l7_listener *l, struct l7m_listener *out)
{
	const char *v[] = {l->name.ptr};

	for (int k = 0; k < L7M_HS__COUNT; k++) {
		const char *vk[] = {l->name.ptr, hs_names[k]};

		CELL(out->handshakes[k], series(l7m.f_hs, vk));
	}
	for (int r = 1; r < L7M_TLS_REASONS; r++) {
		const char *vr[] = {l->name.ptr, r == L7M_TLS_HS_TIMEOUT
						     ? "handshake_timeout"
						     : l7_tls_err_name((enum l7_tls_err)r)};

		CELL(out->tls_err[r], series(l7m.f_tls_err, vr));
	}
	CELL(out->mismatch, series(l7m.f_mismatch, v));
	out->tls = true;
	return 0;
}

static int listener_h2(const struct l7_listener *l, struct l7m_listener *out)
{
	const char *v[] = {l->name.ptr};

	CELL(out->h2_conns, series(l7m.f_h2_conns, v));
	CELL(out->h2_streams, series(l7m.f_h2_streams, v));
	for (int e = 0; e < L7M_H2EV__COUNT; e++) {
		const char *ve[] = {l->name.ptr, h2ev_names[e]};

		CELL(out->h2_ev[e], series(l7m.f_h2_ev, ve));
	}
	for (int r = 1; r < L7_H2_ERR__COUNT; r++) {
		const char *vr[] = {l->name.ptr, l7_h2_err_name((enum l7_h2_err)r)};

		CELL(out->h2_err[r], series(l7m.f_h2_err, vr));
	}
	out->h2 = true;
	return 0;
}

int l7_metrics_listener(const struct l7_listener *l, struct l7m_listener *out)
{
	const char *v[] = {l->name.ptr};
	int ret;

	CELL(out->conns, series(l7m.f_conns, v));
	CELL(out->active, series(l7m.f_active, v));
	CELL(out->local_health, series(l7m.f_local, v));
	for (int r = 0; r < L7M_REFUSE__COUNT; r++) {
		const char *vr[] = {l->name.ptr, refuse_names[r]};

		CELL(out->refused[r], series(l7m.f_refused, vr));
	}
	if (l->tls && (ret = listener_tls(l, out)) < 0)
		return ret;
	if (((l->tls && l->http2.enabled) || l->http2.h2c) && (ret = listener_h2(l, out)) < 0)
		return ret;
	return 0;
}

int l7_metrics_route(const char *route, struct l7m_route *out)
{
	const char *v[] = {route};

	for (int c = 0; c < L7M_CLASS__COUNT; c++) {
		const char *vc[] = {route, class_names[c]};

		CELL(out->req[c], series(l7m.f_req, vc));
	}
	CELL(out->duration, series(l7m.f_dur, v));
	return 0;
}

int l7_metrics_server(const char *upstream, const char *server, struct l7m_server *out)
{
	const char *v[] = {upstream, server};

	for (int c = 0; c < L7M_CLASS__COUNT; c++) {
		const char *vc[] = {upstream, server, class_names[c]};

		CELL(out->req[c], series(l7m.f_ureq, vc));
	}
	CELL(out->latency, series(l7m.f_ulat, v));
	CELL(out->active, series(l7m.f_uactive, v));
	CELL(out->pool_hits, series(l7m.f_hits, v));
	CELL(out->pool_misses, series(l7m.f_misses, v));
	CELL(out->connect_errors, series(l7m.f_cerr, v));
	CELL(out->failures, series(l7m.f_fail, v));
	CELL(out->up, series(l7m.f_up, v));
	CELL(out->idle, series(l7m.f_idle, v));
	CELL(out->reuse_permille, series(l7m.f_reuse, v));
	CELL(out->ejections, series(l7m.f_eject, v));
	return 0;
}

int l7_metrics_upstream(const char *upstream, struct l7m_upstream *out)
{
	const char *v[] = {upstream};

	CELL(out->retries, series(l7m.f_retries, v));
	CELL(out->no_server, series(l7m.f_noserver, v));
	return 0;
}
