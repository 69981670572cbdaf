/* PROXY protocol v1 (text) and v2 (binary) codec: encoders for strata-l4,
 * an incremental decoder for strata-l7's intake.
 *
 * Spec: haproxy doc/proxy-protocol.txt (2020/03/05). The codec is pure: no
 * sockets, no allocation, no logging. Decoded TLV values are views into the
 * caller's buffer, valid as long as that buffer is; nothing is copied except
 * the addresses (into struct sockaddr_storage).
 *
 * Decoder contract (the one every Strata codec follows):
 *   > 0       the header is complete and occupies that many bytes; anything
 *             after it is payload and is not touched
 *   -EAGAIN   the bytes so far are a valid prefix of a header: read more and
 *             call again with the whole buffer (the decoder keeps no state)
 *   -EBADMSG  malformed; *why says what was wrong
 *   -E2BIG    a v2 header announces more than the hard limit (*why set)
 * A wrong byte is reported as soon as it is present, and the decoder never
 * reads past `len`. Verdicts are stable: feeding a prefix of the input gives
 * either -EAGAIN or the same answer as the whole input.
 */
#ifndef STRATA_PROXY_H
#define STRATA_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* --- wire constants (proxy-protocol.txt §2.1, §2.2) ----------------------- */

#define PPV2_SIG_LEN 12 /* \r\n\r\n\0\r\nQUIT\n */
#define PPV2_HDR_LEN 16 /* signature + ver_cmd + fam + len */
#define PPV1_SIG_LEN 6	/* "PROXY " */

/* §2.1: 107 bytes including CRLF is the longest valid v1 line (UNKNOWN with
 * two full IPv6 addresses); a line without CRLF by then is invalid. */
#define PPV1_MAX_LINE 107

/* Hard limit on a decoded v2 header (16 fixed bytes + address block + TLVs).
 * The wire allows 16 + 65535; what strata-l4 sends is under 600 bytes
 * (36 address + unique id 131 + authority 258 + node + crc 7), and HAProxy's
 * SSL TLVs with a long CN still fit in 1 KiB. 4096 leaves room for any sane
 * sender while bounding what an intake buffer must hold before routing. */
#define PPV2_MAX_HDR_LEN 4096

#define PPV2_ADDR_LEN_INET  12	/* 2*4 + 2*2 */
#define PPV2_ADDR_LEN_INET6 36	/* 2*16 + 2*2 */
#define PPV2_ADDR_LEN_UNIX  216 /* 2*108 */
#define PPV2_UNIX_PATH_LEN  108

#define PPV2_UNIQUE_ID_MAX 128 /* §2.2.5 */
#define PPV2_SSL_FIXED_LEN 5   /* §2.2.6: client (1) + verify (4) */

/* §2.2 registered TLV types, and the custom range of §2.2.8. */
#define PP2_TYPE_ALPN		0x01
#define PP2_TYPE_AUTHORITY	0x02
#define PP2_TYPE_CRC32C		0x03
#define PP2_TYPE_NOOP		0x04
#define PP2_TYPE_UNIQUE_ID	0x05
#define PP2_TYPE_SSL		0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN	0x22
#define PP2_SUBTYPE_SSL_CIPHER	0x23
#define PP2_SUBTYPE_SSL_SIG_ALG 0x24
#define PP2_SUBTYPE_SSL_KEY_ALG 0x25
#define PP2_TYPE_NETNS		0x30
#define PP2_TYPE_MIN_CUSTOM	0xE0
#define PP2_TYPE_MAX_CUSTOM	0xEF
/* Strata's own TLV: the name of the strata-l4 node that relayed the
 * connection (docs/proxy-protocol.md). */
#define PP2_TYPE_STRATA_NODE 0xE0

#define PP2_CLIENT_SSL	     0x01
#define PP2_CLIENT_CERT_CONN 0x02
#define PP2_CLIENT_CERT_SESS 0x04

enum proxy_cmd {
	PROXY_CMD_LOCAL = 0, /* health check by the proxy itself: no address */
	PROXY_CMD_PROXY = 1, /* relayed on behalf of the client in src */
	PROXY_CMD__COUNT
};

/* Why a header was refused. One value per check, for logs and metrics. */
enum proxy_err {
	PROXY_ERR_NONE = 0,
	PROXY_ERR_SIG,		/* neither "PROXY " nor the v2 signature */
	PROXY_ERR_VERSION,	/* v2 version nibble is not 2 */
	PROXY_ERR_COMMAND,	/* v2 command is neither LOCAL nor PROXY */
	PROXY_ERR_FAMILY,	/* v2 family > 3 or transport > 2 */
	PROXY_ERR_ADDR_LEN,	/* v2 length shorter than the family's address block */
	PROXY_ERR_TOO_BIG,	/* v2 header over PPV2_MAX_HDR_LEN (-E2BIG) */
	PROXY_ERR_TRUNCATED,	/* v2 header ends inside a TLV's type/length */
	PROXY_ERR_TLV_OVERRUN,	/* a TLV value runs past the end of the header */
	PROXY_ERR_TLV_LEN,	/* TLV length inconsistent with its type */
	PROXY_ERR_TLV_DUP,	/* a single-valued TLV appears twice */
	PROXY_ERR_CRC_LEN,	/* CRC32C TLV whose value is not 4 bytes */
	PROXY_ERR_CRC_MISMATCH, /* CRC32C does not match the header */
	PROXY_ERR_V1_TOO_LONG,	/* no CRLF within PPV1_MAX_LINE bytes */
	PROXY_ERR_V1_CRLF,	/* CR not followed by LF */
	PROXY_ERR_V1_BARE_LF,	/* LF without the CR before it */
	PROXY_ERR_V1_PROTO,	/* not TCP4, TCP6 or UNKNOWN */
	PROXY_ERR_V1_FIELDS,	/* not exactly four fields after TCP4/TCP6 */
	PROXY_ERR_V1_ADDR,	/* malformed address */
	PROXY_ERR_V1_PORT,	/* malformed port */
	PROXY_ERR_V1_FAMILY,	/* address of the other family (IPv6 after TCP4, …) */
	PROXY_ERR__COUNT
};

/* A view into a buffer: not owned, not NUL-terminated. ptr == NULL means
 * absent; a present value may have len 0. */
struct proxy_view {
	const uint8_t *ptr;
	size_t len;
};

/* §2.2.6 PP2_TYPE_SSL, decoded. */
struct ppv2_ssl {
	bool present;
	uint8_t client;	 /* PP2_CLIENT_* bits */
	uint32_t verify; /* 0: client certificate verified */
	struct proxy_view version, cn, cipher, sig_alg, key_alg;
};

struct proxy_hdr {
	uint8_t version;    /* 1 or 2 */
	enum proxy_cmd cmd; /* v1 is always PROXY */
	bool has_addr;	    /* false: LOCAL, UNSPEC, v1 UNKNOWN: use the socket's */
	int family;	    /* AF_INET, AF_INET6, AF_UNIX; AF_UNSPEC without address */
	int socktype;	    /* SOCK_STREAM or SOCK_DGRAM; 0 without address */
	uint8_t fam_byte;   /* v2: the raw family/transport byte */
	struct sockaddr_storage src, dst;
	socklen_t src_len, dst_len; /* 0 without address */
	size_t hdr_len;		    /* bytes the header occupies, same as the return value */

	/* v2 only: the TLV area, for ppv2_tlv_next(), and the known values. */
	struct proxy_view tlvs;
	struct proxy_view alpn, authority, unique_id, netns, node;
	struct ppv2_ssl ssl;
	bool has_crc32c; /* a CRC32C TLV was present ... */
	bool crc32c_ok;	 /* ... and matched (a mismatch is an error) */
	uint32_t crc32c;
	unsigned int n_tlvs; /* all TLVs, NOOP and unknown ones included */
};

/* --- decoding --------------------------------------------------------------- */

/* Decodes a v1 or v2 header at the start of buf (auto-detected from the first
 * byte); contract at the top of this file. On success fills *out (until
 * then it is scratch space); sets *why, to PROXY_ERR_NONE on success and on
 * -EAGAIN. out and why must not be NULL. The CRC32C TLV, when present, is
 * always verified. */
int proxy_decode(const uint8_t *buf, size_t len, struct proxy_hdr *out, enum proxy_err *why);

/* Same as proxy_decode() with a different hard limit for v2 headers
 * (max_v2 is clamped to [PPV2_HDR_LEN, PPV2_HDR_LEN + 65535]). */
int proxy_decode_max(const uint8_t *buf, size_t len, size_t max_v2, struct proxy_hdr *out,
		     enum proxy_err *why);

/* The version-specific halves (buf must start with the respective
 * signature, or they answer PROXY_ERR_SIG). */
int ppv1_decode(const uint8_t *buf, size_t len, struct proxy_hdr *out, enum proxy_err *why);
int ppv2_decode(const uint8_t *buf, size_t len, size_t max_v2, struct proxy_hdr *out,
		enum proxy_err *why);

/* True when the first min(len, signature length) bytes match the v1
 * ("PROXY ") or the v2 signature respectively. */
bool ppv1_sig_prefix(const uint8_t *buf, size_t len);
bool ppv2_sig_prefix(const uint8_t *buf, size_t len);

/* True while buf[0..len) is a prefix of "PROXY " or of the v2 signature, or
 * starts with one of them: the bytes may be a PROXY header (true for len 0).
 * False means the connection carries no header ("optional" listeners). */
bool proxy_maybe_header(const uint8_t *buf, size_t len);

/* Iterates over the TLVs of a decoded v2 header: *pos starts at 0. Returns
 * true and fills type/value for the next TLV, false after the last one. The
 * decoder has checked the TLV area, so this never fails on a decoded header.
 * Usable on any TLV area (e.g. the SSL sub-TLVs): stops at a TLV that does
 * not fit. */
bool ppv2_tlv_next(struct proxy_view area, size_t *pos, uint8_t *type, struct proxy_view *value);

/* Short, stable, lower-case description of an error ("bad signature"). */
const char *proxy_strerror(enum proxy_err err);

/* --- encoding --------------------------------------------------------------- */

/* One TLV for ppv2_enc.extra. val == NULL with len > 0 writes len zero bytes
 * (NOOP padding). */
struct ppv2_tlv {
	uint8_t type;
	uint16_t len;
	const void *val;
};

/* §2.2.6 SSL TLV to send. A NULL view leaves out that sub-TLV. */
struct ppv2_ssl_enc {
	uint8_t client;
	uint32_t verify;
	struct proxy_view version, cn, cipher, sig_alg, key_alg;
};

struct ppv2_enc {
	enum proxy_cmd cmd;
	/* sockaddr_in, sockaddr_in6 or sockaddr_un; ignored for LOCAL. NULL
	 * (both) sends family UNSPEC. An IPv4 address paired with an IPv6 one
	 * is sent as IPv4-mapped IPv6. For AF_UNIX, *_len (from accept() or
	 * getpeername()) bounds the path bytes copied; 0 copies all 108. */
	const struct sockaddr *src, *dst;
	socklen_t src_len, dst_len;
	int socktype; /* 0 or SOCK_STREAM: transport STREAM; SOCK_DGRAM: DGRAM */
	/* Optional TLVs; ptr == NULL leaves one out. */
	struct proxy_view alpn, authority, unique_id, netns, node;
	const struct ppv2_ssl_enc *ssl;
	const struct ppv2_tlv *extra; /* any other TLVs, in order */
	size_t n_extra;
	bool crc32c; /* append a CRC32C TLV over the finished header */
};

/* Writes a v2 header into buf. Returns the bytes written, -ENOSPC when cap is
 * too small (nothing useful written), -EINVAL for input the wire cannot carry
 * (unsupported family, mixed UNIX/IP, unique id over 128 bytes, header over
 * 16 + 65535 bytes, a CRC32C extra TLV). Writes only what it returns. */
int ppv2_encode(uint8_t *buf, size_t cap, const struct ppv2_enc *in);

/* Exact size ppv2_encode() will write for `in`, or -EINVAL. */
int ppv2_encoded_len(const struct ppv2_enc *in);

/* Writes a v1 line "PROXY TCP4|TCP6 src dst sport dport\r\n", or
 * "PROXY UNKNOWN\r\n" when src or dst is NULL or not an IP address. An IPv4
 * address paired with an IPv6 one is written as IPv4-mapped IPv6 (in hex
 * groups, as §2.1 requires). Returns the length (no NUL is written) or
 * -ENOSPC. PPV1_MAX_LINE bytes are always enough. */
int ppv1_encode(char *buf, size_t cap, const struct sockaddr *src, const struct sockaddr *dst);

#endif
