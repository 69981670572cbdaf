/* Admin socket server: socket file set-up, the poll loop thread, connections
 * and peer credential checks; see admin.h for the protocol. Answers and
 * command dispatch are in admin_cmd.c. The
 * server owns its socket file, its listening socket, every client socket and
 * buffer; commands are borrowed from the caller. */
#include "admin_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "nofile.h"

#define ADMIN_DRAIN_MS 500 /* after the answer: read leftovers so close sends no RST */

/* --- socket file ---------------------------------------------------------- */

static int fill_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/* An existing socket file is stale when connecting is refused; a live
 * listener (even one with a full backlog) means another daemon owns it. */
static int clear_stale(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, r, err;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fill_sun(&sun, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	err = errno;
	close(fd);
	if (r == 0 || err == EAGAIN)
		return -EADDRINUSE;
	if (err != ECONNREFUSED)
		return -err;
	log_info("admin: removing stale socket %s", path);
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* Binds under a temporary name, sets mode and owner, listens, then renames
 * into place, so no client ever sees the socket with the wrong permissions. */
static int create_socket(struct admin_srv *srv)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path) + 32];
	struct sockaddr_un sun;
	struct stat st;
	int r;

	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", srv->path, (int)getpid());
	r = fill_sun(&sun, tmp);
	if (r < 0)
		return r;
	srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0)
		return -errno;
	unlink(tmp);
	if (bind(srv->lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -errno;
	if (chmod(tmp, srv->has_group ? 0660 : 0600) < 0 ||
	    (srv->has_group && chown(tmp, geteuid(), srv->gid) < 0) || listen(srv->lfd, 64) < 0 ||
	    rename(tmp, srv->path) < 0 || stat(srv->path, &st) < 0) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	return 0;
}

static int lookup_group(struct admin_srv *srv, const char *group)
{
	struct group gr, *res = NULL;
	char buf[4096];
	int r;

	if (!group || !*group)
		return 0;
	r = getgrnam_r(group, &gr, buf, sizeof(buf), &res);
	if (r)
		return -r;
	if (!res)
		return -ENOENT;
	srv->gid = gr.gr_gid;
	srv->has_group = true;
	srv->group = strdup(group);
	return srv->group ? 0 : -ENOMEM;
}

int admin_srv_new(const char *path, const char *group, struct admin_srv **out)
{
	struct admin_srv *srv = calloc(1, sizeof(*srv));
	struct sockaddr_un sun;
	int r;

	if (!srv)
		return -ENOMEM;
	srv->lfd = srv->wake[0] = srv->wake[1] = -1;
	srv->timeout_ms = ADMIN_TIMEOUT_MS;
	for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
		srv->clients[i].fd = -1;
	srv->path = strdup(path);
	r = srv->path ? fill_sun(&sun, path) : -ENOMEM;
	if (r == 0)
		r = lookup_group(srv, group);
	if (r == 0)
		r = clear_stale(path);
	if (r == 0)
		r = create_socket(srv);
	if (r == 0 && pipe2(srv->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		r = -errno;
	if (r < 0) {
		if (srv->ino) /* ours: created before the failure */
			unlink(path);
		srv->ino = 0;
		admin_srv_free(srv);
		return r;
	}
	*out = srv;
	return 0;
}

int admin_register(struct admin_srv *srv, const char *name, const char *usage, admin_handler_fn fn,
		   void *arg, enum admin_access access)
{
	if (!name || !*name || !fn || access >= ADMIN_ACCESS__COUNT || srv->running)
		return -EINVAL;
	if (strcmp(name, "help") == 0)
		return -EEXIST;
	for (unsigned i = 0; i < srv->n_cmds; i++)
		if (strcmp(srv->cmds[i].name, name) == 0)
			return -EEXIST;
	if (srv->n_cmds == ADMIN_MAX_COMMANDS)
		return -ENOSPC;
	srv->cmds[srv->n_cmds++] = (struct admin_cmd){
	    .name = name, .usage = usage ? usage : name, .fn = fn, .arg = arg, .access = access};
	return 0;
}

void admin_set_timeout(struct admin_srv *srv, int timeout_ms)
{
	srv->timeout_ms = timeout_ms > 0 ? timeout_ms : ADMIN_TIMEOUT_MS;
}

/* --- peers and connections ------------------------------------------------ */

/* SO_PEERGROUPS (Linux 4.13) gives the peer's supplementary groups as they
 * were at connect(); SO_PEERCRED only has the primary gid. */
static bool peer_in_group(int fd, gid_t gid)
{
	gid_t small[64], *g = small;
	socklen_t len = sizeof(small);
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || !(g = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		found = found || g[i] == gid;
	if (g != small)
		free(g);
	return found;
}

static void client_init(struct admin_srv *srv, struct admin_client *c, int fd, uint64_t now)
{
	struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
	socklen_t len = sizeof(cred);

	memset(&c->out, 0, sizeof(c->out));
	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	c->fd = fd;
	c->state = AC_READ;
	c->in_len = 0;
	c->out_off = 0;
	c->deadline_ms = now + (uint64_t)srv->timeout_ms;
	c->out.uid = cred.uid;
	c->out.pid = cred.pid;
	c->may_mutate = cred.uid == 0 || cred.uid == geteuid() ||
			(srv->has_group && (cred.gid == srv->gid || peer_in_group(fd, srv->gid)));
}

static void client_close(struct admin_client *c)
{
	close(c->fd);
	free(c->out.p);
	memset(&c->out, 0, sizeof(c->out));
	c->fd = -1;
	c->state = AC_FREE;
}

/* Ends the body with a newline, appends the status line (past the body
 * limit on purpose) and starts sending. */
static void client_finish(struct admin_client *c, int rc)
{
	struct admin_out *o = &c->out;
	char status[ADMIN_MSG_MAX + 8];
	int n;

	if (o->truncated)
		n = snprintf(status, sizeof(status), "ERR output too long (max %u bytes)\n",
			     ADMIN_MAX_OUTPUT);
	else if (rc == 0 && !o->failed)
		n = snprintf(status, sizeof(status), "OK\n");
	else
		n = snprintf(status, sizeof(status), "ERR %s\n",
			     o->msg[0] ? o->msg : "command failed");
	if ((o->len && o->p[o->len - 1] != '\n' && !admin_out_append(o, "\n", 1)) ||
	    !admin_out_append(o, status, (size_t)n)) {
		client_close(c);
		return;
	}
	c->state = AC_WRITE;
}

/* --- the server thread ---------------------------------------------------- */

static void on_readable(struct admin_srv *srv, struct admin_client *c)
{
	char *nl;
	ssize_t r;

	if (c->state == AC_WRITE) { /* error or hang-up while answering */
		client_close(c);
		return;
	}
	if (c->state == AC_DRAIN) {
		char sink[512];

		r = recv(c->fd, sink, sizeof(sink), 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, 0);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(c);
		return;
	}
	c->in_len += (size_t)r;
	c->in[c->in_len] = '\0';
	nl = memchr(c->in, '\n', c->in_len);
	if (nl) {
		*nl = '\0';
		client_finish(c, admin_run_line(srv, c, c->in, (size_t)(nl - c->in)));
	} else if (c->in_len == sizeof(c->in) - 1) {
		admin_fail(&c->out, "line too long (max %d bytes)", ADMIN_MAX_LINE);
		client_finish(c, -1);
	} else if (r == 0 && c->in_len) { /* the last line may lack its '\n' */
		client_finish(c, admin_run_line(srv, c, c->in, c->in_len));
	} else if (r == 0) {
		client_close(c);
	}
}

static void on_writable(struct admin_srv *srv, struct admin_client *c, uint64_t now)
{
	ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(c);
		return;
	}
	c->out_off += (size_t)w;
	if (c->out_off < c->out.len)
		return;
	shutdown(c->fd, SHUT_WR);
	c->state = AC_DRAIN;
	if (c->deadline_ms > now + ADMIN_DRAIN_MS)
		c->deadline_ms = now + ADMIN_DRAIN_MS;
}

static struct admin_client *free_client(struct admin_srv *srv)
{
	for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
		if (srv->clients[i].state == AC_FREE)
			return &srv->clients[i];
	return NULL;
}

static void on_accept(struct admin_srv *srv, uint64_t now)
{
	struct admin_client *c;
	int fd;

	while ((c = free_client(srv)) != NULL) {
		fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (nofile_accept_exhausted(-errno))
				srv->accept_after_ms = now + NOFILE_ACCEPT_RETRY_MS;
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_rl(LOG_LVL_WARN, "admin: accept: %s", strerror(errno));
			return;
		}
		client_init(srv, c, fd, now);
	}
}

static int poll_timeout(struct admin_srv *srv, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
		if (srv->clients[i].state != AC_FREE && srv->clients[i].deadline_ms < next)
			next = srv->clients[i].deadline_ms;
	if (srv->accept_after_ms > now && srv->accept_after_ms < next)
		next = srv->accept_after_ms;
	return next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
}

static void *admin_main(void *arg)
{
	struct admin_srv *srv = arg;
	struct pollfd pfd[ADMIN_MAX_CLIENTS + 2];
	int map[ADMIN_MAX_CLIENTS + 2];

	for (;;) {
		uint64_t now = log_now_ms();
		nfds_t n = 2;

		/* The listener is polled only while a slot is free; a full server
		 * leaves new clients in the backlog instead of dropping them. Out
		 * of descriptors it rests too: still readable, it would spin. */
		pfd[0] = (struct pollfd){.fd = srv->wake[0], .events = POLLIN};
		pfd[1] = (struct pollfd){
		    .fd = free_client(srv) && now >= srv->accept_after_ms ? srv->lfd : -1,
		    .events = POLLIN};
		for (int i = 0; i < ADMIN_MAX_CLIENTS; i++) {
			struct admin_client *c = &srv->clients[i];

			if (c->state == AC_FREE)
				continue;
			pfd[n].fd = c->fd;
			pfd[n].events = c->state == AC_WRITE ? POLLOUT : POLLIN;
			map[n++] = i;
		}
		if (poll(pfd, n, poll_timeout(srv, now)) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		now = log_now_ms();
		for (nfds_t i = 2; i < n; i++) {
			struct admin_client *c = &srv->clients[map[i]];

			if (pfd[i].revents & POLLOUT)
				on_writable(srv, c, now);
			else if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				on_readable(srv, c);
			if (c->state != AC_FREE && now >= c->deadline_ms)
				client_close(c);
		}
		if (pfd[1].revents & POLLIN)
			on_accept(srv, now);
	}
	return NULL;
}

int admin_start(struct admin_srv *srv)
{
	int r;

	if (srv->running)
		return -EALREADY;
	r = pthread_create(&srv->thread, NULL, admin_main, srv);
	if (r)
		return -r;
	srv->running = true;
	return 0;
}

void admin_srv_free(struct admin_srv *srv)
{
	struct stat st;

	if (!srv)
		return;
	if (srv->running) {
		while (write(srv->wake[1], "x", 1) < 0 && errno == EINTR)
			;
		pthread_join(srv->thread, NULL);
	}
	for (int i = 0; i < ADMIN_MAX_CLIENTS; i++)
		if (srv->clients[i].state != AC_FREE)
			client_close(&srv->clients[i]);
	/* Only remove the file if it is still ours: a newer daemon may have
	 * replaced a socket it found stale. */
	if (srv->ino && stat(srv->path, &st) == 0 && st.st_ino == srv->ino && st.st_dev == srv->dev)
		unlink(srv->path);
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->wake[0] >= 0) {
		close(srv->wake[0]);
		close(srv->wake[1]);
	}
	free(srv->group);
	free(srv->path);
	free(srv);
}
