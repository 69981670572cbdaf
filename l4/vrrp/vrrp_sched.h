/* Keeping adverts on time and the process small in privilege.
 *
 * As keepalived does (vrrp_rt_priority, vrrp_no_swap): the advert path runs
 * SCHED_RR so a saturated machine cannot starve it past Master_Down_Interval,
 * and memory is locked so it is never paged out. After start-up every
 * capability but CAP_NET_RAW (raw sockets, re-opened when an interface
 * returns) and CAP_NET_ADMIN (VIPs, the macvlan) is dropped, from the
 * bounding set too, so scripts we start cannot regain more.
 */
#ifndef STRATA_VRRP_SCHED_H
#define STRATA_VRRP_SCHED_H

/* SCHED_RR at `priority` (1..99) for the calling thread; 0 does nothing.
 * Returns 0 or -errno. */
int vrrp_sched_realtime(int priority);

/* Lifts RLIMIT_MEMLOCK (so MCL_FUTURE keeps working once CAP_IPC_LOCK is
 * gone) and locks current and future pages. Returns 0 or -errno. */
int vrrp_sched_lock_memory(void);

/* Drops every capability but CAP_NET_RAW and CAP_NET_ADMIN from the
 * effective, permitted, inheritable, ambient and bounding sets.
 * Returns 0 or -errno. */
int vrrp_caps_drop(void);

#endif
