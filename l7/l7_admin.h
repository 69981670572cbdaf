/* strata-l7's admin socket commands (docs/operations.md "strata-l7"):
 *   show upstreams | servers [UPSTREAM] | listeners | stats   read-only
 *   set server UPSTREAM SERVER ready|drain|maint                changes state
 *   set instance ready|drain   (drain: PPv2 LOCAL health answers 503)
 *   reload                                                      changes state
 *   metrics [PREFIX]                                            read-only
 */
#ifndef STRATA_L7_ADMIN_H
#define STRATA_L7_ADMIN_H

struct admin_srv;

/* Registers the commands (before admin_start). Returns 0 or -errno. */
int l7_admin_register(struct admin_srv *srv);

#endif
