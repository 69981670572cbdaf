/* Access-log records and per-exchange metrics at the end of an exchange
 * (l7_log.h). Runs on the exchange's worker; no allocation. */
#include "l7_log.h"

#include <stdio.h>

#include "alog.h"
#include "json.h"
#include "log.h"

#include "client.h"
#include "conn_tls.h"
#include "exchange.h"
#include "l7_worker.h"
#include "traffic.h"

/* Durations in microseconds: integers keep the record exact and cheap. */
static void put_us(struct json_buf *j, const char *key, uint64_t ns)
{
	json_key(j, key);
	json_uint(j, ns / 1000);
}

static void put_view(struct json_buf *j, const char *key, const char *p, size_t n)
{
	json_key(j, key);
	if (p)
		json_str(j, p, n);
	else
		json_null(j);
}

static void record(struct l7_exchange *x, uint64_t now)
{
	struct json_buf *j = alog_begin(x->w->alog);
	const struct l7_upstream *up = x->route ? x->route->upstream : NULL;
	char buf[ADDR_STR_MAX];
	const char *rid;
	size_t rid_len;

	if (!j)
		return;
	snprintf(buf, sizeof(buf), "%llx", (unsigned long long)x->c->id);
	json_key(j, "conn");
	json_cstr(j, buf);
	if (x->c->uid)
		put_view(j, "uid", (const char *)x->c->uid, x->c->uid_len);
	json_key(j, "client");
	if (addr_format_ip(&x->client, buf, sizeof(buf)) > 0)
		json_cstr(j, buf);
	else
		json_null(j);
	json_key(j, "proto");
	json_cstr(j, x->h2 ? "h2" : x->head_done && x->req.h.minor == 0 ? "http/1.0" : "http/1.1");
	if (x->c->tls) {
		/* the SNI of the handshake (docs/tls.md): what the client asked
		 * for, next to the Host it then sent */
		json_key(j, "tls");
		json_cstr(j, l7_tls_version(&x->c->tls->t));
		json_key(j, "sni");
		json_cstr(j, l7_tls_sni(&x->c->tls->t));
	}
	/* Views exist only once the head parsed (a timeout may cut it short). */
	put_view(j, "method", x->head_done ? x->req.method.ptr : NULL, x->req.method.len);
	put_view(j, "host", x->head_done ? x->req.host.ptr : NULL, x->req.host.len);
	put_view(j, "path", x->head_done ? x->req.target.ptr : NULL, x->req.target.len);
	json_key(j, "status");
	json_uint(j, x->status);
	json_key(j, "bytes_in");
	json_uint(j, x->bytes_in + x->req_bytes);
	json_key(j, "bytes_out");
	json_uint(j, x->bytes_out);
	json_key(j, "route");
	json_cstr(j, x->route ? x->route->name.ptr : NULL);
	json_key(j, "upstream");
	json_cstr(j, up ? up->name.ptr : NULL);
	json_key(j, "server");
	json_cstr(j, up && x->srv_idx >= 0 ? up->servers[x->srv_idx].name.ptr : NULL);
	json_key(j, "tries");
	json_uint(j, x->tries);
	if (x->split_why) {
		/* docs/traffic.md: how the split chose the side (the upstream) */
		json_key(j, "split");
		json_cstr(j, l7_split_why_name((enum l7_split_why)(x->split_why - 1)));
	}
	if (x->rl_policy) {
		json_key(j, "rate_limit");
		json_cstr(j, x->rl_policy);
		json_key(j, "rate_limit_result");
		json_cstr(j, x->rl_verdict == L7_TR_RL_DRY_RUN + 1 ? "dry_run" : "limited");
	}
	if (x->t_head_ns && x->t_sent_ns)
		put_us(j, "upstream_us", x->t_head_ns - x->t_sent_ns);
	put_us(j, "total_us", now - x->t_start_ns);
	json_key(j, "term");
	json_cstr(j, l7_term_name((enum l7_term)x->term));
	rid = l7_x_request_id(x, &rid_len);
	put_view(j, "request_id", rid, rid_len);
	alog_commit(x->w->alog);
}

void l7_log_exchange(struct l7_exchange *x)
{
	uint64_t now = clock_now_ns();
	struct l7_gen *g = x->gen;
	struct l7m_route *rm;

	if (x->logged || !x->c)
		return;
	x->logged = true;
	rm = &g->routes[x->route ? x->route->index : g->cfg->n_routes];
	if (x->status)
		metrics_inc(x->w->mw, rm->req[l7m_class_of(x->status)]);
	metrics_observe(x->w->mw, l7m.h_duration, rm->duration, now - x->t_start_ns);
	if (x->term < L7_TERM__COUNT)
		metrics_inc(x->w->mw, l7m.term[x->term]);
	if (x->w->alog)
		record(x, now);
}
