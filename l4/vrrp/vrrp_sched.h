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

#include <stddef.h>

#define VRRP_SCHED_STACK_PREFAULT (128u << 10) /* main-thread stack locked up front */
#define VRRP_SCHED_THREAD_STACK	  (256u << 10) /* admin and metrics threads */

/* Locks the pages we hold, and future ones when RLIMIT_MEMLOCK can be
 * lifted (so MCL_FUTURE still works once CAP_IPC_LOCK is gone). Returns 1
 * (current and future), 0 (current only) or -errno. */
int vrrp_sched_lock_memory(void);

/* Default stack size of threads created from now on: locked memory is
 * real memory, and the helper threads need little. 0 or -errno. */
int vrrp_sched_thread_stacks(size_t bytes);

/* Drops every capability but CAP_NET_RAW and CAP_NET_ADMIN from the
 * effective, permitted, inheritable, ambient and bounding sets.
 * Returns 0 or -errno. */
int vrrp_caps_drop(void);

#endif
