/* Trackers: strata-l4 (pidfd + pid file + admin probe), interface link
 * state, scripts; see vrrp_track.h. Each tracker owns its pidfd and probe
 * socket; the struct vrrp_trackers owns the inotify fd. */
#include "vrrp_track.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "vrrp_script.h"

static void set_verdict(struct vrrp_track *t, bool up)
{
	if (t->up == up)
		return;
	t->up = up;
	t->changes++;
	log_info("tracker %s (%s) is %s", t->cfg->name, vrrp_track_type_name(t->cfg->type),
		 up ? "up" : "DOWN");
	if (t->owner->on_change)
		t->owner->on_change(t->owner->ctx, t);
}

/* One probe or script result, counted against rise/fall. */
static bool count_result(struct vrrp_track *t, bool ok, bool was_up)
{
	if (ok) {
		t->fail_run = 0;
		if (++t->ok_run >= t->cfg->rise)
			return true;
		return was_up;
	}
	t->ok_run = 0;
	if (++t->fail_run >= t->cfg->fall)
		return false;
	return was_up;
}

/* --- strata-l4 ------------------------------------------------------------ */

static void l4_update(struct vrrp_track *t)
{
	bool drained = t->stats_at && vrrp_l4stats_drained(&t->stats, VRRP_L4_SETTLE_MS);

	set_verdict(t, t->pidfd >= 0 && t->probe_up && !drained);
}

/* Forgets what the last process said (a new one, or none). */
static void l4_forget(struct vrrp_track *t)
{
	vrrp_l4stats_reset(&t->stats);
	t->stats_at = 0;
}

static uint64_t l4_period(const struct vrrp_track *t)
{
	bool fast = t->fast || (t->stats_at && t->stats.draining);

	return fast && t->cfg->interval_us > VRRP_L4_FAST_US ? VRRP_L4_FAST_US
							     : t->cfg->interval_us;
}

static void probe_close(struct vrrp_track *t)
{
	if (t->probe_fd < 0)
		return;
	vrrp_loop_unwatch(t->owner->loop, t->probe_fd);
	close(t->probe_fd);
	t->probe_fd = -1;
}

static void pid_close(struct vrrp_track *t)
{
	if (t->pidfd < 0)
		return;
	vrrp_loop_unwatch(t->owner->loop, t->pidfd);
	close(t->pidfd);
	t->pidfd = -1;
	t->pid = 0;
}

static void on_pidfd(void *arg, int fd, uint32_t events)
{
	struct vrrp_track *t = arg;

	/* The process exited: down now, not after `fall` probes. */
	log_warn("tracker %s: strata-l4 (pid %d) exited", t->cfg->name, (int)t->pid);
	pid_close(t);
	probe_close(t);
	l4_forget(t);
	t->ok_run = t->fail_run = 0;
	t->probe_up = !t->cfg->admin_socket[0];
	l4_update(t);
}

static pid_t read_pid(const char *path)
{
	char buf[32];
	ssize_t n;
	long v;
	char *end;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	v = strtol(buf, &end, 10);
	if (end == buf || v <= 1 || v > 4194304 || (*end && *end != '\n'))
		return 0;
	return (pid_t)v;
}

static bool comm_matches(pid_t pid, const char *want)
{
	char path[64], comm[32] = "";
	ssize_t n;
	int fd;

	if (!want[0])
		return true;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n > 0 && comm[n - 1] == '\n')
		n--;
	comm[n > 0 ? n : 0] = '\0';
	return strcmp(comm, want) == 0;
}

/* Watches `pid` as strata-l4 from now on (a new pidfd). A new process from
 * the pid file starts its probe count afresh; one learnt from a probe's
 * peer credentials keeps the probe that found it. False when `pid` is not
 * a live strata-l4. */
static bool l4_adopt(struct vrrp_track *t, pid_t pid, uint64_t now, bool from_probe)
{
	int fd;

	if (pid <= 0 || !comm_matches(pid, t->cfg->process_name))
		return false;
	fd = pidfd_open(pid, 0);
	if (fd < 0)
		return false; /* stale: the process is gone */
	if (vrrp_loop_watch(t->owner->loop, fd, EPOLLIN, on_pidfd, t) < 0) {
		close(fd);
		return false;
	}
	pid_close(t);
	if (!from_probe) {
		probe_close(t);
		l4_forget(t);
		t->ok_run = t->fail_run = 0;
		t->probe_up = !t->cfg->admin_socket[0];
		t->next = now; /* probe the new process at once */
	}
	t->pid = pid;
	t->pidfd = fd;
	log_info("tracker %s: watching strata-l4 pid %d", t->cfg->name, (int)pid);
	return true;
}

/* (Re)reads the pid file. A pid file being rewritten (or briefly missing)
 * must not make us drop a live process: only its exit (pidfd) or a new live
 * PID does. */
static void l4_resolve(struct vrrp_track *t, uint64_t now)
{
	pid_t pid = read_pid(t->cfg->pid_file);

	if (pid == t->pid && t->pidfd >= 0)
		return;
	l4_adopt(t, pid, now, false);
	l4_update(t);
}

static void probe_done(struct vrrp_track *t, bool ok)
{
	uint64_t now = vrrp_now_us();

	probe_close(t);
	if (ok) {
		bool was = t->stats_at && vrrp_l4stats_drained(&t->stats, VRRP_L4_SETTLE_MS);

		t->stats = t->rx;
		t->stats_at = now;
		if (!was && vrrp_l4stats_drained(&t->stats, VRRP_L4_SETTLE_MS))
			log_info("tracker %s: strata-l4 drains and has nothing open", t->cfg->name);
		if (now + l4_period(t) < t->next)
			t->next = now + l4_period(t);
	}
	t->probe_up = count_result(t, ok, t->probe_up);
	l4_update(t);
}

/* The answer ends with a status line: "OK" or "ERR ..." (admin.h). */
static bool probe_answer_ok(const struct vrrp_track *t)
{
	const char *b = t->probe_buf;
	size_t n = t->probe_len;

	while (n && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		n--;
	return n >= 2 && memcmp(b + n - 2, "OK", 2) == 0 && (n == 2 || b[n - 3] == '\n');
}

static void on_probe(void *arg, int fd, uint32_t events)
{
	struct vrrp_track *t = arg;
	char buf[512];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		/* keep only the tail: the status line is last */
		size_t keep = sizeof(t->probe_buf) - 1;

		if ((size_t)n >= keep) {
			memcpy(t->probe_buf, buf + (size_t)n - keep, keep);
			t->probe_len = keep;
		} else {
			if (t->probe_len + (size_t)n > keep) {
				size_t drop = t->probe_len + (size_t)n - keep;

				memmove(t->probe_buf, t->probe_buf + drop, t->probe_len - drop);
				t->probe_len -= drop;
			}
			memcpy(t->probe_buf + t->probe_len, buf, (size_t)n);
			t->probe_len += (size_t)n;
		}
		vrrp_l4stats_feed(&t->rx, buf, (size_t)n);
	}
	if (n == 0)
		probe_done(t, probe_answer_ok(t));
	else if (errno != EAGAIN && errno != EINTR)
		probe_done(t, false);
}

static void probe_start(struct vrrp_track *t, uint64_t now)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t->cfg->admin_socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		probe_done(t, false);
		return;
	}
	/* A unix connect completes or fails at once; the line fits the buffer. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, "show stats\n", 11) != 11 ||
	    vrrp_loop_watch(t->owner->loop, fd, EPOLLIN | EPOLLRDHUP, on_probe, t) < 0) {
		log_rl(LOG_LVL_WARN, "tracker %s: admin probe of %s failed: %s", t->cfg->name,
		       t->cfg->admin_socket, strerror(errno));
		close(fd);
		probe_done(t, false);
		return;
	}
	t->probe_fd = fd;
	t->probe_len = 0;
	vrrp_l4stats_reset(&t->rx);
	t->probe_deadline = now + t->cfg->timeout_us;
	/* Without a pid file the admin socket names its owner: the listening
	 * process's credentials (SO_PEERCRED) give strata-l4's PID. */
	if (!t->cfg->pid_file[0]) {
		struct ucred uc;
		socklen_t len = sizeof(uc);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 &&
		    (uc.pid != t->pid || t->pidfd < 0))
			l4_adopt(t, uc.pid, now, true);
	}
}

/* At start-up only: the first probe waits for its answer, so an instance
 * whose strata-l4 is fine does not pass through FAULT while it is out. */
static void probe_sync(struct vrrp_track *t, uint64_t now)
{
	struct pollfd pfd = {.events = POLLIN};
	int ms = (int)(t->cfg->timeout_us / 1000) + 1;

	probe_start(t, now);
	while (t->probe_fd >= 0) {
		pfd.fd = t->probe_fd;
		if (poll(&pfd, 1, ms) <= 0) {
			probe_done(t, false);
			break;
		}
		on_probe(t, t->probe_fd, POLLIN);
	}
	t->next = now + t->cfg->interval_us;
}

static void l4_timer(struct vrrp_track *t, uint64_t now)
{
	if (t->probe_fd >= 0 && now >= t->probe_deadline) {
		log_rl(LOG_LVL_WARN, "tracker %s: admin probe timed out", t->cfg->name);
		probe_done(t, false);
	}
	if (now < t->next)
		return;
	t->next = now + l4_period(t);
	/* inotify is the fast path; re-reading is the safety net (a pid file
	 * in a directory created later, or events lost). */
	if (t->cfg->pid_file[0])
		l4_resolve(t, now);
	if (t->cfg->admin_socket[0] && t->probe_fd < 0 && (t->pidfd >= 0 || !t->cfg->pid_file[0]))
		probe_start(t, now);
}

static void on_inotify(void *arg, int fd, uint32_t events)
{
	struct vrrp_trackers *ts = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	/* Which file changed matters little: re-reading a pid file is cheap. */
	for (unsigned i = 0; i < ts->n; i++)
		if (ts->t[i].cfg->type == VRRP_TRACK_L4)
			l4_resolve(&ts->t[i], vrrp_now_us());
}

static void l4_watch_dir(struct vrrp_trackers *ts, const char *pid_file)
{
	char dir[VRRP_PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", pid_file);
	if (ts->inotify_fd < 0) {
		ts->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (ts->inotify_fd < 0 ||
		    vrrp_loop_watch(ts->loop, ts->inotify_fd, EPOLLIN, on_inotify, ts) < 0) {
			log_warn("inotify unavailable (%s): pid files are re-read every interval",
				 strerror(errno));
			return;
		}
	}
	if (inotify_add_watch(ts->inotify_fd, dirname(dir),
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
				  IN_MOVED_FROM) < 0)
		log_warn("cannot watch %s (%s): re-read every interval", dir, strerror(errno));
}

void vrrp_track_l4_fast(struct vrrp_trackers *ts, bool on, uint64_t now)
{
	for (unsigned i = 0; i < ts->n; i++) {
		struct vrrp_track *t = &ts->t[i];

		if (t->cfg->type != VRRP_TRACK_L4)
			continue;
		t->fast = on;
		if (on)
			t->next = now;
	}
}

static bool l4_askable(const struct vrrp_track *t)
{
	return t->cfg->type == VRRP_TRACK_L4 && t->cfg->admin_socket[0] && t->pidfd >= 0;
}

bool vrrp_track_l4_watched(const struct vrrp_trackers *ts)
{
	for (unsigned i = 0; i < ts->n; i++)
		if (l4_askable(&ts->t[i]))
			return true;
	return false;
}

bool vrrp_track_l4_quiet(const struct vrrp_trackers *ts, uint64_t since)
{
	for (unsigned i = 0; i < ts->n; i++) {
		const struct vrrp_track *t = &ts->t[i];

		if (!l4_askable(t))
			continue; /* exited, or nothing to ask */
		if (t->stats_at < since)
			return false; /* no answer since our shutdown began */
		/* One that does not say how many are open cannot be waited for. */
		if (t->stats.has_active && !vrrp_l4stats_quiet(&t->stats, VRRP_L4_SETTLE_MS))
			return false;
	}
	return true;
}

/* --- scripts -------------------------------------------------------------- */

static void script_timer(struct vrrp_track *t, uint64_t now)
{
	pid_t pid;

	if (t->child > 0 && now >= t->child_deadline) {
		log_rl(LOG_LVL_WARN, "tracker %s: script timed out, killed", t->cfg->name);
		vrrp_script_kill(t->child);
		t->child_deadline = UINT64_MAX; /* the result comes with the reaping */
	}
	if (t->child > 0 || now < t->next)
		return;
	t->next = now + t->cfg->interval_us;
	pid = vrrp_script_spawn(t->cfg->command, NULL);
	if (pid < 0) {
		log_rl(LOG_LVL_ERR, "tracker %s: cannot run script: %s", t->cfg->name,
		       strerror((int)-pid));
		set_verdict(t, count_result(t, false, t->up));
		return;
	}
	t->child = pid;
	t->child_deadline = now + t->cfg->timeout_us;
}

bool vrrp_track_child_exit(struct vrrp_trackers *ts, pid_t pid, int status, uint64_t now)
{
	for (unsigned i = 0; i < ts->n; i++) {
		struct vrrp_track *t = &ts->t[i];
		bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;

		if (t->cfg->type != VRRP_TRACK_SCRIPT || t->child != pid)
			continue;
		t->child = 0;
		if (!ok)
			log_rl(LOG_LVL_INFO, "tracker %s: script failed (%s %d)", t->cfg->name,
			       WIFEXITED(status) ? "exit" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		set_verdict(t, count_result(t, ok, t->up));
		return true;
	}
	return false;
}

/* --- interfaces ----------------------------------------------------------- */

void vrrp_track_link_event(struct vrrp_trackers *ts, const struct vrrp_link_info *link, bool gone)
{
	for (unsigned i = 0; i < ts->n; i++) {
		struct vrrp_track *t = &ts->t[i];

		if (t->cfg->type != VRRP_TRACK_IFACE || strcmp(t->cfg->ifname, link->name) != 0)
			continue;
		t->link_up = !gone && link->running;
		set_verdict(t, t->link_up);
	}
}

/* --- all ------------------------------------------------------------------ */

int vrrp_track_init(struct vrrp_trackers *ts, const struct vrrp_cfg *cfg, struct vrrp_loop *loop,
		    struct vrrp_nl *nl, vrrp_track_fn on_change, void *ctx, uint64_t now)
{
	memset(ts, 0, sizeof(*ts));
	ts->loop = loop;
	ts->inotify_fd = -1;
	ts->n = cfg->ntrack;
	for (unsigned i = 0; i < ts->n; i++) {
		struct vrrp_track *t = &ts->t[i];
		struct vrrp_link_info li;

		t->cfg = &cfg->track[i];
		t->owner = ts;
		t->pidfd = t->probe_fd = -1;
		t->next = now;
		if (t->cfg->type == VRRP_TRACK_L4) {
			t->probe_up = !t->cfg->admin_socket[0];
			if (t->cfg->pid_file[0]) {
				l4_watch_dir(ts, t->cfg->pid_file);
				l4_resolve(t, now);
			}
			if (t->cfg->admin_socket[0] && (t->pidfd >= 0 || !t->cfg->pid_file[0]))
				probe_sync(t, now);
		} else if (t->cfg->type == VRRP_TRACK_IFACE) {
			if (vrrp_nl_link_by_name(nl, t->cfg->ifname, &li) == 0)
				t->up = t->link_up = li.running;
			else
				log_warn("tracker %s: interface %s does not exist (down)",
					 t->cfg->name, t->cfg->ifname);
		}
	}
	/* Callbacks only from now on: the first verdicts are the initial state. */
	ts->on_change = on_change;
	ts->ctx = ctx;
	return 0;
}

void vrrp_track_fini(struct vrrp_trackers *ts)
{
	if (!ts->loop)
		return; /* never initialised */
	for (unsigned i = 0; i < ts->n; i++) {
		struct vrrp_track *t = &ts->t[i];

		probe_close(t);
		pid_close(t);
		if (t->child > 0)
			vrrp_script_kill(t->child);
	}
	if (ts->inotify_fd >= 0) {
		vrrp_loop_unwatch(ts->loop, ts->inotify_fd);
		close(ts->inotify_fd);
		ts->inotify_fd = -1;
	}
}

void vrrp_track_timer(struct vrrp_trackers *ts, uint64_t now)
{
	for (unsigned i = 0; i < ts->n; i++) {
		struct vrrp_track *t = &ts->t[i];

		if (t->cfg->type == VRRP_TRACK_L4)
			l4_timer(t, now);
		else if (t->cfg->type == VRRP_TRACK_SCRIPT)
			script_timer(t, now);
	}
}

uint64_t vrrp_track_next(const struct vrrp_trackers *ts)
{
	uint64_t next = 0;

	for (unsigned i = 0; i < ts->n; i++) {
		const struct vrrp_track *t = &ts->t[i];
		uint64_t d = 0;

		if (t->cfg->type == VRRP_TRACK_L4) {
			d = t->next;
			if (t->probe_fd >= 0 && t->probe_deadline < d)
				d = t->probe_deadline;
		} else if (t->cfg->type == VRRP_TRACK_SCRIPT) {
			d = t->child > 0 ? t->child_deadline : t->next;
		}
		if (d && d != UINT64_MAX && (!next || d < next))
			next = d;
	}
	return next;
}
