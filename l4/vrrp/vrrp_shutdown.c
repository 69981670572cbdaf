/* strata-vrrp's shutdown wait (vrrp_daemon.h).
 *
 * SIGTERM on a master that tracks a local strata-l4: before the priority-0
 * advert and the VIP removal, wait until strata-l4 has no connection open
 * (polled every VRRP_L4_FAST_US) or has exited, at most shutdown_wait. A
 * draining strata-l4 drops new SYNs, so once it is quiet nothing is under
 * way that the VIP's departure could cut (docs/vrrp.md "Planned
 * maintenance"). A second SIGTERM, or SIGINT, resigns at once.
 */
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "vrrp_daemon.h"

static bool any_master(const struct vrrp_daemon *d)
{
	for (unsigned i = 0; i < d->ninst; i++)
		if (d->inst[i].fsm.state == VRRP_ST_MASTER)
			return true;
	return false;
}

void vrrp_shutdown_begin(struct vrrp_daemon *d)
{
	uint64_t now = vrrp_now_us();

	if (d->stop_wait_until || !d->cfg->shutdown_wait_us || !any_master(d) ||
	    !vrrp_track_l4_watched(&d->tracks)) {
		log_info("SIGTERM: resigning and stopping");
		d->stopping = true;
		return;
	}
	d->stop_wait_since = now;
	d->stop_wait_until = now + d->cfg->shutdown_wait_us;
	vrrp_track_l4_fast(&d->tracks, true, now);
	log_info("SIGTERM: waiting up to %llu ms for strata-l4 to finish its connections, "
		 "then resigning",
		 (unsigned long long)(d->cfg->shutdown_wait_us / 1000));
}

void vrrp_shutdown_check(struct vrrp_daemon *d, uint64_t now)
{
	const char *why = NULL;

	if (!d->stop_wait_until || d->stopping)
		return;
	if (vrrp_track_l4_quiet(&d->tracks, d->stop_wait_since))
		why = "strata-l4 has nothing open (or exited)";
	else if (!any_master(d))
		why = "no longer master";
	else if (now >= d->stop_wait_until)
		why = "shutdown_wait is over, connections may be cut";
	if (!why)
		return;
	log_info("resigning after %llu ms: %s",
		 (unsigned long long)((now - d->stop_wait_since) / 1000), why);
	d->stopping = true;
}
