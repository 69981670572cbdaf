/* HTTP/2 on a client connection: the l7_h2 session (h2.h) fed with the
 * connection's plaintext, one exchange per stream (exchange_h2.c), and the
 * frames sent through TLS or, on h2c, straight from the session's output.
 *
 * The connection is in state H2 for its whole life after the preface: it
 * owns no exchange itself (c->x stays NULL); each stream's exchange points
 * at the stream (x->st) and the stream at it (st->user) until one of them
 * ends. Output is produced at the end of the loop turn (the connection is
 * kicked), so the frames of every stream answered in one turn leave in one
 * send. The connection closes once the session is done (GOAWAY exchanged,
 * no stream left, everything sent), after an error (the GOAWAY is sent
 * first), or when it stayed without streams for the keepalive timeout.
 *
 * Ownership: struct l7_ch2 and the session are heap memory owned by the
 * connection (c->h2), freed in its on_free after the streams' exchanges
 * were detached.
 */
#ifndef STRATA_L7_CONN_H2_H
#define STRATA_L7_CONN_H2_H

#include <stdbool.h>
#include <stdint.h>

#include "conn_tls.h"
#include "h2.h"

struct l7_conn;

struct l7_ch2 {
	struct l7_h2 *h2;
	struct l7_cout out;	/* h2c: frames leave from h2->out directly */
	uint64_t idle_since_ms; /* when the last stream ended (keepalive) */
	bool summed;		/* the session's counters went to the listener's */
};

/* Starts HTTP/2 on `c` (after ALPN h2, or the h2c preface): the session
 * queues our SETTINGS at once. 0, or -ENOMEM. */
int l7_ch2_start(struct l7_conn *c);

/* Feeds the plaintext queued in c->in to the session (consumed whole);
 * a protocol error or an abuse defence is counted, logged and closes the
 * connection once the GOAWAY is out. */
void l7_ch2_input(struct l7_conn *c);

/* Moves the session's frames to TLS or the socket, re-arms the timer and
 * closes the connection when the session is done. Runs at the end of the
 * turn the connection was kicked in, and after each send. */
void l7_ch2_output(struct l7_conn *c);

/* TLS: encrypts as many of the session's frames as the TLS output takes. */
void l7_ch2_to_tls(struct l7_conn *c);

/* The connection's timer: GOAWAY grace, zero-window stalls, keepalive. */
void l7_ch2_on_timer(struct l7_conn *c);

/* GOAWAY: graceful (drain, reload: streams in flight complete) or final. */
void l7_ch2_shutdown(struct l7_conn *c, bool graceful);

/* The connection is closing: every stream's exchange is detached and
 * aborted with `term`; the session produces nothing more. */
void l7_ch2_abort_all(struct l7_conn *c, int term);

/* Frees the session (on_free). NULL-safe. */
void l7_ch2_free(struct l7_conn *c);

#endif
