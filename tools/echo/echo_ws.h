/* WebSocket pieces strata-echo needs (RFC 6455): the opening handshake's
 * Sec-WebSocket-Accept, the frame header codec and payload unmasking.
 *
 * Pure: no allocation, no I/O; the parser never reads past `len`.
 */
#ifndef STRATA_ECHO_WS_H
#define STRATA_ECHO_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* base64 of a 20-byte SHA-1, without NUL. */
#define ECHO_WS_ACCEPT_LEN 28
/* Sec-WebSocket-Key is base64 of 16 bytes (RFC 6455 §4.1 item 7). */
#define ECHO_WS_KEY_LEN 24
/* RFC 6455 §5.5: control frames carry at most 125 payload bytes. */
#define ECHO_WS_MAX_CONTROL 125
/* Longest frame header: 2 + 8 (64-bit length) + 4 (mask). */
#define ECHO_WS_MAX_HEADER 14

enum echo_ws_opcode {
	ECHO_WS_CONT = 0x0,
	ECHO_WS_TEXT = 0x1,
	ECHO_WS_BINARY = 0x2,
	ECHO_WS_CLOSE = 0x8,
	ECHO_WS_PING = 0x9,
	ECHO_WS_PONG = 0xA,
};

/* RFC 6455 §7.4.1 status codes we send. */
#define ECHO_WS_STATUS_PROTOCOL 1002
#define ECHO_WS_STATUS_TOO_BIG	1009

struct echo_ws_frame {
	bool fin;
	uint8_t opcode;
	bool masked;
	uint8_t mask[4];
	uint64_t len; /* payload length */
};

enum echo_ws_why {
	ECHO_WS_OK,
	ECHO_WS_RESERVED_BITS, /* RSV1-3 set without a negotiated extension */
	ECHO_WS_BAD_OPCODE,
	ECHO_WS_UNMASKED,    /* client frames must be masked (§5.1) */
	ECHO_WS_BAD_CONTROL, /* control frame fragmented or over 125 bytes */
	ECHO_WS_LENGTH,	     /* 64-bit length with the top bit set */
	ECHO_WS_WHY__COUNT
};

/* Parses a frame header a client sent. Returns > 0 header bytes consumed,
 * -EAGAIN incomplete, -EBADMSG malformed, -E2BIG length over 2^63-1;
 * *why set on errors. */
int echo_ws_parse_client_header(const uint8_t *buf, size_t len, struct echo_ws_frame *f,
				enum echo_ws_why *why);

/* Writes an unmasked server frame header into out; returns its length. */
size_t echo_ws_build_header(uint8_t out[ECHO_WS_MAX_HEADER], bool fin, uint8_t opcode,
			    uint64_t len);

/* XORs n payload bytes in place; `offset` is the position of p[0] within
 * the frame's payload (the mask cycles every 4 bytes). */
void echo_ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Computes Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2 item 5.4):
 * base64(SHA-1(key + GUID)). Writes ECHO_WS_ACCEPT_LEN chars and a NUL.
 * Returns 0, or -EINVAL for a key that is not 24 base64 characters. */
int echo_ws_accept_key(const char *key, size_t key_len, char out[ECHO_WS_ACCEPT_LEN + 1]);

const char *echo_ws_why_str(enum echo_ws_why why);

#endif
