/* Tests for the admin socket server and client over real unix sockets in a
 * temporary directory: protocol, limits, socket file handling, permissions
 * and SO_PEERCRED gating (children drop to nobody with setresuid). */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin.h"

#define NOBODY 65534

struct fixture {
	char dir[64];
	char path[96];
	struct admin_srv *srv;
	int calls;	/* atomic: handler invocations */
	int timeout_ms; /* the server's per-client deadline; 0: 300 ms */
};

struct lines {
	int n;
	char text[16][128];
};

static void collect(void *arg, const char *line, size_t len)
{
	struct lines *l = arg;

	if (l->n < 16)
		snprintf(l->text[l->n++], sizeof(l->text[0]), "%.*s", (int)len, line);
}

static int cmd_echo(void *arg, int argc, char **argv, struct admin_out *out)
{
	struct fixture *f = arg;

	__atomic_add_fetch(&f->calls, 1, __ATOMIC_RELAXED);
	admin_printf(out, "argc=%d\n", argc);
	for (int i = 1; i < argc; i++)
		admin_printf(out, "%s\n", argv[i]);
	return 0;
}

static int cmd_set(void *arg, int argc, char **argv, struct admin_out *out)
{
	admin_printf(out, "set by uid %u", (unsigned)admin_peer_uid(out)); /* no '\n' on purpose */
	return 0;
}

static int cmd_fail(void *arg, int argc, char **argv, struct admin_out *out)
{
	admin_puts(out, "partial body\n");
	return admin_fail(out, "no service '%s'\nsecond line", argc > 1 ? argv[1] : "");
}

static int cmd_fake_status(void *arg, int argc, char **argv, struct admin_out *out)
{
	admin_puts(out, "OK\nERR not really\n");
	return 0;
}

static int cmd_flood(void *arg, int argc, char **argv, struct admin_out *out)
{
	static char chunk[65536];

	memset(chunk, 'x', sizeof(chunk) - 1);
	chunk[sizeof(chunk) - 1] = '\n';
	for (size_t i = 0; i <= ADMIN_MAX_OUTPUT / sizeof(chunk); i++)
		admin_write(out, chunk, sizeof(chunk));
	return 0;
}

static int start_server(struct fixture *f, const char *group)
{
	int r = admin_srv_new(f->path, group, &f->srv);

	if (r < 0)
		return r;
	assert_int_equal(
	    admin_register(f->srv, "echo", "echo WORDS...", cmd_echo, f, ADMIN_READONLY), 0);
	assert_int_equal(
	    admin_register(f->srv, "set", "set NAME VALUE", cmd_set, f, ADMIN_MUTATING), 0);
	assert_int_equal(admin_register(f->srv, "fail", "fail NAME", cmd_fail, f, ADMIN_READONLY),
			 0);
	assert_int_equal(admin_register(f->srv, "fake", "fake", cmd_fake_status, f, ADMIN_READONLY),
			 0);
	assert_int_equal(admin_register(f->srv, "flood", "flood", cmd_flood, f, ADMIN_READONLY), 0);
	assert_int_equal(admin_register(f->srv, "echo", "dup", cmd_echo, f, ADMIN_READONLY),
			 -EEXIST);
	admin_set_timeout(f->srv, f->timeout_ms ? f->timeout_ms : 300);
	return admin_start(f->srv);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/strata-admin-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	chmod(f->dir, 0755); /* children running as nobody must reach the socket */
	snprintf(f->path, sizeof(f->path), "%s/a.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	admin_srv_free(f->srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int req(struct fixture *f, const char *line, struct lines *l, struct admin_reply *r)
{
	memset(r, 0, sizeof(*r));
	if (l) {
		memset(l, 0, sizeof(*l));
		r->on_line = collect;
		r->arg = l;
	}
	return admin_request(f->path, line, r, f->timeout_ms ? f->timeout_ms : 3000);
}

static void test_help_lists_commands(void **state)
{
	struct fixture *f = *state;
	struct admin_reply r;
	struct lines l;

	assert_int_equal(start_server(f, NULL), 0);
	assert_int_equal(req(f, "help", &l, &r), 0);
	assert_int_equal(l.n, 6);
	assert_non_null(strstr(l.text[0], "help"));
	assert_non_null(strstr(l.text[1], "echo WORDS..."));
	assert_null(strstr(l.text[1], "changes state"));
	assert_non_null(strstr(l.text[2], "set NAME VALUE"));
	assert_non_null(strstr(l.text[2], "(changes state)"));
}

static void test_unknown_and_empty_commands(void **state)
{
	struct fixture *f = *state;
	struct admin_reply r;

	assert_int_equal(start_server(f, NULL), 0);
	assert_int_equal(req(f, "frobnicate now", NULL, &r), 1);
	assert_string_equal(r.message, "unknown command 'frobnicate' (try 'help')");
	assert_int_equal(req(f, "   \t ", NULL, &r), 1);
	assert_string_equal(r.message, "empty command (try 'help')");
	assert_int_equal(req(f, "echo a\x01", NULL, &r), 1);
	assert_string_equal(r.message, "invalid character in command");
	assert_int_equal(req(f, "echo\nhelp", NULL, &r), -EINVAL);
	assert_false(r.connected);
}

static void test_handler_gets_words(void **state)
{
	struct fixture *f = *state;
	struct admin_reply r;
	struct lines l;

	assert_int_equal(start_server(f, NULL), 0);
	assert_int_equal(req(f, "  echo alpha\tbeta   gamma\r", &l, &r), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.text[0], "argc=4");
	assert_string_equal(l.text[1], "alpha");
	assert_string_equal(l.text[2], "beta");
	assert_string_equal(l.text[3], "gamma");
	/* A body without a final newline still ends before the status line. */
	assert_int_equal(req(f, "set a b", &l, &r), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.text[0], "set by uid 0");
}

static void test_handler_error_and_fake_status_lines(void **state)
{
	struct fixture *f = *state;
	struct admin_reply r;
	struct lines l;

	assert_int_equal(start_server(f, NULL), 0);
	assert_int_equal(req(f, "fail web", &l, &r), 1);
	assert_string_equal(r.message, "no service 'web' second line");
	assert_int_equal(l.n, 1);
	assert_string_equal(l.text[0], "partial body");
	/* Only the last line is the status: body lines reading OK/ERR are body. */
	assert_int_equal(req(f, "fake", &l, &r), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.text[0], "OK");
	assert_string_equal(l.text[1], "ERR not really");
}

static void test_line_length_limit(void **state)
{
	struct fixture *f = *state;
	char *line = malloc(ADMIN_MAX_LINE + 2);
	struct admin_reply r;

	assert_int_equal(start_server(f, NULL), 0);
	memset(line, 'a', ADMIN_MAX_LINE + 1);
	line[ADMIN_MAX_LINE + 1] = '\0';
	assert_int_equal(req(f, line, NULL, &r), 1);
	assert_string_equal(r.message, "line too long (max 4096 bytes)");
	line[ADMIN_MAX_LINE] = '\0'; /* exactly at the limit: parsed */
	assert_int_equal(req(f, line, NULL, &r), 1);
	assert_non_null(strstr(r.message, "unknown command 'aaaa"));
	free(line);
}

static void test_output_limit(void **state)
{
	struct fixture *f = *state;
	struct admin_reply r;

	/* 16 MiB of output takes the server a while under sanitizers on a
	 * busy machine: the deadline is not what this test is about */
	f->timeout_ms = 20000;
	assert_int_equal(start_server(f, NULL), 0);
	assert_int_equal(req(f, "flood", NULL, &r), 1);
	assert_string_equal(r.message, "output too long (max 16777216 bytes)");
}

static void test_socket_mode_without_group_is_0600(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(start_server(f, NULL), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	admin_srv_free(f->srv);
	f->srv = NULL;
	assert_int_equal(access(f->path, F_OK), -1); /* removed at stop */
}

static void test_socket_mode_with_group_is_0660(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(start_server(f, "nogroup"), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_gid, NOBODY);
}

static void test_unknown_group_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(admin_srv_new(f->path, "no-such-group-here", &f->srv), -ENOENT);
	assert_null(f->srv);
	assert_int_equal(access(f->path, F_OK), -1);
}

static void test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct admin_reply r;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd); /* the file stays, nobody listens: a crashed daemon's leftover */
	assert_int_equal(start_server(f, NULL), 0);
	assert_int_equal(req(f, "help", NULL, &r), 0);
}

static void test_live_socket_not_taken_over(void **state)
{
	struct fixture *f = *state;
	struct admin_srv *second = NULL;
	struct admin_reply r;

	assert_int_equal(start_server(f, NULL), 0);
	assert_int_equal(admin_srv_new(f->path, NULL, &second), -EADDRINUSE);
	assert_null(second);
	assert_int_equal(req(f, "help", NULL, &r), 0); /* the first still answers */
}

static void test_regular_file_left_alone(void **state)
{
	struct fixture *f = *state;
	char buf[16] = {0};
	FILE *fp = fopen(f->path, "w");

	fputs("precious", fp);
	fclose(fp);
	assert_int_equal(admin_srv_new(f->path, NULL, &f->srv), -EEXIST);
	fp = fopen(f->path, "r");
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "precious");
}

static void test_client_transport_errors(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct admin_reply r;
	int fd;

	assert_int_equal(req(f, "help", NULL, &r), -ENOENT);
	assert_false(r.connected);
	/* A listener that never answers: connect works, the answer times out. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 4), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(admin_request(f->path, "help", &r, 200), -ETIMEDOUT);
	assert_true(r.connected);
	close(fd);
	assert_int_equal(req(f, "help", NULL, &r), -ECONNREFUSED);
	assert_false(r.connected);
}

/* Forks a child that becomes `uid` with primary `gid` and the supplementary
 * groups given, sends `line`, and exits with the request's result + 100. */
static int as_user(struct fixture *f, uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		   const char *line, char *msg, size_t msglen)
{
	int pipefd[2], status;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct admin_reply r = {0};
		int rc;

		close(pipefd[0]);
		if (setgroups((size_t)ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(99);
		rc = admin_request(f->path, line, &r, 3000);
		if (write(pipefd[1], r.message, strlen(r.message) + 1) < 0)
			_exit(98);
		_exit(rc + 100);
	}
	close(pipefd[1]);
	memset(msg, 0, msglen);
	if (read(pipefd[0], msg, msglen - 1) < 0)
		msg[0] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status) - 100;
}

static void test_peercred_gates_mutating_commands(void **state)
{
	struct fixture *f = *state;
	char msg[ADMIN_MSG_MAX];

	assert_int_equal(start_server(f, NULL), 0);
	/* Open the file mode so nobody can connect: the credential check alone
	 * must then stop it from changing state. */
	assert_int_equal(chmod(f->path, 0666), 0);
	assert_int_equal(as_user(f, NOBODY, NOBODY, NULL, 0, "echo hi", msg, sizeof(msg)), 0);
	assert_int_equal(as_user(f, NOBODY, NOBODY, NULL, 0, "set a b", msg, sizeof(msg)), 1);
	assert_string_equal(msg, "permission denied: 'set' changes state (needs uid 0)");
	assert_int_equal(as_user(f, 0, 0, NULL, 0, "set a b", msg, sizeof(msg)), 0);
}

static void test_group_members_may_mutate(void **state)
{
	struct fixture *f = *state;
	const gid_t supp[] = {NOBODY};
	char msg[ADMIN_MSG_MAX];

	assert_int_equal(start_server(f, "nogroup"), 0);
	/* Primary group. */
	assert_int_equal(as_user(f, NOBODY, NOBODY, NULL, 0, "set a b", msg, sizeof(msg)), 0);
	/* Supplementary group only: seen through SO_PEERGROUPS. */
	assert_int_equal(as_user(f, NOBODY, 1, supp, 1, "set a b", msg, sizeof(msg)), 0);
	/* Neither: the 0660 file mode refuses the connection itself. */
	assert_int_equal(as_user(f, NOBODY, 1, NULL, 0, "help", msg, sizeof(msg)), -EACCES);
}

static void test_peer_without_group_is_denied_in_group_mode(void **state)
{
	struct fixture *f = *state;
	char msg[ADMIN_MSG_MAX];

	assert_int_equal(start_server(f, "nogroup"), 0);
	assert_int_equal(chmod(f->path, 0666), 0);
	assert_int_equal(as_user(f, NOBODY, 1, NULL, 0, "help", msg, sizeof(msg)), 0);
	assert_int_equal(as_user(f, NOBODY, 1, NULL, 0, "set a b", msg, sizeof(msg)), 1);
	assert_string_equal(
	    msg, "permission denied: 'set' changes state (needs uid 0 or group nogroup)");
}

static void *hammer(void *arg)
{
	struct fixture *f = arg;
	long ok = 0;

	for (int i = 0; i < 50; i++) {
		struct admin_reply r = {0};

		ok += admin_request(f->path, "echo x", &r, 5000) == 0;
	}
	return (void *)ok;
}

static void test_many_clients_and_an_idle_one(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	pthread_t th[8];
	char buf[8];
	long total = 0;
	int idle;

	assert_int_equal(start_server(f, NULL), 0);
	idle = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	assert_int_equal(connect(idle, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(send(idle, "ec", 2, 0), 2); /* a partial line, then silence */
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, hammer, f);
	for (int i = 0; i < 8; i++) {
		void *ok;

		pthread_join(th[i], &ok);
		total += (long)ok;
	}
	assert_int_equal(total, 400);
	assert_int_equal(__atomic_load_n(&f->calls, __ATOMIC_RELAXED), 400);
	/* The idle client is cut off by the 300 ms timeout, without an answer. */
	struct timeval tv = {.tv_sec = 3};
	setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(recv(idle, buf, sizeof(buf), 0), 0);
	close(idle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_help_lists_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_and_empty_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handler_gets_words, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handler_error_and_fake_status_lines, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_line_length_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_mode_without_group_is_0600, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_socket_mode_with_group_is_0660, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_group_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_live_socket_not_taken_over, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_regular_file_left_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_transport_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peercred_gates_mutating_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_members_may_mutate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_peer_without_group_is_denied_in_group_mode, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_many_clients_and_an_idle_one, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
