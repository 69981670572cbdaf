/* What strata-vrrp tells operators: the admin socket (`stratactl show`,
 * `stratactl state`, `stratactl metrics`), Prometheus /metrics, and the
 * state file.
 *
 * The loop thread publishes; the admin and metrics threads read. Metrics
 * cells have a single writer (the loop thread), the status table is copied
 * under a mutex, so neither reader ever touches an instance.
 */
#ifndef STRATA_VRRP_ADMIN_H
#define STRATA_VRRP_ADMIN_H

#include <stdbool.h>

struct vrrp_daemon;

/* Creates the metrics registry and series, opens the admin socket and the
 * /metrics listener when configured. Returns 0 or -errno (logged). */
int vrrp_admin_start(struct vrrp_daemon *d);
void vrrp_admin_stop(struct vrrp_daemon *d);

/* Copies every instance's state and counters out. With `changed` (a
 * transition) the state file is rewritten too. */
void vrrp_admin_publish(struct vrrp_daemon *d, bool changed);

#endif
