/* Dropping root after the privileged set-up (listeners, admin socket,
 * metrics listener, raised limits). */
#ifndef STRATA_L4_PRIVS_H
#define STRATA_L4_PRIVS_H

/* Becomes `user` (and `group`, or the user's primary group) with no
 * supplementary groups and, since the uid changes from 0, no capabilities.
 * A NULL user is a no-op. Verifies that root cannot be regained. Returns 0
 * or -errno with a logged reason. */
int l4_privs_drop(const char *user, const char *group);

#endif
