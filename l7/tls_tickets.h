/* Session ticket keys (RFC 5077; RFC 8446 §4.6.1) shared by every worker
 * and every listener context of the process, rotated on a schedule.
 *
 * One key encrypts new tickets (the current one); the previous key still
 * decrypts for one more period, and a ticket it opens is resumed and
 * renewed under the current key. So a ticket resumes for at least one
 * period and at most two after it was issued, and a stolen key is useless
 * two periods later. Rotation is lazy: the callback that needs a key first
 * moves the schedule forward by the periods elapsed, so no timer or thread
 * is needed and an idle process just starts over with fresh keys.
 *
 * With a key file (80-byte keys in base64, one per line, the nginx
 * `ssl_session_ticket_key` format: name[16], HMAC key[32], AES key[32];
 * the first line encrypts, the others only decrypt) several machines
 * share the keys and the operator rotates them by rewriting the file and
 * reloading; no automatic rotation then.
 *
 * Thread-safe: the keys sit behind a mutex taken for a few copies per full
 * or resumed handshake (far below the handshake's own cost). Refcounted:
 * every set (tls_ctx.h) using the keys holds a reference, so a reload that
 * keeps the ticket settings keeps the same keys and old tickets resume.
 */
#ifndef STRATA_L7_TLS_TICKETS_H
#define STRATA_L7_TLS_TICKETS_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define L7_TLS_TKEYS	      8 /* keys held: current + decrypt-only ones (file) */
#define L7_TLS_TKEY_FILE_LEN  80
#define L7_TLS_ROTATE_MIN_S   1
#define L7_TLS_ROTATE_MAX_S   (7 * 86400)
#define L7_TLS_ROTATE_DEFAULT 3600

struct l7_tls_tkey {
	uint8_t name[16];
	uint8_t hmac[32];
	uint8_t aes[32];
};

/* Counters (atomics), summed across workers by construction. */
struct l7_tls_ticket_stats {
	atomic_ulong issued;	/* tickets encrypted */
	atomic_ulong resumed;	/* tickets decrypted with the current key */
	atomic_ulong renewed;	/* decrypted with an older key, re-issued */
	atomic_ulong unknown;	/* key name not held (expired or foreign): full handshake */
	atomic_ulong rotations; /* keys retired by the schedule */
};

struct l7_tls_tickets {
	atomic_uint refs;
	pthread_mutex_t lock;
	struct l7_tls_tkey keys[L7_TLS_TKEYS]; /* [0] encrypts; all decrypt */
	unsigned n_keys;
	uint64_t rotate_ms;	 /* 0: keys from a file, never rotated */
	uint64_t next_rotate_ms; /* when keys[0] stops encrypting */
	uint64_t (*clock)(void); /* monotonic ms (log_now_ms; tests inject) */
	uint32_t rotate_s;	 /* as configured, to compare on reload */
	char *file;		 /* key file, or NULL */
	struct l7_tls_ticket_stats stats;
};

/* Generated keys rotated every rotate_s seconds. NULL on failure. */
struct l7_tls_tickets *l7_tls_tickets_new(uint32_t rotate_s);

/* Keys from a file (see above). NULL with "PATH: why" in why on failure. */
struct l7_tls_tickets *l7_tls_tickets_from_file(const char *path, char *why, size_t why_cap);

/* References (NULL-safe). */
struct l7_tls_tickets *l7_tls_tickets_get(struct l7_tls_tickets *tk);
void l7_tls_tickets_put(struct l7_tls_tickets *tk);

/* For a reload: `old` again (a new reference) when it has the same
 * rotate_s and no file, else new keys (from `file` when given). NULL with
 * why filled on failure. */
struct l7_tls_tickets *l7_tls_tickets_for(struct l7_tls_tickets *old, uint32_t rotate_s,
					  const char *file, char *why, size_t why_cap);

/* Replaces the clock (tests); the schedule restarts at the new clock's now. */
void l7_tls_tickets_set_clock(struct l7_tls_tickets *tk, uint64_t (*clock)(void));

/* Moves the schedule to now (normally done lazily by the callback). */
void l7_tls_tickets_tick(struct l7_tls_tickets *tk);

/* Installs the ticket callback on ctx (which must carry its set in
 * ex_data, tls_ctx.h), or SSL_OP_NO_TICKET when tk is NULL. */
void l7_tls_tickets_install(SSL_CTX *ctx, struct l7_tls_tickets *tk);

#endif
