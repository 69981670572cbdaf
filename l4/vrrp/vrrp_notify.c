/* Notify scripts and the state file; see vrrp_notify.h. */
#include "vrrp_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vrrp_script.h"

int vrrp_notify_run(const char *script, const char *kind, const char *name, const char *state,
		    unsigned priority)
{
	char prio[8];
	const char *args[5];

	if (!script || !script[0])
		return 0;
	snprintf(prio, sizeof(prio), "%u", priority);
	args[0] = kind;
	args[1] = name;
	args[2] = state;
	args[3] = prio;
	args[4] = NULL;
	/* `"$@"` passes the arguments to the configured command unchanged. */
	char cmd[1024];
	int n = snprintf(cmd, sizeof(cmd), "%s \"$@\"", script);

	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -ENAMETOOLONG;
	return vrrp_script_spawn(cmd, args);
}

int vrrp_state_file_write(const char *path, const char *text, size_t len)
{
	char tmp[512];
	int fd, rc = 0;
	size_t off = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0 && !rc)
		rc = -errno;
	/* rename() is atomic: readers see the old file or the new one. */
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}
