/* Fuzz target for the HTTP/2 server session (h2*.c): arbitrary bytes after
 * the client preface, fed in pieces, with an engine that answers every
 * request (with and without a body, sometimes a 1xx first, sometimes a
 * reset), consumes bodies, and runs the timers on a moving clock.
 *
 * Input: byte 0 picks the limits (small ones reach the abuse defences),
 * byte 1 the piece size, the rest is what the client sends. Besides
 * sanitizer findings it checks the bounds the module promises: output
 * below L7_H2_OUT_HIGH plus one frame, request body held below the
 * window, streams below the concurrency limit, and a reason whenever the
 * connection is refused. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../l7/h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t clock_ms;

static uint64_t now(void *ctx)
{
	return clock_ms;
}

static void on_request(void *ctx, struct l7_h2_stream *st)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-A: b\r\n\r\n";
	static const char nobody[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	static const char early[] = "HTTP/1.1 100 Continue\r\n\r\n";
	static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

	switch (st->id % 5) {
	case 0:
		l7_h2_reset(st, NGHTTP2_INTERNAL_ERROR);
		break;
	case 1:
		if (!l7_h2_respond_head(st, (const uint8_t *)head, sizeof(head) - 1, false))
			l7_h2_respond_body(st, "body", 4, true);
		break;
	case 2:
		l7_h2_respond_head(st, (const uint8_t *)early, sizeof(early) - 1, false);
		break;
	case 3:
		l7_h2_respond_head(st, (const uint8_t *)(st->perr ? bad : nobody),
				   (st->perr ? sizeof(bad) : sizeof(nobody)) - 1, true);
		break;
	default:
		break; /* left open: the timers and GOAWAY deal with it */
	}
}

static void on_body(void *ctx, struct l7_h2_stream *st)
{
	const struct l7_h2_conf *c = &st->h2->conf;

	assert(l7_h2_body_bytes(st) <= (c->initial_window > 65535 ? c->initial_window : 65535));
	l7_h2_body_consume(st, l7_h2_body_bytes(st));
}

static void on_close(void *ctx, struct l7_h2_stream *st, uint32_t code)
{
}

static const struct l7_h2_ops ops = {
    .on_request = on_request,
    .on_body = on_body,
    .on_close = on_close,
    .now_ms = now,
};

static void drain(struct l7_h2 *h2)
{
	struct iovec iov[64];
	unsigned n;

	/* one high-water mark plus the frame that crossed it */
	assert(l7_h2_out_bytes(h2) <= L7_H2_OUT_HIGH + h2->conf.max_frame_size + 4096);
	while ((n = l7_h2_out_iov(h2, iov, 64)) > 0) {
		size_t total = 0;

		for (unsigned i = 0; i < n; i++)
			total += iov[i].iov_len;
		l7_h2_out_consume(h2, total);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l7_h2_conf c;
	struct l7_h2 *h2;
	size_t piece, off = 2;

	if (size < 2)
		return 0;
	l7_h2_conf_init(&c);
	if (data[0] & 1) {
		c.max_concurrent_streams = 3;
		c.initial_window = 1024;
		c.connection_window = 65535;
		c.max_header_list = 1024;
		c.reset_limit = 5;
		c.ping_limit = 3;
		c.settings_limit = 3;
		c.empty_frame_limit = 3;
		c.max_continuations = 2;
		c.stream_buffer = 4096;
	}
	if (data[0] & 2)
		c.max_requests = 4;
	piece = (size_t)data[1] + 1;
	clock_ms = 1000;
	h2 = l7_h2_new(&c, &ops, NULL, 1);
	if (!h2)
		return 0;
	drain(h2);
	if (l7_h2_recv(h2, (const uint8_t *)L7_H2_PREFACE, L7_H2_PREFACE_LEN) < 0)
		abort();
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece;
		ssize_t r = l7_h2_recv(h2, data + off, n);

		off += n;
		assert(l7_h2_active(h2) <= c.max_concurrent_streams);
		drain(h2);
		if (r < 0) {
			assert(r == -EPROTO && l7_h2_reason(h2) != L7_H2_OK);
			break;
		}
		assert(r == (ssize_t)n);
		clock_ms += 700;
		if (data[0] & 4 && (off & 3) == 0)
			l7_h2_shutdown(h2, (off & 4) != 0);
		if (l7_h2_next_timer(h2) <= clock_ms)
			l7_h2_on_timer(h2);
		drain(h2);
	}
	l7_h2_free(h2);
	return 0;
}
