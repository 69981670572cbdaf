/* Spawning helper programs with a clean environment; see vrrp_script.h. */
#include "vrrp_script.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <unistd.h>

extern char **environ;

static int set_attrs(posix_spawnattr_t *at)
{
	struct sched_param sp = {.sched_priority = 0};
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	rc = posix_spawnattr_init(at);
	if (rc)
		return rc;
	/* SETSIGDEF resets every signal we might have changed; SETSCHEDULER
	 * drops the daemon's real-time class; SETPGROUP 0: own group. */
	rc = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETSCHEDULER | POSIX_SPAWN_SETPGROUP);
	if (!rc)
		rc = posix_spawnattr_setsigmask(at, &none);
	if (!rc)
		rc = posix_spawnattr_setsigdefault(at, &all);
	if (!rc)
		rc = posix_spawnattr_setschedpolicy(at, SCHED_OTHER);
	if (!rc)
		rc = posix_spawnattr_setschedparam(at, &sp);
	if (!rc)
		rc = posix_spawnattr_setpgroup(at, 0);
	if (rc)
		posix_spawnattr_destroy(at);
	return rc;
}

pid_t vrrp_script_spawn(const char *command, const char *const *args)
{
	const char *argv[VRRP_SCRIPT_MAX_ARGS + 5];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	size_t n = 0;
	pid_t pid;
	int rc;

	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = command;
	argv[n++] = "strata-vrrp-script"; /* $0 */
	for (size_t i = 0; args && args[i] && i < VRRP_SCRIPT_MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	rc = set_attrs(&at);
	if (rc)
		return -rc;
	rc = posix_spawn_file_actions_init(&fa);
	if (!rc)
		rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc ? -rc : pid;
}

void vrrp_script_kill(pid_t pid)
{
	if (pid > 0 && kill(-pid, SIGKILL) < 0)
		kill(pid, SIGKILL);
}
