/* Telling the outside world about state changes: the notify script and the
 * state file.
 *
 * The notify script gets keepalived's arguments, so existing scripts work:
 *   $1 = "INSTANCE" or "GROUP", $2 = name, $3 = MASTER|BACKUP|FAULT|STOP,
 *   $4 = priority.
 * It runs detached (reaped by the daemon's SIGCHLD handler); a slow script
 * never delays an advert. The state file is rewritten atomically (temporary
 * file + rename) so a reader never sees half of it.
 */
#ifndef STRATA_VRRP_NOTIFY_H
#define STRATA_VRRP_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* Starts `script` (nothing when NULL or ""). Returns the pid, 0 when there
 * is no script, or -errno. */
int vrrp_notify_run(const char *script, const char *kind, const char *name, const char *state,
		    unsigned priority);

/* Replaces `path` with `len` bytes of `text` (mode 0644). 0 or -errno. */
int vrrp_state_file_write(const char *path, const char *text, size_t len);

#endif
