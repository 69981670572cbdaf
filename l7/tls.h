/* TLS on one client connection, driven from our buffers: OpenSSL never
 * touches the socket and nothing here blocks.
 *
 *   ciphertext received  --l7_tls_recv()-->  plaintext (caller's memory)
 *   plaintext to send    --l7_tls_send()-->  ciphertext in t->out (obuf.h)
 *
 * The engine hands each received segment to l7_tls_recv(), which reads from
 * it in place (a custom BIO points OpenSSL at the caller's bytes; nothing is
 * copied before OpenSSL's own record buffer) and says how much it used;
 * bytes not used stay in the caller's queue, so a full plaintext buffer is
 * natural backpressure. Records to send, handshake flights, alerts and
 * close_notify all land in t->out; the engine sends them from
 * l7_tls_out_iov() and calls l7_tls_out_consume() when the send completes.
 * The chunks of t->out never move, so more output can be produced while a
 * send is in flight.
 *
 * Ownership: struct l7_tls is embedded in (or owned by) the connection;
 * l7_tls_init() creates the SSL object from a context set (tls_ctx.h) and
 * takes a reference to the set, l7_tls_fini() frees both (NULL-safe, may
 * be called on a zeroed struct).
 *
 * States (set_state() in tls.c checks every transition):
 *
 *   HANDSHAKE --handshake complete--> OPEN
 *   OPEN      --peer close_notify--> PEER_CLOSED   (we may still send)
 *   OPEN      --l7_tls_close()--> CLOSING          (our close_notify queued)
 *   PEER_CLOSED --l7_tls_close()--> CLOSED
 *   CLOSING   --peer close_notify--> CLOSED
 *   HANDSHAKE, OPEN, PEER_CLOSED, CLOSING --fatal error, EOF--> FAILED
 *   HANDSHAKE --l7_tls_close()--> FAILED          (nothing to close cleanly)
 */
#ifndef STRATA_L7_TLS_H
#define STRATA_L7_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "obuf.h"

struct l7_tls_set;

/* Ciphertext queued before l7_tls_send() stops taking plaintext: four full
 * records, enough to keep a socket busy without buffering without bound. */
#define L7_TLS_OUT_MAX (64u << 10)
/* Plaintext per record: RFC 8446 §5.1 maximum. */
#define L7_TLS_RECORD_MAX 16384

enum l7_tls_state {
	L7_TLS_HANDSHAKE,
	L7_TLS_OPEN,
	L7_TLS_PEER_CLOSED,
	L7_TLS_CLOSING,
	L7_TLS_CLOSED,
	L7_TLS_FAILED,
	L7_TLS__COUNT
};

/* Why a TLS connection failed or ended: a short name for the access log and
 * metrics, a sentence for the error log (l7_tls_err_name/_text). */
enum l7_tls_err {
	L7_TLS_OK,
	L7_TLS_ERR_NOT_TLS,		/* first bytes are not a TLS record (plain HTTP?) */
	L7_TLS_ERR_VERSION,		/* no protocol version in common */
	L7_TLS_ERR_NO_SHARED,		/* no cipher, group or signature algorithm in common */
	L7_TLS_ERR_SNI_UNKNOWN,		/* strict_sni: the name matches no certificate */
	L7_TLS_ERR_ALPN,		/* no application protocol in common */
	L7_TLS_ERR_CLIENT_CERT_MISSING, /* client_verify = required, none sent */
	L7_TLS_ERR_CLIENT_CERT_BAD,	/* client certificate failed verification */
	L7_TLS_ERR_PEER_ALERT,		/* the client sent a fatal alert */
	L7_TLS_ERR_BAD_RECORD,		/* record failed to decrypt or authenticate */
	L7_TLS_ERR_PROTOCOL,		/* any other protocol violation */
	L7_TLS_ERR_TRUNCATED,		/* EOF without close_notify */
	L7_TLS_ERR_CLOSED,		/* used after close: a programming error */
	L7_TLS_ERR_INTERNAL,		/* out of memory, library failure */
	L7_TLS_ERR__COUNT
};

const char *l7_tls_err_name(enum l7_tls_err e);
const char *l7_tls_err_text(enum l7_tls_err e);
const char *l7_tls_state_name(enum l7_tls_state s);

/* The protocol ALPN chose (l7_tls_alpn). */
enum l7_tls_alpn {
	L7_ALPN_NONE,	/* no ALPN: HTTP/1.1 */
	L7_ALPN_HTTP11, /* "http/1.1" */
	L7_ALPN_H2,	/* "h2" */
	L7_ALPN__COUNT
};

struct l7_tls {
	SSL *ssl;
	struct l7_tls_set *set; /* reference held */
	struct l7_obuf out;	/* ciphertext to send */
	const uint8_t *in;	/* during l7_tls_recv only: the caller's bytes */
	size_t in_len, in_used;
	uint64_t conn_id;	/* for the log */
	unsigned long ossl_err; /* first OpenSSL error of the failure, 0 */
	long verify_result;	/* X509 verify result of a refused client cert */
	uint8_t state;		/* enum l7_tls_state */
	uint8_t err;		/* enum l7_tls_err */
	uint8_t alpn;		/* enum l7_tls_alpn, once OPEN */
	bool eof;		/* the transport delivered EOF */
	bool sni_refused;	/* set by the servername callback (strict_sni) */
	bool oom;		/* the output BIO could not grow */
	bool seen_input;	/* a first byte arrived */
	uint8_t first_byte;	/* ... and it was this (0x16: a handshake record) */
};

/* Prepares a server-side TLS connection on `set` (tls_ctx.h), taking a
 * reference to it. Returns 0 or -ENOMEM (t is then safe to fini). */
int l7_tls_init(struct l7_tls *t, struct l7_tls_set *set, uint64_t conn_id);

/* Frees the SSL object, the output and the set reference. NULL-safe. */
void l7_tls_fini(struct l7_tls *t);

/* Feeds ciphertext in[0..len) and runs the handshake or decrypts into
 * out[0..cap). *used says how many input bytes OpenSSL took (the caller
 * drops them from its queue; the rest must be offered again). Returns:
 *   > 0      plaintext bytes written to out;
 *   -EAGAIN  nothing to hand out now: more input is needed (or out is full,
 *            cap == 0); the handshake may have progressed and left output
 *            to send (check l7_tls_out_bytes);
 *   0        the peer sent close_notify: no more plaintext will come;
 *   -EPROTO  the connection failed: l7_tls_reason() says why, and an alert
 *            may wait in the output (send it, then close).
 * len may be 0 (e.g. to continue after out was full). Never reads past len. */
ssize_t l7_tls_recv(struct l7_tls *t, const void *in, size_t len, size_t *used, void *out,
		    size_t cap);

/* The transport saw EOF: without a prior close_notify this is a truncation
 * (RFC 8446 §6.1) and the connection fails with L7_TLS_ERR_TRUNCATED;
 * returns 0 when the close was clean, else -EPROTO. */
int l7_tls_on_eof(struct l7_tls *t);

/* Encrypts up to n plaintext bytes into the output. Returns the bytes
 * taken (> 0), -EAGAIN when the handshake is not done or the output holds
 * L7_TLS_OUT_MAX or more (send some first), -EPIPE after close, -EPROTO
 * after a failure. Takes at most what fits under L7_TLS_OUT_MAX (at least
 * one record's worth when below it). */
ssize_t l7_tls_send(struct l7_tls *t, const void *p, size_t n);

/* Queues close_notify (RFC 8446 §6.1). Returns 0; -EPROTO if the
 * connection had failed (nothing is queued). */
int l7_tls_close(struct l7_tls *t);

/* Output to send. */
static inline size_t l7_tls_out_bytes(const struct l7_tls *t)
{
	return l7_obuf_bytes(&t->out);
}
static inline unsigned l7_tls_out_iov(const struct l7_tls *t, struct iovec *iov, unsigned max)
{
	return l7_obuf_iov(&t->out, iov, max);
}
static inline void l7_tls_out_consume(struct l7_tls *t, size_t n)
{
	l7_obuf_consume(&t->out, n);
}

static inline enum l7_tls_state l7_tls_state(const struct l7_tls *t)
{
	return (enum l7_tls_state)t->state;
}
static inline bool l7_tls_is_open(const struct l7_tls *t)
{
	return t->state == L7_TLS_OPEN || t->state == L7_TLS_PEER_CLOSED;
}
static inline enum l7_tls_err l7_tls_reason(const struct l7_tls *t)
{
	return (enum l7_tls_err)t->err;
}
static inline enum l7_tls_alpn l7_tls_alpn(const struct l7_tls *t)
{
	return (enum l7_tls_alpn)t->alpn;
}

/* Writes one line for the error log: reason, OpenSSL's error string and,
 * for a refused client certificate, the verify result. Returns its length. */
size_t l7_tls_describe(const struct l7_tls *t, char *buf, size_t cap);

/* --- facts about an established connection -------------------------------- */

/* The SNI host name the client sent (NUL-terminated), or NULL. */
const char *l7_tls_sni(const struct l7_tls *t);

/* True when the SNI equals host[0..len) ignoring case and a trailing port
 * ("example.com:443"), e.g. the PPv2 AUTHORITY the L4 tier peeked. */
bool l7_tls_sni_matches(const struct l7_tls *t, const char *host, size_t len);

/* "TLSv1.3", "TLSv1.2". */
const char *l7_tls_version(const struct l7_tls *t);
/* IANA-style cipher name ("TLS_AES_128_GCM_SHA256"). */
const char *l7_tls_cipher(const struct l7_tls *t);
/* True when the handshake resumed a session (ticket or cache). */
bool l7_tls_resumed(const struct l7_tls *t);
/* "rsa" or "ecdsa": the key type of the certificate served. */
const char *l7_tls_cert_type(const struct l7_tls *t);

/* The verified client certificate's subject as an RFC 2253 string, made
 * safe for a header value (control bytes replaced). Returns its length
 * (truncated to cap - 1, NUL-terminated), or -ENOENT when the client sent
 * no certificate or it was not verified. */
int l7_tls_peer_subject(const struct l7_tls *t, char *buf, size_t cap);

/* The SSL object, for tests and for facts not wrapped here. */
static inline SSL *l7_tls_ssl(const struct l7_tls *t)
{
	return t->ssl;
}

#endif
