/* HTTP/1.1 request handling of a strata-echo connection: heads, bodies,
 * endpoints and error responses, pipelined in order; see echo_conn.h. */
#include "echo_conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "echo_http_fields.h"
#include "echo_respond.h"
#include "echo_worker.h"
#include "log.h"

#define SPAN_LIT(s) ((struct echo_span){(s), sizeof(s) - 1})

static enum echo_conn_field conn_field(const struct echo_conn *c)
{
	if (!c->req.keep_alive)
		return ECHO_CONN_HDR_CLOSE;
	return c->req.minor == 0 ? ECHO_CONN_HDR_KEEP_ALIVE : ECHO_CONN_HDR_NONE;
}

static void add_head(struct echo_conn *c, struct echo_head *h)
{
	echo_respond_head(&c->out, h, c->w->date, c->w->date_len);
	c->req.started = true;
}

/* A complete response with an in-memory body (skipped for HEAD) and
 * `extra` header lines. */
static void add_response(struct echo_conn *c, int status, struct echo_span ctype,
			 const struct echo_buf *body, struct echo_span extra)
{
	struct echo_head h = {
	    .status = status,
	    .ctype = ctype,
	    .length = echo_buf_pending(body),
	    .conn = conn_field(c),
	    .extra = extra,
	};

	/* RFC 9110 §6.4.1: 204 and 304 carry no content. */
	if (status == 204 || status == 304) {
		h.no_length = true;
		h.length = 0;
		h.ctype.len = 0;
	}
	add_head(c, &h);
	if (!c->req.is_head && status != 204 && status != 304)
		echo_buf_add(&c->out, echo_buf_head(body), echo_buf_pending(body));
}

/* Answers a refused request with a JSON error and closes: what follows the
 * bad bytes cannot be framed. A response already under way is cut off. */
static int refuse(struct echo_conn *c, enum echo_http_why why)
{
	int status = echo_http_why_status(why);

	log_rl(LOG_LVL_INFO, "conn %llu %s: %d: %s", (unsigned long long)c->id, c->peer, status,
	       echo_http_why_str(why));
	c->term = ECHO_TERM_PROTOCOL;
	if (c->req.started)
		return -EPROTO;
	c->req.keep_alive = false;
	c->req.is_head = false;
	echo_buf_reset(&c->pend, ECHO_IN_INIT);
	echo_respond_error_body(&c->pend, c->w->srv, status, echo_http_why_str(why));
	/* RFC 6455 §4.4: a 426 names the version we speak. */
	add_response(c, status, SPAN_LIT("application/json"), &c->pend,
		     status == 426 ? SPAN_LIT("Sec-WebSocket-Version: 13\r\n") : SPAN_LIT(""));
	echo_buf_reset(&c->pend, ECHO_IN_INIT);
	echo_conn_set_state(c, ECHO_ST_CLOSING);
	return 0;
}

void echo_conn_http_done(struct echo_conn *c)
{
	if (!c->req.keep_alive) {
		c->term = ECHO_TERM_DONE;
		echo_conn_set_state(c, ECHO_ST_CLOSING);
		return;
	}
	echo_conn_set_state(c, ECHO_ST_HEAD);
}

static void start_stream(struct echo_conn *c)
{
	struct echo_stream *s = &c->stream;
	/* RFC 9112 §7.1: no chunked coding towards an HTTP/1.0 client. */
	bool chunked = c->req.route.chunked && c->req.minor >= 1;
	struct echo_head h = {
	    .status = 200,
	    .ctype = SPAN_LIT("application/octet-stream"),
	    .length = c->req.route.arg,
	    .chunked = chunked,
	    .conn = conn_field(c),
	};

	add_head(c, &h);
	*s = (struct echo_stream){.left = c->req.route.arg, .chunked = chunked};
	if (c->req.is_head || (!s->left && !chunked)) {
		echo_conn_http_done(c);
		return;
	}
	if (!s->left) {
		echo_buf_add(&c->out, "0\r\n\r\n", 5);
		echo_conn_http_done(c);
		return;
	}
	s->chunk_left = chunked && s->left > ECHO_STREAM_CHUNK ? ECHO_STREAM_CHUNK : s->left;
	if (chunked) {
		echo_buf_add_hex(&c->out, s->chunk_left);
		echo_buf_add(&c->out, "\r\n", 2);
	}
	echo_conn_set_state(c, ECHO_ST_STREAM);
}

static void switch_protocols(struct echo_conn *c)
{
	char extra[160];
	struct echo_head h = {.status = 101, .no_length = true, .conn = ECHO_CONN_HDR_UPGRADE};
	bool ws = c->req.upgrade == ECHO_UP_WS;
	int n;

	if (ws)
		n = snprintf(extra, sizeof(extra),
			     "Upgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n",
			     c->req.ws_accept);
	else
		n = snprintf(extra, sizeof(extra), "Upgrade: %s\r\n", c->req.proto);
	h.extra = (struct echo_span){extra, (size_t)n};
	add_head(c, &h);
	memset(&c->ws, 0, sizeof(c->ws));
	echo_conn_set_state(c, ws ? ECHO_ST_WS : ECHO_ST_TUNNEL);
}

int echo_conn_http_respond(struct echo_conn *c)
{
	const struct echo_server *srv = c->w->srv;
	struct echo_counters sum;

	if (c->req.route.kind == ECHO_R_STATUS || c->req.route.kind == ECHO_R_STATS ||
	    c->req.route.kind == ECHO_R_HEALTHZ || c->req.upgrade != ECHO_UP_NONE)
		echo_buf_reset(&c->pend, ECHO_IN_INIT);
	if (c->req.upgrade != ECHO_UP_NONE) {
		switch_protocols(c);
		return 0;
	}
	switch (c->req.route.kind) {
	case ECHO_R_SIZE:
		start_stream(c);
		return 0;
	case ECHO_R_STATUS:
		echo_respond_status_body(&c->pend, srv, (int)c->req.route.arg);
		add_response(c, (int)c->req.route.arg, SPAN_LIT("application/json"), &c->pend,
			     SPAN_LIT(""));
		break;
	case ECHO_R_STATS:
		echo_server_counters(srv, &sum);
		echo_respond_stats_body(&c->pend, srv, &sum);
		add_response(c, 200, SPAN_LIT("application/json"), &c->pend, SPAN_LIT(""));
		break;
	case ECHO_R_HEALTHZ:
		echo_buf_add(&c->pend, "ok\n", 3);
		add_response(c, 200, SPAN_LIT("text/plain"), &c->pend, SPAN_LIT(""));
		break;
	default:
		/* Echo, /close and /delay: the JSON begun when the head came. */
		echo_respond_echo_end(&c->pend, c->req.body_bytes, c->req.body_crc);
		add_response(c, 200, SPAN_LIT("application/json"), &c->pend, SPAN_LIT(""));
		break;
	}
	if (!echo_buf_ok(&c->pend)) {
		c->term = ECHO_TERM_NOMEM;
		return -ENOMEM;
	}
	echo_buf_reset(&c->pend, ECHO_IN_INIT);
	echo_conn_http_done(c);
	return 0;
}

/* The request (head and body) is in: finish the response or start waiting. */
static int request_complete(struct echo_conn *c)
{
	if (c->req.route.kind == ECHO_R_ECHO_BODY && c->req.upgrade == ECHO_UP_NONE) {
		if (c->req.echo_out && c->req.chunked)
			echo_buf_add(&c->out, "0\r\n\r\n", 5);
		echo_conn_http_done(c);
		return 0;
	}
	if (c->req.route.kind == ECHO_R_DELAY && !c->req.delayed) {
		echo_conn_set_state(c, ECHO_ST_DELAY);
		if (echo_timer_arm(&c->w->timers, &c->timer, c->w->now_ms + c->req.route.arg) < 0) {
			c->term = ECHO_TERM_NOMEM;
			return -ENOMEM;
		}
		return 0;
	}
	return echo_conn_http_respond(c);
}

/* RFC 9110 §7.8: an Upgrade counts only when Connection lists "upgrade".
 * h2c is ignored (answered as HTTP/1.1): echoing HTTP/2 bytes back would
 * only confuse a client that offered it. */
static int choose_upgrade(struct echo_conn *c, const struct echo_http_info *info,
			  enum echo_http_why *why)
{
	struct echo_span list = info->upgrade, proto;

	c->req.upgrade = ECHO_UP_NONE;
	if (!info->conn_upgrade || !echo_http_list_next(&list, &proto) ||
	    echo_span_ieq(proto, "h2c"))
		return 0;
	if (echo_span_ieq(proto, "websocket")) {
		/* RFC 6455 §4.2.1: version 13, a 16-byte base64 key. */
		if (info->ws_version.len && !echo_span_ieq(info->ws_version, "13")) {
			*why = ECHO_HTTP_WS_VERSION;
			return -EBADMSG;
		}
		if (echo_ws_accept_key(info->ws_key.ptr, info->ws_key.len, c->req.ws_accept) < 0) {
			*why = ECHO_HTTP_BAD_WS_KEY;
			return -EBADMSG;
		}
		c->req.upgrade = ECHO_UP_WS;
		return 0;
	}
	if (proto.len > ECHO_UPGRADE_MAX) {
		*why = ECHO_HTTP_BAD_PARAM;
		return -EBADMSG;
	}
	memcpy(c->req.proto, proto.ptr, proto.len);
	c->req.proto[proto.len] = '\0';
	c->req.upgrade = ECHO_UP_RAW;
	return 0;
}

/* /echo-body: the response head goes out before the body comes in, with
 * the same length and Content-Type as the request's. */
static void start_echo_body(struct echo_conn *c, const struct echo_http_info *info)
{
	struct echo_head h = {
	    .status = 200,
	    .ctype =
		info->content_type.len ? info->content_type : SPAN_LIT("application/octet-stream"),
	    .length = info->content_length,
	    .chunked = info->chunked,
	    .conn = conn_field(c),
	};

	add_head(c, &h);
	c->req.echo_out = !c->req.is_head;
}

static int prepare(struct echo_conn *c, const struct echo_http_req *req,
		   const struct echo_http_info *info, enum echo_http_why *why)
{
	struct echo_req_ctx *r = &c->req;

	memset(r, 0, offsetof(struct echo_req_ctx, ws_accept));
	r->minor = (uint8_t)req->minor;
	r->is_head = echo_span_ieq(req->method, "HEAD");
	r->chunked = info->chunked;
	r->body_left = info->content_length;
	echo_chunked_init(&r->ck);
	if (echo_route_parse(req->target, &r->route, why) < 0 || choose_upgrade(c, info, why) < 0)
		return -EBADMSG;
	r->keep_alive = info->keep_alive && r->route.kind != ECHO_R_CLOSE;
	echo_buf_reset(&c->pend, ECHO_IN_INIT);
	switch (r->route.kind) {
	case ECHO_R_ECHO:
	case ECHO_R_CLOSE:
	case ECHO_R_DELAY:
		echo_respond_echo_begin(&c->pend, c->w->srv, req, c->id, c->requests, c->peer);
		break;
	default:
		break;
	}
	return 0;
}

static int on_head(struct echo_conn *c)
{
	struct echo_http_req *req = &c->w->req;
	size_t avail = echo_buf_pending(&c->in);
	struct echo_http_info info;
	enum echo_http_why why = ECHO_HTTP_OK;
	int n;

	c->req.started = false;
	if (!avail) {
		if (c->rd_eof) {
			c->term = ECHO_TERM_PEER_CLOSE;
			echo_conn_set_state(c, ECHO_ST_CLOSING);
		}
		return 0;
	}
	n = echo_http_parse_request(echo_buf_head(&c->in), avail, c->head_scanned, req, &why);
	if (n == -EAGAIN) {
		c->head_scanned = avail;
		if (c->rd_eof) {
			c->term = ECHO_TERM_TRUNCATED;
			echo_conn_set_state(c, ECHO_ST_CLOSING);
		}
		return 0;
	}
	c->head_scanned = 0;
	if (n < 0)
		return refuse(c, why);
	echo_counter_inc(&c->w->ctr.requests);
	c->requests++;
	if (echo_http_fields_analyze(req, &info, &why) < 0 || prepare(c, req, &info, &why) < 0)
		return refuse(c, why);
	/* The views into the head die here. */
	echo_conn_consume(c, (size_t)n);
	if (echo_http_has_body(&info) && info.expect_continue)
		echo_buf_add(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	if (c->req.route.kind == ECHO_R_ECHO_BODY && c->req.upgrade == ECHO_UP_NONE)
		start_echo_body(c, &info);
	if (echo_http_has_body(&info)) {
		echo_conn_set_state(c, ECHO_ST_BODY);
		return 0;
	}
	return request_complete(c);
}

static void body_data(struct echo_conn *c, const char *p, size_t n)
{
	struct echo_req_ctx *r = &c->req;

	if (!n)
		return;
	r->body_bytes += n;
	if (!r->echo_out) {
		r->body_crc = echo_crc32_update(r->body_crc, p, n);
		return;
	}
	if (r->chunked) {
		echo_buf_add_hex(&c->out, n);
		echo_buf_add(&c->out, "\r\n", 2);
	}
	echo_buf_add(&c->out, p, n);
	if (r->chunked)
		echo_buf_add(&c->out, "\r\n", 2);
}

static int on_body(struct echo_conn *c)
{
	struct echo_req_ctx *r = &c->req;
	size_t avail = echo_buf_pending(&c->in);
	enum echo_http_why why = ECHO_HTTP_OK;
	struct echo_span data;
	int n;

	if (!r->chunked) {
		n = avail < r->body_left ? (int)avail : (int)r->body_left;
		body_data(c, echo_buf_head(&c->in), (size_t)n);
		echo_conn_consume(c, (size_t)n);
		r->body_left -= (uint64_t)n;
		if (!r->body_left)
			return request_complete(c);
	} else if (avail) {
		n = echo_chunked_next(&r->ck, echo_buf_head(&c->in), avail, &data, &why);
		if (n > 0) {
			body_data(c, data.ptr, data.len);
			echo_conn_consume(c, (size_t)n);
			if (r->ck.state == ECHO_CK_DONE)
				return request_complete(c);
			return 0;
		}
		if (n != -EAGAIN)
			return refuse(c, why);
	}
	if (c->rd_eof && !echo_buf_pending(&c->in)) {
		c->term = ECHO_TERM_TRUNCATED;
		return -ECONNRESET;
	}
	if (c->rd_eof && r->chunked) {
		/* EOF with only part of a chunk line left: it never ends. */
		c->term = ECHO_TERM_TRUNCATED;
		return -ECONNRESET;
	}
	return 0;
}

int echo_conn_http_process(struct echo_conn *c)
{
	/* Pipelined requests are served in order while output has room; a
	 * round that moves nothing is waiting for the network. */
	while (!echo_conn_out_full(c)) {
		uint64_t before = c->progress;
		int r;

		if (c->state == ECHO_ST_HEAD)
			r = on_head(c);
		else if (c->state == ECHO_ST_BODY)
			r = on_body(c);
		else
			return 0;
		if (r < 0)
			return r;
		if (c->progress == before)
			return 0;
	}
	return 0;
}
