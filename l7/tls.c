/* TLS on one client connection through a BIO that reads the caller's bytes
 * in place and writes into the connection's output chunks (tls.h).
 * OpenSSL's error queue is per thread: it is cleared before each call into
 * the library and read right after, so a failure is classified from this
 * connection's errors only. */
#include "tls.h"

#include <assert.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tls_ctx.h"

/* --- the BIO ------------------------------------------------------------------ */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_read(BIO *bio, char *buf, int len)
{
	struct l7_tls *t = BIO_get_data(bio);
	size_t avail = t->in_len - t->in_used;

	BIO_clear_retry_flags(bio);
	if (len <= 0)
		return 0;
	if (!avail) {
		if (t->eof)
			return 0; /* OpenSSL reports the truncation */
		BIO_set_retry_read(bio);
		return -1;
	}
	if (avail > (size_t)len)
		avail = (size_t)len;
	memcpy(buf, t->in + t->in_used, avail);
	t->in_used += avail;
	return (int)avail;
}

static int bio_write(BIO *bio, const char *buf, int len)
{
	struct l7_tls *t = BIO_get_data(bio);

	BIO_clear_retry_flags(bio);
	if (len <= 0)
		return 0;
	if (l7_obuf_append(&t->out, buf, (size_t)len)) {
		t->oom = true; /* no retry flag: a fatal SSL_ERROR_SYSCALL */
		return -1;
	}
	return len;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
	struct l7_tls *t = BIO_get_data(bio);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return t ? (long)(t->in_len - t->in_used) : 0;
	case BIO_CTRL_WPENDING:
		return 0; /* everything written is already in our queue */
	case BIO_CTRL_EOF:
		return t && t->eof && t->in_used == t->in_len;
	default:
		return 0;
	}
}

static int bio_create(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static void make_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "strata-l7");

	if (m && BIO_meth_set_read(m, bio_read) && BIO_meth_set_write(m, bio_write) &&
	    BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
		bio_method = m;
	else
		BIO_meth_free(m);
}

/* --- states ------------------------------------------------------------------- */

#define B(s) (1u << L7_TLS_##s)
static const unsigned allowed[L7_TLS__COUNT] = {
    [L7_TLS_HANDSHAKE] = B(OPEN) | B(FAILED),
    [L7_TLS_OPEN] = B(PEER_CLOSED) | B(CLOSING) | B(FAILED),
    [L7_TLS_PEER_CLOSED] = B(CLOSED) | B(FAILED),
    [L7_TLS_CLOSING] = B(CLOSED) | B(FAILED),
    [L7_TLS_CLOSED] = 0,
    [L7_TLS_FAILED] = 0,
};
#undef B

static void set_state(struct l7_tls *t, enum l7_tls_state s)
{
	assert(allowed[t->state] & (1u << s));
	t->state = (uint8_t)s;
}

static const char *const state_names[L7_TLS__COUNT] = {
    "handshake", "open", "peer_closed", "closing", "closed", "failed",
};

const char *l7_tls_state_name(enum l7_tls_state s)
{
	return (unsigned)s < L7_TLS__COUNT ? state_names[s] : "?";
}

int l7_tls_init(struct l7_tls *t, struct l7_tls_set *set, uint64_t conn_id)
{
	BIO *bio;

	memset(t, 0, sizeof(*t));
	l7_obuf_init(&t->out);
	t->conn_id = conn_id;
	pthread_once(&bio_once, make_method);
	if (!bio_method || !(t->ssl = SSL_new(l7_tls_set_default(set))))
		return -ENOMEM;
	if (!(bio = BIO_new(bio_method))) {
		SSL_free(t->ssl);
		t->ssl = NULL;
		return -ENOMEM;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio); /* one reference for both directions */
	SSL_set_accept_state(t->ssl);
	SSL_set_ex_data(t->ssl, l7_tls_ssl_index(), t);
	t->set = l7_tls_set_get(set);
	return 0;
}

void l7_tls_fini(struct l7_tls *t)
{
	if (!t)
		return;
	/* OpenSSL drops the session from the cache when an established
	 * connection is freed without a shutdown; a client that just closed
	 * TCP did nothing wrong, so keep its session resumable. A failed
	 * connection's session is dropped as OpenSSL intends. */
	if (t->ssl && t->state != L7_TLS_HANDSHAKE && t->state != L7_TLS_FAILED)
		SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(t->ssl);
	t->ssl = NULL;
	l7_obuf_free(&t->out);
	l7_tls_set_put(t->set);
	t->set = NULL;
}

/* --- failures ------------------------------------------------------------------- */

static enum l7_tls_err classify_ssl(const struct l7_tls *t, int reason)
{
	switch (reason) {
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNKNOWN_PROTOCOL:
		return t->state == L7_TLS_HANDSHAKE ? L7_TLS_ERR_NOT_TLS : L7_TLS_ERR_PROTOCOL;
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
		return L7_TLS_ERR_VERSION;
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_NO_SHARED_GROUPS:
	case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
	case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
		return L7_TLS_ERR_NO_SHARED;
	case SSL_R_NO_APPLICATION_PROTOCOL:
		return L7_TLS_ERR_ALPN;
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return L7_TLS_ERR_CLIENT_CERT_MISSING;
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
		return L7_TLS_ERR_CLIENT_CERT_BAD;
	case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
	case SSL_R_DECRYPTION_FAILED:
		return L7_TLS_ERR_BAD_RECORD;
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		return L7_TLS_ERR_TRUNCATED;
	default:
		/* the peer's alerts are reported as SSL_AD_REASON_OFFSET + code */
		return reason >= SSL_AD_REASON_OFFSET ? L7_TLS_ERR_PEER_ALERT : L7_TLS_ERR_PROTOCOL;
	}
}

/* Records why the last call failed (sslerr: SSL_get_error) and moves to
 * FAILED. Returns -EPROTO. */
static int fail(struct l7_tls *t, int sslerr)
{
	unsigned long e = ERR_peek_error();
	enum l7_tls_err why;

	if (t->oom)
		why = L7_TLS_ERR_INTERNAL;
	else if (t->sni_refused)
		why = L7_TLS_ERR_SNI_UNKNOWN;
	else if (t->state == L7_TLS_HANDSHAKE && t->seen_input && t->first_byte != 0x16)
		why = L7_TLS_ERR_NOT_TLS; /* RFC 8446 §5.1: a client starts with handshake(22) */
	else if (sslerr == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL)
		why = classify_ssl(t, ERR_GET_REASON(e));
	else if (t->eof)
		why = L7_TLS_ERR_TRUNCATED;
	else
		why = e ? L7_TLS_ERR_PROTOCOL : L7_TLS_ERR_INTERNAL;
	if (why == L7_TLS_ERR_CLIENT_CERT_BAD)
		t->verify_result = SSL_get_verify_result(t->ssl);
	t->ossl_err = e;
	t->err = (uint8_t)why;
	ERR_clear_error();
	if (t->state != L7_TLS_FAILED)
		set_state(t, L7_TLS_FAILED);
	return -EPROTO;
}

/* --- receiving ------------------------------------------------------------------ */

static void on_handshake_done(struct l7_tls *t)
{
	const unsigned char *p;
	unsigned n;

	SSL_get0_alpn_selected(t->ssl, &p, &n);
	if (n == 2 && !memcmp(p, "h2", 2))
		t->alpn = L7_ALPN_H2;
	else if (n == 8 && !memcmp(p, "http/1.1", 8))
		t->alpn = L7_ALPN_HTTP11;
	else
		t->alpn = L7_ALPN_NONE;
	set_state(t, L7_TLS_OPEN);
}

static int handshake(struct l7_tls *t)
{
	int r = SSL_do_handshake(t->ssl);
	int e;

	if (r == 1) {
		on_handshake_done(t);
		return 0;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ && !t->oom)
		return -EAGAIN;
	return fail(t, e);
}

/* The peer's close_notify arrived. */
static void on_peer_close(struct l7_tls *t)
{
	set_state(t, t->state == L7_TLS_CLOSING ? L7_TLS_CLOSED : L7_TLS_PEER_CLOSED);
}

static ssize_t read_plain(struct l7_tls *t, uint8_t *out, size_t cap)
{
	size_t total = 0, got;
	int e;

	while (total < cap) {
		if (SSL_read_ex(t->ssl, out + total, cap - total, &got)) {
			total += got;
			continue;
		}
		e = SSL_get_error(t->ssl, 0);
		if (e == SSL_ERROR_WANT_READ && !t->oom)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			on_peer_close(t);
			return total ? (ssize_t)total : 0;
		}
		/* plaintext that decrypted before the failure is genuine: hand
		 * it out; the failure shows on the next call */
		fail(t, e);
		return total ? (ssize_t)total : -EPROTO;
	}
	return total ? (ssize_t)total : -EAGAIN;
}

ssize_t l7_tls_recv(struct l7_tls *t, const void *in, size_t len, size_t *used, void *out,
		    size_t cap)
{
	ssize_t r;

	*used = 0;
	switch (t->state) {
	case L7_TLS_FAILED:
		return -EPROTO;
	case L7_TLS_PEER_CLOSED:
	case L7_TLS_CLOSED:
		return 0;
	default:
		break;
	}
	if (len && !t->seen_input) {
		t->seen_input = true;
		t->first_byte = *(const uint8_t *)in;
	}
	t->in = in;
	t->in_len = len;
	t->in_used = 0;
	ERR_clear_error();
	if (t->state == L7_TLS_HANDSHAKE && (r = handshake(t)) < 0)
		goto out;
	r = cap ? read_plain(t, out, cap) : -EAGAIN;
out:
	*used = t->in_used;
	t->in = NULL;
	t->in_len = t->in_used = 0;
	return r;
}

int l7_tls_on_eof(struct l7_tls *t)
{
	t->eof = true;
	switch (t->state) {
	case L7_TLS_PEER_CLOSED:
	case L7_TLS_CLOSED:
		return 0;
	case L7_TLS_CLOSING:
		/* we said goodbye and the peer closed: nothing was cut short */
		set_state(t, L7_TLS_CLOSED);
		return 0;
	case L7_TLS_FAILED:
		return -EPROTO;
	default:
		t->err = L7_TLS_ERR_TRUNCATED;
		set_state(t, L7_TLS_FAILED);
		return -EPROTO;
	}
}

/* --- sending -------------------------------------------------------------------- */

ssize_t l7_tls_send(struct l7_tls *t, const void *p, size_t n)
{
	size_t queued = l7_obuf_bytes(&t->out), take, done;
	int e;

	switch (t->state) {
	case L7_TLS_FAILED:
		return -EPROTO;
	case L7_TLS_CLOSING:
	case L7_TLS_CLOSED:
		return -EPIPE;
	case L7_TLS_HANDSHAKE:
		return -EAGAIN;
	default:
		break;
	}
	if (queued >= L7_TLS_OUT_MAX)
		return -EAGAIN;
	if (n == 0)
		return 0;
	take = L7_TLS_OUT_MAX - queued;
	if (take < L7_TLS_RECORD_MAX)
		take = L7_TLS_RECORD_MAX;
	if (take > n)
		take = n;
	ERR_clear_error();
	if (SSL_write_ex(t->ssl, p, take, &done) && !t->oom)
		return (ssize_t)done;
	e = SSL_get_error(t->ssl, 0);
	return fail(t, e);
}

int l7_tls_close(struct l7_tls *t)
{
	switch (t->state) {
	case L7_TLS_HANDSHAKE:
		t->err = L7_TLS_ERR_CLOSED;
		set_state(t, L7_TLS_FAILED);
		return 0;
	case L7_TLS_OPEN:
	case L7_TLS_PEER_CLOSED:
		ERR_clear_error();
		if (SSL_shutdown(t->ssl) < 0 || t->oom)
			return fail(t, SSL_ERROR_SYSCALL);
		set_state(t, t->state == L7_TLS_OPEN ? L7_TLS_CLOSING : L7_TLS_CLOSED);
		return 0;
	case L7_TLS_FAILED:
		return -EPROTO;
	default:
		return 0;
	}
}
