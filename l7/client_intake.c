/* The PROXY header of a client connection (client.h, state INTAKE): the
 * decision is intake.c's pure function; this file gathers the bytes,
 * keeps what the header says about the client (source, destination,
 * UNIQUE_ID, and the AUTHORITY strata-l4 peeked from the TLS ClientHello)
 * and counts refusals. DESIGN.md: PPv2 only from trusted sources. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "log.h"
#include "proxy.h"

#include "client.h"
#include "conn_tls.h"
#include "intake.h"
#include "l7_worker.h"
#include "term.h"
#include "traffic.h"

static int keep_header(struct l7_conn *c, const struct proxy_hdr *h)
{
	if (h->cmd == PROXY_CMD_LOCAL) {
		c->flags |= L7_CF_LOCAL;
		return 0;
	}
	if (h->has_addr && (h->family == AF_INET || h->family == AF_INET6)) {
		l7_sa_set(&c->peer, (const struct sockaddr *)&h->src, h->src_len);
		l7_sa_set(&c->local, (const struct sockaddr *)&h->dst, h->dst_len);
		c->flags |= L7_CF_HAS_DST;
	}
	if (h->unique_id.ptr && h->unique_id.len) {
		c->uid = malloc(h->unique_id.len);
		if (!c->uid)
			return -ENOMEM;
		memcpy(c->uid, h->unique_id.ptr, h->unique_id.len);
		c->uid_len = (uint8_t)h->unique_id.len;
	}
	/* kept only where a handshake will give an SNI to compare it with */
	if (c->tls && h->authority.ptr && h->authority.len &&
	    l7_ctls_set_authority(c, (const uint8_t *)h->authority.ptr, h->authority.len) < 0)
		return -ENOMEM;
	return 0;
}

static enum l7_term refuse_term(enum l7m_refuse why)
{
	switch (why) {
	case L7M_REFUSE_UNTRUSTED:
		return L7_TERM_INTAKE_UNTRUSTED;
	case L7M_REFUSE_MISSING:
		return L7_TERM_INTAKE_MISSING;
	default:
		return L7_TERM_INTAKE_MALFORMED;
	}
}

/* Joins queued segments into the head buffer (rare: strata-l4 sends the
 * header in one segment). 0 or -E2BIG. */
static int gather(struct l7_conn *c)
{
	while (c->in.n > 1 || (c->in.n == 1 && c->hb.len)) {
		struct l7_seg *s = l7_inq_front(&c->in, &c->w->bufs);

		if (l7_hbuf_append(&c->hb, l7_seg_ptr(&c->w->bufs, c->in.head), s->len,
				   PPV2_MAX_HDR_LEN + 4096) < 0)
			return -E2BIG;
		l7_inq_consume(&c->in, &c->w->bufs, s->len);
	}
	return 0;
}

static void refuse(struct l7_conn *c, enum l7m_refuse why, enum proxy_err perr)
{
	const struct l7_gen_listener *gl = &c->gen->lst[c->li];

	metrics_inc(c->w->mw, gl->m.refused[why]);
	log_rl(LOG_LVL_WARN, "conn %llx: listener %s: PROXY header refused: %s%s%s",
	       (unsigned long long)c->id, gl->cfg->name.ptr,
	       why == L7M_REFUSE_UNTRUSTED ? "peer not in trusted"
	       : why == L7M_REFUSE_MISSING ? "missing"
					   : "malformed",
	       perr ? ": " : "", perr ? proxy_strerror(perr) : "");
	l7_conn_close(c, refuse_term(why));
}

/* The PROXY header: decoded from the first buffer, or from the head buffer
 * when it spans reads. */
void l7_conn_intake(struct l7_conn *c)
{
	const struct l7_gen_listener *gl = &c->gen->lst[c->li];
	struct proxy_hdr hdr;
	enum l7m_refuse why = L7M_REFUSE_MALFORMED;
	enum proxy_err perr = 0;
	struct addr peer;
	const char *p;
	unsigned bid;
	size_t len;
	int ret;

	if (gather(c) < 0) {
		refuse(c, L7M_REFUSE_MALFORMED, perr);
		return;
	}
	len = l7_conn_input(c, &p, &bid);
	l7_sa_to_addr(&c->peer, &peer);
	ret = l7_intake_check(gl->cfg->proxy_protocol, cidr_list_match(&gl->cfg->trusted, &peer),
			      (const uint8_t *)p, len, &hdr, &why, &perr);
	if (ret == -EAGAIN) {
		if (c->flags & L7_CF_EOF)
			l7_conn_close(c, L7_TERM_INTAKE_MISSING);
		else if (len && !c->hb.len) {
			if (l7_hbuf_append(&c->hb, p, len, PPV2_MAX_HDR_LEN + 4096) == 0)
				l7_inq_consume(&c->in, &c->w->bufs, len);
			else
				l7_conn_close(c, L7_TERM_INTERNAL);
		}
		return;
	}
	if (ret < 0) {
		refuse(c, why, perr);
		return;
	}
	if (ret > 0 && keep_header(c, &hdr) < 0) {
		l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	l7_conn_consume(c, (size_t)ret);
	if (c->flags & L7_CF_LOCAL)
		metrics_inc(c->w->mw, gl->m.local_health);
	else if (l7_traffic_conn_admit(c, &c->cl_ticket) < 0) {
		l7_conn_close(c, L7_TERM_INTAKE_PER_IP); /* max_conns_per_ip */
		return;
	}
	l7_conn_ready(c);
}
