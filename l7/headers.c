/* Head rewriting (headers.h): one pass over the parsed fields, written
 * straight into the output buffer. The decisions per received field are in
 * keep_request_field() and keep_response_field(); everything appended comes
 * after the received fields, in a fixed order. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "fwd.h"
#include "headers.h"
#include "http1_semantics.h"
#include "respond.h"
#include "sticky.h"

bool l7_hdr_rules_drop(const struct l7_hdr_rules *rules, const char *name, size_t len)
{
	if (!(rules->drop_lens & (1ull << (len & 63))))
		return false; /* no remove or set name of this length */
	for (uint32_t i = 0; i < rules->n_remove; i++) {
		if (rules->remove[i].len == len && l7_name_eq(rules->remove[i].ptr, name, len))
			return true;
	}
	for (uint32_t i = 0; i < rules->n_set; i++) {
		if (rules->set[i].name.len == len && l7_name_eq(rules->set[i].name.ptr, name, len))
			return true;
	}
	return false;
}

/* RFC 9110 §7.6.1 hop-by-hop fields, the ones Connection names (the parser
 * flags them), and Trailer, whose promise the re-framed body may not keep. */
static bool is_hop_by_hop(const struct http1_header *f, enum l7_conn_mode conn)
{
	enum {
		HOP = 1u << HTTP1_H_CONNECTION | 1u << HTTP1_H_KEEP_ALIVE |
		      1u << HTTP1_H_PROXY_CONNECTION | 1u << HTTP1_H_TE | 1u << HTTP1_H_TRAILER |
		      1u << HTTP1_H_UPGRADE | 1u << HTTP1_H_TRANSFER_ENCODING
	};

	if (f->id == HTTP1_H_UPGRADE && conn == L7_CONN_UPGRADE)
		return false; /* tunnelling: the Upgrade offer goes through */
	return (f->flags & HTTP1_HF_HOP_BY_HOP) || ((1u << f->id) & HOP);
}

static void put_pairs(struct l7_wbuf *w, const struct l7_hdr_pair *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		l7_w_field(w, p[i].name.ptr, p[i].name.len, p[i].value.ptr, p[i].value.len);
}

static void put_framing(struct l7_wbuf *w, enum l7_framing framing, uint64_t length)
{
	if (framing == L7_FRAME_LENGTH) {
		l7_w_lit(w, "Content-Length: ");
		l7_w_u64(w, length);
		l7_w_lit(w, "\r\n");
	} else if (framing == L7_FRAME_CHUNKED) {
		l7_w_lit(w, "Transfer-Encoding: chunked\r\n");
	}
}

static void put_connection(struct l7_wbuf *w, enum l7_conn_mode conn)
{
	switch (conn) {
	case L7_CONN_KEEP_ALIVE:
		l7_w_lit(w, "Connection: keep-alive\r\n");
		break;
	case L7_CONN_CLOSE:
		l7_w_lit(w, "Connection: close\r\n");
		break;
	case L7_CONN_UPGRADE:
		l7_w_lit(w, "Connection: upgrade\r\n");
		break;
	case L7_CONN_OMIT:
	case L7_CONN__COUNT:
		break;
	}
}

/* --- request ---------------------------------------------------------------- */

/* RFC 9112 §3.2.1: upstream always gets the origin-form (or "*"). */
static void put_request_line(struct l7_wbuf *w, const struct http1_request *req)
{
	l7_w_put(w, req->method.ptr, req->method.len);
	l7_w_byte(w, ' ');
	if (req->form == HTTP1_FORM_ABSOLUTE) {
		if (req->path.len)
			l7_w_put(w, req->path.ptr, req->path.len);
		else
			l7_w_byte(w, '/');
		if (req->has_query) {
			l7_w_byte(w, '?');
			l7_w_put(w, req->query.ptr, req->query.len);
		}
	} else {
		l7_w_put(w, req->target.ptr, req->target.len);
	}
	l7_w_lit(w, " HTTP/1.1\r\n");
}

/* Host first (RFC 9110 §7.2 asks for it early): the target's authority for
 * absolute-form (RFC 9112 §3.2.2), else the received one; empty when an
 * HTTP/1.0 request had none (RFC 9112 §3.2). A route's set Host wins. */
static void put_host(struct l7_wbuf *w, const struct l7_req_ctx *ctx)
{
	const struct l7_route *r = ctx->route;

	if (r && l7_hdr_rules_drop(&r->req_hdrs, "host", 4))
		return; /* written with the set pairs */
	l7_w_field(w, "Host", 4, ctx->req->host.ptr, ctx->req->host.len);
}

static bool keep_request_field(const struct l7_req_ctx *ctx, const struct http1_header *f)
{
	int kind;

	if (f->id == HTTP1_H_HOST || (f->flags & HTTP1_HF_FRAMING) || is_hop_by_hop(f, ctx->conn))
		return false;
	if (f->id == HTTP1_H_EXPECT && !ctx->keep_expect)
		return false;
	if (ctx->route && l7_hdr_rules_drop(&ctx->route->req_hdrs, f->name.ptr, f->name.len))
		return false;
	/* a client must not forge the subject the proxy vouches for */
	if (ctx->subject_name_len == f->name.len &&
	    l7_name_eq(ctx->subject_name, f->name.ptr, f->name.len))
		return false;
	kind = l7_fwd_header_kind(f->name.ptr, f->name.len);
	return kind < 0 || l7_fwd_keep_received(ctx, (enum l7_fwd_hdr)kind);
}

/* "indirect": the sticky cookie is the proxy's, the upstream never sees it. */
static void put_cookie_stripped(struct l7_wbuf *w, const struct http1_header *f,
				const struct l7_str *name)
{
	uint8_t *mark = w->p;
	int n;

	l7_w_lit(w, "Cookie: ");
	if (w->overflow)
		return;
	n = l7_cookie_strip((char *)w->p, (size_t)(w->end - w->p), f->value.ptr, f->value.len,
			    name->ptr, name->len);
	if (n < 0) {
		w->overflow = true;
		return;
	}
	if (n == 0) { /* nothing left: no Cookie field at all */
		w->p = mark;
		return;
	}
	w->p += n;
	l7_w_lit(w, "\r\n");
}

int l7_build_upstream_head(uint8_t *out, size_t cap, const struct l7_req_ctx *ctx)
{
	const struct http1_request *req = ctx->req;
	const struct l7_route *r = ctx->route;
	const struct l7_str *sticky = NULL;
	struct l7_wbuf w;
	int n;

	if (r && r->upstream && r->upstream->sticky_cookie.len)
		sticky = &r->upstream->sticky_cookie;
	l7_w_init(&w, out, cap);
	put_request_line(&w, req);
	put_host(&w, ctx);
	for (unsigned i = 0; i < req->h.nheaders; i++) {
		const struct http1_header *f = &req->h.headers[i];

		if (!keep_request_field(ctx, f))
			continue;
		if (sticky && f->name.len == 6 && l7_name_eq(f->name.ptr, "cookie", 6))
			put_cookie_stripped(&w, f, sticky);
		else
			l7_w_field(&w, f->name.ptr, f->name.len, f->value.ptr, f->value.len);
	}
	if (!w.overflow) {
		n = l7_fwd_write(w.p, (size_t)(w.end - w.p), ctx, r ? r->req_hdrs.fwd_override : 0);
		if (n < 0)
			return -E2BIG;
		w.p += n;
	}
	if (ctx->subject_len)
		l7_w_field(&w, ctx->subject_name, ctx->subject_name_len, ctx->subject,
			   ctx->subject_len);
	if (r) {
		put_pairs(&w, r->req_hdrs.set, r->req_hdrs.n_set);
		put_pairs(&w, r->req_hdrs.add, r->req_hdrs.n_add);
	}
	put_framing(&w, ctx->framing, ctx->content_length);
	put_connection(&w, ctx->conn);
	l7_w_lit(&w, "\r\n");
	return l7_w_done(&w);
}

/* --- response --------------------------------------------------------------- */

static bool keep_response_field(const struct l7_resp_ctx *ctx, const struct http1_header *f)
{
	if (is_hop_by_hop(f, ctx->conn))
		return false;
	if (f->flags & HTTP1_HF_FRAMING) /* Content-Length: only when kept as is */
		return ctx->framing == L7_FRAME_KEEP_LENGTH && f->id == HTTP1_H_CONTENT_LENGTH;
	return !ctx->route || !l7_hdr_rules_drop(&ctx->route->resp_hdrs, f->name.ptr, f->name.len);
}

int l7_build_client_head(uint8_t *out, size_t cap, const struct l7_resp_ctx *ctx)
{
	const struct http1_response *resp = ctx->resp;
	const struct l7_route *r = ctx->route;
	const char *reason;
	struct l7_wbuf w;
	int n;

	l7_w_init(&w, out, cap);
	/* RFC 9110 §6.2: we speak HTTP/1.1 whatever the upstream's minor version */
	l7_w_lit(&w, "HTTP/1.1 ");
	l7_w_u64(&w, resp->status);
	l7_w_byte(&w, ' ');
	if (resp->reason.len) {
		l7_w_put(&w, resp->reason.ptr, resp->reason.len);
	} else {
		reason = l7_status_reason(resp->status);
		l7_w_put(&w, reason, strlen(reason));
	}
	l7_w_lit(&w, "\r\n");
	for (unsigned i = 0; i < resp->h.nheaders; i++) {
		const struct http1_header *f = &resp->h.headers[i];

		if (keep_response_field(ctx, f))
			l7_w_field(&w, f->name.ptr, f->name.len, f->value.ptr, f->value.len);
	}
	if (r) {
		put_pairs(&w, r->resp_hdrs.set, r->resp_hdrs.n_set);
		put_pairs(&w, r->resp_hdrs.add, r->resp_hdrs.n_add);
	}
	if (ctx->set_cookie && r && r->upstream && r->upstream->sticky_cookie.len && !w.overflow) {
		n = l7_sticky_set_cookie(w.p, (size_t)(w.end - w.p), r->upstream, ctx->set_cookie);
		if (n < 0)
			return -E2BIG;
		w.p += n;
	}
	put_framing(&w, ctx->framing, ctx->content_length);
	put_connection(&w, ctx->conn);
	l7_w_lit(&w, "\r\n");
	return l7_w_done(&w);
}
