/* Privilege drop (privs.h). */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int l4_privs_drop(const char *user, const char *group)
{
	struct passwd *pw;
	struct group *gr;
	gid_t gid;

	if (!user)
		return 0;
	pw = getpwnam(user);
	if (!pw) {
		log_err("user '%s' does not exist", user);
		return -ENOENT;
	}
	gid = pw->pw_gid;
	if (group) {
		gr = getgrnam(group);
		if (!gr) {
			log_err("group '%s' does not exist", group);
			return -ENOENT;
		}
		gid = gr->gr_gid;
	}
	/* Order matters: groups while still root, the uid last. */
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
		int e = errno;

		log_err("cannot become %s: %s", user, strerror(e));
		return -e;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		log_err("dropping root failed: uid 0 could be regained");
		return -EPERM;
	}
	log_info("running as user %s (uid %u), group %u, no supplementary groups", user,
		 (unsigned)pw->pw_uid, (unsigned)gid);
	return 0;
}
