/* The process's descriptor limit: every daemon raises the soft
 * RLIMIT_NOFILE to the hard limit at start-up, as HAProxy and nginx do, so
 * a limit an operator set (systemd LimitNOFILE=, prlimit) is what counts. */
#ifndef STRATA_NOFILE_H
#define STRATA_NOFILE_H

#include <stdbool.h>

#define NOFILE_ACCEPT_RETRY_MS 100 /* accept again this long after running out */

/* Raises the soft RLIMIT_NOFILE to the hard limit and logs both in one line
 * ("RLIMIT_NOFILE: soft limit S (was W), hard limit H"); returns the soft
 * limit now in force (1024 when it cannot be read). A refused raise is
 * logged as a warning and the old soft limit returned. Start-up only. */
unsigned long nofile_raise(void);

/* True for an accept error (-errno) that says "no descriptor or memory for
 * the connection now": EMFILE, ENFILE, ENOBUFS, ENOMEM. The connection stays
 * in the backlog, so the listener stays readable and accepting again at once
 * fails again at once: stop watching it for NOFILE_ACCEPT_RETRY_MS. */
bool nofile_accept_exhausted(int err);

#endif
