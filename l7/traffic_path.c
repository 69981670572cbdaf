/* Traffic management on the request path (traffic.h): per-client
 * connection limits at intake, rate limits and split choice after
 * routing, request limits, breaker admission and outcome, pending limits
 * and retry budgets around the upstream attempts. Each call is a no-op
 * unless the configuration asks for it. Worker threads only. */
#include <errno.h>

#include "log.h"

#include "client.h"
#include "exchange.h"
#include "l7_worker.h"
#include "runtime.h"
#include "traffic.h"
#include "traffic_int.h"
#include "upstream.h"

/* --- connections ------------------------------------------------------------------ */

int l7_traffic_conn_admit(struct l7_conn *c, uint32_t *ticket)
{
	const struct l7_gen_listener *gl = &c->gen->lst[c->li];
	const struct l7_listener *l = gl->cfg;
	struct l7_connlimit *cl = l7_traffic_cl_table();
	struct addr client;
	char text[ADDR_STR_MAX];

	*ticket = L7_CL_UNTRACKED;
	if (!l->max_conns_per_ip || !cl)
		return 0;
	l7_sa_to_addr(&c->peer, &client);
	if (l7_cl_acquire(cl, l->cl_scope, &client, l->cl_v4_prefix, l->cl_v6_prefix,
			  l->max_conns_per_ip, ticket) == 0)
		return 0;
	if (c->gen->traffic)
		metrics_inc(c->w->mw, c->gen->traffic->m_cl_refused[c->li]);
	addr_format_ip(&client, text, sizeof(text));
	log_rl(LOG_LVL_WARN, "conn %llx: listener %s: %s already has %u connections open",
	       (unsigned long long)c->id, l->name.ptr, text, l->max_conns_per_ip);
	return -EBUSY;
}

void l7_traffic_conn_release(uint32_t ticket)
{
	struct l7_connlimit *cl = l7_traffic_cl_table();

	if (ticket != L7_CL_UNTRACKED && cl)
		l7_cl_release(cl, ticket);
}

/* --- after routing ------------------------------------------------------------------- */

const struct l7_rl_policy *l7_traffic_rate_check(struct l7_exchange *x, struct l7_rl_result *res)
{
	const struct l7_route *r = x->route;
	struct l7_rl_table *t = l7_traffic_rl_table();
	uint64_t now = 0;

	if (!t)
		return NULL;
	for (uint32_t i = 0; i < r->n_rate_limits; i++) {
		const struct l7_rl_policy *p = r->rate_limits[i];
		const struct l7_tr_policy *tp =
		    &x->gen->traffic->pols[p - x->gen->cfg->rate_limits];
		enum l7_tr_rl v;

		if (!now)
			now = clock_now_ns();
		if (l7_rl_check(t, p, &x->req, &x->client, r->name.ptr, r->name.len, now, res))
			v = L7_TR_RL_ALLOWED;
		else
			v = p->dry_run ? L7_TR_RL_DRY_RUN : L7_TR_RL_LIMITED;
		metrics_inc(x->w->mw, tp->m_req[v]);
		if (v == L7_TR_RL_ALLOWED)
			continue;
		x->rl_policy = p->name;
		x->rl_verdict = (uint8_t)(v + 1);
		if (v == L7_TR_RL_LIMITED)
			return p;
	}
	return NULL;
}

int l7_traffic_split_pick(struct l7_exchange *x)
{
	const struct l7_route *r = x->route;
	struct l7_tr_split *ts = x->gen->traffic->splits[r->index];
	struct l7_split_choice ch;

	if (l7_split_choose(ts->sp, &x->req, &x->client, &ch) < 0)
		return -1;
	x->split_why = (uint8_t)(ch.why + 1);
	metrics_inc(x->w->mw, ts->m_pick[ch.side][ch.why]);
	return ch.side;
}

/* Backoff jitter: one SplitMix64 state per worker thread. */
static __thread uint64_t tr_rng;

/* --- upstream attempts ------------------------------------------------------------------ */

static struct l7_tr_upstream *tru(const struct l7_exchange *x)
{
	return &x->gen->traffic->ups[x->up_idx];
}

static const struct l7_upstream *ucfg(const struct l7_exchange *x)
{
	return x->route->upstream;
}

bool l7_traffic_req_begin(struct l7_exchange *x)
{
	struct l7_tr_upstream *tu = tru(x);
	uint32_t max = ucfg(x)->breaker.max_requests;

	if (max && !l7_brk_request_begin(&tu->lim, max)) {
		metrics_inc(x->w->mw, tu->m_overflow[L7_TR_LIM_REQUESTS]);
		return false;
	}
	l7_rb_request_begin(tu->rb, x->w->index);
	x->tr_req = true;
	return true;
}

void l7_traffic_req_end(struct l7_exchange *x)
{
	struct l7_tr_upstream *tu;
	uint32_t max;

	l7_traffic_outcome(x, false);
	l7_traffic_pending_end(x);
	l7_traffic_retry_end(x);
	if (!x->tr_req)
		return;
	tu = tru(x);
	max = ucfg(x)->breaker.max_requests;
	if (max)
		l7_brk_request_end(&tu->lim, max);
	l7_rb_request_end(tu->rb, x->w->index);
	x->tr_req = false;
}

bool l7_traffic_brk_allow(struct l7_exchange *x, int si)
{
	const struct l7_upstream *u = ucfg(x);
	struct l7_server_rt *rt = x->gen->ups[x->up_idx].rt.srv[si];
	enum l7_brk_verdict v;

	if (!u->has_breaker || !u->breaker.enabled || !rt->tr)
		return true;
	l7_tr_mw = x->w->mw;
	v = l7_brk_allow(rt->tr->brk, &u->breaker, loop_now_ms(x->w->loop), &x->brk);
	if (l7_brk_admits(v)) {
		x->tr_brk = x->brk.counted;
		x->tr_brk_si = (int16_t)si;
		return true;
	}
	metrics_inc(x->w->mw,
		    rt->tr->m_rej[v == L7_BRK_REJECT_OPEN ? L7_TR_REJ_OPEN : L7_TR_REJ_PROBING]);
	return false;
}

void l7_traffic_outcome(struct l7_exchange *x, bool failed)
{
	const struct l7_upstream *u;
	struct l7_server_rt *rt;
	uint64_t now_ns, from;
	bool ok;

	if (!x->tr_brk)
		return;
	x->tr_brk = false;
	u = ucfg(x);
	rt = x->gen->ups[x->up_idx].rt.srv[x->tr_brk_si];
	l7_tr_mw = x->w->mw;
	if (!failed && !x->t_head_ns) {
		l7_brk_cancel(rt->tr->brk, &x->brk); /* no answer yet: the client went */
		return;
	}
	ok = !failed && !l7_brk_status_fails(&u->breaker, x->resp.status);
	from = x->t_sent_ns ? x->t_sent_ns : x->t_start_ns;
	now_ns = failed || !x->t_head_ns ? clock_now_ns() : x->t_head_ns;
	l7_brk_report(rt->tr->brk, &u->breaker, x->w->index, &x->brk, ok,
		      now_ns > from ? (uint32_t)((now_ns - from) / 1000) : 0,
		      loop_now_ms(x->w->loop));
}

bool l7_traffic_pending_begin(struct l7_exchange *x)
{
	uint32_t max = ucfg(x)->breaker.max_pending;

	if (!max)
		return true;
	if (!l7_brk_pending_begin(&tru(x)->lim, max)) {
		metrics_inc(x->w->mw, tru(x)->m_overflow[L7_TR_LIM_PENDING]);
		return false;
	}
	x->tr_pending = true;
	return true;
}

void l7_traffic_pending_end(struct l7_exchange *x)
{
	if (!x->tr_pending)
		return;
	x->tr_pending = false;
	l7_brk_pending_end(&tru(x)->lim, ucfg(x)->breaker.max_pending);
}

bool l7_traffic_retry_begin(struct l7_exchange *x, uint32_t *backoff_ms)
{
	const struct l7_rb_params *p = &ucfg(x)->retry_budget;
	struct l7_tr_upstream *tu = tru(x);

	l7_traffic_retry_end(x); /* the attempt that failed held one */
	if (ucfg(x)->has_retry_budget) {
		if (!l7_rb_retry_begin(tu->rb, p)) {
			metrics_inc(x->w->mw, tu->m_budget);
			return false;
		}
		x->tr_retry = true;
	}
	if (!tr_rng)
		tr_rng = clock_now_ns() ^ ((uint64_t)(x->w->index + 1) << 56);
	*backoff_ms = l7_rb_backoff_ms(p, x->tries, &tr_rng);
	if (p->backoff_base_ms)
		metrics_observe(x->w->mw, l7_trf.h_backoff, tu->m_backoff, *backoff_ms);
	return true;
}

void l7_traffic_retry_end(struct l7_exchange *x)
{
	if (!x->tr_retry)
		return;
	x->tr_retry = false;
	l7_rb_retry_end(tru(x)->rb);
}
