/* HTTP/2 connection control (h2.h): GOAWAY for reload and shutdown, the
 * timers (the final GOAWAY after the grace period, zero-window stalls),
 * the end of a connection, and h2c prior-knowledge sniffing. */
#include <errno.h>
#include <string.h>

#include "h2_int.h"

bool l7_h2_done(const struct l7_h2 *h2)
{
	if (!l7_obuf_empty(&h2->out))
		return false;
	return h2->fatal ||
	       (!nghttp2_session_want_read(h2->s) && !nghttp2_session_want_write(h2->s));
}

/* --- shutdown and timers ------------------------------------------------------- */

static void final_goaway(struct l7_h2 *h2)
{
	h2->goaway_at_ms = 0;
	nghttp2_submit_goaway(h2->s, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(h2->s), NGHTTP2_NO_ERROR,
			      NULL, 0);
}

void l7_h2_shutdown(struct l7_h2 *h2, bool graceful)
{
	if (h2->fatal)
		return;
	l7_h2_enter(h2);
	if (!graceful) {
		final_goaway(h2);
	} else if (!h2->shutting_down) {
		nghttp2_submit_shutdown_notice(h2->s);
		h2->goaway_at_ms = l7_h2_now(h2) + h2->conf.shutdown_grace_ms;
	}
	h2->shutting_down = true;
	l7_h2_leave(h2);
}

/* True when st has response bytes waiting and no window to send them. */
static bool waiting_on_window(struct l7_h2 *h2, struct l7_h2_stream *st)
{
	return !l7_obuf_empty(&st->out) &&
	       (nghttp2_session_get_stream_remote_window_size(h2->s, st->id) <= 0 ||
		nghttp2_session_get_remote_window_size(h2->s) <= 0);
}

uint64_t l7_h2_next_timer(const struct l7_h2 *h2)
{
	uint64_t next = h2->goaway_at_ms ? h2->goaway_at_ms : UINT64_MAX;

	for (const struct l7_h2_stream *st = h2->streams; st; st = st->next) {
		uint64_t at;

		if (l7_obuf_empty(&st->out))
			continue;
		/* not tracked yet: look again in a second */
		at = st->stall_since_ms ? st->stall_since_ms + h2->conf.stall_timeout_ms
					: l7_h2_now(h2) + 1000;
		if (at < next)
			next = at;
	}
	return next;
}

static void check_stalls(struct l7_h2 *h2, uint64_t now)
{
	for (struct l7_h2_stream *st = h2->streams; st; st = st->next) {
		if (st->closed || !waiting_on_window(h2, st)) {
			st->stall_since_ms = 0;
			continue;
		}
		if (!st->stall_since_ms) {
			st->stall_since_ms = now;
			continue;
		}
		if (now - st->stall_since_ms < h2->conf.stall_timeout_ms)
			continue;
		if (nghttp2_session_get_remote_window_size(h2->s) <= 0) {
			/* the whole connection is held: every stream waits */
			l7_h2_abuse(h2, L7_H2_ERR_STALLED);
			nghttp2_session_terminate_session(h2->s, NGHTTP2_ENHANCE_YOUR_CALM);
			return;
		}
		h2->stats.stalled++;
		st->closed = true;
		nghttp2_submit_rst_stream(h2->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
	}
}

void l7_h2_on_timer(struct l7_h2 *h2)
{
	uint64_t now = l7_h2_now(h2);

	if (h2->fatal)
		return;
	l7_h2_enter(h2);
	if (h2->goaway_at_ms && now >= h2->goaway_at_ms)
		final_goaway(h2);
	check_stalls(h2, now);
	l7_h2_leave(h2);
}

int l7_h2_sniff(const uint8_t *p, size_t len)
{
	size_t n = len < L7_H2_PREFACE_LEN ? len : L7_H2_PREFACE_LEN;

	if (memcmp(p, L7_H2_PREFACE, n))
		return 0;
	return n == L7_H2_PREFACE_LEN ? 1 : -EAGAIN;
}
