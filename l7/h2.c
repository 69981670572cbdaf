/* HTTP/2 connection: the nghttp2 server session, its callbacks, the abuse
 * counters and output production (h2.h; GOAWAY and timers: h2_ctl.c). The connection owns
 * the session and its streams; streams are freed after nghttp2 closes
 * them (on_stream_close) or with the connection.
 *
 * Why our concurrency limit is not nghttp2's: nghttp2 1.52 treats a
 * HEADERS frame past the acknowledged SETTINGS_MAX_CONCURRENT_STREAMS as
 * a connection error, while RFC 9113 §5.1.2 asks for a stream error, and
 * REFUSED_STREAM tells the client it may retry the request. So nghttp2 is
 * given L7_H2_LIB_MAX_STREAMS, the SETTINGS frame it writes is patched to
 * advertise conf.max_concurrent_streams, and on_begin_headers refuses the
 * streams beyond it with RST_STREAM(REFUSED_STREAM).
 */
#include "h2.h"

#include <errno.h>
#include <string.h>

#include "h2_int.h"
#include "h2_mem.h"
#include "log.h"

/* Raw header block bytes allowed beyond max_header_list: padding (up to
 * 255 per frame) and HPACK framing, with room to spare. */
#define L7_H2_BLOCK_SLACK 16384

uint64_t l7_h2_now(const struct l7_h2 *h2)
{
	return h2->ops->now_ms ? h2->ops->now_ms(h2->ctx) : log_now_ms();
}

static bool rate_hit(struct l7_h2_rate *r, uint64_t now, uint32_t window_ms, uint32_t limit)
{
	if (!limit)
		return false;
	if (now - r->start_ms >= window_ms) {
		r->start_ms = now;
		r->n = 0;
	}
	return ++r->n > limit;
}

int l7_h2_abuse(struct l7_h2 *h2, enum l7_h2_err why)
{
	if (h2->err == L7_H2_OK)
		h2->err = (uint8_t)why;
	h2->fatal = true;
	return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static struct l7_h2_stream *stream_of(struct l7_h2 *h2, int32_t id)
{
	return id ? nghttp2_session_get_stream_user_data(h2->s, id) : NULL;
}

/* --- receiving ------------------------------------------------------------------- */

/* HEADERS and CONTINUATION are counted per block (CVE-2024-28182: an
 * endless CONTINUATION sequence costs the server without end). */
static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *user)
{
	struct l7_h2 *h2 = user;
	const struct l7_h2_conf *c = &h2->conf;

	if (hd->type == NGHTTP2_HEADERS) {
		h2->block_frames = 1;
		h2->block_bytes = hd->length;
	} else if (hd->type == NGHTTP2_CONTINUATION) {
		h2->block_frames++;
		h2->block_bytes += hd->length;
		if (h2->block_frames > c->max_continuations + 1)
			return l7_h2_abuse(h2, L7_H2_ERR_CONTINUATION);
	} else {
		return 0;
	}
	/* raw bytes of one block: the decoded limit plus room for padding
	 * and HPACK overhead; more is not a request anyone needs */
	if (h2->block_bytes > (uint64_t)c->max_header_list + L7_H2_BLOCK_SLACK)
		return l7_h2_abuse(h2, L7_H2_ERR_HEADER_FLOOD);
	return 0;
}

/* Refuses a stream past our concurrency limit (see the file comment). */
static int refuse(struct l7_h2 *h2, int32_t id)
{
	h2->stats.refused++;
	if (rate_hit(&h2->rst, l7_h2_now(h2), h2->conf.reset_window_ms, h2->conf.reset_limit))
		return l7_h2_abuse(h2, L7_H2_ERR_RAPID_RESET);
	nghttp2_submit_rst_stream(h2->s, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct l7_h2 *h2 = user;
	struct l7_h2_stream *st;

	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (f->headers.cat != NGHTTP2_HCAT_REQUEST) {
		/* trailers (RFC 9113 §8.1): decoded and counted, not kept */
		if ((st = stream_of(h2, f->hd.stream_id))) {
			st->trailers = true;
			st->nfields = 0;
			st->hsize = 0;
		}
		return 0;
	}
	if (h2->n_streams >= h2->conf.max_concurrent_streams)
		return refuse(h2, f->hd.stream_id);
	if (!(st = l7_h2s_new(h2, f->hd.stream_id)))
		return l7_h2_abuse(h2, L7_H2_ERR_INTERNAL);
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
	h2->started++;
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct l7_h2 *h2 = user;
	struct l7_h2_stream *st = stream_of(h2, f->hd.stream_id);
	int r;

	if (!st)
		return 0;
	r = l7_h2s_field(st, name, nlen, value, vlen);
	if (r == -E2BIG)
		return l7_h2_abuse(h2, L7_H2_ERR_HEADER_FLOOD);
	return r ? l7_h2_abuse(h2, L7_H2_ERR_INTERNAL) : 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user)
{
	struct l7_h2 *h2 = user;
	struct l7_h2_stream *st = stream_of(h2, id);
	int r;

	if (!st || st->closed || st->discard || st->perr != HTTP1_OK) {
		/* nobody will read it: give the window back at once */
		nghttp2_session_consume(s, id, len);
		return 0;
	}
	r = l7_h2s_data(st, data, len);
	if (r == -E2BIG)
		return l7_h2_abuse(h2, L7_H2_ERR_FLOW_CONTROL);
	return r ? l7_h2_abuse(h2, L7_H2_ERR_INTERNAL) : 0;
}

static void on_request_done(struct l7_h2 *h2, struct l7_h2_stream *st, const nghttp2_frame *f)
{
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
		st->end_in = true;
	if (!st->surfaced && f->hd.type == NGHTTP2_HEADERS &&
	    f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		l7_h2s_finish(st);
		st->surfaced = true;
		h2->stats.streams++;
		h2->ops->on_request(h2->ctx, st);
		if (h2->conf.max_requests && h2->started >= h2->conf.max_requests)
			l7_h2_shutdown(h2, true);
		return;
	}
	if (st->surfaced && h2->ops->on_body)
		h2->ops->on_body(h2->ctx, st);
}

/* Flood counters for the frames that cost us and carry nothing. */
static int count_frame(struct l7_h2 *h2, const nghttp2_frame *f)
{
	const struct l7_h2_conf *c = &h2->conf;
	uint64_t now = l7_h2_now(h2);

	switch (f->hd.type) {
	case NGHTTP2_RST_STREAM:
		h2->stats.resets_in++;
		if (rate_hit(&h2->rst, now, c->reset_window_ms, c->reset_limit))
			return l7_h2_abuse(h2, L7_H2_ERR_RAPID_RESET); /* CVE-2023-44487 */
		break;
	case NGHTTP2_PING:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK) &&
		    rate_hit(&h2->ping, now, c->flood_window_ms, c->ping_limit))
			return l7_h2_abuse(h2, L7_H2_ERR_PING_FLOOD);
		break;
	case NGHTTP2_SETTINGS:
		if (!(f->hd.flags & NGHTTP2_FLAG_ACK) &&
		    rate_hit(&h2->settings, now, c->flood_window_ms, c->settings_limit))
			return l7_h2_abuse(h2, L7_H2_ERR_SETTINGS_FLOOD);
		break;
	case NGHTTP2_DATA:
		if (f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
		    rate_hit(&h2->empty, now, c->flood_window_ms, c->empty_frame_limit))
			return l7_h2_abuse(h2, L7_H2_ERR_EMPTY_FLOOD);
		break;
	case NGHTTP2_PRIORITY:
		if (rate_hit(&h2->empty, now, c->flood_window_ms, c->empty_frame_limit))
			return l7_h2_abuse(h2, L7_H2_ERR_EMPTY_FLOOD);
		break;
	case NGHTTP2_GOAWAY:
		if (f->goaway.error_code != NGHTTP2_NO_ERROR && h2->err == L7_H2_OK)
			h2->err = L7_H2_ERR_PEER_GOAWAY;
		break;
	default:
		break;
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct l7_h2 *h2 = user;
	struct l7_h2_stream *st;
	int r;

	if ((r = count_frame(h2, f)))
		return r;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	if ((st = stream_of(h2, f->hd.stream_id)))
		on_request_done(h2, st, f);
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
	struct l7_h2 *h2 = user;
	struct l7_h2_stream *st = stream_of(h2, id);
	size_t held;

	if (!st)
		return 0;
	st->closed = true;
	nghttp2_session_set_stream_user_data(s, id, NULL);
	if (st->surfaced && h2->ops->on_close)
		h2->ops->on_close(h2->ctx, st, code);
	held = l7_h2s_free(st);
	/* body bytes nobody consumed still count against the connection */
	if (held)
		nghttp2_session_consume_connection(s, held);
	return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct l7_h2 *h2 = user;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		h2->stats.goaway_sent++;
		/* a GOAWAY nghttp2 sent for a violation it found */
		if (h2->err == L7_H2_OK && f->goaway.error_code != NGHTTP2_NO_ERROR)
			h2->err = f->goaway.error_code == NGHTTP2_FLOW_CONTROL_ERROR
				      ? L7_H2_ERR_FLOW_CONTROL
				  : f->goaway.error_code == NGHTTP2_COMPRESSION_ERROR
				      ? L7_H2_ERR_COMPRESSION
				      : L7_H2_ERR_PROTOCOL;
	}
	return 0;
}

static int on_error(nghttp2_session *s, int lib_error_code, const char *msg, size_t len, void *user)
{
	struct l7_h2 *h2 = user;

	if (len >= sizeof(h2->why))
		len = sizeof(h2->why) - 1;
	memcpy(h2->why, msg, len);
	h2->why[len] = '\0';
	return 0;
}

/* --- output ---------------------------------------------------------------------- */

/* Rewrites SETTINGS_MAX_CONCURRENT_STREAMS in the first frame nghttp2
 * writes, our SETTINGS (see the file comment). */
static void patch_settings(struct l7_h2 *h2, uint8_t *p, size_t n)
{
	uint32_t len;

	h2->settings_patched = true;
	if (n < 9 || p[3] != NGHTTP2_SETTINGS || (p[4] & NGHTTP2_FLAG_ACK))
		return;
	len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	for (uint32_t off = 9; off + 6 <= 9 + len && off + 6 <= n; off += 6) {
		uint32_t v = h2->conf.max_concurrent_streams;

		if (p[off] != 0 || p[off + 1] != NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
			continue;
		p[off + 2] = (uint8_t)(v >> 24);
		p[off + 3] = (uint8_t)(v >> 16);
		p[off + 4] = (uint8_t)(v >> 8);
		p[off + 5] = (uint8_t)v;
	}
}

static void pump_out(struct l7_h2 *h2)
{
	while (l7_obuf_bytes(&h2->out) < L7_H2_OUT_HIGH) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(h2->s, &p);

		if (n <= 0) {
			if (n < 0)
				l7_h2_abuse(h2, n == NGHTTP2_ERR_FLOODED ? L7_H2_ERR_FLOODED
									 : L7_H2_ERR_INTERNAL);
			return;
		}
		if (!h2->settings_patched && l7_obuf_empty(&h2->out)) {
			uint8_t *q;

			if (l7_obuf_append(&h2->out, p, (size_t)n)) {
				l7_h2_abuse(h2, L7_H2_ERR_INTERNAL);
				return;
			}
			l7_obuf_front(&h2->out, (const uint8_t **)&q);
			patch_settings(h2, q, (size_t)n);
			continue;
		}
		if (l7_obuf_append(&h2->out, p, (size_t)n)) {
			l7_h2_abuse(h2, L7_H2_ERR_INTERNAL);
			return;
		}
	}
}

static void notify_room(struct l7_h2 *h2)
{
	for (struct l7_h2_stream *st = h2->streams; st; st = st->next) {
		if (st->room_wanted && l7_h2_respond_room(st) >= h2->conf.stream_buffer / 2) {
			st->room_wanted = false;
			if (h2->ops->on_room)
				h2->ops->on_room(h2->ctx, st);
		}
	}
}

void l7_h2_enter(struct l7_h2 *h2)
{
	h2->depth++;
}

void l7_h2_leave(struct l7_h2 *h2)
{
	if (--h2->depth > 0) {
		h2->again = true;
		return;
	}
	h2->depth = 1;
	for (int pass = 0; pass < 16; pass++) {
		h2->again = false;
		if (h2->fatal && !nghttp2_session_want_write(h2->s))
			break;
		pump_out(h2);
		notify_room(h2);
		if (!h2->again)
			break;
	}
	h2->depth = 0;
}

void l7_h2_hold(struct l7_h2 *h2)
{
	l7_h2_enter(h2);
}

void l7_h2_release(struct l7_h2 *h2)
{
	l7_h2_leave(h2);
}

void l7_h2_out_consume(struct l7_h2 *h2, size_t n)
{
	l7_h2_enter(h2);
	l7_obuf_consume(&h2->out, n);
	l7_h2_leave(h2);
}

/* --- the connection ------------------------------------------------------------ */

static nghttp2_session_callbacks *make_callbacks(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb))
		return NULL;
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_error_callback2(cb, on_error);
	return cb;
}

static nghttp2_option *make_options(const struct l7_h2_conf *c)
{
	nghttp2_option *o;
	uint64_t burst = 4ull * c->reset_limit, rate;

	if (nghttp2_option_new(&o))
		return NULL;
	/* WINDOW_UPDATE only as the engine consumes (l7_h2_body_consume) */
	nghttp2_option_set_no_auto_window_update(o, 1);
	/* nghttp2's own limits stay as a backstop behind ours */
	if (burst < 1000)
		burst = 1000;
	rate = c->reset_window_ms ? 4ull * c->reset_limit * 1000 / c->reset_window_ms : 33;
	nghttp2_option_set_stream_reset_rate_limit(o, burst, rate < 33 ? 33 : rate);
	nghttp2_option_set_max_continuations(o, 2 * (size_t)c->max_continuations + 8);
	return o;
}

static int start(struct l7_h2 *h2)
{
	const struct l7_h2_conf *c = &h2->conf;
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, L7_H2_LIB_MAX_STREAMS},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->initial_window},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->max_header_list},
	    {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, c->max_frame_size},
	};

	if (nghttp2_submit_settings(h2->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])))
		return -ENOMEM;
	/* RFC 9113 §6.9.2: the connection window only grows by WINDOW_UPDATE */
	if (c->connection_window > 65535 &&
	    nghttp2_session_set_local_window_size(h2->s, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)c->connection_window))
		return -ENOMEM;
	return 0;
}

struct l7_h2 *l7_h2_new(const struct l7_h2_conf *conf, const struct l7_h2_ops *ops, void *ctx,
			uint64_t conn_id)
{
	struct l7_h2 *h2 = calloc(1, sizeof(*h2));
	nghttp2_session_callbacks *cb = NULL;
	nghttp2_option *opt = NULL;
	int r = -1;

	if (!h2)
		return NULL;
	h2->conf = *conf;
	h2->ops = ops;
	h2->ctx = ctx;
	h2->conn_id = conn_id;
	l7_obuf_init(&h2->out);
	h2->rst.start_ms = h2->ping.start_ms = h2->settings.start_ms = h2->empty.start_ms =
	    l7_h2_now(h2);
	if ((cb = make_callbacks()) && (opt = make_options(conf)))
		r = nghttp2_session_server_new3(&h2->s, cb, h2, opt, l7_h2_mem());
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (r || start(h2)) {
		l7_h2_free(h2);
		return NULL;
	}
	l7_h2_enter(h2);
	l7_h2_leave(h2);
	return h2;
}

void l7_h2_free(struct l7_h2 *h2)
{
	if (!h2)
		return;
	while (h2->streams)
		l7_h2s_free(h2->streams);
	nghttp2_session_del(h2->s);
	l7_obuf_free(&h2->out);
	free(h2);
}

static enum l7_h2_err lib_reason(ssize_t rv)
{
	switch (rv) {
	case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
		return L7_H2_ERR_PREFACE;
	case NGHTTP2_ERR_FLOODED:
		return L7_H2_ERR_FLOODED;
	case NGHTTP2_ERR_NOMEM:
		return L7_H2_ERR_INTERNAL;
	default:
		return L7_H2_ERR_PROTOCOL;
	}
}

ssize_t l7_h2_recv(struct l7_h2 *h2, const uint8_t *in, size_t len)
{
	ssize_t rv;

	if (h2->fatal)
		return -EPROTO;
	l7_h2_enter(h2);
	rv = nghttp2_session_mem_recv(h2->s, in, len);
	if (rv < 0 || h2->fatal) {
		if (h2->err == L7_H2_OK)
			h2->err = (uint8_t)lib_reason(rv);
		h2->fatal = true;
		/* a peer that does not speak HTTP/2 gets no GOAWAY */
		if (h2->err != L7_H2_ERR_PREFACE)
			nghttp2_session_terminate_session(h2->s, h2->err == L7_H2_ERR_INTERNAL
								     ? NGHTTP2_INTERNAL_ERROR
								     : NGHTTP2_ENHANCE_YOUR_CALM);
	}
	l7_h2_leave(h2);
	return h2->fatal ? -EPROTO : rv;
}
