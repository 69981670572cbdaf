/* One request/response exchange between a client connection and (maybe) an
 * upstream server.
 *
 * Created when the first byte of a request head arrives; owned by the
 * client connection (c->x) until it finishes; then its access-log line and
 * metrics are written and it goes back to the worker's free list. It holds
 * a reference to the generation it started under, so its route and
 * upstream stay valid across a reload, and, while attached, an upstream
 * connection (struct l7_uconn).
 *
 * States (set_state() checks every transition):
 *
 *   HEAD     --complete--> route: LOCAL | CONNECT
 *   HEAD     --refused (4xx)--> LOCAL
 *   CONNECT  --connected--> SEND              (head + body bytes at hand)
 *   CONNECT  --error, retry allowed--> CONNECT (another server)
 *   CONNECT  --error--> LOCAL (502/503/504)
 *   SEND     --request sent--> WAIT           (response may come earlier)
 *   SEND, WAIT --response head--> BODY | TUNNEL
 *   SEND, WAIT --reset before any byte, replayable--> CONNECT (retry)
 *   SEND, WAIT --failure--> LOCAL (502/504)
 *   BODY     --last byte sent to the client--> DONE
 *   LOCAL    --sent--> DONE
 *   TUNNEL   --either side closed--> DONE
 *   any      --client gone--> DONE (upstream connection closed)
 *
 * Request body upload runs alongside SEND/WAIT/BODY (flag up_done).
 *
 * On HTTP/2 (exchange_h2.c) an exchange answers one stream (x->st): its
 * head is the stream's request view, its body comes from the stream's
 * buffer, and what it would send to an HTTP/1.1 client (the same head,
 * the body de-chunked) goes to the stream instead. The state machine is
 * the same; the client connection is not the exchange's to close.
 */
#ifndef STRATA_L7_EXCHANGE_H
#define STRATA_L7_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "timer.h"

#include "http1_chunked.h"
#include "http1_parse.h"
#include "breaker.h"
#include "l7_buf.h"
#include "l7_config.h"
#include "term.h"
#include "traffic_pick.h"

struct l7_conn;
struct l7_h2_stream;
struct l7_worker;
struct l7_gen;
struct l7_uconn;
struct l7_server_rt;

enum l7_xstate {
	L7_XS_HEAD,
	L7_XS_CONNECT,
	L7_XS_SEND,
	L7_XS_WAIT,
	L7_XS_BODY,
	L7_XS_LOCAL,
	L7_XS_TUNNEL,
	L7_XS_DONE,
	L7_XS__COUNT
};

#define L7_MAX_TRIES   16
#define L7_XOUT_INIT   4096	   /* head output buffer; grows for large heads */
#define L7_CHUNK_SPANS 8	   /* chunked spans handled per batch */
#define L7_PAUSE_BYTES (64u << 10) /* input queued before reading pauses: 4 ring buffers */
#define L7_LINGER_MS   1000
#define L7_REPLAY_MAX  (16u << 10) /* bodies at hand up to this are kept for a retry */
#define L7_H2_STAGE    (32u << 10) /* HTTP/2 request body copied out per upstream send */

struct l7_exchange {
	struct l7_exchange *next_free;
	struct l7_exchange *flush_next; /* worker's list of client sends to submit */
	struct l7_conn *c;
	struct l7_worker *w;
	struct l7_gen *gen;
	struct l7_uconn *u;
	uint8_t state; /* enum l7_xstate */
	uint8_t term;  /* enum l7_term */
	uint8_t tries; /* attempts so far */
	uint8_t stale_retries;
	bool head_in_hbuf; /* views point into c->hb, else into x->hcopy */
	bool head_done;
	bool up_done;	   /* request body fully forwarded (or none) */
	bool up_chunk_end; /* chunked: "0\r\n" + trailers queued */
	bool resp_started; /* a byte of the response went to the client */
	bool client_keep;  /* the client connection may carry another request */
	bool upstream_keep;
	bool local_close; /* local response: close after */
	bool replayable;  /* the request can be sent again (no body) */
	bool continue_sent;
	bool buffering; /* buffer_request: reading the whole body first */
	bool tunnel;
	bool dechunk;	    /* response chunked, client HTTP/1.0: strip framing */
	bool aborted;	    /* ended; waits only for sends in flight, then frees */
	bool detached;	    /* the client connection no longer points here */
	bool u_closing;	    /* x->u is closing; its send in flight still reports here */
	bool retry_pending; /* retry once the upstream send in flight completes */
	bool logged;
	bool fresh;	   /* next connect must not reuse a pooled connection */
	bool resp_eof;	   /* the upstream closed (end of a close-delimited body) */
	bool resp_done;	   /* the whole response body is queued for the client */
	bool srv_active;   /* counted in the server's active requests */
	bool h2;	   /* HTTP/2: answers a stream (x->st while attached) */
	bool h2_head;	   /* HTTP/2: the final response head went to the stream */
	bool h2_end;	   /* HTTP/2: the response's end went to the stream */
	bool h2_room;	   /* HTTP/2: the stream's buffer was full: wait for on_room */
	uint8_t pending;   /* sends in flight or queued (client side + upstream side) */
	bool cl_queued;	   /* tx_cl waits in the worker's flush list */
	uint8_t tmode;	   /* what x->t measures: enum l7_tmode */
	uint8_t fail_term; /* last failed attempt, for the final answer */
	uint16_t fail_status;
	uint16_t status; /* status sent to the client */
	size_t last_len; /* head parse resume */
	size_t head_len;

	enum http1_err perr;
	const struct l7_route *route;
	uint32_t up_idx; /* upstream index in gen */
	int srv_idx;	 /* server index in the upstream, -1 */
	const struct l7_server *sticky_named;
	uint64_t hash_key;
	struct l7_tried tried; /* servers not to pick again (traffic_pick.h) */

	/* request body */
	uint8_t req_body;  /* enum http1_body */
	uint64_t req_left; /* LENGTH: bytes not forwarded yet */
	uint64_t req_bytes;
	struct l7_hbuf body;	 /* buffer_request: the whole body */
	struct l7_h2_stream *st; /* HTTP/2: the stream answered; NULL: HTTP/1 */
	char *stage;		 /* HTTP/2: request body bytes being sent upstream */

	/* response */
	struct l7_hbuf rhb; /* response head spanning reads */
	bool rhead_in_hbuf;
	size_t rlast_len;
	uint8_t resp_body; /* enum http1_body */
	uint64_t resp_left;
	uint64_t resp_bytes; /* body bytes sent to the client */

	uint8_t *out_up, *out_cl; /* head buffers (L7_XOUT_INIT, grown on demand) */
	size_t out_up_cap, out_cl_cap;
	char *hcopy; /* the request head, copied out of the receive buffer */
	size_t hcopy_cap;
	size_t out_up_len, out_cl_len;

	struct timer t; /* upstream send/read, client send stall */
	uint64_t t_start_ns, t_sent_ns, t_head_ns;
	uint64_t t_first_ms; /* first attempt, for the retry deadline */
	uint64_t bytes_in, bytes_out;
	char req_id[3 * 128 + 24]; /* made on first use: l7_x_request_id() */
	uint16_t req_id_len;
	uint64_t req_seq; /* the connection's request count at this request */
	struct addr client, local; /* expanded from the connection */
	/* traffic management (traffic.h) */
	bool tr_req;	       /* request limits and budget counted */
	bool tr_brk;	       /* a breaker ticket is held for tr_brk_si */
	bool tr_pending;       /* counted in max_pending */
	bool tr_retry;	       /* a retry budget slot is held */
	uint8_t split_why;     /* enum l7_split_why + 1; 0: not a split */
	uint8_t rl_verdict;    /* enum l7_tr_rl + 1 of rl_policy; 0: none */
	int16_t tr_brk_si;     /* server of the ticket */
	uint32_t backoff_ms;   /* wait before the retry being set up */
	const char *rl_policy; /* the policy that limited (or would have) */
	struct l7_brk_ticket brk;
	/* Large members last: x_reset() clears everything before `req` only;
	 * the parsers reset their heads, the chunked decoders are initialised
	 * when used and the send batches by l7_tx_init(). */
	struct http1_request req;
	struct http1_response resp;
	struct http1_chunked req_ck, resp_ck;
	char ck_lines[L7_CHUNK_SPANS][HTTP1_CHUNK_LINE_MAX];
	struct l7_tx tx_up, tx_cl;
};

/* Starts an exchange on `c` for the bytes now in c's input (state HEAD).
 * Returns it, or NULL on ENOMEM (the caller closes the connection). */
struct l7_exchange *l7_x_start(struct l7_conn *c);

/* An exchange for HTTP/2 stream `st` whose request head is complete
 * (exchange_h2.c): routed at once. NULL on ENOMEM. */
struct l7_exchange *l7_xh2_start(struct l7_conn *c, struct l7_h2_stream *st);
/* Stream events (conn_h2.c): body bytes or its end, room in the response
 * buffer, the stream closed (code 0: completed). */
void l7_xh2_on_body(struct l7_exchange *x);
void l7_xh2_on_room(struct l7_exchange *x);
void l7_xh2_on_close(struct l7_exchange *x, uint32_t code);

/* The client connection has new input (head or body bytes), or saw EOF
 * (c->flags & L7_CF_EOF), or failed (err < 0). */
void l7_x_on_client_input(struct l7_exchange *x);
/* The request id (X-Request-Id upstream, request_id in the access log),
 * made on the first call: most configurations use neither. */
const char *l7_x_request_id(struct l7_exchange *x, size_t *len);
void l7_x_on_client_error(struct l7_exchange *x, int err);
/* A send to the client completed. */
void l7_x_on_client_sent(struct l7_exchange *x, int res);
/* The connection's header timer fired while the exchange reads a head. */
void l7_x_on_header_timeout(struct l7_exchange *x);

/* Upstream connection events (uconn.c calls these while attached). */
void l7_x_on_connected(struct l7_exchange *x, int res);
void l7_x_on_upstream_input(struct l7_exchange *x);
void l7_x_on_upstream_eof(struct l7_exchange *x, int err);
void l7_x_on_upstream_sent(struct l7_exchange *x, int res);

/* The client connection is closing under the exchange (abort): cancels the
 * upstream side, logs, frees. */
void l7_x_abort(struct l7_exchange *x, int term);

/* Internal to exchange*.c -------------------------------------------------- */
enum l7_tmode { L7_TM_NONE, L7_TM_SEND, L7_TM_READ, L7_TM_CLIENT, L7_TM_BODY, L7_TM_BACKOFF };
void l7_x_begin_upstream(struct l7_exchange *x);
void l7_x_release_upstream(struct l7_exchange *x, bool reusable);
void l7_x_maybe_free(struct l7_exchange *x);
void l7_x_on_timeout(struct l7_exchange *x);
void l7_x_upstream_failed(struct l7_exchange *x, int term, int status, int cond);
void l7_tunnel_start(struct l7_exchange *x);
void l7_tunnel_pump(struct l7_exchange *x);
struct l7_gen_upstream *l7_x_upstream(const struct l7_exchange *x);
/* Response bytes not consumed yet (exchange_down.c), like l7_conn_input. */
size_t l7_x_u_input(struct l7_exchange *x, const char **p, unsigned *bid);
void l7_x_u_consume(struct l7_exchange *x, size_t n);
void l7_x_set_state(struct l7_exchange *x, enum l7_xstate st);
void l7_x_local_error(struct l7_exchange *x, int status, int term, const char *why);
void l7_x_finish(struct l7_exchange *x);
void l7_x_route(struct l7_exchange *x);
void l7_x_connect(struct l7_exchange *x);
/* A retry: after its backoff (traffic.h) or at once. */
void l7_x_retry(struct l7_exchange *x);
void l7_x_fail(struct l7_exchange *x, int term, int status);
void l7_x_pump_up(struct l7_exchange *x);
void l7_x_pump_down(struct l7_exchange *x);
void l7_x_arm(struct l7_exchange *x, uint32_t ms);
int l7_x_out_reserve(uint8_t **buf, size_t *cap, size_t need);
void l7_x_send_client(struct l7_exchange *x);
/* The worker's end-of-turn flush: submits the queued client send. */
void l7_x_flush_client(struct l7_exchange *x);
/* An exchange with a complete head: framing fields, ids, then routing
 * (or the answer to a refused HTTP/2 head). */
struct l7_exchange *l7_x_new(struct l7_conn *c);
void l7_x_head_ready(struct l7_exchange *x);
/* HTTP/1: parses the request head from the connection's input. */
void l7_x_read_head(struct l7_exchange *x);
/* Ends the client side abruptly: HTTP/1 closes the connection, HTTP/2
 * resets the stream (the connection goes on). */
void l7_x_close_client(struct l7_exchange *x, int term);
/* Request body bytes at hand, from the connection or the stream. */
size_t l7_x_body_at_hand(const struct l7_exchange *x);
/* exchange_h2.c, for the exchange files */
void l7_xh2_send(struct l7_exchange *x);
int l7_xh2_fill_up(struct l7_exchange *x);
int l7_xh2_buffer(struct l7_exchange *x, uint64_t max);
void l7_xh2_end(struct l7_exchange *x);
void l7_xh2_kill(struct l7_exchange *x, int term);

#endif
