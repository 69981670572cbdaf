/* Running helper programs (track scripts, notify scripts) without letting
 * them inherit what the daemon holds for itself.
 *
 * The daemon runs SCHED_RR with locked memory and blocked signals (read
 * through a signalfd); a child must start as an ordinary process: SCHED_OTHER,
 * default signal dispositions, an empty signal mask, stdin from /dev/null,
 * and its own process group so a timeout can kill the whole tree. Children
 * are reaped by the daemon's SIGCHLD handler (waitpid), never here.
 */
#ifndef STRATA_VRRP_SCRIPT_H
#define STRATA_VRRP_SCRIPT_H

#include <sys/types.h>

#define VRRP_SCRIPT_MAX_ARGS 16

/* Runs `/bin/sh -c command` with argv[1..] as the script's $1..; `args`
 * is NULL-terminated (may be NULL). Returns the child's pid or -errno. */
pid_t vrrp_script_spawn(const char *command, const char *const *args);

/* Kills the child's process group with SIGKILL (timeout). */
void vrrp_script_kill(pid_t pid);

#endif
