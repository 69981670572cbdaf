/* Health checks of the L7 instances, in their own thread.
 *
 * The thread follows the current snapshot: every instance whose check type
 * is not "none" and whose admin state is not maint is checked every
 * `interval` (TCP connect, or an HTTP GET after a PPv2 LOCAL header), each
 * check bounded by `timeout`. `rise` successes in a row bring a down
 * instance up, `fall` failures take an up one down. A transition is logged,
 * counted, and makes the service's balancer rebuild its Maglev table off
 * the hot path (balance_refresh(): an atomic swap, old tables freed once no
 * worker's hazard pointer names them).
 *
 * Checks use non-blocking sockets and poll(); the thread never touches a
 * worker's loop.
 */
#ifndef STRATA_L4_HEALTH_H
#define STRATA_L4_HEALTH_H

#include <stdbool.h>

#include "config.h"

struct l4_proc;
struct l4_health_thread;

/* Starts the thread. Returns 0 and *out, or -errno. */
int l4_health_start(struct l4_proc *p, struct l4_health_thread **out);

/* Stops and joins the thread, closes its sockets. Safe on NULL. */
void l4_health_stop(struct l4_health_thread *h);

/* Recomputes an instance's availability after its admin state changed and
 * rebuilds the balancer of the current snapshot if it did (any thread). */
void l4_health_refresh(struct l4_proc *p, const char *svc, struct l4_inst_rt *rt);

/* Parses an HTTP status line ("HTTP/1.1 200 OK\r\n"): the status code, 0
 * while more bytes are needed, or -1 when it is not a status line. */
int l4_health_status(const char *buf, size_t len);

#endif
