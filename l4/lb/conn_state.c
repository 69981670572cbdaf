/* Transition table and termination reasons of a strata-l4 connection.
 *
 *   from \ to   PEEK  CONNECT  RELAY  CLOSING   on
 *   NEW          x       x               x      accept: TLS service / plain
 *                                               service / over a limit, no slot
 *   PEEK                 x               x      SNI verdict (or not TLS, or the
 *                                               queue is full) / sni_timeout,
 *                                               EOF before any byte, error
 *   CONNECT              x       x       x      failed, tries left (another
 *                                               instance) / connected / no
 *                                               instance, last try failed,
 *                                               client error
 *   RELAY                                x      both directions shut, reset,
 *                                               error, idle or drain timeout
 *   CLOSING                                     (on_free once nothing is in
 *                                               flight: the slot is reused)
 *
 * CONNECT -> CONNECT is the retry: the failed socket is closed (nothing is
 * in flight on it: a connect_timeout cancels the connect and the retry
 * waits for its completion) and a new one is opened to the next instance.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "conn.h"
#include "conn_state.h"
#include "log.h"

#define BIT(s) (1u << (s))

static const unsigned allowed[L4_ST__COUNT] = {
    [L4_ST_NEW] = BIT(L4_ST_PEEK) | BIT(L4_ST_CONNECT) | BIT(L4_ST_CLOSING),
    [L4_ST_PEEK] = BIT(L4_ST_CONNECT) | BIT(L4_ST_CLOSING),
    [L4_ST_CONNECT] = BIT(L4_ST_CONNECT) | BIT(L4_ST_RELAY) | BIT(L4_ST_CLOSING),
    [L4_ST_RELAY] = BIT(L4_ST_CLOSING),
    [L4_ST_CLOSING] = 0,
};

static const char *const state_names[L4_ST__COUNT] = {
    [L4_ST_NEW] = "new",     [L4_ST_PEEK] = "peek",	  [L4_ST_CONNECT] = "connect",
    [L4_ST_RELAY] = "relay", [L4_ST_CLOSING] = "closing",
};

static const struct {
	const char *name;
	const char *sentence;
} ends[L4_END__COUNT] = {
    [L4_END_NONE] = {"open", "The connection is still open."},
    [L4_END_DONE] = {"done", "Both sides finished normally (a FIN each way)."},
    [L4_END_CLIENT_RESET] = {"client_reset", "The client reset the connection."},
    [L4_END_SERVER_RESET] = {"server_reset", "The instance reset the connection."},
    [L4_END_CLIENT_ERROR] = {"client_error",
			     "A socket error other than a reset on the client side."},
    [L4_END_SERVER_ERROR] = {"server_error",
			     "A socket error other than a reset on the instance side."},
    [L4_END_CLIENT_GONE] = {"client_gone",
			    "The client closed before sending anything on a TLS service."},
    [L4_END_IDLE] = {"idle_timeout", "No byte moved either way for idle_timeout."},
    [L4_END_SNI_TIMEOUT] = {"sni_timeout",
			    "A TLS service's client sent no ClientHello within sni_timeout."},
    [L4_END_NO_INSTANCE] = {"no_instance",
			    "No instance was usable: all down, drained, in maintenance "
			    "or already tried."},
    [L4_END_CONNECT_FAILED] = {"connect_failed",
			       "Every connect attempt failed (refused, timed out or "
			       "unreachable), retries included."},
    [L4_END_SHUTDOWN] = {"shutdown", "Still open when the drain timeout ended."},
    [L4_END_INTERNAL] = {"internal",
			 "A local resource ran out (submission ring, memory, descriptors)."},
};

const char *l4_cstate_name(enum l4_cstate s)
{
	return (unsigned)s < L4_ST__COUNT ? state_names[s] : "?";
}

const char *l4_end_name(enum l4_end e)
{
	return (unsigned)e < L4_END__COUNT ? ends[e].name : "?";
}

const char *l4_end_sentence(enum l4_end e)
{
	return (unsigned)e < L4_END__COUNT ? ends[e].sentence : "?";
}

bool l4_cstate_allowed(enum l4_cstate from, enum l4_cstate to)
{
	if ((unsigned)from >= L4_ST__COUNT || (unsigned)to >= L4_ST__COUNT)
		return false;
	return (allowed[from] & BIT(to)) != 0;
}

void l4_conn_set_state(struct l4_conn *c, enum l4_cstate to)
{
	if (!l4_cstate_allowed((enum l4_cstate)c->state, to)) {
		log_err("conn %llu: illegal transition %s -> %s", (unsigned long long)c->seq,
			l4_cstate_name((enum l4_cstate)c->state), l4_cstate_name(to));
		abort();
	}
	c->state = (uint8_t)to;
}
