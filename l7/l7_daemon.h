/* strata-l7 process orchestration: start-up order (bind, then drop
 * privileges, then start threads), reload, drain and stop. main() drives
 * it from the signals; the admin thread may ask for a reload.
 */
#ifndef STRATA_L7_DAEMON_H
#define STRATA_L7_DAEMON_H

#include <stddef.h>
#include <stdint.h>

/* Builds the first generation from `path`, binds every socket, drops
 * privileges, starts the workers, health and admin threads. Returns 0, or
 * -errno after logging the reason. */
int l7_daemon_start(const char *path);

/* SIGHUP / `reload`: a new snapshot from the same file. On failure the
 * old one stays, err says why (FILE:LINE: ...) and -EINVAL is returned;
 * on success *gen is the new generation. Serialised by a lock. */
int l7_daemon_reload(char *err, size_t errlen, uint64_t *gen);

/* SIGTERM: stop accepting, let in-flight requests finish (answered with
 * Connection: close), close idle keep-alives; returns when every worker is
 * done or the drain timeout passed. */
void l7_daemon_drain(void);

/* Stops every thread and frees what start created. */
void l7_daemon_stop(void);

#endif
