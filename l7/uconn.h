/* An upstream connection as one worker uses it: socket, loop slot, received
 * response bytes, and its place in the worker's local idle list.
 *
 * Owned by the worker (free list). Attached to one exchange at a time
 * (u->x); between requests it waits in the worker's local idle list of its
 * server with its recv still armed, and after L7_POOL_LOCAL_IDLE_MS moves
 * to the server's shared pool (upstream_pool.h) as a bare descriptor, where
 * any worker can take it. A connection is closed when the server closes it,
 * sends unsolicited bytes, reaches max_requests, or fails.
 *
 *   CONNECTING --ok--> ACTIVE --exchange done, reusable--> IDLE --taken--> ACTIVE
 *   IDLE --idle too long locally--> DETACH --slot freed--> shared pool
 *   any --error, EOF, not reusable--> CLOSING --slot freed--> closed
 */
#ifndef STRATA_L7_UCONN_H
#define STRATA_L7_UCONN_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

#include "l7_buf.h"

struct l7_worker;
struct l7_exchange;
struct l7_server_rt;

enum l7_ustate {
	L7_US_CONNECTING,
	L7_US_ACTIVE,
	L7_US_IDLE,
	L7_US_DETACH,
	L7_US_CLOSING,
	L7_US__COUNT
};

enum { L7_UOP_CONNECT = 1, L7_UOP_RECV, L7_UOP_SEND };

struct l7_uconn {
	struct l7_uconn *next; /* free list / local idle list */
	struct l7_uconn *prev;
	struct l7_worker *w;
	struct l7_exchange *x;
	struct l7_server_rt *srv;
	int fd;
	int slot;
	uint8_t state;
	bool reused;	/* came from a pool */
	bool got_bytes; /* received something while not attached */
	bool recv_armed;
	bool paused;
	uint32_t requests; /* sent on this connection, the current one included */
	uint64_t idle_since;
	struct l7_inq in;
	struct addr addr_copy; /* connect() target, valid until it completes */
};

/* Gets a connection to `srv` for exchange `x`: a local idle one, one from
 * the shared pool (both count as reused, *ready = true), or a new one being
 * connected (*ready = false; l7_x_on_connected() follows). NULL with -errno
 * in *err on failure (socket(), slot table full). */
struct l7_uconn *l7_uconn_get(struct l7_worker *w, struct l7_exchange *x, struct l7_server_rt *srv,
			      uint32_t connect_ms, bool fresh, bool *ready, int *err);

/* The exchange is done with `u`: keep it for reuse (`reusable`) or close.
 * `current`: the exchange's generation is the worker's current one (only
 * then may the connection wait in the local list; else it goes to the
 * shared pool). */
void l7_uconn_release(struct l7_uconn *u, bool reusable, uint32_t max_requests, bool current);

/* Closes now (exchange failing, abort). */
void l7_uconn_close(struct l7_uconn *u);

/* Queues a send on the connection. */
int l7_uconn_send(struct l7_uconn *u, struct l7_tx *tx);

/* Reading pause/resume by the exchange's backpressure. */
void l7_uconn_flow(struct l7_uconn *u);

/* Out of descriptors: closes this worker's local idle connections (their
 * descriptors are free once their slots are) and every connection of the
 * shared pools of the current generation's servers (free at once); counts
 * and logs them. Returns how many descriptors are free at once. */
unsigned l7_uconn_release_idle(struct l7_worker *w);

/* Worker housekeeping: moves local idle connections older than
 * L7_POOL_LOCAL_IDLE_MS (all of them when `all`) to the shared pools. */
void l7_uconn_tick(struct l7_worker *w, bool all);

#endif
