/* Tests for vrrp_track.c with real processes: a strata-l4 stand-in's exit
 * is seen through its pidfd at once, a restart through inotify on its pid
 * file, a pid file briefly missing does not drop a live process, the admin
 * probe's OK/ERR and rise/fall, scripts' exit status and timeout, and link
 * events. Also the state file and notify arguments (vrrp_notify.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l4/vrrp/vrrp_notify.h"
#include "../../l4/vrrp/vrrp_track.h"

struct env {
	char dir[32];
	char pid_file[64];
	char sock[64];
	struct vrrp_cfg *cfg;
	struct vrrp_loop *loop;
	struct vrrp_nl *nl;
	struct vrrp_trackers ts;
	int changes;
};

static void on_change(void *ctx, struct vrrp_track *t)
{
	((struct env *)ctx)->changes++;
}

static void write_pid(const char *path, pid_t pid)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fprintf(f, "%d\n", (int)pid);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0); /* how daemons replace pid files */
}

/* Children of a test, killed by the teardown even when the test fails. */
static pid_t kids[8];
static int nkids;

static void adopt(pid_t pid)
{
	assert_true(pid > 0);
	if (nkids < 8)
		kids[nkids++] = pid;
}

static int kill_kids(void **state)
{
	for (int i = 0; i < nkids; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	nkids = 0;
	return 0;
}

static pid_t child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		pause();
		_exit(0);
	}
	adopt(pid);
	return pid;
}

static void setup_env(struct env *e, const char *trackers)
{
	char text[2048];
	struct cfg_err err;

	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/vrrp-track-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->pid_file, sizeof(e->pid_file), "%s/l4.pid", e->dir);
	snprintf(e->sock, sizeof(e->sock), "%s/l4.sock", e->dir);
	snprintf(text, sizeof(text),
		 "trackers = ( %s );\n"
		 "instances = ( { name = \"VI_1\"; interface = \"lo\"; vrid = 1;\n"
		 "  virtual_addresses = [ \"10.77.0.1\" ]; } );\n",
		 trackers);
	cfg_err_init(&err);
	if (vrrp_config_load_string("t.conf", text, &e->cfg, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(vrrp_loop_new(&e->loop), 0);
	assert_int_equal(vrrp_nl_open(false, &e->nl), 0);
}

static void start(struct env *e)
{
	assert_int_equal(
	    vrrp_track_init(&e->ts, e->cfg, e->loop, e->nl, on_change, e, vrrp_now_us()), 0);
}

static void teardown_env(struct env *e)
{
	char cmd[128];

	vrrp_track_fini(&e->ts);
	vrrp_nl_close(e->nl);
	vrrp_loop_free(e->loop);
	vrrp_config_free(e->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	(void)!system(cmd);
}

/* Runs the loop and the tracker timers for `ms`. */
static void spin(struct env *e, int ms)
{
	uint64_t end = vrrp_now_us() + (uint64_t)ms * 1000;

	while (vrrp_now_us() < end) {
		uint64_t next = vrrp_track_next(&e->ts);

		vrrp_loop_run_once(e->loop, next && next < end ? next : end);
		vrrp_track_timer(&e->ts, vrrp_now_us());
	}
}

/* Spins until the first tracker's verdict is `up` (at most `ms`); returns
 * how long that took in microseconds. */
static uint64_t spin_until(struct env *e, bool up, int ms)
{
	uint64_t t0 = vrrp_now_us();

	while (e->ts.t[0].up != up && vrrp_now_us() - t0 < (uint64_t)ms * 1000)
		spin(e, 1);
	assert_int_equal(e->ts.t[0].up, up);
	return vrrp_now_us() - t0;
}

static void test_l4_pidfd_and_pid_file(void **state)
{
	struct env e;
	pid_t p1, p2;

	setup_env(&e, "{ name = \"l4\"; type = \"strata-l4\"; pid_file = \"/dev/null\"; }");
	snprintf(e.cfg->track[0].pid_file, sizeof(e.cfg->track[0].pid_file), "%s", e.pid_file);
	p1 = child();
	write_pid(e.pid_file, p1);
	start(&e);
	assert_true(e.ts.t[0].up);
	assert_int_equal(e.ts.t[0].pid, p1);
	/* The pid file goes missing for a while: the live process stays. */
	unlink(e.pid_file);
	spin(&e, 50);
	assert_true(e.ts.t[0].up);
	write_pid(e.pid_file, p1);
	/* Killed: down at the next loop turn, long before the next re-read of
	 * the pid file (interval 1 s): the pidfd, not polling. */
	kill(p1, SIGKILL);
	assert_true(spin_until(&e, false, 2000) < 500000);
	assert_int_equal(e.changes, 1);
	/* Restarted: a new pid file is picked up through inotify. */
	p2 = child();
	write_pid(e.pid_file, p2);
	assert_true(spin_until(&e, true, 2000) < 500000);
	assert_int_equal(e.ts.t[0].pid, p2);
	assert_int_equal(e.changes, 2);
	teardown_env(&e);
}

/* Accepts one probe connection and answers `reply`. */
/* Waits (spinning the tracker) for its probe, answers `reply`, and spins
 * until the tracker has read the answer. */
static void answer_probe(struct env *e, int lfd, const char *reply)
{
	uint64_t t0 = vrrp_now_us();
	char buf[64];
	int c = -1;

	while (c < 0 && vrrp_now_us() - t0 < 2000000) {
		spin(e, 2);
		c = accept(lfd, NULL, NULL); /* lfd is non-blocking */
	}
	assert_true(c >= 0);
	fcntl(c, F_SETFL, 0);
	assert_true(read(c, buf, sizeof(buf)) >= 11);
	assert_memory_equal(buf, "show stats\n", 11);
	assert_int_equal(write(c, reply, strlen(reply)), (ssize_t)strlen(reply));
	close(c);
	while (e->ts.t[0].probe_fd >= 0 && vrrp_now_us() - t0 < 2000000)
		spin(e, 1);
	assert_true(e->ts.t[0].probe_fd < 0);
}

static void test_l4_admin_probe_rise_fall(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct env e;
	pid_t p;
	int lfd;

	setup_env(&e, "{ name = \"l4\"; type = \"strata-l4\"; pid_file = \"/dev/null\";\n"
		      "  admin_socket = \"/dev/null\"; interval = \"20ms\"; timeout = \"200ms\";\n"
		      "  rise = 2; fall = 2; }");
	snprintf(e.cfg->track[0].pid_file, sizeof(e.cfg->track[0].pid_file), "%s", e.pid_file);
	snprintf(e.cfg->track[0].admin_socket, sizeof(e.cfg->track[0].admin_socket), "%s", e.sock);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", e.sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	p = child();
	write_pid(e.pid_file, p);
	start(&e);
	/* The start-up probe waited for an answer this single thread could not
	 * give: a failure. Its connection is still queued; drop it. */
	assert_false(e.ts.t[0].up);
	close(accept(lfd, NULL, NULL));
	answer_probe(&e, lfd, "help  (this list)\nOK\n");
	assert_false(e.ts.t[0].up); /* rise = 2 */
	answer_probe(&e, lfd, "help  (this list)\nOK\n");
	assert_true(e.ts.t[0].up);
	answer_probe(&e, lfd, "ERR busy\n");
	assert_true(e.ts.t[0].up);		 /* one failure: fall = 2 */
	answer_probe(&e, lfd, "OK\nERR busy\n"); /* the status is the last line */
	assert_false(e.ts.t[0].up);
	answer_probe(&e, lfd, "OK\n");
	answer_probe(&e, lfd, "OK\n");
	assert_true(e.ts.t[0].up);
	/* Probes nobody answers time out and count as failures. */
	close(lfd);
	spin_until(&e, false, 2000);
	teardown_env(&e);
}

/* A strata-l4 that drains with nothing open is down at once (no `fall`
 * run), once the drain is old enough for late handshakes; while it drains
 * it is probed every VRRP_L4_FAST_US; the shutdown wait sees it quiet. */
static void test_l4_draining_with_nothing_open_is_down(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct env e;
	uint64_t since;
	pid_t p;
	int lfd;

	setup_env(&e, "{ name = \"l4\"; type = \"strata-l4\"; pid_file = \"/dev/null\";\n"
		      "  admin_socket = \"/dev/null\"; interval = \"1s\"; timeout = \"200ms\";\n"
		      "  rise = 1; fall = 3; }");
	snprintf(e.cfg->track[0].pid_file, sizeof(e.cfg->track[0].pid_file), "%s", e.pid_file);
	snprintf(e.cfg->track[0].admin_socket, sizeof(e.cfg->track[0].admin_socket), "%s", e.sock);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", e.sock);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	p = child();
	write_pid(e.pid_file, p);
	start(&e);
	close(accept(lfd, NULL, NULL)); /* the unanswerable start-up probe */
	since = vrrp_now_us();
	assert_false(vrrp_track_l4_quiet(&e.ts, since)); /* no answer yet */
	vrrp_track_l4_fast(&e.ts, true, since);
	answer_probe(&e, lfd, "node x\nactive 2\ndraining 0\ndraining_ms 0\nOK\n");
	assert_true(e.ts.t[0].up);
	assert_false(vrrp_track_l4_quiet(&e.ts, since));
	answer_probe(&e, lfd, "active 0\ndraining 0\ndraining_ms 0\nOK\n");
	assert_true(e.ts.t[0].up); /* idle but serving */
	assert_true(vrrp_track_l4_quiet(&e.ts, since));
	vrrp_track_l4_fast(&e.ts, false, vrrp_now_us());
	answer_probe(&e, lfd, "active 1\ndraining 1\ndraining_ms 20\nOK\n");
	assert_true(e.ts.t[0].up);
	assert_true(e.ts.t[0].next <= vrrp_now_us() + VRRP_L4_FAST_US); /* draining: fast */
	answer_probe(&e, lfd, "active 0\ndraining 1\ndraining_ms 30\nOK\n");
	assert_true(e.ts.t[0].up); /* a late handshake may still come */
	assert_false(vrrp_track_l4_quiet(&e.ts, since));
	answer_probe(&e, lfd, "active 0\ndraining 1\ndraining_ms 400\nOK\n");
	assert_false(e.ts.t[0].up); /* at once, though fall = 3 */
	assert_true(vrrp_track_l4_quiet(&e.ts, since));
	close(lfd);
	teardown_env(&e);
}

/* A strata-l4 stand-in without a pid file: it only serves its admin socket. */
static pid_t admin_child(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		listen(lfd, 4); /* SO_PEERCRED names the process that listened */
		for (;;) {
			char buf[64];
			int c = accept(lfd, NULL, NULL);

			if (c < 0)
				_exit(1);
			(void)!read(c, buf, sizeof(buf));
			(void)!write(c, "OK\n", 3);
			close(c);
		}
	}
	close(lfd);
	adopt(pid);
	return pid;
}

static void test_l4_pid_from_admin_socket(void **state)
{
	struct env e;
	pid_t p;

	setup_env(&e, "{ name = \"l4\"; type = \"strata-l4\"; admin_socket = \"/dev/null\";\n"
		      "  interval = \"1s\"; timeout = \"500ms\"; }");
	snprintf(e.cfg->track[0].admin_socket, sizeof(e.cfg->track[0].admin_socket), "%s", e.sock);
	p = admin_child(e.sock);
	start(&e);
	spin_until(&e, true, 3000);	    /* the first probe runs at start */
	assert_int_equal(e.ts.t[0].pid, p); /* learnt from SO_PEERCRED */
	kill(p, SIGKILL);
	/* Down long before the next probe (1 s): the pidfd saw the exit. */
	assert_true(spin_until(&e, false, 2000) < 500000);
	teardown_env(&e);
}

/* Runs the script tracker, reaping like the daemon, until its verdict is
 * `up` (at most `ms`). */
static void run_script_until(struct env *e, bool up, int ms)
{
	uint64_t end = vrrp_now_us() + (uint64_t)ms * 1000;
	int status;
	pid_t pid;

	while (e->ts.t[0].up != up && vrrp_now_us() < end) {
		vrrp_track_timer(&e->ts, vrrp_now_us());
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			vrrp_track_child_exit(&e->ts, pid, status, vrrp_now_us());
		usleep(2000);
	}
	assert_int_equal(e->ts.t[0].up, up);
}

static void test_scripts(void **state)
{
	struct env e;
	char flag[160];

	setup_env(&e, "{ name = \"s\"; type = \"script\"; command = \"test -f $FLAG\";\n"
		      "  interval = \"20ms\"; timeout = \"100ms\"; weight = -10; }");
	snprintf(flag, sizeof(flag), "%s/ok", e.dir);
	setenv("FLAG", flag, 1);
	start(&e);
	assert_false(e.ts.t[0].up); /* scripts start down until their first run */
	fclose(fopen(flag, "w"));
	run_script_until(&e, true, 2000);
	unlink(flag);
	run_script_until(&e, false, 2000);
	teardown_env(&e);

	setup_env(&e, "{ name = \"slow\"; type = \"script\"; command = \"sleep 5\";\n"
		      "  interval = \"20ms\"; timeout = \"50ms\"; }");
	start(&e);
	e.ts.t[0].up = true; /* pretend it was up: the timeout must bring it down */
	uint64_t t0 = vrrp_now_us();
	run_script_until(&e, false, 3000);
	assert_true(vrrp_now_us() - t0 < 2000000);	     /* killed at 50 ms, not after 5 s */
	assert_false(vrrp_track_child_exit(&e.ts, 1, 0, 0)); /* not one of ours */
	teardown_env(&e);
}

static void test_interface_events(void **state)
{
	struct vrrp_link_info li = {.ifindex = 1, .name = "lo", .running = false};
	struct env e;

	setup_env(&e, "{ name = \"lo\"; type = \"interface\"; interface = \"lo\"; }");
	start(&e);
	assert_true(e.ts.t[0].up); /* read at start, no event needed */
	vrrp_track_link_event(&e.ts, &li, false);
	assert_false(e.ts.t[0].up);
	li.running = true;
	vrrp_track_link_event(&e.ts, &li, false);
	assert_true(e.ts.t[0].up);
	vrrp_track_link_event(&e.ts, &li, true); /* removed */
	assert_false(e.ts.t[0].up);
	assert_int_equal(e.changes, 3);
	teardown_env(&e);
}

static void test_state_file_and_notify(void **state)
{
	char dir[] = "/tmp/vrrp-notify-XXXXXX", path[128], cmd[256], buf[128] = "";
	int status, fd;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(vrrp_state_file_write(path, "VI_1 MASTER\n", 12), 0);
	assert_int_equal(vrrp_state_file_write(path, "VI_1 BACKUP\n", 12), 0);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 12);
	close(fd);
	assert_string_equal(buf, "VI_1 BACKUP\n");
	snprintf(cmd, sizeof(cmd), "%s/none/state", dir);
	assert_int_equal(vrrp_state_file_write(cmd, "x", 1), -ENOENT);
	/* keepalived's notify arguments, passed through unchanged. */
	snprintf(cmd, sizeof(cmd), "printf '%%s|' > %s/args", dir);
	pid = vrrp_notify_run(cmd, "INSTANCE", "VI 1", "MASTER", 150);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	snprintf(path, sizeof(path), "%s/args", dir);
	memset(buf, 0, sizeof(buf));
	fd = open(path, O_RDONLY);
	assert_true(read(fd, buf, sizeof(buf)) > 0);
	close(fd);
	assert_string_equal(buf, "INSTANCE|VI 1|MASTER|150|");
	assert_int_equal(vrrp_notify_run("", "INSTANCE", "x", "MASTER", 1), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a probe may close before we answer */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_l4_pidfd_and_pid_file, kill_kids),
	    cmocka_unit_test_teardown(test_l4_admin_probe_rise_fall, kill_kids),
	    cmocka_unit_test_teardown(test_l4_draining_with_nothing_open_is_down, kill_kids),
	    cmocka_unit_test_teardown(test_l4_pid_from_admin_socket, kill_kids),
	    cmocka_unit_test(test_scripts),
	    cmocka_unit_test(test_interface_events),
	    cmocka_unit_test(test_state_file_and_notify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
