/* SIGHUP reload of strata-vrrp; see vrrp_reload.c for what may change. */
#ifndef STRATA_VRRP_RELOAD_H
#define STRATA_VRRP_RELOAD_H

#include <stdint.h>

#include "vrrp_daemon.h"

/* Re-reads d->cfg->path. Returns 0 when applied (the old snapshot is
 * freed), -1 when refused (logged; nothing changed). */
int vrrp_reload(struct vrrp_daemon *d, uint64_t now);

#endif
