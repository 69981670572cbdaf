/* A client connection: intake, TLS, request heads, keep-alive, HTTP/2,
 * timeouts, close.
 *
 * The connection owns its socket, its loop slot, its input (received
 * buffers, and a small heap buffer only while a head spans reads), and at
 * most one exchange at a time; pipelined requests wait in the input and are
 * answered in order, one exchange after the other. On a TLS listener it
 * also owns its TLS state (c->tls, conn_tls.h: c->in then holds plaintext),
 * and after ALPN h2 or the h2c preface an HTTP/2 session (c->h2,
 * conn_h2.h) whose streams each run their own exchange. It holds a
 * reference to the generation it was accepted under (its listener's
 * settings and certificates).
 *
 * States (one set_state() checks every transition):
 *
 *   INTAKE    --PROXY header ok / none needed--> IDLE | HANDSHAKE (TLS)
 *   INTAKE    --refused--> CLOSING
 *   HANDSHAKE --done, ALPN h2--> H2
 *   HANDSHAKE --done--> IDLE                        (client_header timer)
 *   HANDSHAKE --failed, handshake_timeout--> FLUSH | CLOSING
 *   IDLE   --h2c preface (plaintext listener)--> H2
 *   IDLE   --first byte of a head--> HEAD           (client_header timer)
 *   HEAD   --head complete--> BUSY                  (exchange owns input)
 *   HEAD   --bad head--> BUSY (exchange answers 4xx, then close)
 *   BUSY   --exchange done, keep-alive, bytes left--> HEAD
 *   BUSY   --exchange done, keep-alive--> IDLE      (keepalive timer)
 *   BUSY   --101--> TUNNEL
 *   BUSY   --exchange done, close--> LINGER | FLUSH | CLOSING
 *   H2     --session done, error, EOF, idle--> FLUSH | CLOSING
 *   FLUSH  --TLS records / GOAWAY sent--> LINGER | CLOSING
 *   LINGER --EOF, timeout--> CLOSING                (unread input drained)
 *   IDLE, HEAD, INTAKE --EOF, error, timeout, drain--> FLUSH | CLOSING
 *   TUNNEL --either side closes--> FLUSH | CLOSING
 *
 * FLUSH exists for TLS and HTTP/2: the last response was handed over as
 * records or frames that are still being sent (with close_notify, an
 * alert or a GOAWAY behind them); the socket closes once they are out.
 *
 * Memory: an IDLE connection holds no receive buffer (multishot recv on the
 * buffer ring takes one only when bytes arrive), no exchange and no heap
 * buffer: just this struct and its loop slot (plus, on TLS, the SSL object
 * with its buffers released while idle).
 */
#ifndef STRATA_L7_CLIENT_H
#define STRATA_L7_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "loop.h"
#include "timer.h"

#include "l7_buf.h"

struct l7_worker;
struct l7_gen;
struct l7_exchange;
struct l7_ctls;
struct l7_ch2;

enum l7_conn_state {
	L7_CS_INTAKE,
	L7_CS_HANDSHAKE,
	L7_CS_IDLE,
	L7_CS_HEAD,
	L7_CS_BUSY,
	L7_CS_TUNNEL,
	L7_CS_H2,
	L7_CS_LINGER,
	L7_CS_FLUSH,
	L7_CS_CLOSING,
	L7_CS__COUNT
};

/* Client slot operations. OSEND: TLS records or h2c frames (conn_tls.h). */
enum { L7_COP_RECV = 1, L7_COP_SEND, L7_COP_SHUT, L7_COP_CLOSE, L7_COP_OSEND };

/* A compact IP socket address (an idle connection must stay small). */
struct l7_sa {
	union {
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		sa_family_t family;
	} u;
	uint8_t len;
};

void l7_sa_set(struct l7_sa *s, const struct sockaddr *sa, socklen_t len);
void l7_sa_to_addr(const struct l7_sa *s, struct addr *out);

#define L7_CF_RECV    0x01 /* a recv is armed */
#define L7_CF_EOF     0x02 /* the client sent FIN */
#define L7_CF_LOCAL   0x04 /* PPv2 LOCAL: health checks only */
#define L7_CF_PAUSED  0x08 /* recv cancelled for backpressure */
#define L7_CF_CLOSE   0x10 /* close after the current exchange */
#define L7_CF_HAS_DST 0x20 /* local is the PPv2 destination */
#define L7_CF_KICK    0x40 /* queued for the end of the turn (l7_conn_kick) */
#define L7_CF_DEAD    0x80 /* the socket failed: nothing more can be sent */

struct l7_conn {
	struct l7_worker *w;
	struct l7_gen *gen;
	struct l7_conn *prev, *next; /* worker's list */
	struct l7_exchange *x;
	int fd;
	int slot;
	uint8_t state; /* enum l7_conn_state */
	uint8_t flags; /* L7_CF_* */
	uint8_t term;  /* enum l7_term of the connection's end */
	uint8_t uid_len;
	uint16_t li;	   /* listener index in gen */
	bool end_linger;   /* FLUSH: linger (drain the input) once sent */
	uint32_t requests; /* exchanges started */
	uint64_t id;
	struct l7_inq in;
	struct l7_hbuf hb;
	struct timer t;
	struct l7_sa peer;	   /* the client: PPv2 source, else the socket peer */
	struct l7_sa local;	   /* PPv2 destination, else the socket's own */
	uint8_t *uid;		   /* PPv2 UNIQUE_ID (heap), NULL when absent */
	struct l7_ctls *tls;	   /* TLS listeners (heap); NULL: plaintext */
	struct l7_ch2 *h2;	   /* HTTP/2 session (heap); NULL: HTTP/1 */
	struct l7_conn *kick_next; /* worker's list of connections kicked this turn */
	uint32_t cl_ticket;	   /* max_conns_per_ip count (traffic.h); 0: none */
};

/* Takes an accepted socket on listener `li` of the worker's generation.
 * Never fails loudly: on error the socket is closed and counted. */
void l7_conn_accept(struct l7_worker *w, uint32_t li, int fd);

/* For the exchange: contiguous input not consumed yet (the head buffer's
 * rest first, then the queued buffers). Returns its length (0: none) and
 * the buffer id (L7_NOBID for the head buffer). */
size_t l7_conn_input(struct l7_conn *c, const char **p, unsigned *bid);
void l7_conn_consume(struct l7_conn *c, size_t n);
size_t l7_conn_input_bytes(const struct l7_conn *c);

/* Re-arms (or pauses) reading when the input is small (or large). */
void l7_conn_flow(struct l7_conn *c);

/* The exchange is over: keep-alive or close (c->x already cleared). */
void l7_conn_exchange_done(struct l7_conn *c, bool keep_alive, bool linger);

/* Ends the connection now (reason for the log). */
void l7_conn_close(struct l7_conn *c, int term);

/* HEAD -> BUSY: the exchange took the head. */
void l7_conn_head_done(struct l7_conn *c);

/* Arms (waiting) or stops the client_body timer while a request body is
 * being read. */
void l7_conn_body_timer(struct l7_conn *c, bool waiting);

/* Switches to TUNNEL (after a 101 was sent). */
void l7_conn_to_tunnel(struct l7_conn *c);

/* Draining: closes the connection when it is idle; otherwise marks it to
 * close after the exchange (HTTP/2: a graceful GOAWAY). */
void l7_conn_drain(struct l7_conn *c);

/* Asks for a pass over the connection at the end of this loop turn
 * (decrypt what waits, HTTP/2 output): from code that must not re-enter
 * the connection's handlers (an exchange consuming input, a stream
 * answering). */
void l7_conn_kick(struct l7_conn *c);
/* The worker runs the pass (l7_worker.c). */
void l7_conn_on_kick(struct l7_conn *c);

/* FLUSH: everything was sent (conn_tls.c). */
void l7_conn_flushed(struct l7_conn *c);
/* FLUSH: what is left of the session's frames into records, then
 * close_notify once they all are. */
void l7_conn_flush_tls(struct l7_conn *c);

/* (Re)arms the connection timer (ms from now). */
void l7_conn_timer(struct l7_conn *c, uint32_t ms);

/* Checked state change (the table above), for client*.c and conn_*.c. */
void l7_conn_set_state(struct l7_conn *c, enum l7_conn_state st);

/* Arms the multishot recv; the loop_ops on_free of client slots. */
int l7_conn_arm_recv(struct l7_conn *c);
void l7_conn_on_free(struct loop *loop, void *obj);

/* Intake (client_intake.c): the PROXY header from c's first bytes. */
void l7_conn_intake(struct l7_conn *c);
/* The header is done (or none was needed): TLS or HTTP from here on. */
void l7_conn_ready(struct l7_conn *c);

const char *l7_conn_state_name(enum l7_conn_state s);

#endif
