/* Trackers: what an instance's priority or FAULT state depends on.
 *
 *  strata-l4  the PID from its pid file, watched through a pidfd (its exit
 *             is an event, seen at once, not polled), the pid file watched
 *             with inotify so a restarted strata-l4 is picked up, and an
 *             optional probe of its admin socket (`show stats` must answer
 *             OK). A strata-l4 that reports a drain with nothing open is
 *             down at once: it takes no new client, so the VIP should go
 *             (docs/vrrp.md "Planned maintenance").
 *  interface  link state from RTNLGRP_LINK netlink events.
 *  script     a command's exit status every interval, killed at timeout.
 *
 * Each has a verdict (up/down) that changes after `rise` / `fall`
 * consecutive results, except the death of strata-l4, which is down at
 * once. The daemon owns the struct vrrp_trackers; it registers the fds with
 * its loop and calls back on every verdict change.
 */
#ifndef STRATA_VRRP_TRACK_H
#define STRATA_VRRP_TRACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vrrp_addr.h"
#include "vrrp_config.h"
#include "vrrp_l4stats.h"
#include "vrrp_loop.h"

#define VRRP_PROBE_BUF 512 /* the tail of an admin answer we keep */
/* strata-l4 draining, or our own shutdown waiting for it: probe this often. */
#define VRRP_L4_FAST_US 10000u
/* A drain counts as quiet only after this long: a handshake strata-l4
 * answered just before its drain needs a client round trip to complete. */
#define VRRP_L4_SETTLE_MS 300u

struct vrrp_track {
	const struct vrrp_track_cfg *cfg;
	struct vrrp_trackers *owner;
	bool up;
	unsigned ok_run, fail_run;
	uint64_t next;	  /* next probe or script run */
	uint64_t changes; /* verdict changes, for metrics */
	/* strata-l4 */
	pid_t pid;
	int pidfd;
	int probe_fd;
	uint64_t probe_deadline;
	size_t probe_len;
	char probe_buf[VRRP_PROBE_BUF];
	bool probe_up;		   /* admin probe verdict (true when no socket is set) */
	struct vrrp_l4stats rx;	   /* the answer being read */
	struct vrrp_l4stats stats; /* the last whole answer */
	uint64_t stats_at;	   /* when it came; 0: none from this process */
	bool fast;		   /* probe every VRRP_L4_FAST_US (our shutdown) */
	/* interface */
	bool link_up;
	/* script */
	pid_t child;
	uint64_t child_deadline;
};

typedef void (*vrrp_track_fn)(void *ctx, struct vrrp_track *t);

struct vrrp_trackers {
	unsigned n;
	struct vrrp_track t[VRRP_MAX_TRACKERS];
	struct vrrp_loop *loop;
	int inotify_fd;
	vrrp_track_fn on_change;
	void *ctx;
};

/* Sets up every tracker of `cfg` (kept by pointer) and takes the first
 * verdicts that can be had at once (pid alive, link state; scripts start
 * down until their first run). Returns 0 or -errno. */
int vrrp_track_init(struct vrrp_trackers *ts, const struct vrrp_cfg *cfg, struct vrrp_loop *loop,
		    struct vrrp_nl *nl, vrrp_track_fn on_change, void *ctx, uint64_t now);
void vrrp_track_fini(struct vrrp_trackers *ts);

/* Runs due probes and scripts, times out late ones. */
void vrrp_track_timer(struct vrrp_trackers *ts, uint64_t now);
uint64_t vrrp_track_next(const struct vrrp_trackers *ts);

/* Our shutdown: probe every strata-l4 tracker every VRRP_L4_FAST_US from
 * `now` on (`on`), or at their interval again. */
void vrrp_track_l4_fast(struct vrrp_trackers *ts, bool on, uint64_t now);
/* True when some strata-l4 tracker watches a live process it can ask. */
bool vrrp_track_l4_watched(const struct vrrp_trackers *ts);
/* True when every strata-l4 we can ask has exited, or answered after
 * `since` with nothing open (vrrp_l4stats_quiet). */
bool vrrp_track_l4_quiet(const struct vrrp_trackers *ts, uint64_t since);

/* Feed from the netlink link monitor. */
void vrrp_track_link_event(struct vrrp_trackers *ts, const struct vrrp_link_info *link, bool gone);

/* Feed from the SIGCHLD reaper; returns true when `pid` was a script of
 * ours (its result is taken). */
bool vrrp_track_child_exit(struct vrrp_trackers *ts, pid_t pid, int status, uint64_t now);

#endif
