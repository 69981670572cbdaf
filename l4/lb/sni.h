/* SNI peek: an incremental TLS record + ClientHello parser that finds the
 * server_name a client asks for, without decrypting or keeping anything but
 * the name.
 *
 * Pure codec (STYLE.md): no sockets, no allocation, no logging. The state
 * lives in a caller-owned struct sni_parser, so the ClientHello may arrive
 * in any number of pieces (TCP segments, provided buffers, TLS records: a
 * handshake message may span several records, RFC 8446 §5.1) and nothing is
 * copied except the name itself.
 *
 * Contract of sni_feed():
 *   > 0       verdict reached after that many bytes of this piece: read
 *             p->found and p->name; the rest of the piece was not examined
 *   -EAGAIN   every byte of the piece was consumed; feed the next one
 *   -EBADMSG  not TLS, or a malformed ClientHello (*why says which)
 *   -E2BIG    the ClientHello or the name is over the limit (*why)
 * Verdicts are stable: however the bytes are split, the same input gives
 * the same verdict, name and total consumed count. It never reads past len.
 * Once a verdict is reached the parser answers -EALREADY.
 */
#ifndef STRATA_L4_SNI_H
#define STRATA_L4_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 6066 §3 allows 2^16-1 bytes, but a host name is a DNS name: 253
 * characters (RFC 1035 §2.3.4) and the PPv2 AUTHORITY it becomes should stay
 * small. 255 leaves room for a trailing dot some clients send. */
#define SNI_MAX_NAME 255

/* Largest ClientHello body we wait for. HAProxy's req.ssl_sni looks only
 * inside one 16 KiB buffer; real hellos, even with post-quantum key shares
 * (x25519mlkem768: ~1.2 KiB), stay under 2 KiB. Waiting for more would let
 * a client make the balancer buffer without bound before connecting. */
#define SNI_MAX_HELLO 16384

/* RFC 8446 §5.1: a record fragment MUST NOT exceed 2^14 bytes. */
#define SNI_MAX_RECORD 16384

enum sni_err {
	SNI_ERR_NONE = 0,
	SNI_ERR_NOT_TLS,     /* first record is not a TLS handshake record */
	SNI_ERR_RECORD_TYPE, /* a later record inside the hello is not handshake */
	SNI_ERR_RECORD_LEN,  /* record length 0 or over 2^14 */
	SNI_ERR_NOT_HELLO,   /* first handshake message is not a ClientHello */
	SNI_ERR_HELLO_LEN,   /* ClientHello length too short for its fixed fields */
	SNI_ERR_HELLO_BIG,   /* ClientHello over SNI_MAX_HELLO (-E2BIG) */
	SNI_ERR_VERSION,     /* client_version major is not 3 */
	SNI_ERR_SESSION_ID,  /* session id longer than 32 bytes */
	SNI_ERR_CIPHERS,     /* cipher suites length odd, zero or past the end */
	SNI_ERR_COMPRESSION, /* compression methods length zero or past the end */
	SNI_ERR_EXTENSIONS,  /* extensions block does not fill the hello exactly */
	SNI_ERR_EXT_LEN,     /* an extension runs past the extensions block */
	SNI_ERR_SNI_LIST,    /* server_name list length inconsistent */
	SNI_ERR_NAME_EMPTY,  /* host_name of length zero */
	SNI_ERR_NAME_LONG,   /* host_name over SNI_MAX_NAME (-E2BIG) */
	SNI_ERR_NAME_CHAR,   /* host_name byte outside letters, digits, '-', '.', '_' */
	SNI_ERR__COUNT
};

/* Parser state: private fields, visible so callers can embed it. */
struct sni_parser {
	/* results, valid after a verdict > 0 */
	bool found; /* a host_name was present */
	uint16_t name_len;
	char name[SNI_MAX_NAME + 1]; /* NUL-terminated when found */

	/* record layer */
	uint8_t rec_hdr[5];
	uint8_t rec_have;  /* header bytes collected for the current record */
	uint16_t rec_left; /* fragment bytes of the current record still to come */
	uint32_t records;  /* records started */
	/* handshake layer */
	uint8_t field; /* enum sni_field in sni.c */
	uint8_t acc_have;
	uint8_t acc_need;
	uint32_t acc;	    /* big-endian accumulator of a length field */
	uint32_t skip;	    /* bytes of the current field still to skip or copy */
	uint32_t off;	    /* bytes of the hello body consumed */
	uint32_t hello_len; /* body length from the handshake header */
	uint32_t exts_end;  /* offsets in the body where containers end */
	uint32_t ext_end;
	uint32_t list_end;
	int verdict; /* 0 while undecided, else what sni_feed returned */
	enum sni_err err;
};

/* Starts a fresh parse. */
void sni_init(struct sni_parser *p);

/* Feeds the next `len` bytes the client sent; see the contract above. `why`
 * may not be NULL; it is set on every return (SNI_ERR_NONE unless an error). */
int sni_feed(struct sni_parser *p, const uint8_t *buf, size_t len, enum sni_err *why);

/* Short, stable, lower-case description ("not tls", "bad record length"). */
const char *sni_strerror(enum sni_err err);

#endif
