/* After a 101: WebSocket frame echo (RFC 6455) and the raw byte tunnel of
 * any other upgraded protocol; see echo_conn.h.
 *
 * Data frames are echoed as they arrive, payload unmasked, with the same
 * opcode and FIN bit, so fragmentation is mirrored exactly. Pings get pongs
 * with the same payload; a close is answered with a close carrying the same
 * status code, then the connection closes. Text is not checked for UTF-8.
 */
#include "echo_conn.h"

#include <errno.h>
#include <string.h>

#include "log.h"

static void add_frame(struct echo_conn *c, bool fin, uint8_t opcode, const void *p, size_t n)
{
	uint8_t hdr[ECHO_WS_MAX_HEADER];
	size_t hn = echo_ws_build_header(hdr, fin, opcode, n);

	echo_buf_add(&c->out, hdr, hn);
	echo_buf_add(&c->out, p, n);
}

/* RFC 6455 §7.1.7: fail the connection with a close frame and a code. */
static int ws_fail(struct echo_conn *c, uint16_t code, const char *what)
{
	uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};

	log_rl(LOG_LVL_INFO, "conn %llu %s: websocket: %s", (unsigned long long)c->id, c->peer,
	       what);
	add_frame(c, true, ECHO_WS_CLOSE, payload, sizeof(payload));
	c->term = ECHO_TERM_WS;
	echo_conn_set_state(c, ECHO_ST_CLOSING);
	return 0;
}

/* A whole control frame (header at in[0..hlen), payload after it). */
static int on_control(struct echo_conn *c, const struct echo_ws_frame *f, size_t hlen)
{
	uint8_t payload[ECHO_WS_MAX_CONTROL];
	size_t n = (size_t)f->len;

	memcpy(payload, echo_buf_head(&c->in) + hlen, n);
	echo_ws_unmask(payload, n, f->mask, 0);
	echo_conn_consume(c, hlen + n);
	switch (f->opcode) {
	case ECHO_WS_PING:
		/* §5.5.3: a Pong carries the Ping's application data. */
		add_frame(c, true, ECHO_WS_PONG, payload, n);
		return 0;
	case ECHO_WS_CLOSE:
		/* §5.5.1: a close body is empty or starts with a 2-byte code. */
		if (n == 1)
			return ws_fail(c, ECHO_WS_STATUS_PROTOCOL, "one-byte close payload");
		add_frame(c, true, ECHO_WS_CLOSE, payload, n < 2 ? n : 2);
		c->term = ECHO_TERM_WS;
		echo_conn_set_state(c, ECHO_ST_CLOSING);
		return 0;
	default: /* unsolicited pong: ignored (§5.5.3) */
		return 0;
	}
}

static int on_frame_header(struct echo_conn *c)
{
	struct echo_ws_rx *ws = &c->ws;
	uint8_t hdr[ECHO_WS_MAX_HEADER];
	enum echo_ws_why why = ECHO_WS_OK;
	size_t avail = echo_buf_pending(&c->in);
	int n;

	n = echo_ws_parse_client_header((const uint8_t *)echo_buf_head(&c->in), avail, &ws->f,
					&why);
	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return ws_fail(c, n == -E2BIG ? ECHO_WS_STATUS_TOO_BIG : ECHO_WS_STATUS_PROTOCOL,
			       echo_ws_why_str(why));
	if (ws->f.opcode >= ECHO_WS_CLOSE) {
		if (avail < (size_t)n + ws->f.len)
			return 0; /* wait for the whole control frame */
		return on_control(c, &ws->f, (size_t)n);
	}
	/* §5.4: continuation frames only inside a fragmented message, and no
	 * new message before the fragmented one ends. */
	if ((ws->f.opcode == ECHO_WS_CONT) != ws->fragmented)
		return ws_fail(c, ECHO_WS_STATUS_PROTOCOL, "bad fragmentation");
	ws->fragmented = !ws->f.fin;
	echo_conn_consume(c, (size_t)n);
	echo_buf_add(&c->out, hdr, echo_ws_build_header(hdr, ws->f.fin, ws->f.opcode, ws->f.len));
	ws->in_frame = ws->f.len > 0;
	ws->done = 0;
	return 0;
}

static int on_payload(struct echo_conn *c)
{
	struct echo_ws_rx *ws = &c->ws;
	size_t avail = echo_buf_pending(&c->in);
	uint64_t left = ws->f.len - ws->done;
	size_t n = avail < left ? avail : (size_t)left;
	uint8_t *p = (uint8_t *)echo_buf_head(&c->in);

	echo_ws_unmask(p, n, ws->f.mask, ws->done);
	echo_buf_add(&c->out, p, n);
	echo_conn_consume(c, n);
	ws->done += n;
	if (ws->done == ws->f.len)
		ws->in_frame = false;
	return 0;
}

int echo_conn_ws_process(struct echo_conn *c)
{
	while (c->state == ECHO_ST_WS && echo_buf_pending(&c->in) && !echo_conn_out_full(c)) {
		uint64_t before = c->progress;
		int r = c->ws.in_frame ? on_payload(c) : on_frame_header(c);

		if (r < 0)
			return r;
		if (c->progress == before)
			break;
	}
	if (c->state == ECHO_ST_WS && c->rd_eof && !echo_conn_out_full(c)) {
		/* §7.1.5: the TCP connection closed without a close frame. */
		c->term = ECHO_TERM_WS;
		return -ECONNRESET;
	}
	return 0;
}

int echo_conn_tunnel_process(struct echo_conn *c)
{
	size_t n = echo_buf_pending(&c->in);

	if (n && !echo_conn_out_full(c)) {
		echo_buf_add(&c->out, echo_buf_head(&c->in), n);
		echo_conn_consume(c, n);
	}
	if (c->rd_eof && !echo_buf_pending(&c->in)) {
		/* Half-close mirrored: send what is left, then close. */
		c->term = ECHO_TERM_PEER_CLOSE;
		echo_conn_set_state(c, ECHO_ST_CLOSING);
	}
	return 0;
}
