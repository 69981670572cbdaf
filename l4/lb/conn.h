/* One relayed TCP connection: the client side, the instance side, and the
 * two directions between them.
 *
 * Ownership: a connection belongs to the worker that accepted it and lives
 * in one loop slot (loop.h); completions carry (generation, slot, op), never
 * a pointer. It holds a reference to the config snapshot it started under
 * (its service, its instance and the address it connects to live there),
 * owns its two sockets, every provided buffer queued in its directions, the
 * splice pipe a direction borrowed, and the setup block used until the
 * PROXY header is sent. Everything is released in on_free, which the loop
 * calls once no request of the slot is in flight; only then are the sockets
 * closed, so a late splice or shutdown (io_uring worker threads) can never
 * land on a descriptor number reused by another connection.
 *
 * Direction d reads from side d and writes to side !d: L4_C2S reads the
 * client and writes the instance, L4_S2C the reverse.
 */
#ifndef STRATA_L4_CONN_H
#define STRATA_L4_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "conn_state.h"
#include "loop.h"
#include "sni.h"
#include "timer.h"

struct l4_worker;
struct l4_config;
struct l4_service;
struct l4_inst_rt;

enum l4_side { L4_CLIENT = 0, L4_SERVER = 1 };
enum l4_dirn { L4_C2S = 0, L4_S2C = 1 };

/* Operation numbers (loop.h `op`): kind * 2 + direction. */
#define L4_OP_RECV(d)  (0u + (d)) /* recv on side d */
#define L4_OP_SEND(d)  (2u + (d)) /* send of direction d, to side !d */
#define L4_OP_SPIN(d)  (6u + (d)) /* splice path: wait until side d is readable */
#define L4_OP_SPOUT(d) (8u + (d)) /* splice path: spilled bytes sent to side !d */
#define L4_OP_CONNECT  10u
#define L4_OP_DIR(op)  ((op)&1u)

#define L4_NO_BID  0xFFFFu
#define L4_IOV_MAX 8   /* buffers one batched send carries */
#define L4_HDR_MAX 640 /* PPv2 header: 16 + 36 + id 131 + authority 258 + node 67 + crc 7 */

/* Direction flags. */
enum {
	L4_DF_RECV = 1u << 0,	     /* a recv on the source is armed (or parked) */
	L4_DF_CANCEL = 1u << 1,	     /* and we asked to cancel it (backpressure) */
	L4_DF_SEND = 1u << 2,	     /* a send to the destination is in flight */
	L4_DF_EOF = 1u << 3,	     /* the source sent its FIN */
	L4_DF_SHUT = 1u << 4,	     /* shutdown(SHUT_WR) of the destination done */
	L4_DF_DONE = 1u << 5,	     /* this direction is finished */
	L4_DF_SPLICE = 1u << 6,	     /* moving through a pipe (holds one) */
	L4_DF_WANT_SPLICE = 1u << 7, /* a full buffer came: switch once idle */
	L4_DF_SPIN = 1u << 8,	     /* splice path: a poll waits for input */
	L4_DF_SPOUT = 1u << 9,	     /* splice path: a spill send waits for output */
};

/* A batched send's msghdr, borrowed from the worker while in flight. */
struct l4_sendv {
	struct l4_sendv *next;
	struct msghdr msg;
	struct iovec iov[L4_IOV_MAX + 1];
};

struct l4_dir {
	uint16_t head, tail; /* queued provided buffers (worker->bnext links them) */
	uint16_t flags;	     /* L4_DF_* */
	int16_t pipe;	     /* splice pipe index in the worker's pool, or -1 */
	uint32_t head_off;   /* bytes of the head buffer already sent */
	uint32_t queued;     /* bytes queued, the ones in a send in flight included */
	uint32_t in_pipe;    /* splice: bytes in the pipe */
	uint64_t bytes;	     /* delivered to the destination */
	struct l4_sendv *sv;
	uint8_t spill; /* splice: the byte sent alone to wait for room */
};

/* Only while connecting: SNI parser, tried instances, the PROXY header. */
struct l4_setup {
	struct sni_parser sni;
	uint16_t hdr_len;
	uint16_t hdr_sent;
	uint8_t hdr[L4_HDR_MAX];
	bool excluded[]; /* one per instance of the service */
};

/* Connection flags. */
enum {
	L4_CF_RST_CLIENT = 1u << 0, /* close the client with SO_LINGER 0 (reset) */
	L4_CF_RST_SERVER = 1u << 1,
	L4_CF_PICKED = 1u << 2,	   /* balance_conn_begin() done for `irt` */
	L4_CF_CONNECTED = 1u << 3, /* counted active on the instance */
	L4_CF_SNI_FOUND = 1u << 4,
	L4_CF_RESUME = 1u << 5,	  /* on the worker's splice resume list */
	L4_CF_CTIMEOUT = 1u << 6, /* connect_timeout fired: the connect is being cancelled */
};

struct l4_conn {
	struct l4_worker *w;
	struct l4_conn *prev, *next; /* the worker's live list */
	struct l4_config *cfg;	     /* reference held for the connection's life */
	const struct l4_service *svc;
	struct l4_inst_rt *irt; /* chosen instance, NULL before the first pick */
	struct l4_setup *setup; /* NULL once the header is sent */
	int id;			/* loop slot */
	int fd[2];		/* by enum l4_side; -1 when not open */
	uint8_t state;		/* enum l4_cstate */
	uint8_t end;		/* enum l4_end */
	uint8_t tries;		/* connect attempts so far */
	uint8_t flags;		/* L4_CF_* */
	int16_t inst;		/* index in svc->inst, -1 */
	uint16_t svc_idx;
	struct l4_dir dir[2];
	struct timer timer;	     /* sni_timeout, connect_timeout, then idle_timeout */
	struct l4_conn *resume_next; /* the worker's splice resume list */
	uint64_t start_ms;
	uint64_t last_ms; /* last byte received either way */
	uint64_t seq;	  /* per worker; with the worker and node it is the id */
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} peer;
	socklen_t peer_len;
	const struct addr *local; /* the listen address when not a wildcard */
};

/* Longest connection id l4_conn_id() writes, NUL included (PPv2 allows 128). */
#define L4_CONN_ID_MAX 128

/* conn.c --------------------------------------------------------------------- */

/* Takes over accepted socket `fd` for service `svc_idx` of the worker's
 * current snapshot. Never fails visibly: on a resource shortage the client
 * is closed and counted. */
void l4_conn_accept(struct l4_worker *w, unsigned svc_idx, int fd, const struct addr *local);

/* Refuses accepted socket `fd` over a limit: counted, closed with a RST. */
void l4_conn_reject(struct l4_worker *w, unsigned svc_idx, int fd);

/* Picks an instance (excluding those already tried) and connects to it;
 * closes the connection when none is left. */
void l4_conn_connect(struct l4_conn *c);

/* PEEK: client bytes for the SNI parser, and the client's FIN. */
void l4_conn_peek(struct l4_conn *c, const uint8_t *buf, size_t len);
void l4_conn_peek_eof(struct l4_conn *c);

/* Ends the connection with `why`: cancels everything in flight and closes
 * the slot; the rest happens in on_free. Idempotent. */
void l4_conn_close(struct l4_conn *c, enum l4_end why);

/* The connection id ("node-start-worker-seq"), also the PPv2 UNIQUE_ID. */
int l4_conn_id(const struct l4_conn *c, char *buf, size_t len);

/* The instance connected: relay from now on (conn.c calls it). */
void l4_conn_connected(struct l4_conn *c);

/* relay.c: the copy data path -------------------------------------------------- */

/* Arms a recv on direction d's source unless it is armed, finished, or the
 * direction holds queue_limit bytes or more (backpressure). */
void l4_relay_arm_recv(struct l4_conn *c, unsigned d);

/* Sends what direction d has queued (the PROXY header first), or shuts the
 * destination's write side once the source's FIN and every byte went out. */
void l4_relay_kick(struct l4_conn *c, unsigned d);

void l4_relay_on_recv(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe);
void l4_relay_on_send(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe);

/* Returns every buffer queued in direction d to the ring. */
void l4_relay_drop_queue(struct l4_conn *c, unsigned d);

/* A socket error on `side` (res < 0): the matching reason, and the other side
 * is reset when this one was (RST propagates). */
void l4_relay_fail(struct l4_conn *c, enum l4_side side, int res);

/* splice.c: the zero-copy data path -------------------------------------------- */

/* Direction d asked for splicing and is idle (no recv, nothing queued or in
 * flight): move bytes socket -> pipe -> socket until one side would block. */
void l4_splice_begin(struct l4_conn *c, unsigned d);
void l4_splice_on_in(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe);
void l4_splice_on_out(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe);
/* The worker's resume timer: directions that used up a turn's budget go on. */
void l4_splice_on_resume(struct loop *loop, struct timer *t);
/* on_free: gives the pipe back (or closes it when it still holds bytes),
 * leaves the resume list. */
void l4_splice_release(struct l4_conn *c, unsigned d);

#endif
