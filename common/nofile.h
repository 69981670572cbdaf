/* The process's descriptor limit: every daemon raises the soft
 * RLIMIT_NOFILE to the hard limit at start-up, as HAProxy and nginx do, so
 * a limit an operator set (systemd LimitNOFILE=, prlimit) is what counts. */
#ifndef STRATA_NOFILE_H
#define STRATA_NOFILE_H

/* Raises the soft RLIMIT_NOFILE to the hard limit and logs both in one line
 * ("RLIMIT_NOFILE: soft limit S (was W), hard limit H"); returns the soft
 * limit now in force (1024 when it cannot be read). A refused raise is
 * logged as a warning and the old soft limit returned. Start-up only. */
unsigned long nofile_raise(void);

#endif
