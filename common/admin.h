/* Admin socket: a unix stream socket server in its own thread, and a client.
 *
 * Protocol (one request per connection): the client sends one line of
 * whitespace-separated words ending in '\n'; the server answers zero or more
 * lines of text, then a final status line that is exactly `OK` or
 * `ERR <message>`, then closes. Because the status is always the last line
 * before the close, a body line that happens to read "OK" is not ambiguous.
 * Lines are at most ADMIN_MAX_LINE bytes; control characters other than tab
 * are refused.
 *
 * Access: the socket file's mode is the permission. It is created 0660 and
 * chowned to the daemon's uid and the configured group, or 0600 when no group
 * is configured. As defence in depth the server reads each peer's
 * credentials (SO_PEERCRED, SO_PEERGROUPS) and runs a command registered as
 * ADMIN_MUTATING only for uid 0, the daemon's own uid, or a member of the
 * configured group; read-only commands run for anyone who could connect.
 *
 * THREADING: handlers run on the admin thread, one at a time, while the
 * workers keep running. A handler must therefore be thread-safe with respect
 * to the workers: reading per-worker counters (metrics_read) or an immutable
 * config snapshot is fine; changing state must go through atomics or be
 * posted to the owning worker's loop (loop_post). A handler should be quick:
 * while it runs no other admin client is served.
 */
#ifndef STRATA_ADMIN_H
#define STRATA_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ADMIN_MAX_LINE	   4096 /* request line, without the '\n' */
#define ADMIN_MAX_ARGS	   64	/* words in one request */
#define ADMIN_MAX_CLIENTS  32	/* connections served at once */
#define ADMIN_MAX_COMMANDS 64
#define ADMIN_MAX_OUTPUT   (16u << 20) /* body bytes of one answer */
#define ADMIN_TIMEOUT_MS   10000       /* per connection, request and answer */
#define ADMIN_MSG_MAX	   256	       /* an ERR message */

enum admin_access {
	ADMIN_READONLY, /* show/help/metrics: anyone who can connect */
	ADMIN_MUTATING, /* changes state: uid 0, the daemon's uid, or the group */
	ADMIN_ACCESS__COUNT
};

struct admin_srv;
struct admin_out;

/* Runs a command. argv[0] is the command name; argv[argc] is NULL. Prints
 * the body into `out`; returns 0 for OK, anything else for ERR (with the
 * message set by admin_fail, or a generic one). */
typedef int (*admin_handler_fn)(void *arg, int argc, char **argv, struct admin_out *out);

/* Creates the socket file at `path` (0660 root:`group`, or 0600 when `group`
 * is NULL or empty) and listens; the thread starts with admin_start().
 * A stale socket file (nobody listening) is replaced; when a live process
 * answers on `path` it returns -EADDRINUSE, when `path` exists and is not a
 * socket -EEXIST (the file is left alone), an unknown group -ENOENT, a path
 * too long for sun_path -ENAMETOOLONG, else -errno. */
int admin_srv_new(const char *path, const char *group, struct admin_srv **out);

/* Adds a command (before admin_start). `usage` is shown by `help`; both
 * strings are kept, not copied. Returns 0, -EEXIST, -ENOSPC or -EINVAL. */
int admin_register(struct admin_srv *srv, const char *name, const char *usage, admin_handler_fn fn,
		   void *arg, enum admin_access access);

/* Per-connection time limit (default ADMIN_TIMEOUT_MS); before admin_start. */
void admin_set_timeout(struct admin_srv *srv, int timeout_ms);

/* Starts the server thread; returns 0 or -errno. */
int admin_start(struct admin_srv *srv);

/* Stops the thread, closes every connection, removes the socket file when it
 * is still the one this server created, and frees `srv`. Safe on NULL. */
void admin_srv_free(struct admin_srv *srv);

/* --- for handlers -------------------------------------------------------- */

/* Append to the body. Output past ADMIN_MAX_OUTPUT is cut and the answer
 * becomes `ERR output too long`. */
void admin_write(struct admin_out *out, const char *s, size_t n);
void admin_puts(struct admin_out *out, const char *s);
void admin_printf(struct admin_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets the ERR message (newlines become spaces); returns -1 so a handler can
 * `return admin_fail(out, "no service '%s'", argv[1]);`. */
int admin_fail(struct admin_out *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The peer's credentials as read at accept. */
uid_t admin_peer_uid(const struct admin_out *out);
pid_t admin_peer_pid(const struct admin_out *out);

/* --- client (admin_client.c) --------------------------------------------- */

#define ADMIN_CLIENT_LINE_MAX 65536 /* longest answer line the client takes */

/* Called for every body line, without its '\n'. */
typedef void (*admin_line_fn)(void *arg, const char *line, size_t len);

struct admin_reply {
	admin_line_fn on_line; /* may be NULL: the body is discarded */
	void *arg;
	bool connected;		     /* false: the failure came before connecting */
	char message[ADMIN_MSG_MAX]; /* the ERR message, or what went wrong */
};

/* Sends `line` (no '\n' in it; one is appended) to the server at `path` and
 * reads the answer within `timeout_ms` overall. Returns 0 on OK, 1 on ERR
 * (message in r->message), or -errno when the transport failed: the connect
 * errno (-ENOENT, -ECONNREFUSED, -EACCES, ...), -ETIMEDOUT, -EPROTO for an
 * answer without a valid status line, -EMSGSIZE for an overlong answer line,
 * -EINVAL for a line holding '\n'. */
int admin_request(const char *path, const char *line, struct admin_reply *r, int timeout_ms);

#endif
