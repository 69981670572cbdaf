/* Raising the descriptor limit at start-up (nofile.h). */
#include "nofile.h"

#include <errno.h>
#include <sys/resource.h>

#include "log.h"

unsigned long nofile_raise(void)
{
	struct rlimit rl;
	unsigned long was;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	was = (unsigned long)rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warn("RLIMIT_NOFILE: cannot raise the soft limit %lu: %m", was);
			return was;
		}
	}
	log_info("RLIMIT_NOFILE: soft limit %lu (was %lu), hard limit %lu",
		 (unsigned long)rl.rlim_cur, was, (unsigned long)rl.rlim_max);
	return (unsigned long)rl.rlim_cur;
}

bool nofile_accept_exhausted(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}
