/* Internals of the admin server shared by admin.c (socket file, server
 * thread, connections) and admin_cmd.c (answer buffers, command lookup and
 * dispatch). Not an API: only those two files include it. */
#ifndef STRATA_ADMIN_IMPL_H
#define STRATA_ADMIN_IMPL_H

#include "admin.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

enum admin_cstate { AC_FREE, AC_READ, AC_WRITE, AC_DRAIN, AC__STATE_COUNT };

struct admin_out {
	char *p;
	size_t len, cap;
	bool truncated;
	bool failed;
	char msg[ADMIN_MSG_MAX];
	uid_t uid;
	pid_t pid;
};

struct admin_client {
	enum admin_cstate state;
	int fd;
	bool may_mutate;
	uint64_t deadline_ms;
	size_t in_len;
	char in[ADMIN_MAX_LINE + 2]; /* the line, its '\n', a NUL */
	struct admin_out out;
	size_t out_off;
};

struct admin_cmd {
	const char *name, *usage;
	admin_handler_fn fn;
	void *arg;
	enum admin_access access;
};

struct admin_srv {
	char *path;
	char *group;
	gid_t gid;
	bool has_group;
	dev_t dev;
	ino_t ino;
	int lfd;
	int wake[2];
	int timeout_ms;
	uint64_t accept_after_ms; /* out of descriptors: the listener rests until then */
	bool running;
	pthread_t thread;
	struct admin_cmd cmds[ADMIN_MAX_COMMANDS];
	unsigned n_cmds;
	struct admin_client clients[ADMIN_MAX_CLIENTS];
};

/* admin_cmd.c: appends to an answer, growing it; false on ENOMEM (no limit). */
bool admin_out_append(struct admin_out *out, const char *s, size_t n);
/* Runs one request line (NUL-terminated, `len` bytes) for client `c`: help,
 * a registered command, or an error set in c->out. Returns the handler's
 * result (0 = OK). */
int admin_run_line(struct admin_srv *srv, struct admin_client *c, char *line, size_t len);

#endif
