/* strata-l4's `show stats` answer as the strata-l4 tracker reads it: how
 * many connections are open and whether a drain is under way.
 *
 * A line parser fed with the answer in pieces as they arrive (a line may
 * be split anywhere); it keeps only the three lines it knows ("active N",
 * "draining 0|1", "draining_ms N") and ignores the rest, overlong lines
 * included. No allocation, no I/O: the unit tests feed it byte by byte.
 */
#ifndef STRATA_VRRP_L4STATS_H
#define STRATA_VRRP_L4STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VRRP_L4STATS_LINE 48 /* longer lines are none of ours */

struct vrrp_l4stats {
	bool has_active; /* an "active" line was seen */
	bool draining;
	uint32_t active;
	uint64_t draining_ms;
	/* the line being read */
	char line[VRRP_L4STATS_LINE];
	size_t len;
	bool overlong;
};

void vrrp_l4stats_reset(struct vrrp_l4stats *s);
/* Feeds `n` bytes of the answer. */
void vrrp_l4stats_feed(struct vrrp_l4stats *s, const char *buf, size_t n);

/* Nothing open, and when draining, draining for at least `settle_ms` (so
 * a handshake answered just before the drain had its round trip to
 * complete and be counted). False without an "active" line. */
bool vrrp_l4stats_quiet(const struct vrrp_l4stats *s, uint64_t settle_ms);
/* Draining and quiet: this strata-l4 will take no new client. */
bool vrrp_l4stats_drained(const struct vrrp_l4stats *s, uint64_t settle_ms);

#endif
