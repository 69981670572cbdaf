/* A client connection: intake, request heads, keep-alive, timeouts, close.
 *
 * The connection owns its socket, its loop slot, its input (received
 * buffers, and a small heap buffer only while a head spans reads), and at
 * most one exchange at a time; pipelined requests wait in the input and are
 * answered in order, one exchange after the other. It holds a reference to
 * the generation it was accepted under (its listener's settings).
 *
 * States (one set_state() checks every transition):
 *
 *   INTAKE --PROXY header ok / none needed--> IDLE
 *   INTAKE --refused--> CLOSING
 *   IDLE   --first byte of a head--> HEAD           (client_header timer)
 *   HEAD   --head complete--> BUSY                  (exchange owns input)
 *   HEAD   --bad head--> BUSY (exchange answers 4xx, then close)
 *   BUSY   --exchange done, keep-alive, bytes left--> HEAD
 *   BUSY   --exchange done, keep-alive--> IDLE      (keepalive timer)
 *   BUSY   --101--> TUNNEL
 *   BUSY   --exchange done, close--> LINGER | CLOSING
 *   LINGER --EOF, timeout--> CLOSING                (unread input drained)
 *   IDLE, HEAD, INTAKE --EOF, error, timeout, drain--> CLOSING
 *   TUNNEL --either side closes--> CLOSING
 *
 * Memory: an IDLE connection holds no receive buffer (multishot recv on the
 * buffer ring takes one only when bytes arrive), no exchange and no heap
 * buffer: just this struct and its loop slot.
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

enum l7_conn_state {
	L7_CS_INTAKE,
	L7_CS_IDLE,
	L7_CS_HEAD,
	L7_CS_BUSY,
	L7_CS_TUNNEL,
	L7_CS_LINGER,
	L7_CS_CLOSING,
	L7_CS__COUNT
};

/* Client slot operations. */
enum { L7_COP_RECV = 1, L7_COP_SEND, L7_COP_SHUT, L7_COP_CLOSE };

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
	uint16_t li; /* listener index in gen */
	uint16_t pending_ops;
	uint32_t requests; /* exchanges started */
	uint64_t id;
	struct l7_inq in;
	struct l7_hbuf hb;
	struct timer t;
	struct l7_sa peer;  /* the client: PPv2 source, else the socket peer */
	struct l7_sa local; /* PPv2 destination, else the socket's own */
	uint8_t *uid;	    /* PPv2 UNIQUE_ID (heap), NULL when absent */
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
 * close after the exchange. */
void l7_conn_drain(struct l7_conn *c);

const char *l7_conn_state_name(enum l7_conn_state s);

#endif
