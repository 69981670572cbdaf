/* tls_tickets.c and session resumption: a ticket from one worker resumes
 * on another (another thread, another set sharing the keys), in TLS 1.3
 * and 1.2; rotation keeps the previous key for one period (resumed and
 * renewed) and forgets it after; keys from a shared file; the stateful
 * cache; no cross-listener resumption; bad key files. */
#include <errno.h>
#include <pthread.h>
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
static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

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

static void conf_base(struct l7_tls_conf *c)
{
	l7_tls_conf_init(c);
	c->certs = &cert;
	c->n_certs = 1;
	c->name = "web";
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

struct hs {
	struct l7_tls_set *set;
	SSL_SESSION *offer; /* to resume, or NULL */
	int max_version;
	bool ok, resumed;
	SSL_SESSION *got; /* the client's session afterwards (caller frees) */
};

/* One connection: handshake, one request byte, the client reads (which
 * processes TLS 1.3 NewSessionTicket messages). */
static void *handshake(void *arg)
{
	struct hs *h = arg;
	SSL_CTX *cctx = tk_client_ctx(ca);
	struct tk_client c;
	struct l7_tls s;
	char buf[8];

	if (h->max_version)
		SSL_CTX_set_max_proto_version(cctx, h->max_version);
	if (l7_tls_init(&s, h->set, 1))
		return NULL;
	tk_client_new(&c, cctx, "localhost", NULL, 0);
	if (h->offer)
		SSL_set_session(c.ssl, h->offer);
	h->ok = tk_handshake(&c, &s);
	l7_tls_send(&s, "y", 1);
	tk_pump(&c, &s, 0, NULL, 0, NULL);
	tk_client_read(&c, buf, sizeof(buf));
	h->resumed = l7_tls_resumed(&s);
	if (h->resumed != (bool)SSL_session_reused(c.ssl))
		h->ok = false;
	h->got = SSL_get1_session(c.ssl);
	tk_client_free(&c);
	l7_tls_fini(&s);
	SSL_CTX_free(cctx);
	return NULL;
}

static struct hs run(struct l7_tls_set *set, SSL_SESSION *offer, int max_version)
{
	struct hs h = {.set = set, .offer = offer, .max_version = max_version};

	handshake(&h);
	assert_true(h.ok);
	assert_non_null(h.got);
	return h;
}

/* The second handshake on another thread: what a second worker does. */
static struct hs run_thread(struct l7_tls_set *set, SSL_SESSION *offer, int max_version)
{
	struct hs h = {.set = set, .offer = offer, .max_version = max_version};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, handshake, &h), 0);
	pthread_join(t, NULL);
	assert_true(h.ok);
	return h;
}

static void test_resume_across_workers(void **state)
{
	struct l7_tls_conf c;
	struct l7_tls_tickets *tk = l7_tls_tickets_new(3600);
	struct l7_tls_set *w1, *w2;
	int versions[] = {0, TLS1_2_VERSION};

	conf_base(&c);
	w1 = build(&c, tk);
	w2 = build(&c, tk); /* another set sharing the keys, e.g. after a reload */
	for (unsigned v = 0; v < 2; v++) {
		struct hs full = run(w1, NULL, versions[v]);
		assert_false(full.resumed);
		struct hs again = run_thread(w1, full.got, versions[v]);
		assert_true(again.resumed);
		struct hs other = run_thread(w2, full.got, versions[v]);
		assert_true(other.resumed);
		SSL_SESSION_free(full.got);
		SSL_SESSION_free(again.got);
		SSL_SESSION_free(other.got);
	}
	/* every resumption opened a ticket with the current key */
	assert_true(atomic_load(&tk->stats.issued) >= 2);
	assert_int_equal(atomic_load(&tk->stats.resumed), 4);
	assert_int_equal(atomic_load(&tk->stats.unknown), 0);
	l7_tls_set_put(w1);
	l7_tls_set_put(w2);
	l7_tls_tickets_put(tk);
}

static void test_rotation(void **state)
{
	struct l7_tls_conf c;
	struct l7_tls_tickets *tk = l7_tls_tickets_new(60);
	struct l7_tls_set *set;
	struct hs a, b, d;

	fake_now = 1000000;
	l7_tls_tickets_set_clock(tk, fake_clock);
	conf_base(&c);
	set = build(&c, tk);
	a = run(set, NULL, 0); /* ticket under key K1 */
	/* one period later K1 is the previous key: resumes, and the ticket
	 * is renewed under K2 */
	fake_now += 60000 + 1;
	b = run(set, a.got, 0);
	assert_true(b.resumed);
	assert_int_equal(atomic_load(&tk->stats.renewed), 1);
	assert_int_equal(tk->n_keys, 2);
	/* two periods after it was made, K1 is gone: full handshake */
	fake_now += 60000;
	d = run(set, a.got, 0);
	assert_false(d.resumed);
	assert_int_equal(atomic_load(&tk->stats.unknown), 1);
	assert_int_equal(atomic_load(&tk->stats.rotations), 1);
	SSL_SESSION_free(d.got);
	/* the renewed ticket (K2, now previous) still resumes */
	d = run(set, b.got, 0);
	assert_true(d.resumed);
	SSL_SESSION_free(d.got);
	/* idle for many periods: every old key is dropped at once */
	fake_now += 10 * 60000;
	d = run(set, b.got, 0);
	assert_false(d.resumed);
	assert_int_equal(tk->n_keys, 1);
	SSL_SESSION_free(a.got);
	SSL_SESSION_free(b.got);
	SSL_SESSION_free(d.got);
	l7_tls_set_put(set);
	l7_tls_tickets_put(tk);
}

static void b64_key(char *out, size_t cap, unsigned char fill)
{
	unsigned char raw[80];

	memset(raw, fill, sizeof(raw));
	raw[0] = fill ^ 0x5a; /* the name */
	assert_true(cap > 110);
	EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
}

static void test_key_file(void **state)
{
	char k1[128], k2[128], text[400], why[300];
	struct l7_tls_conf c;
	struct l7_tls_set *m1, *m2, *m3;
	struct hs a, b;

	b64_key(k1, sizeof(k1), 0x11);
	b64_key(k2, sizeof(k2), 0x22);
	snprintf(text, sizeof(text), "# shared ticket keys\n%s\n%s\n", k1, k2);
	tk_write_bytes(&dir, "keys", text, strlen(text));
	conf_base(&c);
	c.ticket_key_file = tk_path(&dir, "keys");
	/* two machines reading the same file */
	m1 = build(&c, NULL);
	m2 = build(&c, NULL);
	assert_int_equal(m1->tickets->n_keys, 2);
	assert_int_equal(m1->tickets->rotate_ms, 0);
	a = run(m1, NULL, 0);
	b = run(m2, a.got, 0);
	assert_true(b.resumed);
	SSL_SESSION_free(b.got);
	/* the operator rotates: a new key first, the old one second */
	snprintf(text, sizeof(text), "%s\n%s\n", k2, k1);
	tk_write_bytes(&dir, "keys2", text, strlen(text));
	c.ticket_key_file = tk_path(&dir, "keys2");
	m3 = build(&c, NULL);
	b = run(m3, a.got, 0);
	assert_true(b.resumed);
	assert_int_equal(atomic_load(&m3->tickets->stats.renewed), 1);
	SSL_SESSION_free(a.got);
	SSL_SESSION_free(b.got);
	l7_tls_set_put(m1);
	l7_tls_set_put(m2);
	l7_tls_set_put(m3);

	/* bad files say where and why */
	assert_null(l7_tls_tickets_from_file(tk_path(&dir, "missing"), why, sizeof(why)));
	assert_non_null(strstr(why, "cannot read"));
	tk_write_bytes(&dir, "short", "c2hvcnQ=\n", 9);
	assert_null(l7_tls_tickets_from_file(tk_path(&dir, "short"), why, sizeof(why)));
	assert_non_null(strstr(why, "short:1: not an 80-byte key"));
	tk_write_bytes(&dir, "empty", "# nothing\n", 10);
	assert_null(l7_tls_tickets_from_file(tk_path(&dir, "empty"), why, sizeof(why)));
	assert_non_null(strstr(why, "no key"));
}

static void test_reuse_on_reload(void **state)
{
	struct l7_tls_tickets *tk = l7_tls_tickets_new(600), *same, *other;
	char why[200];

	same = l7_tls_tickets_for(tk, 600, NULL, why, sizeof(why));
	assert_ptr_equal(same, tk);
	other = l7_tls_tickets_for(tk, 300, NULL, why, sizeof(why));
	assert_ptr_not_equal(other, tk);
	assert_null(l7_tls_tickets_new(0));
	l7_tls_tickets_put(same);
	l7_tls_tickets_put(other);
	l7_tls_tickets_put(tk);
	l7_tls_tickets_put(NULL);
}

static void test_stateful_cache(void **state)
{
	struct l7_tls_conf c;
	struct l7_tls_set *set;
	struct hs a, b;
	int versions[] = {0, TLS1_2_VERSION};

	conf_base(&c);
	c.tickets = false;
	c.session_cache = 100;
	set = build(&c, NULL);
	assert_null(set->tickets);
	for (unsigned v = 0; v < 2; v++) {
		a = run(set, NULL, versions[v]);
		b = run_thread(set, a.got, versions[v]);
		assert_true(b.resumed);
		SSL_SESSION_free(a.got);
		SSL_SESSION_free(b.got);
	}
	l7_tls_set_put(set);

	/* neither tickets nor cache: never resumed */
	c.session_cache = 0;
	set = build(&c, NULL);
	a = run(set, NULL, TLS1_2_VERSION);
	b = run(set, a.got, TLS1_2_VERSION);
	assert_false(b.resumed);
	SSL_SESSION_free(a.got);
	SSL_SESSION_free(b.got);
	l7_tls_set_put(set);
}

/* Same keys, another listener: the session id context differs, so the
 * session is not resumed there (it could skip that listener's mTLS). */
static void test_no_cross_listener(void **state)
{
	struct l7_tls_conf c;
	struct l7_tls_tickets *tk = l7_tls_tickets_new(3600);
	struct l7_tls_set *web, *api;
	struct hs a, b;

	conf_base(&c);
	web = build(&c, tk);
	c.name = "api";
	api = build(&c, tk);
	a = run(web, NULL, 0);
	b = run(api, a.got, 0);
	assert_false(b.resumed);
	SSL_SESSION_free(a.got);
	SSL_SESSION_free(b.got);
	l7_tls_set_put(web);
	l7_tls_set_put(api);
	l7_tls_tickets_put(tk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resume_across_workers),
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_key_file),
	    cmocka_unit_test(test_reuse_on_reload),
	    cmocka_unit_test(test_stateful_cache),
	    cmocka_unit_test(test_no_cross_listener),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
