/* One client connection of strata-echo: an explicit state machine over a
 * non-blocking socket driven by edge-triggered epoll events.
 *
 *   state     on                               next
 *   HEAD      request with a body              BODY
 *   HEAD      /delay head (no body)            DELAY
 *   HEAD/BODY /size response                   STREAM
 *   HEAD/BODY Upgrade: websocket / other       WS / TUNNEL
 *   HEAD/BODY response done, keep-alive        HEAD
 *   BODY      body done, /delay                DELAY
 *   DELAY     timer, response queued           HEAD, CLOSING
 *   STREAM    last body byte queued            HEAD, CLOSING
 *   any live  error response / close wanted    CLOSING
 *   CLOSING   output flushed, peer still open  LINGER (shutdown SHUT_WR)
 *   LINGER    peer EOF or linger timeout       FREE
 *   any       I/O error, EOF, shutdown         FREE (echo_conn_close)
 *   FREE      accepted                         HEAD
 *
 * The worker owns the struct (a slot reused with a new generation); the
 * connection owns its fd and its three buffers.
 */
#ifndef STRATA_ECHO_CONN_H
#define STRATA_ECHO_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "echo_addr.h"
#include "echo_buf.h"
#include "echo_body.h"
#include "echo_route.h"
#include "echo_timer.h"
#include "echo_ws.h"

/* Output queued beyond this stops reading more input (backpressure). */
#define ECHO_OUT_HIGH (4u << 20)
/* Input buffer size outside a large request head. */
#define ECHO_IN_INIT 16384
/* How long a closing connection drains the peer's input, so the peer reads
 * our last response instead of a reset (like nginx's lingering_close). */
#define ECHO_LINGER_MS 2000
/* Longest Upgrade protocol echoed back in a 101. */
#define ECHO_UPGRADE_MAX 64

enum echo_conn_state {
	ECHO_ST_FREE,
	ECHO_ST_HEAD,
	ECHO_ST_BODY,
	ECHO_ST_DELAY,
	ECHO_ST_STREAM,
	ECHO_ST_WS,
	ECHO_ST_TUNNEL,
	ECHO_ST_CLOSING,
	ECHO_ST_LINGER,
	ECHO_ST__COUNT
};

/* Why a connection ended. */
enum echo_term {
	ECHO_TERM_NONE,
	ECHO_TERM_PEER_CLOSE, /* peer closed between requests */
	ECHO_TERM_DONE,	      /* we closed after the last response */
	ECHO_TERM_TRUNCATED,  /* peer closed inside a request */
	ECHO_TERM_PROTOCOL,   /* HTTP error answered, then closed */
	ECHO_TERM_WS,	      /* WebSocket close handshake or error */
	ECHO_TERM_IO,	      /* read or write error (reset, ...) */
	ECHO_TERM_NOMEM,
	ECHO_TERM_LINGER,   /* peer kept sending after our last response */
	ECHO_TERM_SHUTDOWN, /* the process is stopping */
	ECHO_TERM__COUNT
};

/* The request being served (copied out of the head on purpose: the head's
 * bytes leave the input buffer once its body starts). */
struct echo_req_ctx {
	struct echo_route route;
	bool keep_alive;
	bool is_head;  /* HEAD: no response body */
	bool chunked;  /* request body is chunked */
	bool echo_out; /* /echo-body: body bytes go out as they come */
	bool started;  /* part of the response is already queued */
	bool delayed;  /* the /delay wait is over */
	uint8_t minor; /* HTTP/1.minor */
	enum { ECHO_UP_NONE, ECHO_UP_WS, ECHO_UP_RAW } upgrade;
	uint64_t body_left; /* Content-Length bytes still to read */
	uint64_t body_bytes;
	uint32_t body_crc;
	struct echo_chunked ck;
	char ws_accept[ECHO_WS_ACCEPT_LEN + 1];
	char proto[ECHO_UPGRADE_MAX + 1];
};

/* A /size body sent from the static pattern: `chunk_left` bytes of the
 * current chunk (or of the whole body without chunking). */
struct echo_stream {
	uint64_t left;
	uint64_t chunk_left;
	uint64_t pos;
	bool chunked;
};

/* The WebSocket frame being echoed. */
struct echo_ws_rx {
	struct echo_ws_frame f;
	bool in_frame;	 /* header echoed; payload bytes pending */
	bool fragmented; /* inside a fragmented data message */
	uint64_t done;	 /* payload bytes echoed so far */
};

struct echo_conn {
	struct echo_worker *w;
	int fd;
	uint32_t slot, gen, next_free;
	enum echo_conn_state state;
	enum echo_term term;
	bool can_read, can_write, rd_eof, rdhup, queued;
	struct echo_conn *next_ready;
	uint64_t id, requests;
	uint64_t progress; /* bytes moved and transitions: the drive loop's gauge */
	char peer[ECHO_ADDR_STR_MAX];
	struct echo_buf in, out, pend;
	size_t head_scanned;
	struct echo_req_ctx req;
	struct echo_stream stream;
	struct echo_ws_rx ws;
	struct echo_timer timer;
};

/* Takes an accepted non-blocking socket. On failure closes fd. */
void echo_conn_open(struct echo_worker *w, int fd, const struct sockaddr *peer);

/* epoll reported `events` for c. */
void echo_conn_on_event(struct echo_conn *c, uint32_t events);
/* c's timer expired (the worker already removed it from the heap). */
void echo_conn_on_timer(struct echo_conn *c);
/* Runs c until it waits for the network again. */
void echo_conn_drive(struct echo_conn *c);

/* Closes the socket, records why and gives the slot back. */
void echo_conn_close(struct echo_conn *c, enum echo_term term);

/* Checks and applies a state transition (table above). */
void echo_conn_set_state(struct echo_conn *c, enum echo_conn_state st);

/* Drops n processed input bytes. */
void echo_conn_consume(struct echo_conn *c, size_t n);

static inline bool echo_conn_out_full(const struct echo_conn *c)
{
	return echo_buf_pending(&c->out) >= ECHO_OUT_HIGH;
}

const char *echo_term_name(enum echo_term term);

/* State handlers for input (echo_conn_http.c, echo_conn_ws.c). They return
 * 0 when waiting for more input or output room, or -errno to close now
 * (c->term says why). */
int echo_conn_http_process(struct echo_conn *c);
int echo_conn_ws_process(struct echo_conn *c);
int echo_conn_tunnel_process(struct echo_conn *c);

/* Sends the response of a complete request (after its body and any delay);
 * returns like the handlers. */
int echo_conn_http_respond(struct echo_conn *c);
/* A response is fully queued: next request or close. */
void echo_conn_http_done(struct echo_conn *c);

#endif
