/* Tests for strata-l4's drain (l4/lb/drain.c): the exit verdict, the SYN
 * filter on real loopback sockets (a new client gets no answer, a client
 * that completed its handshake is still accepted and its data passes, an
 * established connection keeps working), address locality, a keep-alive
 * connection at a switch, and the drain_linger and drain_close_idle keys. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l4/lb/config.h"
#include "../../l4/lb/conn.h"
#include "../../l4/lb/drain.h"

static void test_verdicts(void **state)
{
	struct l4_drain_view v = {.now = 1000,
				  .start = 1000,
				  .last_busy = 1000,
				  .active = 0,
				  .linger_ms = 2000,
				  .timeout_ms = 10000};

	assert_int_equal(l4_drain_decide(&v), L4_DRAIN_WAIT); /* idle, linger not over */
	v.addrs_gone = true;
	assert_int_equal(l4_drain_decide(&v), L4_DRAIN_GONE);
	v.active = 3; /* open connections hold the drain even with the VIP gone */
	assert_int_equal(l4_drain_decide(&v), L4_DRAIN_WAIT);
	v.addrs_gone = false;
	v.now = 1000 + 2000;
	assert_int_equal(l4_drain_decide(&v), L4_DRAIN_WAIT); /* busy: no linger */
	v.active = 0;
	v.last_busy = 2500; /* the last one closed 500 ms ago */
	assert_int_equal(l4_drain_decide(&v), L4_DRAIN_WAIT);
	v.now = 4500;
	assert_int_equal(l4_drain_decide(&v), L4_DRAIN_LINGER);
	v.active = 1;
	v.now = 11000;
	assert_int_equal(l4_drain_decide(&v), L4_DRAIN_TIMEOUT);
	v.timeout_ms = 0; /* drain_timeout = 0: at once */
	v.now = v.start;
	assert_int_equal(l4_drain_decide(&v), L4_DRAIN_TIMEOUT);
	assert_string_equal(l4_drain_verdict_name(L4_DRAIN_LINGER),
			    "nothing open for drain_linger");
	assert_string_equal(l4_drain_verdict_name(L4_DRAIN__COUNT), "?");
}

static int listener(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	*sa =
	    (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &len), 0);
	return fd;
}

/* Starts a non-blocking connect; returns the socket. */
static int connect_nb(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));

	assert_true(rc == 0 || errno == EINPROGRESS);
	return fd;
}

static int accept_within(int lfd, int ms)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void roundtrip(int a, int b, const char *msg)
{
	char buf[32] = "";
	struct pollfd p = {.fd = b, .events = POLLIN};

	assert_int_equal(write(a, msg, strlen(msg)), (ssize_t)strlen(msg));
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(b, buf, sizeof(buf) - 1), (ssize_t)strlen(msg));
	assert_string_equal(buf, msg);
}

static void test_filter_drops_new_syns_only(void **state)
{
	struct sockaddr_in sa;
	int lfd = listener(&sa);
	int est_c = connect_nb(&sa), est_s = accept_within(lfd, 5000);
	int queued_c = connect_nb(&sa); /* completes into the accept queue */
	struct pollfd p = {.events = POLLOUT};
	int err = -1;
	socklen_t elen = sizeof(err);

	assert_true(est_s >= 0);
	p.fd = queued_c;
	assert_int_equal(poll(&p, 1, 5000), 1); /* handshake done before the filter */
	assert_int_equal(l4_drain_filter_syns(lfd), 0);

	/* A new client: no SYN-ACK and no RST, its connect stays in progress. */
	int new_c = connect_nb(&sa);

	p.fd = new_c;
	assert_int_equal(poll(&p, 1, 300), 0);
	assert_int_equal(getsockopt(new_c, SOL_SOCKET, SO_ERROR, &err, &elen), 0);
	assert_int_equal(err, 0);

	/* The queued one is accepted and its data passes the inherited filter. */
	int queued_s = accept_within(lfd, 5000);

	assert_true(queued_s >= 0);
	roundtrip(queued_c, queued_s, "queued");
	roundtrip(queued_s, queued_c, "answer");
	roundtrip(est_c, est_s, "established");
	roundtrip(est_s, est_c, "still");
	assert_int_equal(accept_within(lfd, 100), -1); /* the new client never arrived */
	close(new_c);
	close(queued_s);
	close(queued_c);
	close(est_s);
	close(est_c);
	close(lfd);
}

static void sleep_ms(int ms)
{
	poll(NULL, 0, ms);
}

/* A keep-alive exchange through a real loopback pair: `srv` plays
 * strata-l4's client socket. At a switch only once our answer is newer than
 * the request, acknowledged, and idle long enough; a new request, queued
 * bytes or a connection not yet relaying are not. */
static void test_conn_at_a_switch(void **state)
{
	struct sockaddr_in sa;
	int lfd = listener(&sa), cli = connect_nb(&sa), srv = accept_within(lfd, 5000);
	struct l4_conn c;

	assert_true(srv >= 0);
	memset(&c, 0, sizeof(c));
	c.state = L4_ST_RELAY;
	c.fd[L4_CLIENT] = srv;
	c.fd[L4_SERVER] = -1;
	roundtrip(cli, srv, "GET / HTTP/1.1");
	c.dir[L4_C2S].bytes = 14;
	assert_false(l4_drain_conn_at_switch(&c, 20)); /* no answer yet: waiting */
	sleep_ms(10);				       /* the answer in a later tick */
	roundtrip(srv, cli, "HTTP/1.1 200");
	c.dir[L4_S2C].bytes = 12;
	assert_false(l4_drain_conn_at_switch(&c, 5000)); /* not idle long enough */
	sleep_ms(60);
	assert_true(l4_drain_conn_at_switch(&c, 40));
	c.dir[L4_S2C].queued = 5; /* still something to send */
	assert_false(l4_drain_conn_at_switch(&c, 40));
	c.dir[L4_S2C].queued = 0;
	c.state = L4_ST_CONNECT;
	assert_false(l4_drain_conn_at_switch(&c, 40));
	c.state = L4_ST_RELAY;
	sleep_ms(10);
	roundtrip(cli, srv, "GET /next"); /* the next request: the client's byte is last */
	sleep_ms(60);
	assert_false(l4_drain_conn_at_switch(&c, 40));
	close(srv);
	close(cli);
	close(lfd);
}

static void test_filter_on_a_bad_fd(void **state)
{
	assert_int_equal(l4_drain_filter_syns(-1), -EBADF);
}

static int parse_addr(const char *s, struct addr *a)
{
	const char *why;

	return addr_parse(s, strlen(s), 0, 0, a, &why);
}

static void test_addr_locality(void **state)
{
	struct addr a;

	assert_int_equal(parse_addr("127.0.0.1:80", &a), 0);
	assert_true(l4_drain_addr_is_local(&a));
	assert_int_equal(parse_addr("[::1]:80", &a), 0);
	assert_true(l4_drain_addr_is_local(&a));
	/* TEST-NET-3 (RFC 5737): configured on no host. */
	assert_int_equal(parse_addr("203.0.113.77:80", &a), 0);
	assert_false(l4_drain_addr_is_local(&a));
}

static int parse(const char *text, struct l4_config **out)
{
	char path[] = "/tmp/test_l4_drain_XXXXXX";
	struct cfg_err err;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cfg_err_init(&err);
	int rc = l4_config_parse(path, out, &err);

	unlink(path);
	return rc;
}

#define ONE_SERVICE                                                                                \
	"services = ( { name = \"web\"; listen = [ \"127.0.0.1:8000\" ]; "                         \
	"instances = ( { address = \"127.0.0.1:8100\"; } ); } );\n"

static void test_drain_linger_key(void **state)
{
	struct l4_config *c;

	assert_int_equal(parse(ONE_SERVICE, &c), 0);
	assert_int_equal(c->drain_linger_ms, 2000);
	assert_int_equal(c->drain_close_idle_ms, 50);
	l4_config_free(c);
	assert_int_equal(parse("drain_close_idle = 0;\n" ONE_SERVICE, &c), 0);
	assert_int_equal(c->drain_close_idle_ms, 0);
	l4_config_free(c);
	assert_int_equal(parse("drain_linger = \"250ms\";\n" ONE_SERVICE, &c), 0);
	assert_int_equal(c->drain_linger_ms, 250);
	l4_config_free(c);
	assert_int_equal(parse("drain_linger = \"0s\";\n" ONE_SERVICE, &c), 0);
	assert_int_equal(c->drain_linger_ms, 0);
	l4_config_free(c);
	assert_int_not_equal(parse("drain_linger = \"soon\";\n" ONE_SERVICE, &c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_verdicts),
	    cmocka_unit_test(test_filter_drops_new_syns_only),
	    cmocka_unit_test(test_filter_on_a_bad_fd),
	    cmocka_unit_test(test_conn_at_a_switch),
	    cmocka_unit_test(test_addr_locality),
	    cmocka_unit_test(test_drain_linger_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
