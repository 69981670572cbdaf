/* HTTP/2 streams, response side: the HTTP/1.1 head the engine built,
 * converted to HEADERS (RFC 9113 §8.2.2: no connection-specific fields,
 * lowercase names, §8.3.2 :status), and the body through a bounded
 * per-stream buffer that nghttp2 reads as the client's window allows. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "h2_int.h"
#include "http1_semantics.h"

static bool drop_field(const struct http1_header *f)
{
	/* hop-by-hop (Connection and what it names, Keep-Alive, TE,
	 * Transfer-Encoding, Upgrade, Proxy-Connection): never in HTTP/2 */
	return (f->flags & HTTP1_HF_HOP_BY_HOP) || f->id == HTTP1_H_TRANSFER_ENCODING;
}

/* Builds the nv array: :status, then the kept fields with lowercased
 * names in `names` (one buffer for all). Returns the count. */
static size_t make_nva(const struct http1_response *resp, nghttp2_nv *nva, char *names,
		       char *status)
{
	size_t n = 0, at = 0;

	status[0] = (char)('0' + resp->status / 100);
	status[1] = (char)('0' + resp->status / 10 % 10);
	status[2] = (char)('0' + resp->status % 10);
	nva[n++] =
	    (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
	for (unsigned i = 0; i < resp->h.nheaders; i++) {
		const struct http1_header *f = &resp->h.headers[i];

		if (drop_field(f))
			continue;
		for (size_t k = 0; k < f->name.len; k++) {
			char c = f->name.ptr[k];

			names[at + k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		nva[n++] = (nghttp2_nv){(uint8_t *)names + at, (uint8_t *)f->value.ptr, f->name.len,
					f->value.len, NGHTTP2_NV_FLAG_NONE};
		at += f->name.len;
	}
	return n;
}

/* Lowercased field names of a head up to this size are built on the
 * stack; a larger head takes a heap buffer. */
#define L7_H2_NAMES_STACK 2048

static int submit(struct l7_h2_stream *st, const struct http1_response *resp, size_t len,
		  bool end_stream)
{
	nghttp2_data_provider prd = {.source.ptr = st, .read_callback = l7_h2s_read_body};
	nghttp2_nv nva[HTTP1_MAX_HEADERS + 1];
	char stack[L7_H2_NAMES_STACK], status[3];
	char *names = len < sizeof(stack) ? stack : malloc(len + 1);
	size_t n;
	int r;

	if (!names)
		return -ENOMEM;
	n = make_nva(resp, nva, names, status);
	/* nghttp2 copies the names and values it is given */
	if (resp->status < 200)
		r = nghttp2_submit_headers(st->h2->s, NGHTTP2_FLAG_NONE, st->id, NULL, nva, n,
					   NULL);
	else
		r = nghttp2_submit_response(st->h2->s, st->id, nva, n, end_stream ? NULL : &prd);
	if (names != stack)
		free(names);
	return r ? (r == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EINVAL) : 0;
}

int l7_h2_respond_head(struct l7_h2_stream *st, const uint8_t *head, size_t len, bool end_stream)
{
	struct http1_response resp; /* a few KiB: on the stack, not per request on the heap */
	enum http1_err e;
	int r;

	if (st->closed || st->resp_started)
		return -EINVAL;
	r = http1_parse_response((const char *)head, len, 0, NULL, &resp, &e);
	/* RFC 9113 §8.6: no 101 (Upgrade) in HTTP/2 */
	if (r <= 0 || resp.status == 101)
		return -EBADMSG;
	l7_h2_enter(st->h2);
	r = submit(st, &resp, len, end_stream);
	if (!r && resp.status >= 200) {
		st->resp_started = true;
		st->resp_eof = end_stream;
	}
	l7_h2_leave(st->h2);
	return r;
}

size_t l7_h2_respond_room(const struct l7_h2_stream *st)
{
	size_t held = l7_obuf_bytes(&st->out);

	return held >= st->h2->conf.stream_buffer ? 0 : st->h2->conf.stream_buffer - held;
}

ssize_t l7_h2_respond_body(struct l7_h2_stream *st, const void *p, size_t n, bool last)
{
	struct l7_h2 *h2 = st->h2;
	size_t take = l7_h2_respond_room(st);

	if (st->closed || !st->resp_started || st->resp_eof)
		return -EINVAL;
	if (take > n)
		take = n;
	if (take && l7_obuf_append(&st->out, p, take))
		return -ENOMEM;
	h2->stats.resp_bytes += take;
	if (take < n)
		st->room_wanted = true;
	else if (last)
		st->resp_eof = true;
	if (st->deferred && (take || st->resp_eof)) {
		l7_h2_enter(h2);
		st->deferred = false;
		nghttp2_session_resume_data(h2->s, st->id);
		l7_h2_leave(h2);
	}
	return (ssize_t)take;
}

ssize_t l7_h2s_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	struct l7_h2_stream *st = src->ptr;
	size_t n = l7_obuf_read(&st->out, buf, len);

	if (!n && !st->resp_eof) {
		st->deferred = true; /* resumed by l7_h2_respond_body */
		return NGHTTP2_ERR_DEFERRED;
	}
	if (st->resp_eof && l7_obuf_empty(&st->out))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

void l7_h2_reset(struct l7_h2_stream *st, uint32_t code)
{
	struct l7_h2 *h2 = st->h2;

	if (st->closed)
		return;
	l7_h2_enter(h2);
	st->closed = true;
	h2->stats.resets_out++;
	nghttp2_submit_rst_stream(h2->s, NGHTTP2_FLAG_NONE, st->id, code);
	l7_h2_leave(h2);
}
