/* The connection state machine of strata-l4 and its termination reasons.
 *
 * Every state change goes through l4_conn_set_state(), which checks it
 * against the transition table in conn_state.c; an illegal transition is a
 * programming error and aborts. Termination reasons have a short name (the
 * access log's `reason`, the `reason` label of strata_l4_closes_total) and a
 * sentence (docs/l4.md, `show` output).
 */
#ifndef STRATA_L4_CONN_STATE_H
#define STRATA_L4_CONN_STATE_H

#include <stdbool.h>

enum l4_cstate {
	L4_ST_NEW,     /* accepted, not yet placed */
	L4_ST_PEEK,    /* TLS service: reading the ClientHello for its SNI */
	L4_ST_CONNECT, /* connecting to an instance (with retries) */
	L4_ST_RELAY,   /* connected: bytes flow both ways until both are done */
	L4_ST_CLOSING, /* slot closed; waiting for requests in flight to finish */
	L4_ST__COUNT
};

enum l4_end {
	L4_END_NONE,	       /* still open */
	L4_END_DONE,	       /* both sides finished (FIN each way) */
	L4_END_CLIENT_RESET,   /* the client reset the connection */
	L4_END_SERVER_RESET,   /* the instance reset the connection */
	L4_END_CLIENT_ERROR,   /* another socket error on the client side */
	L4_END_SERVER_ERROR,   /* another socket error on the instance side */
	L4_END_CLIENT_GONE,    /* the client left before sending anything */
	L4_END_IDLE,	       /* idle_timeout passed with no byte either way */
	L4_END_SNI_TIMEOUT,    /* no ClientHello within sni_timeout */
	L4_END_NO_INSTANCE,    /* no instance usable (all down, drained or excluded) */
	L4_END_CONNECT_FAILED, /* every connect attempt failed */
	L4_END_SHUTDOWN,       /* still open when the drain timeout ended */
	L4_END_INTERNAL,       /* a local resource ran out (ring, memory, sockets) */
	L4_END__COUNT
};

struct l4_conn;

const char *l4_cstate_name(enum l4_cstate s);
const char *l4_end_name(enum l4_end e);	    /* "client_reset" */
const char *l4_end_sentence(enum l4_end e); /* "The client reset the connection." */

/* True when the table allows from -> to. */
bool l4_cstate_allowed(enum l4_cstate from, enum l4_cstate to);

/* Moves `c` to `to`; aborts on a transition the table does not allow. */
void l4_conn_set_state(struct l4_conn *c, enum l4_cstate to);

#endif
