/* strata-l4's admin commands, registered on the admin socket server. */
#ifndef STRATA_L4_CTL_H
#define STRATA_L4_CTL_H

struct admin_srv;
struct l4_proc;

/* Registers show, set, reload and metrics with `srv` (before admin_start).
 * Returns 0 or -EINVAL. */
int l4_ctl_register(struct admin_srv *srv, struct l4_proc *p);

#endif
