/* How many TLS 1.3 session tickets a handshake sends (tls_policy.c): one
 * after a full handshake and at most one after a resumption (OpenSSL's
 * default is two, each a session encoding, an encryption and an HMAC),
 * none when the listener has neither tickets nor a session cache to
 * resume from; the one ticket still resumes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tls_testkit.h"
#include "../../l7/tls_ctx.h"
#include "../../l7/tls_tickets.h"

static struct tk_dir dir;
static X509 *ca;
static struct l7_tls_cert_conf cert;
static int tickets_seen;
static SSL_SESSION *last;

static int setup(void **state)
{
	char *c, *k;

	tk_dir_make(&dir);
	ca = tk_localhost(&dir, &c, &k);
	cert.cert = c;
	cert.key = k;
	return 0;
}

static int teardown(void **state)
{
	tk_localhost_free(ca, (char *)cert.cert, (char *)cert.key);
	tk_dir_remove(&dir);
	return 0;
}

/* The client's callback for every NewSessionTicket it processes. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	tickets_seen++;
	SSL_SESSION_free(last);
	last = sess; /* kept: returning 1 hands us the reference */
	return 1;
}

static struct l7_tls_set *build(const struct l7_tls_conf *c, struct l7_tls_tickets *tk)
{
	struct l7_tls_set *set;
	struct cfg_err err;

	cfg_err_init(&err);
	if (l7_tls_set_build(c, tk, &set, &err))
		fail_msg("%s", err.msg);
	return set;
}

/* One TLS 1.3 connection, optionally resuming `offer`; the client reads
 * after a byte of application data so it processes every ticket sent.
 * Returns the tickets it saw; *resumed says whether it resumed. */
static int connect_once(struct l7_tls_set *set, SSL_SESSION *offer, bool *resumed)
{
	SSL_CTX *cctx = tk_client_ctx(ca);
	struct tk_client c;
	struct l7_tls s;
	char buf[8];

	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(cctx, on_new_session);
	tickets_seen = 0;
	assert_int_equal(l7_tls_init(&s, set, 1), 0);
	tk_client_new(&c, cctx, "localhost", NULL, 0);
	if (offer)
		SSL_set_session(c.ssl, offer);
	assert_true(tk_handshake(&c, &s));
	assert_int_equal(l7_tls_send(&s, "y", 1), 1);
	tk_pump(&c, &s, 0, NULL, 0, NULL);
	assert_int_equal(tk_client_read(&c, buf, sizeof(buf)), 1);
	*resumed = l7_tls_resumed(&s);
	tk_client_free(&c);
	l7_tls_fini(&s);
	SSL_CTX_free(cctx);
	return tickets_seen;
}

static void test_one_ticket(void **state)
{
	struct l7_tls_conf c;
	struct l7_tls_tickets *tk = l7_tls_tickets_new(3600);
	struct l7_tls_set *set;
	SSL_SESSION *first;
	bool resumed;

	l7_tls_conf_init(&c);
	c.certs = &cert;
	c.n_certs = 1;
	c.name = "web";
	set = build(&c, tk);
	assert_int_equal(connect_once(set, NULL, &resumed), L7_TLS_TICKETS_SENT);
	assert_false(resumed);
	assert_int_equal(atomic_load(&tk->stats.issued), 1);
	first = last;
	last = NULL;
	/* the single ticket resumes; a resumption under the current key
	 * brings at most one more (OpenSSL sends none unless it renews) */
	assert_true(connect_once(set, first, &resumed) <= L7_TLS_TICKETS_SENT);
	assert_true(resumed);
	assert_true(atomic_load(&tk->stats.issued) <= 2);
	SSL_SESSION_free(first);
	SSL_SESSION_free(last);
	last = NULL;
	l7_tls_set_put(set);
	l7_tls_tickets_put(tk);
}

static void test_stateful_cache_one_ticket(void **state)
{
	struct l7_tls_conf c;
	struct l7_tls_set *set;
	SSL_SESSION *first;
	bool resumed;

	l7_tls_conf_init(&c);
	c.certs = &cert;
	c.n_certs = 1;
	c.name = "web";
	c.tickets = false;
	c.session_cache = 10;
	set = build(&c, NULL);
	assert_int_equal(connect_once(set, NULL, &resumed), 1);
	first = last;
	last = NULL;
	assert_true(connect_once(set, first, &resumed) <= L7_TLS_TICKETS_SENT);
	assert_true(resumed);
	SSL_SESSION_free(first);
	SSL_SESSION_free(last);
	last = NULL;
	l7_tls_set_put(set);
}

static void test_nothing_to_resume_no_ticket(void **state)
{
	struct l7_tls_conf c;
	struct l7_tls_set *set;
	bool resumed;

	l7_tls_conf_init(&c);
	c.certs = &cert;
	c.n_certs = 1;
	c.name = "web";
	c.tickets = false;
	c.session_cache = 0;
	set = build(&c, NULL);
	assert_int_equal(connect_once(set, NULL, &resumed), 0);
	assert_false(resumed);
	assert_null(last);
	l7_tls_set_put(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_ticket),
	    cmocka_unit_test(test_stateful_cache_one_ticket),
	    cmocka_unit_test(test_nothing_to_resume_no_ticket),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
