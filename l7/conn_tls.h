/* TLS on a client connection, and the connection-level output that TLS
 * records and HTTP/2 frames leave through.
 *
 * Receive side: after the PROXY header (which strata-l4 sends in clear
 * before the client's ClientHello), received segments are ciphertext and
 * wait in the TLS state's own queue (cin); l7_ctls_pump() decrypts them
 * into private buffers of the worker (l7_buf.h) queued on c->in, so the
 * HTTP/1 parser, the exchange and HTTP/2 read plaintext exactly where they
 * read plain bytes on a plaintext listener. Decryption stops while c->in
 * holds L7_PAUSE_BYTES (the ciphertext stays queued and l7_conn_flow()
 * pauses the recv), so neither queue grows without bound.
 *
 * Send side: an exchange's batch (struct l7_tx) is encrypted into records
 * (l7_ctls_take), the batch's buffer references are dropped at once, and
 * the records go out from the TLS output chain (obuf.h) in one sendmsg at
 * a time (struct l7_cout). The same sender carries HTTP/2 frames on h2c
 * connections. A batch that does not fit (L7_TLS_OUT_MAX waits) resumes
 * when a send completes.
 *
 * Ownership: struct l7_ctls is heap memory owned by the connection
 * (c->tls), freed in its on_free with the SSL object, the queued
 * ciphertext, the PPv2 AUTHORITY copy and the client subject.
 */
#ifndef STRATA_L7_CONN_TLS_H
#define STRATA_L7_CONN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "l7_buf.h"
#include "tls.h"

struct l7_conn;
struct l7_exchange;
struct l7_tls_set;

#define L7_COUT_IOV	   8	/* iovecs of one output sendmsg: 64 KiB of records */
#define L7_TLS_ROOM_MIN	   2048 /* decrypt into the tail buffer when it has this much room */
#define L7_TLS_SUBJECT_MAX 512	/* verified client subject passed upstream */

/* One sendmsg of connection-level output in flight at a time. */
struct l7_cout {
	struct msghdr msg;
	struct iovec iov[L7_COUT_IOV];
	bool busy;
};

struct l7_ctls {
	struct l7_tls t;
	struct l7_cout out;
	struct l7_inq cin; /* ciphertext received, not decrypted yet */
	char *authority;   /* PPv2 AUTHORITY (strata-l4's SNI peek), NUL-terminated */
	char *subject;	   /* verified client certificate subject, NULL: none */
	uint16_t subject_len;
	bool eof_in;  /* the transport delivered EOF */
	bool opened;  /* the handshake completed (counted, logged) */
	bool x_wait;  /* c->x waits for room in the TLS output */
	bool starved; /* no private buffer was free: the tick retries */
};

/* Prepares TLS on an accepted connection from the listener's set. 0, or
 * -ENOMEM (nothing allocated). */
int l7_ctls_new(struct l7_conn *c, struct l7_tls_set *set);
/* Frees the TLS state (on_free; nothing may be in flight). NULL-safe. */
void l7_ctls_free(struct l7_conn *c);

/* Keeps the PPv2 AUTHORITY to compare with the SNI. 0 or -ENOMEM. */
int l7_ctls_set_authority(struct l7_conn *c, const uint8_t *p, size_t len);

/* The PROXY header is consumed: whatever is left in c->in and c->hb is
 * the start of the TLS stream. 0 or -ENOBUFS. */
int l7_ctls_adopt(struct l7_conn *c);

/* Received ciphertext (a ring buffer, the queue takes the reference). */
void l7_ctls_push(struct l7_conn *c, unsigned bid, unsigned len);

/* What l7_ctls_pump() saw. */
enum l7_ctls_ev {
	L7_CTLS_NONE,	   /* nothing new for the connection's consumer */
	L7_CTLS_INPUT,	   /* plaintext (or the end of it: c->flags EOF) was queued */
	L7_CTLS_HANDSHAKE, /* the handshake completed (plaintext may follow) */
	L7_CTLS_FAILED,	   /* the connection failed: logged and counted; close it */
};

/* Decrypts queued ciphertext into c->in while it has room, turns the
 * transport's EOF into the plaintext's once everything before it was
 * decrypted, and sends what the handshake produced. */
enum l7_ctls_ev l7_ctls_pump(struct l7_conn *c);

/* True when ciphertext (or plaintext inside OpenSSL) waits to be
 * decrypted: room in c->in lets l7_ctls_pump() go on. */
bool l7_ctls_waiting(const struct l7_conn *c);

/* Encrypts as much of the batch as the TLS output takes and accounts it
 * (l7_tx_done). Returns the plaintext bytes taken (0: the output is full,
 * wait for a send to complete) or -EPROTO/-EPIPE. */
ssize_t l7_ctls_take(struct l7_conn *c, struct l7_tx *tx);

/* The exchange's queued client send over TLS (l7_x_flush_client). */
void l7_ctls_send_x(struct l7_exchange *x);

/* Bytes or frames the connection-level output holds (TLS records, or the
 * HTTP/2 frames of an h2c connection), and whether a send is in flight. */
size_t l7_cout_bytes(const struct l7_conn *c);
bool l7_cout_busy(const struct l7_conn *c);
/* Starts a sendmsg of the pending output unless one is in flight. 0, or
 * -errno (the ring refused: close the connection). */
int l7_cout_flush(struct l7_conn *c);
/* The output sendmsg completed. */
void l7_cout_done(struct l7_conn *c, int res);

/* Log line and counters of a handshake that completed; compares the SNI
 * with the PPv2 AUTHORITY. Returns false when a mismatch must refuse the
 * connection (tls.authority_mismatch = "refuse"). */
bool l7_ctls_opened(struct l7_conn *c);

/* Counts and logs a TLS failure (reason from tls.h, or the handshake
 * timeout when timeout is true). */
void l7_ctls_failed(struct l7_conn *c, bool timeout);

#endif
