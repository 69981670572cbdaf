/* Active HTTP health checks and the upstream housekeeping thread.
 *
 * One thread, off the data path, every L7_HEALTH_TICK_MS:
 *   - runs the due checks of every server of the current generation whose
 *     upstream enables them (method, path, Host, expected status range,
 *     timeout; HAProxy's inter/rise/fall semantics: `fall` consecutive
 *     failures take a server down, `rise` consecutive successes bring it
 *     back);
 *   - lets passively ejected servers back in after their cool-down;
 *   - rebuilds consistent-hash tables when availability changed
 *     (balance_refresh(), which must not run on a worker's hot path);
 *   - closes expired idle connections of the shared pools;
 *   - sets the per-server gauges (up, idle, reuse ratio) as metrics writer
 *     L7M_WRITER_HEALTH.
 * Checks of one round run concurrently (non-blocking sockets and poll), so
 * a slow server delays no other server's check.
 */
#ifndef STRATA_L7_HEALTH_H
#define STRATA_L7_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define L7_HEALTH_TICK_MS      50
#define L7_HEALTH_MAX_INFLIGHT 256  /* checks running at once */
#define L7_HEALTH_RESP_MAX     1024 /* bytes read of a check's answer */

/* Parses the status of an HTTP/1.x status line at the start of buf:
 * returns 100..999, 0 when more bytes are needed, -1 when it is not one. */
int l7_health_status(const char *buf, size_t len);

/* Starts / stops the thread (the main thread calls both). */
int l7_health_start(unsigned workers);
void l7_health_stop(void);

#endif
